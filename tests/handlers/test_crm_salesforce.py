"""Deals won in Salesforce, end to end: real Outbound Messages posted to the running server (HTTP mode and the
Socket Mode HTTP side), the inbox drained by the scheduler's own job, and what Slack receives asserted on."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlite_utils

from bot.coach import Coach
from bot.crm.webhooks import crm_app
from bot.deals import blocks
from bot.nudges.dispatch import Pacer
from bot.playbook.loader import load
from bot.settings import CrmRoute
from bot.slack.client import listener_client
from handlers import create_app
from schedules.jobs import dispatch_nudges
from tests import soap
from tests.conftest import MANAGER, OTHER_REP, REP
from tests.slackapp import SlackDriver
from tests.soap import Opportunity

CRM_CHANNEL, BIG_DEALS = "C0CRMWINS", "C0BIGDEALS"
ANNOUNCEMENT = "dealcoach_deal"
JANE = "jane@acme-sales.example.com"


@pytest.fixture
def crm_settings(settings):
    return replace(
        settings,
        crm_channel=CRM_CHANNEL,
        salesforce_webhook_token=soap.TOKEN,
        salesforce_org_id=soap.ORG,
        crm_team="T0FAKE",
    )


@pytest.fixture
def crm_coach(crm_settings, store, clock, pace, pacer):
    return Coach(crm_settings, store, load(), clock, sleep=pace.sleep, pacer=pacer)


@pytest.fixture
def crm_app_(crm_coach, executor):
    return create_app(
        crm_coach, client=listener_client(crm_coach.settings, backoff_seconds=0), listener_executor=executor
    )


@pytest.fixture
def crm_slack(crm_app_, executor, fake):
    return SlackDriver(crm_app_, executor, fake)


@pytest.fixture
def webhooks(crm_coach):
    return crm_app(crm_coach.crm, crm_coach.store.for_requests(200), crm_coach.now)


@pytest.fixture
def crm_server(crm_app_, webhooks, server_for):
    """HTTP mode: Slack's events and the CRM routes on one port."""
    return server_for(crm_app_, crm=webhooks)


@pytest.fixture
def tick(crm_coach, pace):
    """One run of the scheduler's interval job (and of `dealcoach tick`): drain the CRM inbox, post what is due."""

    def run(now=None):
        return dispatch_nudges(crm_coach, crm_coach.workspaces, now, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))

    return run


def rows(settings, sql, params=()):
    with sqlite_utils.Database(settings.db_path) as db:
        return [dict(r) for r in db.query(sql, params)]


def deals(settings):
    return rows(settings, "SELECT * FROM deals ORDER BY id")


def announcements(fake):
    return fake.posts_of(ANNOUNCEMENT)


def deal_message(fake):
    """The deal's channel message as it looks now: its last redraw (chat.update of the announcement's ts)."""
    [post] = announcements(fake)
    updates = [c for c in fake.calls_to("chat.update") if c.params["ts"] == post.response["ts"]]
    return (updates[-1] if updates else post).params


def dms_to(fake, user):
    return [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == user]


def test_a_won_opportunity_is_acknowledged_and_announced_once_in_the_crm_channel_with_its_owner(
    crm_server, crm_settings, fake, tick
):
    fake.emails[JANE] = REP
    status, headers, body = soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity())))
    assert status == 200
    assert headers["content-type"].startswith("text/xml")
    assert "<Ack>true</Ack>" in body and "notificationsResponse" in body
    assert deals(crm_settings) == []  # stored in the inbox, answered; the worker does the rest
    assert [r["status"] for r in rows(crm_settings, "SELECT status FROM crm_inbox")] == ["pending"]

    tick()
    [deal] = deals(crm_settings)
    assert (deal["account"], deal["amount"], deal["currency"], deal["owner_id"]) == (
        "Acme Rockets",
        "120000.0",
        "USD",
        REP,
    )
    assert (deal["channel_id"], deal["source"]) == (CRM_CHANNEL, "salesforce")
    assert deal["source_url"] == f"{soap.INSTANCE}/0065g00000AbCdEAAV"
    [post] = announcements(fake)
    assert post.params["channel"] == CRM_CHANNEL
    assert f"<@{REP}>" in post.params["text"]
    rendered = str(post.params["blocks"])
    assert f"<{soap.INSTANCE}/0065g00000AbCdEAAV|Salesforce>" in rendered  # where it came from, linked
    # no contact in an outbound message: the rep is asked privately, as after a quick capture
    [prompt] = dms_to(fake, REP)
    assert "contact's name and title" in str(prompt.params["blocks"])
    assert fake.violations == []


def test_replays_and_duplicate_notifications_create_one_deal_and_one_announcement(crm_server, crm_settings, fake, tick):
    fake.emails[JANE] = REP
    message = soap.message(("04l5g0000001AAA", Opportunity()))
    for _ in range(3):  # Salesforce retries until acknowledged, and may deliver twice anyway
        assert soap.post(crm_server, message)[0] == 200
    tick()
    # a second notification (another flow run) for the same opportunity, and a replay after it was processed
    assert soap.post(crm_server, soap.message(("04l5g0000002AAA", Opportunity())))[0] == 200
    assert soap.post(crm_server, message)[0] == 200
    tick()
    tick()
    assert len(deals(crm_settings)) == 1
    assert len(announcements(fake)) == 1
    assert len(rows(crm_settings, "SELECT * FROM crm_inbox")) == 2  # one row per notification id
    assert len(rows(crm_settings, "SELECT * FROM crm_deals")) == 1


def test_a_message_of_many_notifications_is_stored_at_once(crm_server, crm_settings, fake, tick):
    notes = [(f"04l5g{i:010d}", Opportunity(id=f"0065g{i:010d}", name=f"Account {i}")) for i in range(100)]
    assert soap.post(crm_server, soap.message(*notes))[0] == 200
    assert len(rows(crm_settings, "SELECT * FROM crm_inbox")) == 100
    tick()
    assert len(deals(crm_settings)) == 100


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"/crm/salesforce/{'x' * len(soap.TOKEN)}", soap.message(("04l5g0000001AAA", Opportunity()))),
        ("/crm/salesforce/", soap.message(("04l5g0000001AAA", Opportunity()))),
        (f"/crm/salesforce/{soap.TOKEN}", soap.message(("04l5g0000001AAA", Opportunity()), org="00D5g000009OTHERXX")),
    ],
    ids=["wrong-token", "no-token", "another-org"],
)
def test_a_forged_message_gets_401_and_stores_nothing(crm_server, crm_settings, fake, tick, path, message):
    status, _, body = soap.post(crm_server, message, path=path)
    assert status == 401 and soap.TOKEN not in body
    tick()
    assert rows(crm_settings, "SELECT * FROM crm_inbox") == [] and deals(crm_settings) == []
    assert announcements(fake) == []


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"not xml at all", "not XML"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "document type"),
        (soap.message(("04l5g0000001AAA", Opportunity())).replace(b"Opportunity", b"Lead"), "not an Opportunity"),
        (soap.message(), "0 notifications"),
    ],
    ids=["not-xml", "doctype", "not-an-opportunity", "no-notifications"],
)
def test_a_body_salesforce_never_sends_gets_400_saying_what_was_expected(crm_server, crm_settings, body, said):
    status, _, text = soap.post(crm_server, body)
    assert status == 400
    assert said in text and "Outbound Message" in text
    assert rows(crm_settings, "SELECT * FROM crm_inbox") == []


def test_an_opportunity_that_is_not_won_is_acknowledged_and_ignored(crm_server, crm_settings, fake, tick):
    status, _, body = soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity(won=False))))
    assert status == 200 and "<Ack>true</Ack>" in body
    tick()
    assert deals(crm_settings) == [] and announcements(fake) == []
    assert [r["status"] for r in rows(crm_settings, "SELECT status FROM crm_inbox")] == ["ignored"]


def test_an_owner_not_in_slack_gets_a_claim_it_button_that_works_once(crm_server, crm_settings, crm_slack, fake, tick):
    soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity(owner_email="nobody@acme-sales.example.com"))))
    tick()
    [deal] = deals(crm_settings)
    assert deal["owner_id"] == ""
    [post] = announcements(fake)
    assert "owner not found in Slack" in post.params["text"]
    assert blocks.CLAIM_DEAL in str(post.params["blocks"])
    assert dms_to(fake, "") == []

    response = crm_slack.click(blocks.CLAIM_DEAL, str(deal["id"]), user=OTHER_REP, channel=CRM_CHANNEL)
    assert response.status == 200
    assert deals(crm_settings)[0]["owner_id"] == OTHER_REP
    redrawn = deal_message(fake)
    assert f"<@{OTHER_REP}>" in redrawn["text"] and blocks.CLAIM_DEAL not in str(redrawn["blocks"])
    answers = [c.params["text"] for c in fake.calls_to("response_url")]
    assert any("claimed Acme Rockets" in a for a in answers)
    assert any("follow-up drafts still need" in a for a in answers)  # the claimer is asked for the contact

    crm_slack.click(blocks.CLAIM_DEAL, str(deal["id"]), user=REP, channel=CRM_CHANNEL)  # too late
    assert deals(crm_settings)[0]["owner_id"] == OTHER_REP
    assert "claimed" in fake.last("response_url").params["text"]


def test_claim_it_from_outside_the_deals_channel_is_refused(crm_server, crm_settings, crm_slack, fake, tick):
    soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity(owner_email=None))))
    tick()
    [deal] = deals(crm_settings)
    crm_slack.click(blocks.CLAIM_DEAL, str(deal["id"]), user=OTHER_REP, channel="C0ELSEWHERE")
    assert deals(crm_settings)[0]["owner_id"] == ""
    assert f"<#{CRM_CHANNEL}>" in fake.last("response_url").params["text"]


def test_an_email_map_names_the_owner_and_a_routing_rule_the_channel(crm_settings, store, clock, pace, pacer, fake):
    settings = replace(
        crm_settings,
        crm_users=((JANE, OTHER_REP),),
        crm_routes=(CrmRoute(BIG_DEALS, low=100000),),
    )
    coach = Coach(settings, store, load(), clock, sleep=pace.sleep, pacer=pacer)
    app = crm_app(coach.crm, coach.store.for_requests(200), coach.now)
    from bot.slack.server import http_server

    srv = http_server(None, signing_secret="", port=0, host="127.0.0.1", crm=app)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{srv.effective_port}"
        soap.post(
            base,
            soap.message(
                ("04l5g0000001AAA", Opportunity()),
                ("04l5g0000002AAA", Opportunity(id="0065g00000SmallAAA", amount="5000")),
            ),
        )
    finally:
        srv.close()
        thread.join(timeout=10)
    dispatch_nudges(coach, coach.workspaces, None, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))
    by_amount = {d["amount"]: (d["channel_id"], d["owner_id"]) for d in deals(settings)}
    assert by_amount == {"120000.0": (BIG_DEALS, OTHER_REP), "5000": (CRM_CHANNEL, OTHER_REP)}
    assert fake.calls_to("users.lookupByEmail") == []  # the map answered first


def test_a_deal_leaving_closed_won_pauses_and_tells_the_managers_then_won_again_resumes(
    crm_server, crm_settings, fake, tick, clock
):
    fake.emails[JANE] = REP
    soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity())))
    tick()
    [deal] = deals(crm_settings)
    planned = rows(crm_settings, "SELECT id FROM nudges WHERE deal_id = ? AND status = 'planned'", [deal["id"]])
    assert planned

    soap.post(crm_server, soap.message(("04l5g0000002AAA", Opportunity(won=False))))
    tick()
    assert deals(crm_settings)[0]["paused_at"] is not None
    assert rows(crm_settings, "SELECT id FROM nudges WHERE deal_id = ? AND status = 'planned'", [deal["id"]]) == []
    assert len(dms_to(fake, MANAGER)) == 1  # told of the revert; nothing "back on" for a cancelled deal
    [note] = dms_to(fake, MANAGER)
    assert "moved out of closed-won" in note.params["text"] and "Acme Rockets" in note.params["text"]
    assert "Paused" in str(deal_message(fake)["blocks"])

    clock.now += timedelta(days=20)  # paused steps are not posted while it waits
    before = len(fake.calls_to("chat.postMessage"))
    tick()
    assert len(fake.calls_to("chat.postMessage")) == before
    clock.now -= timedelta(days=20)

    soap.post(crm_server, soap.message(("04l5g0000003AAA", Opportunity())))
    soap.post(crm_server, soap.message(("04l5g0000003AAA", Opportunity())))  # a replay tells nobody twice
    tick()
    tick()
    assert deals(crm_settings)[0]["paused_at"] is None
    again = rows(crm_settings, "SELECT id FROM nudges WHERE deal_id = ? AND status = 'planned'", [deal["id"]])
    assert {r["id"] for r in again} == {r["id"] for r in planned}
    notes = dms_to(fake, MANAGER)
    assert len(notes) == 2 and "closed-won again" in notes[1].params["text"]
    assert len(announcements(fake)) == 1  # still one deal, announced once


def test_a_deal_captured_with_closed_deal_is_linked_not_doubled(crm_server, crm_settings, crm_slack, fake, tick):
    fake.emails[JANE] = REP
    crm_slack.command("acme  rockets $120k")
    tick()
    assert len(announcements(fake)) == 1
    soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity())))
    tick()
    [deal] = deals(crm_settings)
    assert deal["source"] == "salesforce" and deal["channel_id"] == "C0TEAM"
    assert len(announcements(fake)) == 1
    assert "Salesforce" in str(deal_message(fake)["blocks"])
    [link] = rows(crm_settings, "SELECT * FROM crm_deals")
    assert (link["deal_id"], link["linked"]) == (deal["id"], 1)


def test_slack_failing_to_look_up_the_owner_delays_the_deal_and_never_drops_it(
    crm_server, crm_settings, fake, tick, clock
):
    fake.emails[JANE] = REP
    fake.fail("users.lookupByEmail", status=429, retry_after=120)
    soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity())))
    tick()
    assert deals(crm_settings) == []
    [event] = rows(crm_settings, "SELECT * FROM crm_inbox")
    assert event["status"] == "pending" and "users.lookupByEmail" in event["error"]
    clock.now += timedelta(seconds=60)
    tick()  # Retry-After not over yet
    assert len(fake.calls_to("users.lookupByEmail")) == 1
    clock.now += timedelta(seconds=61)
    tick()
    [deal] = deals(crm_settings)
    assert deal["owner_id"] == REP
    assert len(announcements(fake)) == 1


def test_a_database_too_busy_to_store_the_event_answers_503_so_salesforce_retries(crm_server, crm_settings, tick):
    holder = sqlite3.connect(crm_settings.db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        status, headers, _ = soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity())))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status == 503 and headers["retry-after"]
    assert rows(crm_settings, "SELECT * FROM crm_inbox") == []
    assert soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity())))[0] == 200  # the retry lands
    assert len(rows(crm_settings, "SELECT * FROM crm_inbox")) == 1


def test_socket_mode_serves_the_crm_routes_and_the_health_check_only(crm_settings, webhooks, server_for, fake, tick):
    base = server_for(None, crm=webhooks)  # what `serve` runs on PORT beside a Socket Mode connection
    fake.emails[JANE] = REP
    status, _, body = soap.post(base, soap.message(("04l5g0000001AAA", Opportunity())))
    assert status == 200 and "<Ack>true</Ack>" in body
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{base}/healthz", timeout=10) as resp:
        assert resp.status == 200
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(urllib.request.Request(f"{base}/slack/events", data=b"{}", method="POST"), timeout=10)
    assert err.value.code == 404
    err.value.close()
    tick()
    assert len(announcements(fake)) == 1 and deals(crm_settings)[0]["owner_id"] == REP


def test_a_forecast_close_date_still_in_the_future_starts_the_plan_today(crm_server, crm_settings, fake, tick, clock):
    fake.emails[JANE] = REP
    soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity(close_date="2027-03-31", amount=None))))
    tick()
    [deal] = deals(crm_settings)
    assert deal["close_date"] == clock.now.astimezone(crm_settings.tz).date().isoformat()
    assert deal["amount"] == "0"  # no amount in the CRM: shown as 0 until someone adds it
    assert len(announcements(fake)) == 1


def test_a_manager_can_hand_a_claimed_deal_to_someone_else_and_nobody_else_can(
    crm_server, crm_settings, crm_slack, fake, tick
):
    soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity(owner_email=None))))
    tick()
    [deal] = deals(crm_settings)
    crm_slack.click(blocks.CLAIM_DEAL, str(deal["id"]), user=OTHER_REP, channel=CRM_CHANNEL)
    assert blocks.CHANGE_OWNER in str(deal_message(fake)["blocks"])

    crm_slack.click(blocks.CHANGE_OWNER, str(deal["id"]), user=OTHER_REP, channel=CRM_CHANNEL)
    assert fake.calls_to("views.open") == []
    assert "Only a manager" in fake.last("response_url").params["text"]

    crm_slack.click(blocks.CHANGE_OWNER, str(deal["id"]), user=MANAGER, channel=CRM_CHANNEL)
    view = fake.last("views.open").params["view"]
    picked = {"owner": {"value": {"type": "users_select", "selected_user": REP}}}
    forged = crm_slack.submit(view, picked, user=OTHER_REP)  # a forged submission by the rep who claimed it
    assert "Only a manager" in str(forged.body) and deals(crm_settings)[0]["owner_id"] == OTHER_REP
    assert crm_slack.submit(view, picked, user=MANAGER).status == 200
    assert deals(crm_settings)[0]["owner_id"] == REP
    assert f"<@{REP}>" in deal_message(fake)["text"]
    again = crm_slack.submit(view, picked, user=MANAGER)
    assert "already owns" in str(again.body)


def test_a_paused_deal_cancelled_in_slack_leaves_no_step_waiting(crm_server, crm_settings, crm_slack, fake, tick):
    fake.emails[JANE] = REP
    soap.post(crm_server, soap.message(("04l5g0000001AAA", Opportunity())))
    tick()
    soap.post(crm_server, soap.message(("04l5g0000002AAA", Opportunity(won=False))))
    tick()
    [deal] = deals(crm_settings)
    assert rows(crm_settings, "SELECT id FROM nudges WHERE deal_id = ? AND status = 'paused'", [deal["id"]])
    crm_slack.click(blocks.CANCEL_DEAL, str(deal["id"]), channel=CRM_CHANNEL)
    view = fake.last("views.open").params["view"]
    crm_slack.submit(view, {"reason": {"value": {"type": "plain_text_input", "value": "Lost to a competitor"}}})
    assert deals(crm_settings)[0]["status"] == "cancelled"
    assert rows(crm_settings, "SELECT id FROM nudges WHERE deal_id = ? AND status = 'paused'", [deal["id"]]) == []
    soap.post(crm_server, soap.message(("04l5g0000003AAA", Opportunity())))  # won again: a cancelled deal stays so
    tick()
    assert rows(crm_settings, "SELECT id FROM nudges WHERE deal_id = ? AND status = 'planned'", [deal["id"]]) == []
    assert len(dms_to(fake, MANAGER)) == 1  # told of the revert; nothing "back on" for a cancelled deal
