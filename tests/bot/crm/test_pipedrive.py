"""The Pipedrive adapter: HTTP Basic credentials, webhooks v2 bodies, and deals read back from a loopback Pipedrive."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.crm.pipedrive import Pipedrive
from bot.crm.types import BadPayload, CrmRefused, CrmUnavailable, Event, Unauthorized
from bot.settings import Settings
from tests.fakecrm import FakePipedrive, basic_auth, pipedrive_change, pipedrive_deal

USER, PASSWORD = "dealcoach", "pd-hook-password-9f8e7d"
NOW = datetime(2026, 11, 24, 10, 31, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def pipedrive_api():
    with FakePipedrive() as api:
        yield api
        assert api.violations == []  # never a token in a URL


@pytest.fixture
def adapter(pipedrive_api):
    return Pipedrive(
        webhook_user=USER,
        webhook_password=PASSWORD,
        api_url=pipedrive_api.base_url,
        api_token=pipedrive_api.token,
        tz=TOKYO,
        timeout=0.5,
    )


def authenticate(adapter: Pipedrive, headers: dict[str, str]) -> None:
    adapter.authenticate(method="POST", path_and_query="/crm/pipedrive", headers=headers, body=b"{}", now=NOW)


def body(message: dict) -> bytes:
    return json.dumps(message).encode()


# -- the credentials ---------------------------------------------------------------------------------------------


def test_the_webhooks_basic_credentials_are_accepted(adapter):
    authenticate(adapter, {"Authorization": basic_auth(USER, PASSWORD)})
    authenticate(adapter, {"authorization": basic_auth(USER, PASSWORD)})


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no HTTP Basic credentials"),
        ({"Authorization": basic_auth(USER, "wrong-password")}, "wrong HTTP Basic user or password"),
        ({"Authorization": basic_auth("someone", PASSWORD)}, "wrong"),
        ({"Authorization": basic_auth(USER, PASSWORD + "x")}, "wrong"),
        ({"Authorization": basic_auth(USER, "")}, "wrong"),
        ({"Authorization": "Basic "}, "no HTTP Basic credentials"),
        ({"Authorization": "Basic not-base64!"}, "not base64"),
        ({"Authorization": "Bearer " + PASSWORD}, "no HTTP Basic credentials"),
        ({"Authorization": basic_auth(USER, PASSWORD).replace("Basic ", "Digest ")}, "no HTTP Basic"),
    ],
)
def test_anything_but_the_webhooks_credentials_is_refused(adapter, headers, why):
    with pytest.raises(Unauthorized, match=why):
        authenticate(adapter, headers)


# -- the notification --------------------------------------------------------------------------------------------


def test_a_deal_won_is_one_event_keyed_by_the_change_not_the_attempt(adapter):
    won = pipedrive_change(pipedrive_deal(42, status="won"), {"status": "open", "stage_id": 4})
    [event] = adapter.parse(body(won), {})
    assert event == Event(
        crm="pipedrive",
        key="7001:42:2026-11-24T10:30:01.123000+00:00:won",
        crm_account="7001",
        crm_deal_id="42",
        occurred_at=datetime(2026, 11, 24, 10, 30, 1, 123000, tzinfo=UTC),
        payload={"company_id": "7001", "deal_id": "42", "status": "won", "previous_status": "open"},
    )
    retried = pipedrive_change(pipedrive_deal(42, status="won"), {"status": "open", "stage_id": 4}, attempt=2)
    assert [e.key for e in adapter.parse(body(retried), {})] == [event.key]


@pytest.mark.parametrize("now", ["lost", "open", "deleted"])
def test_a_deal_leaving_won_is_kept_so_the_core_can_pause_it(adapter, now):
    change = pipedrive_change(pipedrive_deal(42, status=now), {"status": "won"}, timestamp="2026-11-26T08:00:00Z")
    [event] = adapter.parse(body(change), {})
    assert event.key == f"7001:42:2026-11-26T08:00:00+00:00:{now}"
    assert event.payload["previous_status"] == "won" and event.payload["status"] == now


def test_a_timestamp_in_epoch_seconds_reads_as_the_same_moment(adapter):
    change = pipedrive_change(pipedrive_deal(42, status="won"), {"status": "open"})
    change["meta"]["timestamp"] = 1795516201  # 2026-11-24T10:30:01Z, as some senders write it
    [event] = adapter.parse(body(change), {})
    assert event.occurred_at == datetime(2026, 11, 24, 10, 30, 1, tzinfo=UTC)
    assert event.key == "7001:42:2026-11-24T10:30:01+00:00:won"


def test_won_then_reopened_are_two_events(adapter):
    won = pipedrive_change(pipedrive_deal(42, status="won"), {"status": "open"}, timestamp="2026-11-24T10:30:01Z")
    reopened = pipedrive_change(pipedrive_deal(42, status="open"), {"status": "won"}, timestamp="2026-11-24T10:30:01Z")
    keys = {e.key for message in (won, reopened) for e in adapter.parse(body(message), {})}
    assert len(keys) == 2


def test_a_deal_created_already_won_is_a_win(adapter):
    created = pipedrive_change(pipedrive_deal(43, status="won"), None, action="create")
    assert [e.crm_deal_id for e in adapter.parse(body(created), {})] == ["43"]


@pytest.mark.parametrize(
    ("message", "case"),
    [
        (pipedrive_change(pipedrive_deal(42, status="won"), {"stage_id": 4}), "a won deal edited: status unchanged"),
        (pipedrive_change(pipedrive_deal(42, status="won"), {"title": "Old"}), "renamed"),
        (pipedrive_change(pipedrive_deal(42, status="open"), {"stage_id": 4}), "a stage move"),
        (pipedrive_change(pipedrive_deal(42, status="lost"), {"status": "open"}), "lost without ever being won"),
        (pipedrive_change(pipedrive_deal(42, status="open"), {"status": "lost"}), "reopened after lost"),
        (pipedrive_change(pipedrive_deal(42, status="won"), None), "a change with no previous"),
        (pipedrive_change(pipedrive_deal(42, status="open"), None, action="create"), "created open"),
        (pipedrive_change(pipedrive_deal(42, status="won"), None, action="delete"), "deleted"),
        (pipedrive_change({"id": 5, "name": "Jane"}, {"name": "J"}, entity="person"), "a person"),
    ],
)
def test_a_notification_that_is_not_a_win_or_its_reversal_is_merely_uninteresting(adapter, message, case):
    assert adapter.parse(body(message), {}) == [], case


V1 = {
    "v": 1,
    "matches_filters": {"current": []},
    "meta": {"v": 1, "action": "updated", "object": "deal", "id": 42, "company_id": 7001},
    "current": {"id": 42, "status": "won"},
    "previous": {"id": 42, "status": "open"},
    "event": "updated.deal",
}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "expected a Pipedrive webhooks v2 body"),
        (b"[1, 2]", "meta object"),
        (body({"data": {"id": 1}}), "meta object"),
        (body(V1), "webhooks v1 body; Deal Coach reads v2"),
        (body({"meta": {"version": "2.0"}, "data": {}}), "meta.entity and meta.action"),
        (body({**pipedrive_change(pipedrive_deal(42), {"status": "open"}), "data": None}), "without its data object"),
        (
            body(pipedrive_change(pipedrive_deal(42), {"status": "open"}, company_id=0)),
            "numeric meta.entity_id and meta.company_id",
        ),
    ],
)
def test_a_shape_pipedrive_never_sends_is_a_bad_payload_saying_what_was_expected(adapter, raw, says):
    with pytest.raises(BadPayload, match=says) as caught:
        adapter.parse(raw, {})
    if "v1" not in says:
        assert '"version": "2.0"' in str(caught.value)  # an example of what is expected


# -- the deal from the API ---------------------------------------------------------------------------------------


def won_event(deal_id: str = "42") -> Event:
    return Event("pipedrive", f"7001:{deal_id}:x:won", "7001", deal_id, NOW, {"deal_id": deal_id, "status": "won"})


def test_resolve_reads_the_deal_its_owner_and_its_person_with_the_token_in_a_header(adapter, pipedrive_api):
    pipedrive_api.add_user(11, "pat@example.com")
    pipedrive_api.add_person(21, "Hank Scorpio", "CEO")
    pipedrive_api.add_deal(
        42,
        title="Globex renewal",
        value=50000.5,
        currency="eur",
        owner_id=11,
        person_id=21,
        won_time="2026-11-24T16:30:00Z",  # 01:30 on the 25th in Tokyo
        pipeline_id=3,
    )
    deal = adapter.resolve(won_event())
    assert deal.won is True
    assert (deal.crm, deal.crm_account, deal.crm_deal_id) == ("pipedrive", "7001", "42")
    assert (deal.name, deal.amount, deal.currency) == ("Globex renewal", Decimal("50000.5"), "EUR")
    assert deal.close_date == date(2026, 11, 25)
    assert deal.owner_email == "pat@example.com"
    assert (deal.contact_name, deal.contact_title) == ("Hank Scorpio", "CEO")
    assert deal.pipeline == "3"
    assert deal.record_url == f"{pipedrive_api.root}/deal/42"
    assert [c.path for c in pipedrive_api.calls] == ["/api/v2/deals/42", "/api/v1/users/11", "/api/v1/persons/21"]
    for call in pipedrive_api.calls:
        assert call.headers["x-api-token"] == pipedrive_api.token and "api_token" not in call.query


def test_a_deal_reopened_since_resolves_as_not_won(adapter, pipedrive_api):
    """The API says what the deal is now: an older 'won' event read after a reopen finds it open."""
    pipedrive_api.add_deal(42, status="open", won_time=None)
    deal = adapter.resolve(won_event())
    assert deal.won is False and deal.close_date is None


def test_a_deal_without_owner_person_or_value_is_still_a_deal(adapter, pipedrive_api):
    pipedrive_api.add_deal(42, title="", value=None, owner_id=None, person_id=None)
    deal = adapter.resolve(won_event())
    assert (deal.name, deal.amount, deal.owner_email, deal.contact_name) == ("Pipedrive deal 42", None, None, None)
    assert [c.route for c in pipedrive_api.calls] == ["deal"]


def test_an_owner_or_person_who_is_gone_leaves_the_deal_without_them(adapter, pipedrive_api):
    pipedrive_api.add_deal(42, owner_id=404, person_id=405)
    deal = adapter.resolve(won_event())
    assert deal.won is True and deal.owner_email is None and deal.contact_name is None


def test_a_won_deal_pipedrive_does_not_have_is_refused_for_good(adapter):
    with pytest.raises(CrmRefused, match="no deal 42") as caught:
        adapter.resolve(won_event())
    assert caught.value.status == 404


def test_a_deal_deleted_after_leaving_won_resolves_as_not_won_so_it_still_pauses(adapter):
    change = pipedrive_change(pipedrive_deal(42, status="deleted"), {"status": "won"})
    [event] = adapter.parse(body(change), {})
    deal = adapter.resolve(event)  # the fake has no deal 42
    assert (deal.won, deal.crm_account, deal.crm_deal_id) == (False, "7001", "42")


@pytest.mark.parametrize("route", ["deal", "user", "person"])
def test_a_rate_limit_on_any_call_is_unavailable_with_pipedrives_retry_after(adapter, pipedrive_api, route):
    pipedrive_api.add_user(11, "pat@example.com")
    pipedrive_api.add_person(21, "Hank Scorpio")
    pipedrive_api.add_deal(42, owner_id=11, person_id=21)
    pipedrive_api.fail(route, status=429, retry_after=2)
    with pytest.raises(CrmUnavailable, match="Pipedrive answered 429") as caught:
        adapter.resolve(won_event())
    assert caught.value.retry_after == 2
    assert adapter.resolve(won_event()).contact_name == "Hank Scorpio"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_unavailable(adapter, pipedrive_api, status):
    pipedrive_api.add_deal(42)
    pipedrive_api.fail("deal", status=status)
    with pytest.raises(CrmUnavailable, match=str(status)):
        adapter.resolve(won_event())


def test_a_pipedrive_that_does_not_answer_in_time_is_unavailable(pipedrive_api):
    adapter = Pipedrive(
        webhook_user=USER,
        webhook_password=PASSWORD,
        api_url=pipedrive_api.base_url,
        api_token=pipedrive_api.token,
        timeout=0.2,
    )
    pipedrive_api.add_deal(42)
    pipedrive_api.fail("deal", hang=5)
    with pytest.raises(CrmUnavailable, match="did not answer GET /v2/deals/42 within 0.2 s"):
        adapter.resolve(won_event())


def test_a_pipedrive_that_cannot_be_reached_is_unavailable():
    with FakePipedrive() as gone:
        url = gone.base_url
    adapter = Pipedrive(webhook_user=USER, webhook_password=PASSWORD, api_url=url, api_token="t", timeout=0.5)
    with pytest.raises(CrmUnavailable, match="could not be reached"):
        adapter.resolve(won_event())


def test_a_refused_token_keeps_the_event_for_later_and_never_shows_the_token(pipedrive_api):
    adapter = Pipedrive(
        webhook_user=USER, webhook_password=PASSWORD, api_url=pipedrive_api.base_url, api_token="pd-revoked-token"
    )
    pipedrive_api.add_deal(42)
    with pytest.raises(CrmUnavailable, match="token was refused") as caught:
        adapter.resolve(won_event())
    assert "pd-revoked-token" not in str(caught.value)


# -- backfill ----------------------------------------------------------------------------------------------------


def test_backfill_pages_through_the_deals_won_since_a_date(adapter, pipedrive_api):
    pipedrive_api.page_max = 2
    pipedrive_api.add_user(11, "pat@example.com")
    pipedrive_api.add_deal(1, owner_id=11, won_time="2026-11-10T09:00:00Z")  # won before the date
    pipedrive_api.add_deal(2, owner_id=11, won_time="2026-11-10T09:00:00Z", update_time="2026-11-22T09:00:00Z")
    pipedrive_api.add_deal(3, owner_id=11, won_time="2026-11-21T09:00:00Z")
    pipedrive_api.add_deal(4, owner_id=11, status="lost", won_time=None, update_time="2026-11-21T10:00:00Z")
    pipedrive_api.add_deal(5, owner_id=11, won_time="2026-11-23T09:00:00Z")
    pipedrive_api.add_deal(6, owner_id=11, won_time="2026-11-19T16:00:00Z")  # 01:00 on the 20th in Tokyo
    pipedrive_api.add_deal(7, owner_id=11, won_time="2026-11-19T14:00:00Z")  # 23:00 on the 19th in Tokyo
    pipedrive_api.add_deal(8, owner_id=11, won_time="2026-11-24T09:00:00Z")

    deals = list(adapter.backfill(date(2026, 11, 20)))

    assert sorted(int(d.crm_deal_id) for d in deals) == [3, 5, 6, 8]
    assert {d.crm_account for d in deals} == {"7001"} and all(d.won for d in deals)
    assert {d.owner_email for d in deals} == {"pat@example.com"}
    listings = pipedrive_api.calls_to("deals")
    assert len(listings) >= 2 and "cursor" not in listings[0].query and listings[1].query["cursor"]
    assert listings[0].query["status"] == "won"
    assert listings[0].query["updated_since"] == "2026-11-19T15:00:00Z"  # midnight in Tokyo
    assert len(pipedrive_api.calls_to("me")) == 1
    assert len(pipedrive_api.calls_to("user")) == 1  # one owner, read once for the whole backfill


def test_a_backfill_interrupted_by_an_outage_raises_unavailable(adapter, pipedrive_api):
    pipedrive_api.page_max = 1
    pipedrive_api.add_deal(1, won_time="2026-11-21T09:00:00Z")
    pipedrive_api.add_deal(2, won_time="2026-11-22T09:00:00Z")
    pipedrive_api.fail("deals", status=503)
    with pytest.raises(CrmUnavailable, match="503"):
        list(adapter.backfill(date(2026, 11, 20)))


# -- configuration -----------------------------------------------------------------------------------------------


def test_from_settings_is_none_until_pipedrive_is_configured(tmp_path, pipedrive_api):
    assert Pipedrive.from_settings(Settings(db_path=tmp_path / "x.db")) is None
    env = {
        "DEALCOACH_DB": str(tmp_path / "x.db"),
        "PIPEDRIVE_WEBHOOK_USER": USER,
        "PIPEDRIVE_WEBHOOK_PASSWORD": PASSWORD,
        "PIPEDRIVE_API_URL": pipedrive_api.base_url + "/",
        "PIPEDRIVE_API_TOKEN": pipedrive_api.token,
        "DEALCOACH_TIMEZONE": "Asia/Tokyo",
        "DEALCOACH_CRM_CHANNEL": "C0CRMDEALS",
    }
    adapter = Pipedrive.from_settings(Settings.from_env(env, require_slack=False))
    assert isinstance(adapter, Pipedrive) and adapter.tz == TOKYO
    assert adapter.web_url == pipedrive_api.root
    assert PASSWORD not in repr(adapter) and pipedrive_api.token not in repr(adapter)
    authenticate(adapter, {"Authorization": basic_auth(USER, PASSWORD)})
    pipedrive_api.add_deal(42)
    assert adapter.resolve(won_event()).won is True
