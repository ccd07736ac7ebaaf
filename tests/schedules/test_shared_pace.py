"""Every message that must appear once keeps the one pace every process shares (bot/slack/pacing.py): a deal's
announcement posted by `serve`'s lazy listener and a nudge posted by a `tick` on the same database are a second
apart in their channel, whichever goes first; a rep's reminder and a nudge in the rep's DM are too. Time is a
parameter: the paces run on the test's wall clock, and the moments they reserved are read, never waited for."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.coach import Coach
from bot.deals.announcements import EVENT_TYPE as ANNOUNCED
from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.reminders import EVENT_TYPE as REMINDER
from bot.playbook.loader import load
from bot.slack.client import posting_client
from bot.slack.pacing import CHANNEL_INTERVAL, MARGIN, SharedPacer
from bot.storage import open_store
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP, TEAM

pytestmark = pytest.mark.both_engines

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
TUESDAY_9 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 in Berlin: the rep's business day starts
SPACED = CHANNEL_INTERVAL * MARGIN  # what the pace keeps between two posts to one channel


@pytest.fixture
def tick_process(settings, clock, pace, wall):
    """A second process on the same database (a `dealcoach tick` beside `serve`): its own store and connections,
    its own pacer object, on the same wall clock."""
    store = open_store(settings)
    pacer = SharedPacer(store, per_minute=settings.posts_per_minute, clock=wall.time, sleep=wall.sleep)
    yield Coach(settings, store, load(), clock, sleep=pace.sleep, pacer=pacer)
    if settings.database_url:
        store.close()


def posted_at(fake, wall) -> list[tuple[float, str, str]]:
    """(wall time, channel, event type) of every chat.postMessage as Slack receives it."""
    timeline: list[tuple[float, str, str]] = []
    fake.on(
        "chat.postMessage",
        lambda call: timeline.append(
            (wall.now, call.params["channel"], (call.params.get("metadata") or {}).get("event_type"))
        ),
    )
    return timeline


def channel_pace(settings, channel: str) -> float:
    [row] = engines.rows(settings, "SELECT next_at FROM pacing WHERE bucket = ?", [f"channel:{TEAM}:{channel}"])
    return row["next_at"]


def only_the_first_step_due(coach: Coach, deal_id: int) -> None:
    with coach.store.write() as db:
        db.execute(
            "UPDATE nudges SET due_date = '2027-06-01' WHERE deal_id = ? AND step_id != 'congratulate'", [deal_id]
        )


def test_an_announcement_from_serve_and_a_nudge_from_a_tick_are_a_second_apart_in_their_channel(
    slack, fake, settings, clock, wall, tick_process
):
    """Before, the announcement (posted by the capture's lazy listener, after the ack) ignored the shared pace, so
    `serve` and a `tick` could post twice in the same instant to one channel."""
    clock.now = MONDAY_10
    fake.epoch = MONDAY_10.timestamp()
    timeline = posted_at(fake, wall)
    start = wall.now

    assert slack.command("Acme $5k contact: Jane Doe").status == 200  # serve: acked, then announced after the ack
    [deal] = engines.rows(settings, "SELECT id FROM deals")
    assert channel_pace(settings, CHANNEL) == pytest.approx(start + SPACED)  # its slot taken in the shared table
    only_the_first_step_due(tick_process, deal["id"])

    report = dispatch_nudges(tick_process, posting_client(settings), MONDAY_10)  # the tick, with the shared pace
    assert len(report.posted) == 1

    assert [(channel, kind) for _, channel, kind in timeline] == [(CHANNEL, ANNOUNCED), (CHANNEL, NUDGE)]
    (announced, _, _), (nudged, _, _) = timeline
    assert nudged - announced == pytest.approx(SPACED)  # the nudge waited for the announcement's slot
    assert wall.slept == [round(SPACED, 3)]
    assert channel_pace(settings, CHANNEL) == pytest.approx(start + 2 * SPACED)
    assert fake.violations == []


def test_an_announcement_waits_for_a_nudge_a_tick_just_posted_in_its_channel(
    coach, fake, settings, clock, wall, tick_process
):
    """The other way round: the tick posts first, and the next deal's announcement takes the following slot."""
    clock.now = MONDAY_10
    fake.epoch = MONDAY_10.timestamp()
    first = store_deal(
        tick_process, "Acme $5k contact: Jane Doe", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="a"
    )
    tick_process.announce(first.id)
    only_the_first_step_due(tick_process, first.id)
    wall.now += 60  # a minute later: the channel's pace is free again
    timeline = posted_at(fake, wall)
    start = wall.now

    assert len(dispatch_nudges(tick_process, posting_client(settings), MONDAY_10).posted) == 1
    second = store_deal(
        coach, "Globex $9k contact: Hank Scorpio", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="b"
    )
    coach.announce(second.id)  # serve, right after

    assert [kind for _, _, kind in timeline] == [NUDGE, ANNOUNCED]
    assert [at - start for at, _, _ in timeline] == pytest.approx([0, SPACED])
    assert fake.violations == []


def test_a_reminder_and_a_nudge_in_the_reps_dm_keep_the_same_pace(coach, fake, settings, clock, wall, tick_process):
    """Direct messages are channels to Slack too: the morning reminder and a nudge sent to the rep's DM
    (DEALCOACH_NUDGES_IN=dm) in the same run are a second apart."""
    dm = Coach(
        replace(settings, nudges_in="dm"), tick_process.store, tick_process.playbook, clock, pacer=tick_process.pacer
    )
    fake.users[REP] = {"tz": "Europe/Berlin"}
    clock.now = MONDAY_10
    fake.epoch = MONDAY_10.timestamp()
    late = store_deal(dm, "Acme $5k contact: Jane Doe", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="a")
    dm.announce(late.id)
    only_the_first_step_due(dm, late.id)
    assert len(dispatch_nudges(dm, posting_client(settings), MONDAY_10).posted) == 1  # Monday's call, left undone
    fresh = store_deal(dm, "Globex $9k", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="b")
    dm.announce(fresh.id)
    with dm.store.write() as db:  # Globex's call is due Tuesday: a nudge to the DM in the reminder's run
        db.execute("UPDATE nudges SET due_date = '2027-06-01' WHERE deal_id = ?", [fresh.id])
        db.execute(
            "UPDATE nudges SET due_date = '2026-11-24' WHERE deal_id = ? AND step_id = 'congratulate'", [fresh.id]
        )
    wall.now += 60
    timeline = posted_at(fake, wall)
    start = wall.now

    clock.now = TUESDAY_9
    fake.epoch = TUESDAY_9.timestamp()
    report = dispatch_nudges(dm, posting_client(settings), TUESDAY_9)
    assert len(report.posted) == 1 and len(report.reminders.sent) == 1

    assert [(channel, kind) for _, channel, kind in timeline] == [(REP, NUDGE), (REP, REMINDER)]
    assert [at - start for at, _, _ in timeline] == pytest.approx([0, SPACED])
    assert fake.violations == []


def test_a_capture_whose_turn_is_far_off_is_acked_at_once_and_announced_by_the_next_tick(
    slack, fake, settings, clock, wall, tick_process
):
    """A tick's morning batch holds the workspace's budget half a minute ahead: the capture's lazy listener doesn't
    sit in the lazy pool (which also opens forms within Slack's 3 seconds) waiting for its turn. It takes no slot,
    leaves the announcement to the dispatcher, and the next run posts it in its turn."""
    clock.now = MONDAY_10
    fake.epoch = MONDAY_10.timestamp()
    per_post = 60 / settings.posts_per_minute * MARGIN
    for i in range(60):  # the batch another process is posting: sixty channels' slots taken
        tick_process.pacer.reserve(f"C0BATCH{i}", TEAM)
    batch_ends = wall.now + 60 * per_post

    response = slack.command("Acme $5k contact: Jane Doe")
    assert response.status == 200 and wall.slept == []  # nothing waited, in the request or after it
    assert fake.posts_of(ANNOUNCED) == []
    [post] = engines.rows(settings, "SELECT status, error, lease_at FROM posts WHERE kind = 'announcement'")
    assert (post["status"], post["error"]) == ("retry", "paced")
    assert datetime.fromisoformat(post["lease_at"]) == MONDAY_10 + timedelta(minutes=1)  # the dispatcher's next run
    assert engines.rows(settings, "SELECT next_at FROM pacing WHERE bucket = ?", [f"workspace:{TEAM}"])[0][
        "next_at"
    ] == pytest.approx(batch_ends)  # no slot taken

    wall.now += 60  # the batch went out meanwhile
    clock.now = MONDAY_10 + timedelta(minutes=1)
    fake.epoch = clock.now.timestamp()
    report = dispatch_nudges(tick_process, posting_client(settings), clock.now)
    assert len(report.announced) == 1
    [announced] = fake.posts_of(ANNOUNCED)
    assert announced.params["channel"] == CHANNEL
    [deal] = engines.rows(settings, "SELECT message_ts FROM deals")
    assert deal["message_ts"] == announced.response["ts"]
    assert fake.violations == []
