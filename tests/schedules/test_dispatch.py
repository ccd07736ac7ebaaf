"""The dispatcher: what is due when, in business hours, posted once, and what survives Slack's failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlite_utils

from bot.dispatch import Pacer
from bot.slack import build_client
from schedules.jobs import dispatch_nudges
from tests.conftest import CHANNEL, REP

BERLIN_MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin


class FakeTime:
    """Monotonic time and sleep for the pacer: sleeping advances the clock instead of waiting."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def pace():
    return FakeTime()


@pytest.fixture
def tick(coach, fake, pace):
    client = build_client(coach.settings, retries=False)

    def run(now: datetime):
        return dispatch_nudges(coach, client, now, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))

    return run


def nudges(settings):
    with sqlite_utils.Database(settings.db_path) as db:
        return {r["step_id"]: r for r in db["nudges"].rows_where(order_by="id")}


def capture(coach, text="Acme Rockets $120k contact: Jane Doe persona: economic", *, channel=CHANNEL, key="k1"):
    return coach.capture_quick(text, team_id="T0FAKE", channel_id=channel, user_id=REP, capture_key=key)


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
    ]
    assert fake.violations == []
    assert nudges(coach.settings)["congratulate"]["status"] == "posted"
    assert deal.id
