"""Honest catch-up after an outage: missed windows named a line each, only the steps still worth doing posted,
never two asks at once, every missed step recorded as missed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.deals.model import mark_live
from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP, TEAM

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
CLOSED = MONDAY_10 - timedelta(days=119)  # a Tuesday: 120 days of outage, counting the close day

pytestmark = pytest.mark.both_engines


def steps(settings) -> dict[str, dict]:
    return {r["step_id"]: r for r in engines.rows(settings, "SELECT * FROM nudges ORDER BY id")}


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
    with coach.store.write() as db:  # go-live expected a month in, as answered: the asks are timed from it
        mark_live(
            db, deal.id, go_live=CLOSED.date() + timedelta(days=30), now=CLOSED, playbook=coach.playbook, live=False
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
    # only what's still worth it: the deal's early steps went undone, so its asks wait behind the recovery step
    assert [b["block_id"] for b in actions] == [f"nudge_{rows['recovery-check']['id']}"]
    assert {s: r["status"] for s, r in rows.items() if playbook.get(s) and playbook[s].ask} == {
        "testimonial": "held",
        "referrals": "held",
        "celebrate-milestone": "held",
    }
    assert "reply_broadcast" not in reply.params and fake.violations == []
    assert tick(MONDAY_10 + timedelta(minutes=5)).posted == []  # nothing posted twice, nothing new

    coach.act_on_nudge(rows["recovery-check"]["id"], "done", team_id=TEAM, user_id=REP)
    for day in range(1, 22):  # the asks come back one at a time, never two open at once
        tick(MONDAY_10 + timedelta(days=day))
        now = steps(settings)
        open_asks = [s for s in ("testimonial", "referrals", "celebrate-milestone") if now[s]["status"] == "posted"]
        assert len(open_asks) <= 1, (day, open_asks)
        for s in open_asks:
            coach.act_on_nudge(now[s]["id"], "skip", team_id=TEAM, user_id=REP, reason=None)
    assert all(steps(settings)[s]["status"] == "skipped" for s in ("testimonial", "referrals"))
