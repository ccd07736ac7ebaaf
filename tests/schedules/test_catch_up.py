"""Honest catch-up after an outage: missed windows named a line each, only the steps still worth doing posted,
never two asks at once, every missed step recorded as missed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils

from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP, TEAM

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
CLOSED = MONDAY_10 - timedelta(days=119)  # a Tuesday: 120 days of outage, counting the close day


def steps(settings) -> dict[str, dict]:
    with sqlite_utils.Database(settings.db_path) as db:
        return {r["step_id"]: r for r in db["nudges"].rows_where(order_by="id")}


def test_after_a_120_day_outage_one_reply_names_the_missed_windows_and_carries_only_whats_still_worth_doing(
    coach, clock, fake, settings
):
    clock.now = CLOSED
    fake.epoch = CLOSED.timestamp()
    deal = store_deal(
        coach,
        "Acme Rockets $120k contact: Jane Doe persona: economic",
        team_id=TEAM,
        channel_id=CHANNEL,
        user_id=REP,
        capture_key="k",
    )
    coach.announce(deal.id)
    deal = coach.get_deal(deal.id)
    client = posting_client(coach.settings)

    def tick(now):
        clock.now = now
        fake.epoch = now.timestamp()
        return dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))

    report = tick(MONDAY_10)
    [reply] = fake.posts_of(NUDGE)  # one message for the deal, however much was missed
    assert reply.params["thread_ts"] == deal.message_ts
    blocks = reply.params["blocks"]
    shown = json.dumps(blocks, ensure_ascii=False)
    rows = steps(settings)
    missed = sorted(s for s, r in rows.items() if r["status"] == "missed")
    playbook = coach.steps_by_id()
    assert missed and all(playbook[s].window for s in missed)
    assert sorted(report.missed) == sorted(rows[s]["id"] for s in missed)  # counted, not dropped
    for step_id in missed:  # a line each, naming the window
        title = playbook[step_id].title.replace("{contact}", "Jane Doe").replace("{account}", "Acme Rockets")
        assert title.split(" {")[0][:30] in shown
    assert shown.count("best done within") == len(missed)
    assert "Catching up on *Acme Rockets*" in shown and "away" not in shown
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [b["block_id"] for b in actions] == [f"nudge_{rows['testimonial']['id']}"]  # only what's still worth it
    assert rows["testimonial"]["status"] == "posted"
    assert rows["referrals"]["status"] == "planned"  # a second ask waits its own turn
    assert "reply_broadcast" not in reply.params and fake.violations == []

    assert tick(MONDAY_10 + timedelta(minutes=5)).posted == []  # the testimonial ask is still open: no referrals
    coach.act_on_nudge(rows["testimonial"]["id"], "skip", team_id=TEAM, user_id=REP, reason=None)
    later = tick(MONDAY_10 + timedelta(minutes=10))
    assert len(later.posted) == 1 and steps(settings)["referrals"]["status"] == "posted"
    assert "Referral" in fake.posts_of(NUDGE)[-1].params["text"] or "referr" in fake.posts_of(NUDGE)[-1].params["text"]
