"""Managers' digests: each manager's own 08:30 on business days, exactly once (processes, restarts, crashes, Slack
failures), within Slack's limits however big the team, escaped, with a chart once there is history to chart."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from bot.coach import Coach
from bot.digest.delivery import EVENT_TYPE, LEASE
from bot.slack.client import TIMEOUT_SECONDS, posting_client
from bot.storage import open_store
from schedules import DIGEST_JOB, build_scheduler
from schedules.jobs import Outage, send_digests
from tests import engines
from tests.bot.digest.test_build import PNG_SIGNATURE, Team, berlin
from tests.conftest import OTHER_REP, SECRET, TOKEN
from tests.processes import finish, start_job
from tests.slack_faults import UNKNOWN_OUTCOMES

pytestmark = pytest.mark.both_engines
ROOT = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")
LA_MGR, BERLIN_MGR = "U0LAMGR", "U0BEMGR"
MONDAY_0830 = datetime(2026, 11, 23, 8, 30, tzinfo=BERLIN)


# -- helpers ----------------------------------------------------------------------------------------------


@pytest.fixture
def managers(fake):
    """Two managers on two continents; Slack's users.info tells their zones."""
    fake.users[LA_MGR] = {"tz": "America/Los_Angeles"}
    fake.users[BERLIN_MGR] = {"tz": "Europe/Berlin"}
    return (LA_MGR, BERLIN_MGR)


def coach_for(coach: Coach, managers: tuple[str, ...]) -> Coach:
    return Coach(
        replace(coach.settings, managers=managers),
        coach.store,
        coach.playbook,
        coach.clock,
        sleep=coach.sleep,
        pacer=coach.pacer,
    )


@pytest.fixture
def client(coach):
    """The digest job's client as `digest` and `serve` build it: no automatic retries."""
    return posting_client(coach.settings)


@pytest.fixture
def send(coach, client, fake, managers):
    """One in-process digest run at `now` for both managers, with Slack's ts placed at `now` too."""
    both = coach_for(coach, managers)

    def run(now: datetime, *, only: tuple[str, ...] | None = None):
        fake.epoch = now.timestamp()
        return send_digests(coach_for(coach, only) if only else both, client, now)

    return run


@pytest.fixture
def team(store):
    return Team(store)


def digest_posts(fake) -> list:
    """chat.postMessage calls carrying a digest, in the order Slack received them."""
    return [
        c for c in fake.calls_to("chat.postMessage") if (c.params.get("metadata") or {}).get("event_type") == EVENT_TYPE
    ]


def delivered_to(fake) -> list[str]:
    """Who received a digest that Slack accepted, in order."""
    return [c.params["channel"] for c in digest_posts(fake) if (c.response or {}).get("ok")]


def held_by_slack(fake) -> Counter:
    """How many messages Slack holds for each digest id."""
    return Counter(
        m["metadata"]["event_payload"]["digest_id"]
        for m in fake.messages.values()
        if (m.get("metadata") or {}).get("event_type") == EVENT_TYPE
    )


def digests(settings) -> list[dict]:
    return engines.rows(settings, "SELECT * FROM digests ORDER BY id")


def assert_once_each(fake, settings) -> None:
    """Slack holds every digest once, and the database knows each as sent, at the ts Slack holds it."""
    held = held_by_slack(fake)
    assert held and set(held.values()) == {1}
    rows = {r["id"]: r for r in digests(settings)}
    for digest_id in held:
        row = rows[digest_id]
        assert row["status"] == "sent"
        assert fake.messages[(row["channel_id"], row["ts"])]["metadata"]["event_payload"] == {"digest_id": digest_id}
    pairs = Counter((r["manager_id"], r["local_date"]) for r in rows.values() if r["status"] == "sent")
    assert set(pairs.values()) == {1}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- when: each manager's own morning ---------------------------------------------------------------------


def test_each_manager_gets_it_at_their_own_0830_across_the_us_dst_change_never_at_weekends(send, fake, settings):
    """The US moves to summer time on Sunday 2026-03-08; Berlin three weeks later."""
    timeline = [
        (utc(2026, 3, 2, 7, 29), []),  # Mon 08:29 in Berlin; Sunday night in Los Angeles
        (utc(2026, 3, 2, 7, 30), [BERLIN_MGR]),  # 08:30 Berlin
        (utc(2026, 3, 2, 16, 29), []),  # 08:29 PST
        (utc(2026, 3, 2, 16, 30), [LA_MGR]),  # 08:30 PST
        (utc(2026, 3, 2, 23, 0), []),  # once a day
        (utc(2026, 3, 7, 10, 0), []),  # Saturday in both zones (Friday's were never due: nobody ran)
        (utc(2026, 3, 7, 20, 0), []),
        (utc(2026, 3, 8, 16, 30), []),  # Sunday, the day the clocks change in the US
        (utc(2026, 3, 9, 7, 29), []),  # Monday 08:29 Berlin, 00:29 PDT
        (utc(2026, 3, 9, 7, 30), [BERLIN_MGR]),
        (utc(2026, 3, 9, 15, 29), []),  # 08:29 PDT (07:29 had the clocks not changed)
        (utc(2026, 3, 9, 15, 30), [LA_MGR]),  # 08:30 PDT: an hour earlier in UTC than a week ago
        (utc(2026, 3, 9, 16, 30), []),
    ]
    seen: list[str] = []
    for now, expected in timeline:
        report = send(now)
        assert report.sent == expected, now
        seen += expected
        assert delivered_to(fake) == seen
    assert fake.violations == []
    assert [(r["manager_id"], r["local_date"]) for r in digests(settings)] == [
        (BERLIN_MGR, "2026-03-02"),
        (LA_MGR, "2026-03-02"),
        (BERLIN_MGR, "2026-03-09"),
        (LA_MGR, "2026-03-09"),
    ]
    assert_once_each(fake, settings)


def test_berlin_follows_its_own_dst_change(send, fake):
    """Europe moves on Sunday 2026-03-29: 08:30 is 07:30 UTC the Friday before and 06:30 UTC the Monday after."""
    assert send(utc(2026, 3, 27, 7, 29), only=(BERLIN_MGR,)).sent == []
    assert send(utc(2026, 3, 27, 7, 30), only=(BERLIN_MGR,)).sent == [BERLIN_MGR]
    assert send(utc(2026, 3, 30, 6, 29), only=(BERLIN_MGR,)).sent == []
    assert send(utc(2026, 3, 30, 6, 30), only=(BERLIN_MGR,)).sent == [BERLIN_MGR]


def test_the_digest_time_is_a_setting(coach, client, fake, managers):
    seven = Coach(
        replace(coach.settings, managers=(BERLIN_MGR,), digest_time="07:00"),
        coach.store,
        coach.playbook,
        pacer=coach.pacer,
    )
    assert send_digests(seven, client, MONDAY_0830.replace(hour=6, minute=59)).sent == []
    assert send_digests(seven, client, MONDAY_0830.replace(hour=7, minute=0)).sent == [BERLIN_MGR]


def test_a_bot_down_all_morning_sends_it_when_it_comes_back_once(send, fake, settings):
    back = datetime(2026, 11, 23, 15, 12, tzinfo=BERLIN)  # Monday afternoon
    assert send(back, only=(BERLIN_MGR,)).sent == [BERLIN_MGR]
    assert send(back + timedelta(hours=2), only=(BERLIN_MGR,)).sent == []
    assert send(back.replace(hour=23, minute=59), only=(BERLIN_MGR,)).sent == []
    assert send(datetime(2026, 11, 24, 0, 5, tzinfo=BERLIN), only=(BERLIN_MGR,)).sent == []  # Tuesday, before 08:30
    assert send(datetime(2026, 11, 24, 8, 30, tzinfo=BERLIN), only=(BERLIN_MGR,)).sent == [BERLIN_MGR]
    assert delivered_to(fake) == [BERLIN_MGR, BERLIN_MGR]
    assert_once_each(fake, settings)


def test_zones_are_kept_for_a_day_then_looked_up_again(send, fake, settings):
    send(MONDAY_0830)
    assert sorted(c.params["user"] for c in fake.calls_to("users.info")) == [BERLIN_MGR, LA_MGR]
    for minutes in range(1, 30, 7):
        send(MONDAY_0830 + timedelta(minutes=minutes))
    assert len(fake.calls_to("users.info")) == 2
    fake.users[LA_MGR] = {"tz": "Asia/Tokyo"}  # the LA manager travels
    send(MONDAY_0830 + timedelta(hours=24))
    assert len(fake.calls_to("users.info")) == 4
    users = engines.rows(settings, "SELECT user_id, tz FROM users")
    assert {r["user_id"]: r["tz"] for r in users} == {LA_MGR: "Asia/Tokyo", BERLIN_MGR: "Europe/Berlin"}


def test_without_a_zone_from_slack_the_team_zone_is_used_and_said_once(send, fake, caplog):
    fake.fail("users.info", error="user_not_found")
    caplog.set_level(logging.WARNING, logger="bot.digest.delivery")
    morning = datetime(2026, 11, 23, 8, 29, tzinfo=BERLIN)  # DEALCOACH_TIMEZONE is Berlin in these tests
    assert send(morning, only=(LA_MGR,)).sent == []
    assert send(morning + timedelta(minutes=1), only=(LA_MGR,)).sent == [LA_MGR]  # 08:30 Berlin, 23:30 in LA
    for minutes in range(2, 60, 10):
        send(morning + timedelta(minutes=minutes), only=(LA_MGR,))
    warnings = [r.getMessage() for r in caplog.records if "time zone" in r.getMessage()]
    assert len(warnings) == 1 and "user_not_found" in warnings[0] and "Europe/Berlin" in warnings[0]
    assert len(fake.calls_to("users.info")) == 1


# -- exactly once ------------------------------------------------------------------------------------------


def test_a_restart_does_not_send_it_again(coach, fake, managers, settings):
    now = utc(2026, 11, 23, 17, 30)  # 18:30 in Berlin, 09:30 in Los Angeles: both due
    fake.epoch = now.timestamp()
    first = coach_for(coach, managers)
    assert sorted(send_digests(first, posting_client(first.settings), now).sent) == sorted(managers)
    restarted = Coach(first.settings, open_store(settings), coach.playbook, pacer=coach.pacer)
    for minutes in (0, 1, 90):
        assert send_digests(restarted, posting_client(first.settings), now + timedelta(minutes=minutes)).sent == []
    assert sorted(delivered_to(fake)) == sorted(managers)
    assert_once_each(fake, settings)


def digest_env(fake, settings, managers: tuple[str, ...]) -> dict[str, str]:
    """`dealcoach digest`'s environment: nothing from the developer's shell, Slack on loopback, the test database."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEALCOACH_"))}
    return {
        **base,
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        **engines.database_env(settings),
        "DEALCOACH_TIMEZONE": "Europe/Berlin",
        "DEALCOACH_MANAGERS": ",".join(managers),
    }


def start_digest(now: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return start_job("digest", now, env, cwd)


def run_digest(now: str, env: dict[str, str], cwd: Path) -> str:
    code, out, err = finish(start_digest(now, env, cwd))
    assert code == 0, err
    return out


def test_two_digest_processes_at_the_same_moment_send_each_manager_one_dm(fake, managers, settings, tmp_path, team):
    team.deal("Acme", 150_000, berlin(11, 16))
    now = "2026-11-23T18:30:00"  # Berlin (no offset): 09:30 in Los Angeles, both due
    fake.epoch = datetime.fromisoformat(now).replace(tzinfo=BERLIN).timestamp()
    both_here = threading.Barrier(2)

    def hold_until_both_run(call):
        """Each process asks auth.test once, just before it claims: both wait here, then race for the claims."""
        both_here.wait(timeout=30)

    fake.on("auth.test", hold_until_both_run)
    env = digest_env(fake, settings, managers)
    procs = [start_digest(now, env, tmp_path) for _ in range(2)]
    results = [finish(p) for p in procs]
    fake.off("auth.test")
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert fake.violations == []  # includes a broken barrier: the processes did not run at the same moment
    assert len(fake.calls_to("auth.test")) == 2
    assert sorted(delivered_to(fake)) == sorted(managers)
    assert sum(int(out.split("sent ")[1].split()[0]) for _, out, _ in results) == 2
    assert_once_each(fake, settings)

    again = run_digest("2026-11-23T18:45:00", env, tmp_path)  # a restart later the same day
    assert "sent 0 digests" in again and len(fake.calls_to("auth.test")) == 3
    assert sorted(delivered_to(fake)) == sorted(managers)


def test_the_cli_sends_what_is_due_at_now_in_the_team_zone_and_says_so(fake, managers, settings, tmp_path):
    env = digest_env(fake, settings, (BERLIN_MGR,))
    fake.epoch = MONDAY_0830.timestamp()
    early = run_digest("2026-11-23T08:29:00", env, tmp_path)
    assert early.startswith("Mon 2026-11-23 08:29 CET: 1 manager; sent 0 digests")
    assert delivered_to(fake) == []
    on_time = run_digest("2026-11-23T07:30:00+00:00", env, tmp_path)
    assert on_time.startswith("Mon 2026-11-23 08:30 CET: 1 manager; sent 1 digests")
    assert delivered_to(fake) == [BERLIN_MGR]


def test_the_cli_rejects_a_bad_now(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "digest", "--now", "tomorrow"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEALCOACH_"))},
            "PYTHONPATH": str(ROOT),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "ISO-8601" in result.stderr


@pytest.mark.parametrize("slack_kept_it", [True, False], ids=["slack-has-it", "slack-never-got-it"])
def test_a_process_killed_while_posting_is_reconciled_after_the_lease(
    fake, managers, settings, tmp_path, slack_kept_it
):
    env = digest_env(fake, settings, (BERLIN_MGR,))
    fake.epoch = MONDAY_0830.timestamp()
    running: dict[str, subprocess.Popen] = {}
    started = threading.Event()

    def kill_the_poster(call):
        """Slack has (or lost) the digest; the process never hears back."""
        started.wait(timeout=30)
        if not slack_kept_it:
            fake.messages.pop((call.response["channel"], call.response["ts"]))
        running["proc"].send_signal(signal.SIGKILL)
        running["proc"].wait(timeout=30)

    fake.on("chat.postMessage", kill_the_poster)
    running["proc"] = start_digest("2026-11-23T08:30:00", env, tmp_path)
    started.set()
    code, _, _ = finish(running["proc"])
    fake.off("chat.postMessage")
    assert code == -signal.SIGKILL and fake.violations == []
    [orphan] = digests(settings)
    assert (orphan["status"], orphan["ts"]) == ("sending", None)

    within_lease = run_digest("2026-11-23T08:35:00", env, tmp_path)  # it may still be in flight: hands off
    assert "sent 0 digests" in within_lease and "reconciled 0" in within_lease
    assert fake.calls_to("conversations.history") == [] and len(digest_posts(fake)) == 1

    after_lease = run_digest((MONDAY_0830 + LEASE + timedelta(minutes=1)).isoformat(), env, tmp_path)
    assert "reconciled 1" in after_lease
    assert [c.params["users"] for c in fake.calls_to("conversations.open")] == [BERLIN_MGR]
    [history] = fake.calls_to("conversations.history")
    assert history.params["channel"] == f"D{BERLIN_MGR}"
    assert len(digest_posts(fake)) == (1 if slack_kept_it else 2)
    assert held_by_slack(fake) == Counter({orphan["id"]: 1})
    assert_once_each(fake, settings)
    assert "sent 0 digests" in run_digest("2026-11-23T12:00:00", env, tmp_path)


# -- Slack says no, or says nothing -----------------------------------------------------------------------


@pytest.mark.parametrize("arrange", UNKNOWN_OUTCOMES, ids=lambda arrange: arrange.__name__)
def test_an_unknown_outcome_is_settled_from_the_dm_history_never_posting_twice(send, fake, client, settings, arrange):
    slack_kept_it = arrange(fake, client)
    report = send(MONDAY_0830, only=(BERLIN_MGR,))
    fake.wait_for("chat.postMessage", answered=True)  # a slow Slack finishes storing (or not)
    fake.off("chat.postMessage")
    client.timeout = TIMEOUT_SECONDS
    assert report.sent == [] and report.unconfirmed == [BERLIN_MGR]
    [row] = digests(settings)
    assert row["status"] == "unconfirmed"

    report = send(MONDAY_0830 + timedelta(minutes=1), only=(BERLIN_MGR,))
    assert report.reconciled == [row["id"]]
    assert len(fake.calls_to("conversations.history")) == 1
    assert fake.last("conversations.history").params["channel"] == f"D{BERLIN_MGR}"
    assert len(digest_posts(fake)) == (1 if slack_kept_it else 2)
    assert report.sent == ([] if slack_kept_it else [BERLIN_MGR])
    assert held_by_slack(fake) == Counter({row["id"]: 1})
    assert_once_each(fake, settings)
    assert send(MONDAY_0830 + timedelta(minutes=2), only=(BERLIN_MGR,)).sent == []
    assert len(fake.calls_to("conversations.history")) == 1


def test_an_unconfirmed_digest_is_left_a_minute_to_settle_before_the_dm_is_read(send, fake, settings):
    """Another process running seconds later must not read the DM before a slow Slack has stored the digest."""
    fake.on("chat.postMessage", lambda call: "drop")
    send(MONDAY_0830, only=(BERLIN_MGR,))
    fake.off("chat.postMessage")
    assert send(MONDAY_0830 + timedelta(seconds=20), only=(BERLIN_MGR,)).reconciled == []
    assert fake.calls_to("conversations.history") == [] and len(digest_posts(fake)) == 1
    assert send(MONDAY_0830 + timedelta(minutes=1), only=(BERLIN_MGR,)).reconciled == [1]
    assert_once_each(fake, settings)


def test_while_the_dm_cannot_be_read_nothing_is_posted_again(send, fake, settings):
    fake.on("chat.postMessage", lambda call: "drop")
    send(MONDAY_0830, only=(BERLIN_MGR,))
    fake.off("chat.postMessage")
    fake.fail("conversations.history", error="missing_scope", times=3)
    for minutes in (1, 2, 3):
        assert send(MONDAY_0830 + timedelta(minutes=minutes), only=(BERLIN_MGR,)).reconciled == []
        assert digests(settings)[0]["status"] == "unconfirmed"
    assert len(digest_posts(fake)) == 1
    assert send(MONDAY_0830 + timedelta(minutes=4), only=(BERLIN_MGR,)).reconciled == [1]
    assert len(digest_posts(fake)) == 1
    assert_once_each(fake, settings)


def test_a_429_waits_out_retry_after_then_sends_once(send, fake, settings):
    fake.fail("chat.postMessage", status=429, retry_after=120)
    report = send(MONDAY_0830, only=(BERLIN_MGR,))
    assert report.retrying == [BERLIN_MGR] and report.sent == []
    [row] = digests(settings)
    assert (row["status"], row["error"]) == ("retry", "ratelimited")
    assert datetime.fromisoformat(row["lease_at"]) == MONDAY_0830 + timedelta(seconds=120)
    assert send(MONDAY_0830 + timedelta(minutes=1), only=(BERLIN_MGR,)).sent == []
    assert len(digest_posts(fake)) == 1
    assert send(MONDAY_0830 + timedelta(minutes=2), only=(BERLIN_MGR,)).sent == [BERLIN_MGR]
    assert delivered_to(fake) == [BERLIN_MGR]
    assert_once_each(fake, settings)


def test_a_short_429_is_waited_out_and_the_digest_sent_in_the_same_run(send, fake, settings, pace):
    fake.fail("chat.postMessage", status=429, retry_after=3)
    report = send(MONDAY_0830, only=(BERLIN_MGR,))
    assert report.sent == [BERLIN_MGR] and report.retrying == []
    assert pace.slept == [3]  # Retry-After, waited on the test's clock
    assert [c.failed for c in digest_posts(fake)] == [True, False]
    assert_once_each(fake, settings)


def test_a_short_429_on_auth_test_costs_the_run_nothing(send, fake, settings, pace):
    """Slack asks for a second's patience before the run even starts: it waits, then sends as usual."""
    fake.fail("auth.test", status=429, retry_after=1)
    assert send(MONDAY_0830, only=(BERLIN_MGR,)).sent == [BERLIN_MGR]
    assert pace.slept == [1] and [c.failed for c in fake.calls_to("auth.test")] == [True, False]
    assert_once_each(fake, settings)


def test_a_dm_read_a_page_a_minute_settles_the_digest_over_several_runs_never_sending_it_twice(send, fake, settings):
    """Slack gives apps outside the Marketplace 15 messages a call and a call a minute: each run reads on from
    where the last stopped; a 429 leaves the digest unknown, never sent again on a guess."""
    fake.fail("chat.postMessage", status=500, stored=True)
    assert send(MONDAY_0830, only=(BERLIN_MGR,)).unconfirmed == [BERLIN_MGR]
    for n in range(40):  # the manager and the bot talk a lot right after it
        fake.add_message(f"D{BERLIN_MGR}", f"chatter {n}", user=BERLIN_MGR)
    fake.history_page_max = 15
    for minute in (1, 2):
        fake.history_calls_left = 1
        assert send(MONDAY_0830 + timedelta(minutes=minute), only=(BERLIN_MGR,)).reconciled == []
        assert digests(settings)[0]["status"] == "unconfirmed"
    fake.history_calls_left = 1
    assert send(MONDAY_0830 + timedelta(minutes=3), only=(BERLIN_MGR,)).reconciled == [1]
    assert len(digest_posts(fake)) == 1
    assert_once_each(fake, settings)


def test_ok_false_is_retried_later_the_same_day_with_a_growing_wait(send, fake, settings):
    fake.fail("chat.postMessage", error="fatal_error", times=3)
    tries = []
    for minute in range(6):
        before = len(digest_posts(fake))
        send(MONDAY_0830 + timedelta(minutes=minute), only=(BERLIN_MGR,))
        if len(digest_posts(fake)) > before:
            tries.append(minute)
    assert tries == [0, 1, 2, 4]  # waits of 1, 1, 2 minutes: the later the digest already is, the longer
    assert delivered_to(fake) == [BERLIN_MGR]
    assert_once_each(fake, settings)


def test_a_day_that_ends_before_slack_takes_it_is_missed_and_the_next_digest_covers_it(send, fake, settings, team):
    fake.fail("chat.postMessage", error="fatal_error", times=100)
    for hour in (8, 9, 12, 23):
        send(datetime(2026, 11, 23, hour, 30, tzinfo=BERLIN), only=(BERLIN_MGR,))
    team.deal("Monday Deal", 50_000, datetime(2026, 11, 23, 11, 0, tzinfo=BERLIN))
    fake.reset()
    assert send(datetime(2026, 11, 24, 8, 30, tzinfo=BERLIN), only=(BERLIN_MGR,)).sent == [BERLIN_MGR]
    assert [(r["local_date"], r["status"]) for r in digests(settings)] == [
        ("2026-11-23", "missed"),
        ("2026-11-24", "sent"),
    ]
    assert "Monday Deal" in json.dumps(fake.last("chat.postMessage").params["blocks"])


def test_the_next_digest_starts_where_the_last_one_stopped(send, fake, team):
    team.deal("Sunday Deal", 50_000, datetime(2026, 11, 22, 15, 0, tzinfo=BERLIN))
    send(MONDAY_0830, only=(BERLIN_MGR,))
    monday = json.dumps(fake.last("chat.postMessage").params["blocks"])
    assert "Sunday Deal" in monday and "Your first digest" in monday
    team.deal("Monday Deal", 50_000, MONDAY_0830 + timedelta(hours=2))
    team.cancel("Sunday Deal", MONDAY_0830 + timedelta(hours=3), "went with a competitor")
    send(MONDAY_0830 + timedelta(days=1), only=(BERLIN_MGR,))
    tuesday = fake.last("chat.postMessage").params
    shown = json.dumps(tuesday["blocks"], ensure_ascii=False)
    assert "Since your last digest (Mon Nov 23, 08:30)" in shown
    assert "Monday Deal" in shown and "Closed since your last digest* (1)" in shown
    assert "Cancelled since your last digest* (1)" in shown and "went with a competitor" in shown
    assert "1 closed and 1 cancelled since your last digest" in tuesday["text"]


# -- what Slack receives -------------------------------------------------------------------------------------


def test_the_digest_is_a_dm_with_metadata_a_text_fallback_and_links_to_the_deals(send, fake, settings, team):
    deal_id = team.deal("Acme Rockets", 150_000, berlin(11, 16))
    team.post_due()
    send(MONDAY_0830, only=(BERLIN_MGR,))
    [post] = digest_posts(fake)
    [row] = digests(settings)
    assert post.params["channel"] == BERLIN_MGR
    assert post.params["metadata"] == {"event_type": "dealcoach_digest", "event_payload": {"digest_id": row["id"]}}
    assert post.params["text"].startswith("Your Deal Coach digest for Mon Nov 23: 0 buyer signals")
    assert "1 at risk" in post.params["text"]
    assert (row["channel_id"], row["ts"]) == (f"D{BERLIN_MGR}", post.response["ts"])
    [(ts,)] = [
        tuple(r.values()) for r in engines.rows(settings, "SELECT message_ts FROM deals WHERE id = ?", [deal_id])
    ]
    thread = f"?thread_ts={ts}&cid=C0TEAM"  # nudges in the deal's thread (the default): its link opens the thread
    link = f"<https://fake.slack.com/archives/C0TEAM/p{ts.replace('.', '')}{thread}|Acme Rockets>"
    assert link in json.dumps(post.params["blocks"])
    assert len(fake.calls_to("auth.test")) == 1
    assert fake.violations == []


def test_user_text_never_reaches_slack_raw(send, fake, team):
    team.deal("Globex <!here>", 150_000, berlin(11, 16))
    team.deal("Initech", 20_000, berlin(11, 2), owner=OTHER_REP)
    team.done("Initech", "win", berlin(11, 9), outcome={"kind": "win_reason", "reason": "<!channel> cheap & cheerful"})
    team.cancel("Initech", berlin(11, 22), "<!channel> <https://evil.example|click me> @everyone")
    team.post_due()
    send(MONDAY_0830, only=(BERLIN_MGR,))
    [post] = digest_posts(fake)
    sent = json.dumps(post.params, ensure_ascii=False)
    for raw in ("<!channel>", "<!here>", "<https://evil.example", "@everyone"):
        assert raw not in sent
    assert "&lt;!channel&gt; cheap &amp; cheerful" in sent and "&lt;!channel&gt; &lt;https://evil.example|" in sent
    assert fake.violations == []


def test_a_team_of_200_deals_and_30_reps_fits_slacks_limits(send, fake, settings, store):
    reps = [f"U0REP{i:02d}" for i in range(30)]
    team = Team(store)
    reason = "They said: " + "we loved the rollout plan & the <team> " * 20  # long, with characters to escape
    for i in range(200):
        closed = MONDAY_0830 - timedelta(days=i % 45, hours=i % 7)
        account = f"Account {i:03d} " + "X" * 60
        team.deal(account, 50_000 + 1_000 * i, closed, owner=reps[i % 30], posted=i % 3 != 0)
    team.post_due()
    for i in range(0, 200, 4):
        account = f"Account {i:03d} " + "X" * 60
        team.done(account, "call", MONDAY_0830 - timedelta(hours=1), outcome=None)
    for i in range(1, 200, 7):
        account = f"Account {i:03d} " + "X" * 60
        team.cancel(account, MONDAY_0830 - timedelta(hours=2), f"{reason} #{i}")
    send(MONDAY_0830, only=(BERLIN_MGR,))
    [post] = digest_posts(fake)
    blocks = post.params["blocks"]
    assert fake.violations == []
    assert post.response["ok"]
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "more — see the Home tab" in shown
    assert sum(f"<@{rep}>" in shown for rep in reps) == 30  # every rep in a compact line
    assert len(post.params["text"]) < 300


# -- the chart ------------------------------------------------------------------------------------------------


def test_the_chart_is_uploaded_to_the_dm_once_there_are_two_weeks_of_history(send, fake, team):
    team.deal("This Week", 20_000, berlin(11, 19))
    team.post_due()
    send(MONDAY_0830, only=(BERLIN_MGR,))
    assert fake.calls_to("files.getUploadURLExternal") == []  # one week of history: no chart yet

    team.deal("Last Week", 20_000, berlin(11, 12))
    team.post_due()
    team.done("Last Week", "call", berlin(11, 12))
    report = send(MONDAY_0830 + timedelta(days=1), only=(BERLIN_MGR,))
    assert report.charts == [BERLIN_MGR]
    [get_url] = fake.calls_to("files.getUploadURLExternal")
    assert get_url.params["filename"] == "completion.png"
    [complete] = fake.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == f"D{BERLIN_MGR}" and complete.params["initial_comment"]
    [stored] = fake.files.values()
    assert stored["content"].startswith(PNG_SIGNATURE)
    order = [c.method for c in fake.calls if c.method in ("chat.postMessage", "files.completeUploadExternal")]
    assert order[-2:] == ["chat.postMessage", "files.completeUploadExternal"]  # after the digest
    assert fake.violations == []


def test_a_failed_upload_is_logged_and_never_repeats_the_digest(send, fake, settings, team, caplog):
    team.deal("Last Week", 20_000, berlin(11, 12))
    team.deal("This Week", 20_000, berlin(11, 19))
    team.post_due()
    fake.fail("files.completeUploadExternal", error="internal_error")
    report = send(MONDAY_0830, only=(BERLIN_MGR,))
    assert report.sent == [BERLIN_MGR] and report.charts == []
    assert any("chart could not be uploaded" in r.getMessage() for r in caplog.records)
    assert send(MONDAY_0830 + timedelta(minutes=1), only=(BERLIN_MGR,)).sent == []
    assert len(digest_posts(fake)) == 1 and len(fake.calls_to("files.getUploadURLExternal")) == 1
    assert_once_each(fake, settings)


# -- the scheduler ------------------------------------------------------------------------------------------


def test_serve_runs_the_digest_job_every_minute_without_overlap(coach, client):
    scheduler = build_scheduler(coach, client)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(DIGEST_JOB)
        assert DIGEST_JOB == "send-digests"
        assert isinstance(job.func.__self__, Outage) and job.args == (send_digests, coach, client)
        assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == timedelta(minutes=1)
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 300)
    finally:
        scheduler.shutdown(wait=False)


def test_no_managers_no_slack_calls(coach, client, fake):
    assert send_digests(coach_for(coach, ()), client, MONDAY_0830).sent == []
    assert fake.calls == []


def test_when_auth_test_fails_nothing_is_claimed_and_the_next_run_sends(send, fake, settings):
    fake.fail("auth.test", status=503)
    report = send(MONDAY_0830, only=(BERLIN_MGR,))
    assert report.sent == [] and "auth.test failed" in report.summary()
    assert digests(settings) == [] and digest_posts(fake) == []
    assert send(MONDAY_0830 + timedelta(minutes=1), only=(BERLIN_MGR,)).sent == [BERLIN_MGR]
