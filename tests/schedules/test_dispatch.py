"""The dispatcher: what is due when, in business hours, posted once, and what survives Slack's failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP

BERLIN_MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin


pytestmark = pytest.mark.both_engines


@pytest.fixture
def tick(coach, fake, pace):
    client = posting_client(coach.settings)

    def run(now: datetime):
        return dispatch_nudges(coach, client, now, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))

    return run


def nudges(settings):
    return {r["step_id"]: r for r in engines.rows(settings, "SELECT * FROM nudges ORDER BY id")}


def capture(coach, text="Acme Rockets $120k contact: Jane Doe persona: economic", *, channel=CHANNEL, key="k1"):
    """What /closed-deal does: the deal is stored, then announced in its channel (its nudges wait for that)."""
    deal = store_deal(coach, text, team_id="T0FAKE", channel_id=channel, user_id=REP, capture_key=key)
    coach.announce(deal.id)
    return deal


def test_first_tick_posts_the_day_zero_step_with_draft_and_buttons(coach, fake, tick, clock):
    clock.now = BERLIN_MONDAY_10
    deal = capture(coach)
    report = tick(BERLIN_MONDAY_10)
    assert len(report.posted) == 1 and report.late == []
    post = fake.last("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    assert post.params["metadata"]["event_type"] == "dealcoach_nudge"
    blocks = post.params["blocks"]
    assert blocks[0]["text"]["text"].startswith("*Call Jane Doe to congratulate Acme Rockets")
    shown = json.dumps(blocks)
    assert f"<@{REP}>" in shown and "Why now" in shown and "Draft" in shown
    actions = blocks[-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        "nudge_done",
        "nudge_snooze",
        "nudge_skip",
        "nudge_reassign",
        "open_deal_details",
        "nudge_more",
    ]
    assert fake.violations == []
    assert nudges(coach.settings)["congratulate"]["status"] == "posted"
    assert deal.id


def test_nothing_is_posted_outside_business_hours_and_it_waits_for_the_morning(coach, fake, tick, clock):
    clock.now = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # Monday 06:00 in Berlin
    capture(coach)
    report = tick(datetime(2026, 11, 23, 7, 59, tzinfo=UTC))  # 08:59 Berlin
    assert not report.open and report.posted == []
    assert fake.posts_of(NUDGE) == []
    report = tick(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # 09:00 Berlin
    assert report.open and len(report.posted) == 1 and report.late == []
    assert tick(datetime(2026, 11, 23, 16, 0, tzinfo=UTC)).posted == []  # 17:00 Berlin: closed again


def test_a_deal_closed_friday_evening_is_nudged_monday_morning_not_over_the_weekend(coach, fake, tick, clock):
    clock.now = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # Friday 19:00 in Berlin, after hours
    capture(coach)
    for saturday_or_sunday in (datetime(2026, 11, 21, 10, 0, tzinfo=UTC), datetime(2026, 11, 22, 10, 0, tzinfo=UTC)):
        assert tick(saturday_or_sunday).posted == []
    report = tick(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # Monday 09:00 Berlin
    assert len(report.posted) == 1
    assert report.late == []  # its first chance was Monday morning: not late
    text = fake.posts_of(NUDGE)[-1].params["text"]
    assert "are late" not in text and ", late)" not in text


def test_business_hours_follow_the_local_clock_across_a_dst_change(coach, fake, pace, clock):
    from dataclasses import replace

    from bot.coach import Coach

    new_york = Coach(
        replace(coach.settings, timezone="America/New_York"), coach.store, coach.playbook, clock, pacer=coach.pacer
    )
    client = posting_client(new_york.settings)
    clock.now = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)  # Monday after DST began: 07:00 EDT
    store_deal(new_york, "Acme $5k", team_id="T0FAKE", channel_id=CHANNEL, user_id=REP, capture_key="dst")

    def run(now):
        return dispatch_nudges(new_york, client, now, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))

    assert run(datetime(2026, 3, 9, 12, 59, tzinfo=UTC)).posted == []  # 08:59 EDT (would be 07:59 EST)
    assert len(run(datetime(2026, 3, 9, 13, 0, tzinfo=UTC)).posted) == 1  # 09:00 EDT (08:00 in EST)


def test_steps_due_later_are_posted_on_their_day_once(coach, fake, tick, clock):
    clock.now = BERLIN_MONDAY_10
    capture(coach)
    tick(BERLIN_MONDAY_10)
    assert tick(BERLIN_MONDAY_10).posted == []  # nothing new on a second tick
    tuesday = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    tick(tuesday)
    titles = [c.params["text"] for c in fake.posts_of(NUDGE)]
    assert len(titles) == 2 and "next steps" in titles[1]
    assert nudges(coach.settings)["next-steps"]["status"] == "posted"
    assert nudges(coach.settings)["thank-you-note"]["status"] == "planned"  # Wednesday's


def test_a_deal_missed_for_days_gets_one_late_message_gathering_its_steps(coach, fake, tick, clock):
    clock.now = BERLIN_MONDAY_10
    capture(coach)
    report = tick(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))  # Friday: down all week
    assert len(report.posted) == 1 and report.late == report.posted
    [post] = fake.posts_of(NUDGE)
    text = post.params["text"]
    assert "Catching up on Acme Rockets" in text and "away" not in text and "snoozed" not in text
    assert "the moment for 1 follow-up has passed" in text  # Monday's call: past its 3-day window by Friday
    assert nudges(coach.settings)["congratulate"]["status"] == "missed"
    metas = [b["elements"][0]["text"] for b in post.params["blocks"] if b["type"] == "context"]
    late = [m for m in metas if ":hourglass: late" in m]
    # each step due on a business day that passed is late (due today never is: tests/bot/nudges/test_blocks.py)
    assert late and len(late) == len(metas) and all("due Fri" not in m for m in late)
    done_buttons = [
        e
        for b in post.params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "nudge_done"
    ]
    posted = [n for n in nudges(coach.settings).values() if n["status"] == "posted"]
    assert len(done_buttons) == len(posted) >= 3  # the rest of the first week: next steps, handover, the note
    assert len(post.params["blocks"]) <= 50
    assert fake.violations == []


def test_a_cancelled_playbook_step_still_renders_from_its_stored_title(coach, fake, tick, clock):
    from bot.playbook.loader import Playbook

    clock.now = BERLIN_MONDAY_10
    capture(coach)
    coach.playbook = Playbook(name="empty", source="test", go_live_after_days=30, steps=())
    tick(BERLIN_MONDAY_10)
    post = fake.last("chat.postMessage")
    assert post.params["blocks"][0]["text"]["text"].startswith("*Call Jane Doe to congratulate")
    assert fake.violations == []
