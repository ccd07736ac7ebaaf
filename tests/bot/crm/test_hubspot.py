"""The HubSpot adapter: HubSpot's v3 signature, its webhook batches, and deals read back from a loopback HubSpot."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.crm.hubspot import HubSpot
from bot.crm.types import BadPayload, CrmRefused, CrmUnavailable, Event, Unauthorized
from bot.settings import Settings
from tests.fakecrm import FakeHubSpot, hubspot_event, hubspot_signature

SECRET = "hs-client-secret-5f2c9e1a"
PUBLIC = "https://dealcoach.example.com"
PATH = "/crm/hubspot"
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def hubspot_api():
    with FakeHubSpot() as api:
        yield api


@pytest.fixture
def adapter(hubspot_api):
    return HubSpot(
        client_secret=SECRET,
        access_token=hubspot_api.token,
        public_url=PUBLIC,
        api_url=hubspot_api.base_url,
        tz=NEW_YORK,
        timeout=0.5,
    )


def signed(body: bytes, *, uri: str = PUBLIC + PATH, secret: str = SECRET, at_ms: int = NOW_MS) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", uri, body, at_ms),
        "X-HubSpot-Request-Timestamp": str(at_ms),
    }


def authenticate(adapter: HubSpot, body: bytes, headers: dict[str, str], path: str = PATH) -> None:
    adapter.authenticate(method="POST", path_and_query=path, headers=headers, body=body, now=NOW)


BODY = json.dumps([hubspot_event(123)]).encode()


# -- the signature -----------------------------------------------------------------------------------------------


def test_a_request_signed_as_hubspot_signs_it_is_accepted(adapter):
    authenticate(adapter, BODY, signed(BODY))
    # header names arrive in any case from a WSGI server or a proxy
    authenticate(adapter, BODY, {k.lower(): v for k, v in signed(BODY).items()})
    # HubSpot's clock a little behind or ahead of ours, within its five minutes
    authenticate(adapter, BODY, signed(BODY, at_ms=NOW_MS - 299_000))
    authenticate(adapter, BODY, signed(BODY, at_ms=NOW_MS + 60_000))


def test_the_uri_is_the_public_one_with_the_characters_hubspot_decodes_decoded(adapter):
    """HubSpot signs https://public/crm/hubspot?x=a:b,c even when the request line says a%3Ab%2Cc."""
    query = "?from=a%3Ab%2Cc%40d"
    authenticate(adapter, BODY, signed(BODY, uri=f"{PUBLIC}{PATH}?from=a:b,c@d"), path=PATH + query)


def test_the_public_url_may_end_with_a_slash(hubspot_api):
    adapter = HubSpot(client_secret=SECRET, access_token="t", public_url=PUBLIC + "/", api_url=hubspot_api.base_url)
    authenticate(adapter, BODY, signed(BODY))


@pytest.mark.parametrize(
    ("case", "headers", "body", "why"),
    [
        ("forged: another secret", signed(BODY, secret="not-the-secret"), BODY, "does not match"),
        ("tampered body", signed(BODY), BODY.replace(b"123", b"124"), "does not match"),
        (
            "signed for the address Deal Coach sees, not the public one",
            signed(BODY, uri="http://127.0.0.1:3000" + PATH),
            BODY,
            "DEALCOACH_PUBLIC_URL",
        ),
        ("replayed after 5 minutes", signed(BODY, at_ms=NOW_MS - 301_000), BODY, "more than 5 minutes"),
        ("from the future", signed(BODY, at_ms=NOW_MS + 400_000), BODY, "ahead"),
        ("no signature", {"X-HubSpot-Request-Timestamp": str(NOW_MS)}, BODY, "no X-HubSpot-Signature-v3"),
        ("no timestamp", {"X-HubSpot-Signature-v3": signed(BODY)["X-HubSpot-Signature-v3"]}, BODY, "Timestamp"),
        (
            "a timestamp that is not a number",
            {**signed(BODY), "X-HubSpot-Request-Timestamp": "now"},
            BODY,
            "milliseconds",
        ),
        (
            "a v1 signature only",
            {"X-HubSpot-Signature": "abc", "X-HubSpot-Signature-Version": "v1"},
            BODY,
            "no X-HubSpot",
        ),
    ],
)
def test_anything_not_signed_by_hubspot_just_now_is_refused(adapter, case, headers, body, why):
    with pytest.raises(Unauthorized, match=why):
        authenticate(adapter, body, headers)


def test_a_signature_for_another_path_is_refused(adapter):
    with pytest.raises(Unauthorized):
        authenticate(adapter, BODY, signed(BODY), path=PATH + "?extra=1")


def test_a_signature_moved_to_another_timestamp_is_refused(adapter):
    """The timestamp is signed too: a fresh timestamp on an old signature does not pass."""
    headers = {**signed(BODY, at_ms=NOW_MS - 400_000), "X-HubSpot-Request-Timestamp": str(NOW_MS)}
    with pytest.raises(Unauthorized, match="does not match"):
        authenticate(adapter, BODY, headers)


# -- the batch ---------------------------------------------------------------------------------------------------


def test_only_dealstage_changes_are_kept_each_keyed_stably_across_retries(adapter):
    batch = [
        hubspot_event(123, event_id=1001, stage="closedwon"),
        hubspot_event(123, event_id=1002, prop="amount", stage="130000"),
        {**hubspot_event(77, event_id=1003), "subscriptionType": "contact.creation", "propertyName": None},
        hubspot_event(456, event_id=1004, stage="9034871", occurred_at=NOW_MS),  # a custom pipeline's numeric stage
    ]
    events = adapter.parse(json.dumps(batch).encode(), {})
    assert events == [
        Event(
            crm="hubspot",
            key="62515:123:1001:1764514800000",
            crm_account="62515",
            crm_deal_id="123",
            occurred_at=datetime(2025, 11, 30, 15, 0, tzinfo=UTC),
            payload={"portal_id": "62515", "deal_id": "123", "event_id": "1001", "stage": "closedwon"},
        ),
        Event(
            crm="hubspot",
            key="62515:456:1004:" + str(NOW_MS),
            crm_account="62515",
            crm_deal_id="456",
            occurred_at=NOW,
            payload={"portal_id": "62515", "deal_id": "456", "event_id": "1004", "stage": "9034871"},
        ),
    ]
    retried = adapter.parse(json.dumps([hubspot_event(123, event_id=1001, attempt=3)]).encode(), {})
    assert [e.key for e in retried] == ["62515:123:1001:1764514800000"]
    # HubSpot does not promise an eventId is unique: the same id for another change of the deal is another event
    again = adapter.parse(json.dumps([hubspot_event(123, event_id=1001, occurred_at=NOW_MS)]).encode(), {})
    assert [e.key for e in again] == [f"62515:123:1001:{NOW_MS}"]


def test_the_newer_object_property_change_format_is_read_for_deals_only(adapter):
    deal = {**hubspot_event(9, event_id=5), "subscriptionType": "object.propertyChange", "objectTypeId": "0-3"}
    contact = {**hubspot_event(10, event_id=6), "subscriptionType": "object.propertyChange", "objectTypeId": "0-1"}
    events = adapter.parse(json.dumps([deal, contact]).encode(), {})
    assert [(e.crm_deal_id, e.key) for e in events] == [("9", "62515:9:5:1764514800000")]


def test_a_batch_with_nothing_about_deal_stages_is_merely_uninteresting(adapter):
    assert adapter.parse(json.dumps([hubspot_event(1, prop="amount")]).encode(), {}) == []
    assert adapter.parse(b"[]", {}) == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "JSON array of HubSpot webhook events"),
        (json.dumps(hubspot_event(1)).encode(), "JSON array"),  # one event, not in a list
        (json.dumps({"events": []}).encode(), "JSON array"),
        (json.dumps(["x"]).encode(), "event 1 is not a HubSpot webhook event"),
        (json.dumps([{"objectId": 1}]).encode(), "subscriptionType"),
        (json.dumps([{**hubspot_event(1), "objectId": None}]).encode(), "without a numeric portalId, objectId"),
        (json.dumps([{**hubspot_event(1), "portalId": "abc"}]).encode(), "numeric"),
        (b"\xff\xfe", "JSON array"),
    ],
)
def test_a_shape_hubspot_never_sends_is_a_bad_payload_saying_what_was_expected(adapter, body, says):
    with pytest.raises(BadPayload, match=says) as caught:
        adapter.parse(body, {})
    assert "dealstage" in str(caught.value) or "subscriptionType" in str(caught.value)


# -- the deal from the API ---------------------------------------------------------------------------------------


def stage_event(deal_id: str = "123") -> Event:
    return Event("hubspot", f"62515:{deal_id}:1", "62515", deal_id, NOW, {"deal_id": deal_id})


def test_resolve_reads_the_deal_its_owner_and_its_primary_contact(adapter, hubspot_api):
    hubspot_api.add_owner("501", "riley@example.com")
    hubspot_api.add_contact("901", "Wile", "Coyote", "Engineer")
    hubspot_api.add_contact("902", "Jane", "Doe", "VP Operations")
    hubspot_api.add_deal(
        "123",
        name="Acme Rockets",
        amount="120000.50",
        currency="usd",
        closedate="2026-11-24T02:00:00Z",  # the evening of the 23rd in New York
        owner_id="501",
        contacts=[("901", "deal_to_contact"), ("902", "deal_to_contact_primary")],
        pipeline="default",
    )
    deal = adapter.resolve(stage_event())
    assert deal.won is True
    assert (deal.crm, deal.crm_account, deal.crm_deal_id) == ("hubspot", "62515", "123")
    assert (deal.name, deal.amount, deal.currency) == ("Acme Rockets", Decimal("120000.50"), "USD")
    assert deal.close_date == date(2026, 11, 23)
    assert deal.owner_email == "riley@example.com"
    assert (deal.contact_name, deal.contact_title) == ("Jane Doe", "VP Operations")
    assert deal.pipeline == "default"
    assert deal.record_url == "https://app.hubspot.com/contacts/62515/record/0-3/123"

    [read] = hubspot_api.calls_to("deal")
    assert read.headers["authorization"] == f"Bearer {hubspot_api.token}"
    assert set(read.query["properties"].split(",")) >= {
        "dealname",
        "amount",
        "deal_currency_code",
        "closedate",
        "hubspot_owner_id",
        "hs_is_closed_won",
    }
    assert read.query["associations"] == "contacts"
    assert [c.path for c in hubspot_api.calls_to("owner")] == ["/crm/v3/owners/501"]
    assert [c.path for c in hubspot_api.calls_to("contact")] == ["/crm/v3/objects/contacts/902"]


def test_without_a_primary_label_the_first_contact_is_taken(adapter, hubspot_api):
    hubspot_api.add_contact("901", "Wile", None, None)
    hubspot_api.add_contact("902", "Jane", "Doe", "VP")
    hubspot_api.add_deal("123", contacts=[("901", "deal_to_contact"), ("902", "deal_to_contact")])
    deal = adapter.resolve(stage_event())
    assert (deal.contact_name, deal.contact_title) == ("Wile", None)


def test_a_deal_moved_out_of_closed_won_resolves_as_not_won(adapter, hubspot_api):
    hubspot_api.add_deal("123", won=False)
    assert adapter.resolve(stage_event()).won is False


def test_a_bare_deal_has_no_owner_contact_amount_or_date_and_is_still_a_deal(adapter, hubspot_api):
    hubspot_api.add_deal("123", name="", amount="", currency=None, closedate=None)
    deal = adapter.resolve(stage_event())
    assert (deal.name, deal.amount, deal.currency, deal.close_date) == ("HubSpot deal 123", None, None, None)
    assert (deal.owner_email, deal.contact_name) == (None, None)
    assert hubspot_api.calls_to("owner") == [] and hubspot_api.calls_to("contact") == []


def test_an_owner_or_contact_who_is_gone_leaves_the_deal_without_them(adapter, hubspot_api):
    hubspot_api.add_deal("123", owner_id="999", contacts=[("404", "deal_to_contact")])
    deal = adapter.resolve(stage_event())
    assert deal.won is True and deal.owner_email is None and deal.contact_name is None


def test_a_deal_hubspot_does_not_have_is_refused_for_good(adapter):
    with pytest.raises(CrmRefused, match="no deal 123") as caught:
        adapter.resolve(stage_event())
    assert caught.value.status == 404


@pytest.mark.parametrize("route", ["deal", "owner", "contact"])
def test_a_rate_limit_on_any_call_is_unavailable_with_hubspots_retry_after(adapter, hubspot_api, route):
    hubspot_api.add_owner("501", "riley@example.com")
    hubspot_api.add_contact("901", "Jane", "Doe")
    hubspot_api.add_deal("123", owner_id="501", contacts=[("901", "deal_to_contact")])
    hubspot_api.fail(route, status=429, retry_after=7)
    with pytest.raises(CrmUnavailable, match="429") as caught:
        adapter.resolve(stage_event())
    assert caught.value.retry_after == 7
    assert adapter.resolve(stage_event()).owner_email == "riley@example.com"  # and later it goes through


@pytest.mark.parametrize(("status", "says"), [(500, "500"), (502, "502"), (503, "503")])
def test_a_server_error_is_unavailable(adapter, hubspot_api, status, says):
    hubspot_api.add_deal("123")
    hubspot_api.fail("deal", status=status)
    with pytest.raises(CrmUnavailable, match=says) as caught:
        adapter.resolve(stage_event())
    assert caught.value.retry_after is None


def test_a_hubspot_that_does_not_answer_in_time_is_unavailable(hubspot_api):
    adapter = HubSpot(
        client_secret=SECRET,
        access_token=hubspot_api.token,
        public_url=PUBLIC,
        api_url=hubspot_api.base_url,
        timeout=0.2,
    )
    hubspot_api.add_deal("123")
    hubspot_api.fail("deal", hang=5)
    with pytest.raises(CrmUnavailable, match="did not answer"):
        adapter.resolve(stage_event())


def test_a_hubspot_that_cannot_be_reached_is_unavailable():
    with FakeHubSpot() as gone:
        url = gone.base_url  # a port nothing listens on once the fake has stopped
    adapter = HubSpot(client_secret=SECRET, access_token="t", public_url=PUBLIC, api_url=url, timeout=0.5)
    with pytest.raises(CrmUnavailable, match="could not be reached"):
        adapter.resolve(stage_event())


def test_a_refused_token_keeps_the_event_for_later_and_says_so(hubspot_api):
    """A revoked token is the admin's to fix: the event must wait for it, not be dropped."""
    adapter = HubSpot(client_secret=SECRET, access_token="pat-revoked", public_url=PUBLIC, api_url=hubspot_api.base_url)
    hubspot_api.add_deal("123")
    with pytest.raises(CrmUnavailable, match="token was refused"):
        adapter.resolve(stage_event())


# -- backfill ----------------------------------------------------------------------------------------------------


def test_backfill_pages_through_the_deals_won_since_a_date_oldest_first(adapter, hubspot_api):
    hubspot_api.page_max = 2
    hubspot_api.add_owner("501", "riley@example.com")
    for deal_id, closed, won in [
        ("1", "2026-11-10T15:00:00Z", True),  # before the date
        ("2", "2026-11-21T15:00:00Z", True),
        ("3", "2026-11-20T15:00:00Z", True),
        ("4", "2026-11-22T15:00:00Z", False),  # closed lost
        ("5", "2026-11-25T15:00:00Z", True),
        ("6", "2026-11-20T06:00:00Z", True),  # 01:00 on the 20th in New York
        ("7", "2026-11-20T04:00:00Z", True),  # 23:00 on the 19th in New York: before the team's day
    ]:
        hubspot_api.add_deal(deal_id, closedate=closed, won=won, owner_id="501")

    deals = list(adapter.backfill(date(2026, 11, 20)))

    assert [d.crm_deal_id for d in deals] == ["6", "3", "2", "5"]
    assert {d.crm_account for d in deals} == {"62515"} and all(d.won for d in deals)
    assert {d.owner_email for d in deals} == {"riley@example.com"}
    searches = hubspot_api.calls_to("search")
    assert len(searches) == 2 and "after" not in searches[0].body and searches[1].body["after"] == "2"
    filters = searches[0].body["filterGroups"][0]["filters"]
    assert {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"} in filters
    since_ms = int(datetime(2026, 11, 20, tzinfo=NEW_YORK).timestamp() * 1000)
    assert {"propertyName": "closedate", "operator": "GTE", "value": str(since_ms)} in filters
    assert len(hubspot_api.calls_to("account")) == 1
    assert len(hubspot_api.calls_to("owner")) == 1  # one owner, read once for the whole backfill


def test_a_backfill_interrupted_by_an_outage_raises_unavailable(adapter, hubspot_api):
    hubspot_api.page_max = 1
    hubspot_api.add_deal("1", closedate="2026-11-21T15:00:00Z")
    hubspot_api.add_deal("2", closedate="2026-11-22T15:00:00Z")
    hubspot_api.fail("search", status=429, retry_after=10, times=1)
    with pytest.raises(CrmUnavailable) as caught:
        list(adapter.backfill(date(2026, 11, 20)))
    assert caught.value.retry_after == 10


# -- configuration -----------------------------------------------------------------------------------------------


def test_from_settings_is_none_until_hubspot_is_configured(tmp_path):
    assert HubSpot.from_settings(Settings(db_path=tmp_path / "x.db")) is None
    env = {
        "DEALCOACH_DB": str(tmp_path / "x.db"),
        "HUBSPOT_CLIENT_SECRET": SECRET,
        "HUBSPOT_ACCESS_TOKEN": "pat-na1-abc",
        "DEALCOACH_PUBLIC_URL": PUBLIC + "/",
        "DEALCOACH_TIMEZONE": "America/New_York",
        "DEALCOACH_CRM_CHANNEL": "C0CRMDEALS",
    }
    adapter = HubSpot.from_settings(Settings.from_env(env, require_slack=False))
    assert isinstance(adapter, HubSpot)
    assert adapter.public_url == PUBLIC and adapter.api.base_url == "https://api.hubapi.com"
    assert adapter.tz == NEW_YORK
    assert SECRET not in repr(adapter) and "pat-na1-abc" not in repr(adapter)
    body = b"[]"
    adapter.authenticate(method="POST", path_and_query=PATH, headers=signed(body), body=body, now=NOW)
    with pytest.raises(Unauthorized):
        adapter.authenticate(
            method="POST", path_and_query=PATH, headers=signed(body), body=body, now=NOW + timedelta(minutes=6)
        )
