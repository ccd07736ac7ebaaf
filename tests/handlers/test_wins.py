"""Wins the team should see (issue 11 §1): a deal live, a testimonial received, referrals landed. Each goes to the
channel once, as a reply in the deal's thread broadcast to the channel (`thread`, the default) or a message of its
own (`channel`), through the real app's buttons and forms and the real dispatcher."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.conftest import CHANNEL, MANAGER, REP
from tests.slackapp import body_json

pytestmark = pytest.mark.both_engines

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, the deal's close day
WIN = "dealcoach_win"
LATER = "2027-06-01"


@pytest.fixture
def tick(coach, fake):
    """The real dispatcher at `now` (wins waiting to go out are settled by every run)."""
    client = posting_client(coach.settings)

    def run(now: datetime):
        fake.epoch = now.timestamp()
        return dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))

    return run


@pytest.fixture
def deal(slack, fake, settings, clock) -> dict:
    """Acme Rockets captured on Monday 10:00 in Berlin and announced in the channel."""
    clock.now = MONDAY_10
    fake.epoch = MONDAY_10.timestamp()
    slack.command("Acme Rockets $120k contact: Jane Doe persona: economic")
    [row] = engines.rows(settings, "SELECT * FROM deals")
    assert row["message_ts"]
    return row


@pytest.fixture
def planned_deal(slack, fake, settings, clock) -> dict:
    """Acme Rockets captured with its go-live date expected, so the steps timed from go-live (the asks) are planned."""
    clock.now = MONDAY_10
    fake.epoch = MONDAY_10.timestamp()
    slack.command("Acme Rockets $120k contact: Jane Doe persona: economic live: 2026-12-21")
    [row] = engines.rows(settings, "SELECT * FROM deals")
    return row


def mark_live(slack, fake, deal_id: int, day: str, *, user: str = REP):
    slack.click("deal_mark_live", str(deal_id), user=user)
    view = fake.last("views.open").params["view"]
    return slack.submit(view, {"go_live_date": {"value": {"type": "datepicker", "selected_date": day}}}, user=user)


def radio(value: str) -> dict:
    return {"type": "radio_buttons", "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


def post_step(coach, settings, tick, deal_id: int, step_id: str) -> int:
    """Only `step_id` due today, posted by the dispatcher in the deal's thread; returns its nudge id."""
    with coach.store.write() as db:
        db.execute("UPDATE nudges SET due_date = ? WHERE deal_id = ?", [LATER, deal_id])
        db.execute(
            "UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id = ?",
            [coach.today().isoformat(), deal_id, step_id],
        )
    assert len(tick(MONDAY_10).posted) == 1
    [row] = engines.rows(
        settings, "SELECT id, status FROM nudges WHERE deal_id = ? AND step_id = ?", [deal_id, step_id]
    )
    assert row["status"] == "posted"
    return row["id"]


def broadcast(call) -> bool:
    return call.params.get("reply_broadcast") in (True, "true", "1", 1)


def test_mark_live_shares_the_win_once_as_a_reply_in_the_deals_thread_broadcast_to_the_channel(
    slack, fake, settings, tick, deal
):
    assert body_json(mark_live(slack, fake, deal["id"], "2026-11-23")) == {}
    assert fake.posts_of(WIN) == []  # claimed with the change; the dispatcher posts it
    report = tick(MONDAY_10)
    assert len(report.shared) == 1

    [win] = fake.posts_of(WIN)
    assert win.params["channel"] == CHANNEL and win.params["thread_ts"] == deal["message_ts"] and broadcast(win)
    assert win.params["text"] == ":rocket: Acme Rockets is live since Mon Nov 23."
    shown = json.dumps(win.params["blocks"], ensure_ascii=False)
    assert ":rocket: *Acme Rockets* is live since Mon Nov 23." in shown and f"<@{REP}>" in shown
    [held] = [m for m in fake.messages.values() if (m.get("metadata") or {}).get("event_type") == WIN]
    assert held["thread_ts"] == deal["message_ts"] and broadcast_stored(held)  # what the channel shows too

    # a corrected go-live date (a manager this time), more runs: the team is told once
    mark_live(slack, fake, deal["id"], "2026-11-20", user=MANAGER)
    assert engines.rows(settings, "SELECT go_live_date FROM deals")[0]["go_live_date"] == "2026-11-20"
    for minutes in (1, 2, 60):
        tick(MONDAY_10 + timedelta(minutes=minutes))
    assert len(fake.posts_of(WIN)) == 1
    [post] = engines.rows(settings, "SELECT status, kind, win FROM posts WHERE kind = 'win'")
    assert (post["status"], post["win"]) == ("posted", "live")
    assert fake.violations == []


def broadcast_stored(message: dict) -> bool:
    return message.get("reply_broadcast") in (True, "true", "1", 1)


def test_in_channel_mode_the_win_is_a_message_of_its_own_in_the_channel(slack, fake, settings, tick, deal, coach):
    coach.settings = replace(coach.settings, nudges_in="channel")
    mark_live(slack, fake, deal["id"], "2026-11-23")
    tick(MONDAY_10)
    [win] = fake.posts_of(WIN)
    assert win.params["channel"] == CHANNEL and "thread_ts" not in win.params and not broadcast(win)
    assert fake.violations == []


def test_a_go_live_date_still_to_come_is_refused_inline_and_nothing_is_shared(slack, fake, settings, tick, deal):
    response = mark_live(slack, fake, deal["id"], "2026-12-10")
    errors = body_json(response)["errors"]["go_live_date"]
    assert "Dec 10, 2026 is still to come: Mark live once the customer is live" in errors
    assert "Expected go-live date in Add details" in errors and "For example: Nov 23, 2026" in errors
    [row] = engines.rows(settings, "SELECT live_at, go_live_date FROM deals")
    assert row["live_at"] is None and row["go_live_date"] is None
    tick(MONDAY_10)
    assert fake.posts_of(WIN) == []


def test_live_today_on_the_go_live_question_shares_the_win_too(coach, slack, fake, settings, tick, deal):
    """The go-live question answers the same thing as Mark live: the customer is live, and the team hears it."""
    question = post_step(coach, settings, tick, deal["id"], "go-live-question")
    slack.click("go_live_today", str(question))
    tick(MONDAY_10 + timedelta(minutes=1))
    [win] = fake.posts_of(WIN)
    assert win.params["thread_ts"] == deal["message_ts"] and broadcast(win)
    assert "Acme Rockets is live since Mon Nov 23" in win.params["text"]
    mark_live(slack, fake, deal["id"], "2026-11-23")  # Mark live afterwards: nothing more to share
    tick(MONDAY_10 + timedelta(minutes=2))
    assert len(fake.posts_of(WIN)) == 1
    assert fake.violations == []


def test_an_expected_go_live_date_from_the_question_is_no_win_yet(coach, slack, fake, settings, tick, deal):
    question = post_step(coach, settings, tick, deal["id"], "go-live-question")
    slack.click("go_live_set", str(question))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"go_live_date": {"value": {"type": "datepicker", "selected_date": "2027-01-15"}}})
    tick(MONDAY_10 + timedelta(minutes=1))
    assert fake.posts_of(WIN) == []


def test_referrals_received_are_shared_once_with_the_names_escaped(coach, slack, fake, settings, tick, planned_deal):
    deal = planned_deal
    referrals = post_step(coach, settings, tick, deal["id"], "referrals")
    slack.click("nudge_done", str(referrals))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"result": {"value": radio("received")}, "detail": {"value": "Globex <@U0BOSS>, Initech"}})
    slack.submit(view, {"result": {"value": radio("received")}, "detail": {"value": "Globex <@U0BOSS>, Initech"}})
    tick(MONDAY_10 + timedelta(minutes=1))
    tick(MONDAY_10 + timedelta(minutes=2))
    [win] = fake.posts_of(WIN)
    assert win.params["thread_ts"] == deal["message_ts"] and broadcast(win)
    shown = json.dumps(win.params["blocks"], ensure_ascii=False)
    assert ":handshake: *Acme Rockets* referred us to others: Globex &lt;@U0BOSS&gt;, Initech" in shown
    assert "<@U0BOSS>" not in shown
    assert fake.violations == []


@pytest.mark.parametrize("result", ["later", "declined"])
def test_referrals_not_received_share_nothing(coach, slack, fake, settings, tick, planned_deal, result):
    referrals = post_step(coach, settings, tick, planned_deal["id"], "referrals")
    slack.click("nudge_done", str(referrals))
    slack.submit(fake.last("views.open").params["view"], {"result": {"value": radio(result)}})
    tick(MONDAY_10 + timedelta(minutes=1))
    assert fake.posts_of(WIN) == []
