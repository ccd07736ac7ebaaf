"""Where nudges go (DEALCOACH_NUDGES_IN): the deal's thread by default, the channel, or the owner's DM; the
channel itself gets one message per deal, then only wins."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.coach import Coach
from bot.deals.announcements import EVENT_TYPE as ANNOUNCED
from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP, TEAM

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin

pytestmark = pytest.mark.both_engines


def coach_for(coach: Coach, nudges_in: str) -> Coach:
    return Coach(
        replace(coach.settings, nudges_in=nudges_in), coach.store, coach.playbook, coach.clock, pacer=coach.pacer
    )


def capture(coach: Coach, clock, account: str, key: str):
    clock.now = MONDAY_10
    deal = store_deal(
        coach, f"{account} $20k contact: Jane Doe", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key=key
    )
    coach.announce(deal.id)
    return coach.get_deal(deal.id)


def run_week(coach: Coach, fake, deals: int = 3) -> None:
    """Every business hour of a week, three deals closed on the Monday: what the channel sees."""
    client = posting_client(coach.settings)
    now = MONDAY_10
    while now < MONDAY_10 + timedelta(days=7):
        fake.epoch = now.timestamp()
        dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))
        now += timedelta(hours=1)


def top_level(fake, channel: str = CHANNEL) -> list[dict]:
    return [m for (ch, ts), m in fake.messages.items() if ch == channel and m.get("thread_ts") in (None, ts)]


def test_by_default_each_nudge_is_a_reply_in_its_deals_thread_and_the_channel_shows_one_message_per_deal(
    coach, clock, fake
):
    deals = [capture(coach, clock, name, name) for name in ("Acme", "Globex", "Initech")]
    run_week(coach, fake)
    nudges = fake.posts_of(NUDGE)
    assert len(nudges) >= 3 * 4  # a week of the affirm stage for three deals
    by_deal = {d.id: d.message_ts for d in deals}
    for call in nudges:
        deal_id = call.params["metadata"]["event_payload"]["deal_id"]
        assert call.params["channel"] == CHANNEL and call.params["thread_ts"] == by_deal[deal_id]
        assert not call.params.get("reply_broadcast")
    assert len(top_level(fake)) == 3  # one message per deal: its announcement, nothing else
    assert {m["metadata"]["event_type"] for m in top_level(fake)} == {ANNOUNCED}
    assert fake.violations == []


@pytest.mark.parametrize(("nudges_in", "where"), [("channel", CHANNEL), ("dm", f"D{REP}")])
def test_nudges_go_to_the_channel_or_the_owners_dm_when_configured(coach, clock, fake, nudges_in, where):
    coach = coach_for(coach, nudges_in)
    capture(coach, clock, "Acme", "a")
    client = posting_client(coach.settings)
    fake.epoch = MONDAY_10.timestamp()
    report = dispatch_nudges(coach, client, MONDAY_10, Pacer(sleep=lambda _: None))
    [call] = fake.posts_of(NUDGE)
    assert "thread_ts" not in call.params
    [(channel, ts)] = [key for key, m in fake.messages.items() if m.get("metadata", {}).get("event_type") == NUDGE]
    assert channel == where and report.posted
    [post] = engines.rows(coach.settings, "SELECT channel_id, ts, thread_ts FROM posts WHERE kind = 'nudges'")
    assert (post["channel_id"], post["ts"], post["thread_ts"]) == (where, ts, None)
