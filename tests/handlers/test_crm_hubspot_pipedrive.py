"""Deals won in HubSpot and Pipedrive, end to end: genuinely signed HubSpot v3 webhooks and Basic-authenticated
Pipedrive v2 webhooks posted to the running server (HTTP mode and the Socket Mode HTTP side), the deal read back
from loopback fakes of their APIs (tests/fakecrm.py), the inbox drained by the scheduler's own job, and what Slack
receives asserted on. The adapters are built from the settings, as `serve` builds them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlite_utils

from bot.coach import Coach
from bot.crm import inbox as crm_inbox
from bot.crm.webhooks import crm_app
from bot.nudges.dispatch import Pacer
from bot.playbook.loader import load
from bot.slack.client import listener_client
from handlers import create_app
from schedules.jobs import dispatch_nudges
from tests.conftest import MANAGER, REP
from tests.fakecrm import (
    FakeHubSpot,
    FakePipedrive,
    basic_auth,
    hubspot_event,
    hubspot_signature,
    pipedrive_change,
    pipedrive_deal,
)

CRM_CHANNEL = "C0CRMWINS"
ANNOUNCEMENT = "dealcoach_deal"
PUBLIC = "https://dealcoach.example.com"
HS_SECRET = "hs-client-secret-5f2c9e1a-e2e"
PD_USER, PD_PASSWORD = "pipedrive-hook", "pd-webhook-password-9Qx7LmN2"
RILEY = "riley@acme-sales.example.com"  # the HubSpot owner
PAT = "pat@globex-sales.example.com"  # the Pipedrive owner
HS_DEAL, PD_DEAL = 9001001, 4242


@pytest.fixture
def hubspot_api():
    with FakeHubSpot() as api:
        yield api


@pytest.fixture
def pipedrive_api():
    with FakePipedrive() as api:
        yield api


@pytest.fixture
def crm_settings(settings, hubspot_api, pipedrive_api):
    # no DEALCOACH_CRM_TEAM: with one bot token the CRM feeds that token's workspace (auth.test)
    return replace(
        settings,
        crm_channel=CRM_CHANNEL,
        hubspot_client_secret=HS_SECRET,
        hubspot_access_token=hubspot_api.token,
        hubspot_api_url=hubspot_api.base_url,
        public_url=PUBLIC,
        pipedrive_webhook_user=PD_USER,
        pipedrive_webhook_password=PD_PASSWORD,
        pipedrive_api_url=pipedrive_api.base_url,
        pipedrive_api_token=pipedrive_api.token,
    )


@pytest.fixture
def crm_coach(crm_settings, store, clock, pace, pacer):
    coach = Coach(crm_settings, store, load(), clock, sleep=pace.sleep, pacer=pacer)
    assert sorted(coach.crm) == ["hubspot", "pipedrive"]  # both built from the settings alone
    return coach


@pytest.fixture
def webhooks(crm_coach):
    return crm_app(crm_coach.crm, crm_coach.store.for_requests(200), crm_coach.now)


@pytest.fixture
def crm_server(crm_coach, executor, webhooks, server_for):
    """HTTP mode: Slack's events and the CRM routes on one port."""
    app = create_app(
        crm_coach, client=listener_client(crm_coach.settings, backoff_seconds=0), listener_executor=executor
    )
    return server_for(app, crm=webhooks)


@pytest.fixture
def tick(crm_coach, pace):
    """One run of the scheduler's interval job (and of `dealcoach tick`): drain the CRM inbox, post what is due."""

    def run():
        return dispatch_nudges(crm_coach, crm_coach.workspaces, None, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))

    return run


# -- what the CRMs send ------------------------------------------------------------------------------------------


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


def post_hubspot(
    base: str,
    events,
    *,
    clock,
    target: str = "/crm/hubspot",
    signed_uri: str | None = None,
    age: timedelta = timedelta(seconds=2),
    secret: str = HS_SECRET,
    body: bytes | None = None,
    sent_body: bytes | None = None,
) -> tuple[int, str]:
    """POST a batch as HubSpot does: signed (v3) over the URI it called (PUBLIC + target unless `signed_uri`), the
    body and the time in ms. `sent_body` replaces the body after signing (tampering)."""
    raw = body if body is not None else json.dumps(events).encode()
    at_ms = int((clock.now - age).timestamp() * 1000)
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", signed_uri or PUBLIC + target, raw, at_ms),
        "X-HubSpot-Request-Timestamp": str(at_ms),
    }
    return _post(base + target, sent_body if sent_body is not None else raw, headers)


def hs_event(clock, *, event_id: int = 1, stage: str = "closedwon", later: int = 0, deal: int = HS_DEAL) -> dict:
    occurred = int((clock.now - timedelta(minutes=1) + timedelta(seconds=later)).timestamp() * 1000)
    return hubspot_event(deal, event_id=event_id, stage=stage, occurred_at=occurred)


def post_pipedrive(base: str, message, *, auth: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if auth != "":
        headers["Authorization"] = auth or basic_auth(PD_USER, PD_PASSWORD)
    raw = message if isinstance(message, bytes) else json.dumps(message).encode()
    return _post(base + "/crm/pipedrive", raw, headers)


def pd_won(*, timestamp: str = "2026-11-23T14:59:01.123Z", attempt: int = 1, previous: str = "open", **deal) -> dict:
    fields = {"owner_id": 77, "person_id": 55, **deal}
    return pipedrive_change(
        pipedrive_deal(PD_DEAL, **fields), {"status": previous}, timestamp=timestamp, attempt=attempt
    )


# -- what Deal Coach stored and Slack received --------------------------------------------------------------------


def rows(settings, sql, params=()):
    with sqlite_utils.Database(settings.db_path) as db:
        return [dict(r) for r in db.query(sql, params)]


def deals(settings):
    return rows(settings, "SELECT * FROM deals ORDER BY id")


def inbox(settings):
    return rows(settings, "SELECT * FROM crm_inbox ORDER BY id")


def planned(settings, deal_id):
    return rows(settings, "SELECT id FROM nudges WHERE deal_id = ? AND status = 'planned'", [deal_id])


def announcements(fake):
    return fake.posts_of(ANNOUNCEMENT)


def dms_to(fake, user):
    return [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == user]


@pytest.fixture
def hubspot_deal(hubspot_api, fake):
    """A won HubSpot deal with an owner in Slack and two contacts, the second labelled primary."""
    fake.emails[RILEY] = REP
    hubspot_api.add_owner("501", RILEY)
    hubspot_api.add_contact("801", "Sam", "Sidekick", "Analyst")
    hubspot_api.add_contact("802", "Dana", "Buyer", "VP Operations")
    hubspot_api.add_deal(
        str(HS_DEAL),
        name="Acme Rockets",
        amount="120000",
        owner_id="501",
        contacts=[("801", "deal_to_contact"), ("802", "deal_to_contact_primary")],
    )


@pytest.fixture
def pipedrive_deal_(pipedrive_api, fake):
    """A won Pipedrive deal with an owner in Slack and a person."""
    fake.emails[PAT] = REP
    pipedrive_api.add_user(77, PAT)
    pipedrive_api.add_person(55, "Hana Schmidt", "Head of Procurement")
    pipedrive_api.add_deal(PD_DEAL, title="Globex renewal", value=50000, owner_id=77, person_id=55)


# -- HubSpot -----------------------------------------------------------------------------------------------------


def test_hubspot_a_won_deal_is_announced_once_in_the_crm_channel_with_its_owner_and_primary_contact(
    crm_server, crm_settings, hubspot_api, hubspot_deal, fake, tick, clock
):
    status, body = post_hubspot(crm_server, [hs_event(clock)], clock=clock)
    assert status == 200 and json.loads(body) == {"ok": True, "stored": 1}
    assert deals(crm_settings) == []  # stored in the inbox and answered; the worker does the rest
    [event] = inbox(crm_settings)
    assert (event["crm"], event["crm_account"], event["crm_deal_id"], event["status"]) == (
        "hubspot",
        "62515",
        str(HS_DEAL),
        "pending",
    )

    tick()
    [deal] = deals(crm_settings)
    assert (deal["account"], deal["amount"], deal["currency"], deal["owner_id"], deal["channel_id"]) == (
        "Acme Rockets",
        "120000",
        "USD",
        REP,
        CRM_CHANNEL,
    )
    assert (deal["contact_name"], deal["contact_title"]) == ("Dana Buyer", "VP Operations")  # the primary one
    assert deal["source"] == "hubspot"
    assert deal["source_url"] == f"https://app.hubspot.com/contacts/62515/record/0-3/{HS_DEAL}"
    assert [c.params["email"] for c in fake.calls_to("users.lookupByEmail")] == [RILEY]
    [post] = announcements(fake)
    assert post.params["channel"] == CRM_CHANNEL and f"<@{REP}>" in post.params["text"]
    assert "Dana Buyer" in str(post.params["blocks"])
    assert f"<{deal['source_url']}|HubSpot>" in str(post.params["blocks"])  # where it came from, linked
    assert planned(crm_settings, deal["id"])  # its plan started
    # the contact came from HubSpot: the rep is not asked for it (a Salesforce deal, which has none, is)
    assert all("contact's name and title" not in str(dm.params) for dm in dms_to(fake, REP))
    # every API call carried the token in its header (the fake answers 401 otherwise, and nothing would be created)
    assert {c.route for c in hubspot_api.calls} == {"deal", "owner", "contact"}
    assert all(c.headers["authorization"] == f"Bearer {hubspot_api.token}" for c in hubspot_api.calls)
    assert fake.violations == []


def test_hubspot_retries_and_duplicate_events_create_one_deal_and_one_announcement(
    crm_server, crm_settings, hubspot_deal, fake, tick, clock
):
    batch = [hs_event(clock, event_id=1)]
    for _ in range(3):  # HubSpot retries until it gets a 2xx
        assert post_hubspot(crm_server, batch, clock=clock)[0] == 200
    # the same change seen by a second subscription, in one batch with a replay of the first
    assert post_hubspot(crm_server, [hs_event(clock, event_id=2), *batch], clock=clock)[0] == 200
    assert len(inbox(crm_settings)) == 2
    tick()
    assert post_hubspot(crm_server, batch, clock=clock)[0] == 200  # a replay after it was processed
    tick()
    tick()
    assert len(deals(crm_settings)) == 1
    assert len(announcements(fake)) == 1
    assert len(rows(crm_settings, "SELECT * FROM crm_deals")) == 1
    assert len(inbox(crm_settings)) == 2 and {e["status"] for e in inbox(crm_settings)} == {"done"}


@pytest.mark.parametrize(
    "forgery",
    ["another-secret", "tampered-body", "too-old", "from-the-future", "another-address", "unsigned"],
)
def test_hubspot_a_forged_old_or_tampered_request_gets_401_and_stores_nothing(
    crm_server, crm_settings, hubspot_deal, fake, tick, clock, forgery
):
    batch = [hs_event(clock)]
    raw = json.dumps(batch).encode()
    if forgery == "unsigned":
        status, body = _post(crm_server + "/crm/hubspot", raw, {"Content-Type": "application/json"})
    else:
        kwargs = {
            "another-secret": {"secret": "someone-elses-client-secret"},
            "tampered-body": {"sent_body": raw.replace(b"closedwon", b"closedwoN")},
            "too-old": {"age": timedelta(minutes=5, seconds=5)},
            "from-the-future": {"age": -timedelta(minutes=6)},
            "another-address": {"signed_uri": "https://attacker.example.net/crm/hubspot"},
        }[forgery]
        status, body = post_hubspot(crm_server, batch, clock=clock, **kwargs)
    assert status == 401 and HS_SECRET not in body
    tick()
    assert inbox(crm_settings) == [] and deals(crm_settings) == [] and announcements(fake) == []


@pytest.mark.parametrize(
    ("target", "signed"),
    [
        # a Target URL with a query string: signed as sent (HubSpot leaves %20 and %26 encoded)
        ("/crm/hubspot?source=hubspot&note=a%20b%26c", "/crm/hubspot?source=hubspot&note=a%20b%26c"),
        # HubSpot decodes the listed characters (%3A, %40, %2C ...) before it signs
        ("/crm/hubspot?team=sales%3Aeu&by=ops%40acme%2Cwins", "/crm/hubspot?team=sales:eu&by=ops@acme,wins"),
        # a path with an encoded character: WSGI's PATH_INFO is decoded, HubSpot signed it encoded
        ("/crm/hubspot/eu%20wins", "/crm/hubspot/eu%20wins"),
    ],
    ids=["query", "decoded-characters", "encoded-path"],
)
def test_hubspot_the_signed_uri_is_the_public_url_with_the_path_and_query_as_received(
    crm_server, crm_settings, hubspot_deal, fake, tick, clock, target, signed
):
    status, _ = post_hubspot(crm_server, [hs_event(clock)], clock=clock, target=target, signed_uri=PUBLIC + signed)
    assert status == 200
    tick()
    assert len(announcements(fake)) == 1


@pytest.mark.parametrize(
    ("failure", "first_wait", "error"),
    [
        ({"route": "deal", "status": 429, "retry_after": 120}, timedelta(seconds=120), "429"),
        ({"route": "owner", "status": 500}, timedelta(minutes=1), "500"),
        ({"route": "contact", "hang": 2.0}, timedelta(minutes=1), "did not answer"),
    ],
    ids=["429-retry-after", "500", "timeout"],
)
def test_hubspot_an_api_outage_delays_the_deal_and_it_arrives_once_the_api_recovers(
    crm_server, crm_settings, crm_coach, hubspot_api, hubspot_deal, fake, tick, clock, failure, first_wait, error
):
    crm_coach.crm["hubspot"].api.timeout = 0.3  # the hang outlasts it (10 s in production)
    route = failure.pop("route")
    hubspot_api.fail(route, **failure)
    assert post_hubspot(crm_server, [hs_event(clock)], clock=clock)[0] == 200
    tick()
    assert deals(crm_settings) == [] and announcements(fake) == []
    [event] = inbox(crm_settings)
    assert event["status"] == "pending" and error in event["error"]
    calls = len(hubspot_api.calls)

    clock.now += first_wait - timedelta(seconds=1)
    tick()  # not due yet: HubSpot is not asked again
    assert len(hubspot_api.calls) == calls and deals(crm_settings) == []

    clock.now += timedelta(seconds=2)
    tick()
    [deal] = deals(crm_settings)
    assert (deal["owner_id"], deal["contact_name"]) == (REP, "Dana Buyer")
    tick()
    assert len(announcements(fake)) == 1
    assert inbox(crm_settings)[0]["status"] == "done"


def test_hubspot_a_429_holds_back_the_whole_crm_until_retry_after_and_other_crms_go_on(
    crm_server, crm_settings, hubspot_api, hubspot_deal, pipedrive_deal_, fake, tick, clock
):
    for deal in (HS_DEAL + 1, HS_DEAL + 2):
        hubspot_api.add_deal(str(deal), name=f"Account {deal}", owner_id="501")
    batch = [hs_event(clock, event_id=i, deal=HS_DEAL + i) for i in range(3)]
    assert post_hubspot(crm_server, batch, clock=clock)[0] == 200
    assert post_pipedrive(crm_server, pd_won())[0] == 200
    hubspot_api.fail("deal", status=429, retry_after=120)  # the first read only: HubSpot asks us to wait 2 minutes
    tick()
    assert len(hubspot_api.calls_to("deal")) == 1  # not asked again in this run, as it asked
    assert [d["source"] for d in deals(crm_settings)] == ["pipedrive"]  # another CRM is not held back
    waiting = [e for e in inbox(crm_settings) if e["crm"] == "hubspot"]
    assert [e["status"] for e in waiting] == ["pending"] * 3 and all("429" in e["error"] for e in waiting)

    clock.now += timedelta(seconds=119)
    tick()
    assert len(hubspot_api.calls_to("deal")) == 1
    clock.now += timedelta(seconds=2)
    tick()
    assert sorted(d["source"] for d in deals(crm_settings)) == ["hubspot"] * 3 + ["pipedrive"]
    assert len(announcements(fake)) == 4


def test_hubspot_a_deal_leaving_closed_won_pauses_and_won_again_resumes(
    crm_server, crm_settings, hubspot_api, hubspot_deal, fake, tick, clock
):
    post_hubspot(crm_server, [hs_event(clock, event_id=1)], clock=clock)
    tick()
    [deal] = deals(crm_settings)
    steps = {r["id"] for r in planned(crm_settings, deal["id"])}
    assert steps

    hubspot_api.deals[str(HS_DEAL)]["properties"]["hs_is_closed_won"] = "false"  # moved back to a stage
    post_hubspot(crm_server, [hs_event(clock, event_id=2, stage="contractsent", later=10)], clock=clock)
    tick()
    assert deals(crm_settings)[0]["paused_at"] is not None
    assert planned(crm_settings, deal["id"]) == []
    [note] = dms_to(fake, MANAGER)
    assert "moved out of closed-won in" in note.params["text"] and "HubSpot" in note.params["text"]

    hubspot_api.deals[str(HS_DEAL)]["properties"]["hs_is_closed_won"] = "true"
    again = [hs_event(clock, event_id=3, later=20)]
    post_hubspot(crm_server, again, clock=clock)
    post_hubspot(crm_server, again, clock=clock)  # a retry tells nobody twice
    tick()
    tick()
    assert deals(crm_settings)[0]["paused_at"] is None
    assert {r["id"] for r in planned(crm_settings, deal["id"])} == steps
    notes = dms_to(fake, MANAGER)
    assert len(notes) == 2 and "closed-won again" in notes[1].params["text"]
    assert len(announcements(fake)) == 1


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"not json", "expected a JSON array of HubSpot webhook events"),
        (json.dumps({"eventId": 1, "objectId": HS_DEAL}).encode(), "expected a JSON array of HubSpot webhook events"),
        (json.dumps([{"objectId": HS_DEAL}]).encode(), "subscriptionType"),
        (
            json.dumps([{"subscriptionType": "deal.propertyChange", "propertyName": "dealstage"}]).encode(),
            "numeric portalId, objectId and eventId",
        ),
    ],
    ids=["not-json", "an-object", "no-subscription-type", "no-ids"],
)
def test_hubspot_a_body_hubspot_never_sends_gets_400_saying_what_was_expected(
    crm_server, crm_settings, clock, body, said
):
    status, text = post_hubspot(crm_server, None, clock=clock, body=body)
    assert status == 400
    assert said in json.loads(text)["error"]
    assert inbox(crm_settings) == []


def test_hubspot_a_change_that_is_not_a_win_is_answered_200_and_ignored(
    crm_server, crm_settings, hubspot_api, fake, tick, clock
):
    hubspot_api.add_deal(str(HS_DEAL), won=False)
    other = hubspot_event(HS_DEAL, event_id=7, subscription="deal.creation", prop="")  # not a stage change
    status, body = post_hubspot(crm_server, [hs_event(clock, stage="contractsent"), other], clock=clock)
    assert status == 200 and json.loads(body)["stored"] == 1
    tick()
    assert deals(crm_settings) == [] and announcements(fake) == []
    assert [e["status"] for e in inbox(crm_settings)] == ["ignored"]


def test_hubspot_a_deal_the_api_says_is_gone_is_recorded_as_an_error_and_not_tried_again(
    crm_server, crm_settings, crm_coach, hubspot_api, fake, tick, clock
):
    post_hubspot(crm_server, [hs_event(clock, deal=404404)], clock=clock)  # deleted before we read it
    tick()
    [event] = inbox(crm_settings)
    assert event["status"] == "failed" and "404" in event["error"]
    calls = len(hubspot_api.calls)
    clock.now += timedelta(hours=2)
    tick()
    assert len(hubspot_api.calls) == calls
    assert deals(crm_settings) == [] and announcements(fake) == []
    with crm_coach.store.session() as db:
        said = crm_inbox.status(db, "hubspot")
    assert "HubSpot has no deal 404404" in said.last_error and "not tried again" in said.last_error
    assert said.pending == 0


# -- Pipedrive ---------------------------------------------------------------------------------------------------


def test_pipedrive_a_won_deal_is_announced_once_in_the_crm_channel_with_its_owner_and_person(
    crm_server, crm_settings, pipedrive_api, pipedrive_deal_, fake, tick
):
    status, body = post_pipedrive(crm_server, pd_won())
    assert status == 200 and json.loads(body) == {"ok": True, "stored": 1}
    [event] = inbox(crm_settings)
    assert (event["crm"], event["crm_account"], event["crm_deal_id"]) == ("pipedrive", "7001", str(PD_DEAL))
    assert deals(crm_settings) == []

    tick()
    [deal] = deals(crm_settings)
    assert (deal["account"], deal["amount"], deal["currency"], deal["owner_id"], deal["channel_id"]) == (
        "Globex renewal",
        "50000",
        "EUR",
        REP,
        CRM_CHANNEL,
    )
    assert (deal["contact_name"], deal["contact_title"]) == ("Hana Schmidt", "Head of Procurement")
    assert deal["source"] == "pipedrive"
    assert deal["source_url"] == f"{pipedrive_api.root}/deal/{PD_DEAL}"
    [post] = announcements(fake)
    assert post.params["channel"] == CRM_CHANNEL and f"<@{REP}>" in post.params["text"]
    assert "Hana Schmidt" in str(post.params["blocks"])
    assert planned(crm_settings, deal["id"])
    assert [c.params["email"] for c in fake.calls_to("users.lookupByEmail")] == [PAT]
    assert {c.route for c in pipedrive_api.calls} == {"deal", "user", "person"}
    assert pipedrive_api.violations == []  # the token went in the x-api-token header, never the URL


def test_pipedrive_retries_and_duplicate_events_create_one_deal_and_one_announcement(
    crm_server, crm_settings, pipedrive_deal_, fake, tick
):
    for attempt in (1, 2, 3):  # Pipedrive's retries carry the same change (its attempt number grows)
        assert post_pipedrive(crm_server, pd_won(attempt=attempt))[0] == 200
    # a second webhook on the same change a moment later (two hooks configured), and a replay after processing
    assert post_pipedrive(crm_server, pd_won(timestamp="2026-11-23T14:59:02.000Z"))[0] == 200
    assert len(inbox(crm_settings)) == 2
    tick()
    assert post_pipedrive(crm_server, pd_won())[0] == 200
    tick()
    assert len(deals(crm_settings)) == 1 and len(announcements(fake)) == 1
    assert len(inbox(crm_settings)) == 2 and len(rows(crm_settings, "SELECT * FROM crm_deals")) == 1


def test_pipedrive_an_owner_gone_from_pipedrive_or_not_in_slack_leaves_the_deal_to_be_claimed(
    crm_server, crm_settings, pipedrive_api, fake, tick
):
    pipedrive_api.add_user(78, "someone@globex-sales.example.com")  # in Pipedrive, not in Slack
    pipedrive_api.add_deal(PD_DEAL, owner_id=99, person_id=56)  # owner 99 and person 56 are gone (404)
    pipedrive_api.add_deal(PD_DEAL + 1, title="Initech", owner_id=78)
    post_pipedrive(crm_server, pd_won(owner_id=99, person_id=56))
    other = pipedrive_change(pipedrive_deal(PD_DEAL + 1, owner_id=78), {"status": "open"})
    post_pipedrive(crm_server, other)
    tick()
    assert [(d["account"], d["owner_id"], d["contact_name"]) for d in deals(crm_settings)] == [
        ("Globex renewal", "", None),
        ("Initech", "", None),
    ]
    posts = announcements(fake)
    assert len(posts) == 2 and all("owner not found in Slack" in p.params["text"] for p in posts)
    assert inbox(crm_settings)[0]["status"] == "done"


@pytest.mark.parametrize(
    "auth",
    [
        "",
        basic_auth(PD_USER, "wrong-password"),
        basic_auth("someone", PD_PASSWORD),
        f"Bearer {PD_PASSWORD}",
        "Basic !!!not-base64!!!",
    ],
    ids=["none", "wrong-password", "wrong-user", "not-basic", "not-base64"],
)
def test_pipedrive_wrong_or_missing_credentials_get_401_and_store_nothing(
    crm_server, crm_settings, pipedrive_deal_, fake, tick, auth
):
    status, body = post_pipedrive(crm_server, pd_won(), auth=auth)
    assert status == 401 and PD_PASSWORD not in body
    tick()
    assert inbox(crm_settings) == [] and deals(crm_settings) == [] and announcements(fake) == []


@pytest.mark.parametrize(
    ("failure", "first_wait", "error"),
    [
        ({"route": "deal", "status": 429, "retry_after": 90}, timedelta(seconds=90), "429"),
        ({"route": "user", "status": 502}, timedelta(minutes=1), "502"),
        ({"route": "person", "hang": 2.0}, timedelta(minutes=1), "did not answer"),
    ],
    ids=["429-retry-after", "502", "timeout"],
)
def test_pipedrive_an_api_outage_delays_the_deal_and_it_arrives_once_the_api_recovers(
    crm_server, crm_settings, crm_coach, pipedrive_api, pipedrive_deal_, fake, tick, clock, failure, first_wait, error
):
    crm_coach.crm["pipedrive"].api.timeout = 0.3
    route = failure.pop("route")
    pipedrive_api.fail(route, **failure)
    assert post_pipedrive(crm_server, pd_won())[0] == 200
    tick()
    assert deals(crm_settings) == []
    [event] = inbox(crm_settings)
    assert event["status"] == "pending" and error in event["error"]
    calls = len(pipedrive_api.calls)

    clock.now += first_wait - timedelta(seconds=1)
    tick()
    assert len(pipedrive_api.calls) == calls and deals(crm_settings) == []

    clock.now += timedelta(seconds=2)
    tick()
    [deal] = deals(crm_settings)
    assert (deal["owner_id"], deal["contact_name"]) == (REP, "Hana Schmidt")
    tick()
    assert len(announcements(fake)) == 1


def test_pipedrive_a_deal_marked_lost_pauses_and_won_again_resumes(
    crm_server, crm_settings, pipedrive_api, pipedrive_deal_, fake, tick
):
    post_pipedrive(crm_server, pd_won())
    tick()
    [deal] = deals(crm_settings)
    steps = {r["id"] for r in planned(crm_settings, deal["id"])}
    assert steps

    pipedrive_api.deals[PD_DEAL]["status"] = "lost"
    lost = pipedrive_change({**pipedrive_api.deals[PD_DEAL]}, {"status": "won"}, timestamp="2026-11-23T14:59:30.000Z")
    assert post_pipedrive(crm_server, lost)[0] == 200
    tick()
    assert deals(crm_settings)[0]["paused_at"] is not None and planned(crm_settings, deal["id"]) == []
    [note] = dms_to(fake, MANAGER)
    assert "moved out of closed-won in" in note.params["text"] and "Pipedrive" in note.params["text"]

    pipedrive_api.deals[PD_DEAL]["status"] = "won"
    again = pd_won(timestamp="2026-11-23T14:59:50.000Z", previous="lost")
    post_pipedrive(crm_server, again)
    post_pipedrive(crm_server, again)
    tick()
    tick()
    assert deals(crm_settings)[0]["paused_at"] is None
    assert {r["id"] for r in planned(crm_settings, deal["id"])} == steps
    notes = dms_to(fake, MANAGER)
    assert len(notes) == 2 and "closed-won again" in notes[1].params["text"]
    assert len(announcements(fake)) == 1


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"not json", "expected a Pipedrive webhooks v2 body"),
        (json.dumps({"event": "updated.deal", "current": {}, "meta": {"v": 1}}).encode(), "create the webhook again"),
        (json.dumps({"data": {}}).encode(), "with a meta object"),
        (json.dumps({"meta": {"version": "2.0", "entity": "deal", "action": "change"}}).encode(), "data object"),
    ],
    ids=["not-json", "v1", "no-meta", "no-data"],
)
def test_pipedrive_a_body_pipedrive_never_sends_gets_400_saying_what_was_expected(crm_server, crm_settings, body, said):
    status, text = post_pipedrive(crm_server, body)
    assert status == 400 and said in json.loads(text)["error"]
    assert inbox(crm_settings) == []


@pytest.mark.parametrize(
    "message",
    [
        pipedrive_change(pipedrive_deal(PD_DEAL, status="open"), {"title": "Globex"}),  # a rename
        pipedrive_change(pipedrive_deal(PD_DEAL, status="lost"), {"status": "open"}),  # lost, never won
        pipedrive_change({"id": 55, "name": "Hana"}, {"name": "H."}, entity="person"),
    ],
    ids=["rename", "open-to-lost", "a-person"],
)
def test_pipedrive_a_change_that_is_not_a_win_is_answered_200_and_ignored(
    crm_server, crm_settings, fake, tick, message
):
    status, body = post_pipedrive(crm_server, message)
    assert status == 200 and json.loads(body)["stored"] == 0
    tick()
    assert inbox(crm_settings) == [] and deals(crm_settings) == [] and announcements(fake) == []


# -- Socket Mode -------------------------------------------------------------------------------------------------


def test_socket_mode_serves_the_hubspot_and_pipedrive_webhooks(
    crm_settings, webhooks, server_for, hubspot_deal, pipedrive_deal_, fake, tick, clock
):
    base = server_for(None, crm=webhooks)  # what `serve` runs on PORT beside a Socket Mode connection
    assert post_hubspot(base, [hs_event(clock)], clock=clock)[0] == 200
    assert post_hubspot(base, [hs_event(clock)], clock=clock, secret="forged-secret")[0] == 401
    assert post_pipedrive(base, pd_won())[0] == 200
    assert post_pipedrive(base, pd_won(), auth=basic_auth(PD_USER, "nope"))[0] == 401
    assert _post(base + "/slack/events", b"{}", {"Content-Type": "application/json"})[0] == 404
    tick()
    assert {(d["source"], d["owner_id"]) for d in deals(crm_settings)} == {("hubspot", REP), ("pipedrive", REP)}
    assert len(announcements(fake)) == 2
