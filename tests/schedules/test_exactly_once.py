"""Exactly once, nothing lost: concurrent dispatchers, crashes, Slack failures, undeliverable channels, outages, pacing.
Every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import threading
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.deals.announcements import EVENT_TYPE as ANNOUNCED
from bot.nudges.dispatch import EVENT_TYPE, LEASE, Dispatcher, Pacer
from bot.playbook.hours import BusinessHours
from bot.slack.client import TIMEOUT_SECONDS, posting_client
from schedules.jobs import dispatch_nudges
from tests import engines, signing
from tests.capturing import store_deal
from tests.conftest import CHANNEL, MANAGER, REP, SECRET, TEAM, TOKEN
from tests.processes import cli_env, finish, free_port, start_job, start_serve
from tests.slack_faults import UNKNOWN_OUTCOMES

pytestmark = pytest.mark.both_engines
ROOT = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)  # business hours in the team's zone
OWNER_DM = f"D{REP}"  # where the fake (like Slack) puts a post addressed to the owner's user id


# -- helpers ----------------------------------------------------------------------------------------------


@pytest.fixture
def nudges_in(request):
    """DEALCOACH_NUDGES_IN for the test: the default (thread) unless a test parametrizes it indirectly."""
    return getattr(request, "param", "thread")


@pytest.fixture
def settings(settings, nudges_in):
    return replace(settings, nudges_in=nudges_in)


BOTH = pytest.mark.parametrize("nudges_in", ["thread", "channel"], indirect=True)


def lookups(fake, nudges_in: str) -> list:
    """The reads a reconcile made: the deal's thread replies (thread mode), else the channel's history."""
    return fake.calls_to("conversations.replies" if nudges_in == "thread" else "conversations.history")


def chatter(fake, settings, deal_id: int, text: str, nudges_in: str) -> None:
    """The team talking where the nudge went: in the deal's thread, or in the channel."""
    [row] = query(settings, "SELECT channel_id, message_ts FROM deals WHERE id = ?", (deal_id,))
    extra = {"thread_ts": row["message_ts"]} if nudges_in == "thread" else {}
    fake.add_message(row["channel_id"], text, **extra)


@pytest.fixture
def client(coach):
    """The dispatcher's client as `tick` builds it: no automatic retries, since a retried POST may post twice."""
    return posting_client(coach.settings)


@pytest.fixture
def tick(coach, client, pace, fake):
    """One in-process dispatch at `now`, paced by the fake clock, with Slack's ts placed at `now` too."""

    def run(now: datetime):
        fake.epoch = now.timestamp()
        return dispatch_nudges(coach, client, now, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))

    return run


def capture(coach, clock, account: str, *, at: datetime = MONDAY_10, channel: str = CHANNEL, extra: str = "$5k"):
    """A deal closed at `at` (the coach's clock) and announced, through the same use cases as /closed-deal."""
    clock.now = at
    deal = store_deal(
        coach, f"{account} {extra}", team_id=TEAM, channel_id=channel, user_id=REP, capture_key=f"{account}-{channel}"
    )
    coach.announce(deal.id)
    return deal


def query(settings, sql: str, params: tuple = ()) -> list[dict]:
    return engines.rows(settings, sql, params)


def due_nudge_ids(settings, today: datetime) -> list[int]:
    """The nudges due by `today`: what a dispatch at that moment owes Slack."""
    rows = query(settings, "SELECT id FROM nudges WHERE due_date <= ? ORDER BY id", (today.date().isoformat(),))
    return [r["id"] for r in rows]


def deal_nudges(settings, deal_id: int) -> list[dict]:
    return query(settings, "SELECT * FROM nudges WHERE deal_id = ? ORDER BY due_date, id", (deal_id,))


def post_row(settings, post_id: int) -> dict:
    [row] = query(settings, "SELECT * FROM posts WHERE id = ?", (post_id,))
    return row


def post_id_of(message_or_params: dict) -> int:
    return message_or_params["metadata"]["event_payload"]["post_id"]


def nudge_posts(fake) -> list:
    """chat.postMessage calls carrying a nudge (not announcements or managers' notes), in the order Slack got them."""
    return fake.posts_of(EVENT_TYPE)


def held_by_slack(fake) -> Counter:
    """How many messages Slack holds for each post id, read from the metadata every nudge message carries."""
    messages = list(fake.messages.values())
    return Counter(post_id_of(m) for m in messages if (m.get("metadata") or {}).get("event_type") == EVENT_TYPE)


def assert_posted_exactly_once(fake, settings, nudge_ids: list[int]) -> None:
    """Slack accepted no post id twice; each nudge sits on exactly one accepted post, which Slack holds once."""
    accepted = Counter(post_id_of(c.params) for c in nudge_posts(fake) if (c.response or {}).get("ok"))
    assert [p for p, n in accepted.items() if n > 1] == []
    held = held_by_slack(fake)
    assert [p for p, n in held.items() if n > 1] == []
    assert nudge_ids
    for nudge_id in nudge_ids:
        [nudge] = query(settings, "SELECT * FROM nudges WHERE id = ?", (nudge_id,))
        accepted = query(
            settings,
            "SELECT p.* FROM posts p JOIN post_nudges pn ON pn.post_id = p.id WHERE pn.nudge_id = ? AND p.status = 'posted'",
            (nudge_id,),
        )
        assert (nudge["status"], [p["id"] for p in accepted]) == ("posted", [nudge["post_id"]]), nudge
        assert held[nudge["post_id"]] == 1
        post = accepted[0]
        assert post_id_of(fake.messages[(post["channel_id"], post["ts"])]) == post["id"]
    posted = query(settings, "SELECT id FROM posts WHERE status = 'posted' AND kind = 'nudges'")
    assert sorted(held) == sorted(p["id"] for p in posted)  # Slack holds nothing the database doesn't know


def assert_database_ok(settings) -> None:
    if not settings.database_url:  # PostgreSQL checks its own pages
        assert query(settings, "PRAGMA integrity_check")[0]["integrity_check"] == "ok"


def tick_env(fake, settings) -> dict[str, str]:
    """`dealcoach tick`'s environment: nothing from the developer's shell, Slack on loopback, the test database."""
    return cli_env(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.base_url,
        **engines.database_env(settings),
        DEALCOACH_TIMEZONE="Europe/Berlin",
        DEALCOACH_MANAGERS=MANAGER,
        DEALCOACH_NUDGES_IN=settings.nudges_in,
        DEALCOACH_POSTS_PER_MINUTE="600",
    )


def start_tick(now: datetime | str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return start_job("tick", now if isinstance(now, str) else now.isoformat(), env, cwd)


def run_tick(now: datetime | str, env: dict[str, str], cwd: Path) -> str:
    """Run one tick process to the end; returns its summary line, failing with its stderr if it failed."""
    code, out, err = finish(start_tick(now, env, cwd))
    assert code == 0, err
    return out


def posted_count(summary: str) -> int:
    return int(re.search(r"posted (\d+)", summary).group(1))


# -- two dispatchers at once ------------------------------------------------------------------------------

PROCESSES, DEALS, CHANNELS = 4, 30, 15


def test_concurrent_tick_processes_post_every_due_nudge_exactly_once(coach, clock, fake, settings, tmp_path):
    """Four `tick` processes on one database file race for 30 deals; Slack gets each nudge once."""
    friday = MONDAY_10 - timedelta(days=3)  # the deals closed Friday: Friday's and Monday's steps are due
    for i in range(DEALS):
        capture(coach, clock, f"Account{i:02d}", at=friday, channel=f"C0CH{i % CHANNELS:02d}")
    due = due_nudge_ids(settings, MONDAY_10)
    assert len(due) >= 2 * DEALS
    fake.epoch = MONDAY_10.timestamp()
    all_here = threading.Barrier(PROCESSES)
    arrivals = itertools.count()

    def hold_each_first_post(call):
        """The first posts wait for one another: proof all processes were posting at the same moment."""
        if next(arrivals) < PROCESSES:
            all_here.wait(timeout=30)

    fake.on("chat.postMessage", hold_each_first_post)
    env = tick_env(fake, settings)
    procs = [start_tick(MONDAY_10, env, tmp_path) for _ in range(PROCESSES)]
    results = [finish(p) for p in procs]

    assert [code for code, _, _ in results] == [0] * PROCESSES, [err for _, _, err in results]
    assert fake.violations == []  # includes a broken barrier: fewer processes than expected posted at once
    per_process = [posted_count(out) for _, out, _ in results]
    assert (
        sum(per_process) == DEALS and len([n for n in per_process if n]) >= 2
    )  # channels in parallel: fast ones take more
    assert len(nudge_posts(fake)) == DEALS  # one message per deal, no lost races that posted anyway
    assert_posted_exactly_once(fake, settings, due)
    assert query(settings, "SELECT kind, status, COUNT(*) AS n FROM posts GROUP BY kind, status") == [
        {"kind": "announcement", "status": "posted", "n": DEALS},
        {"kind": "nudges", "status": "posted", "n": DEALS},
    ]
    assert_database_ok(settings)


def test_a_tick_with_local_now_leaves_a_fresh_claim_to_the_utc_dispatcher(coach, clock, fake, settings, tmp_path):
    """`serve` stamps in UTC, `tick --now 10:01` in Berlin time: the tick must not steal a claim one minute old."""
    capture(coach, clock, "Acme")
    fake.epoch = MONDAY_10.timestamp()
    env = tick_env(fake, settings)
    summaries = []

    class TickWhileServeIsAboutToPost(Pacer):
        """Serve's pacer runs between its claim and its post: the other process ticks exactly then."""

        def wait(self, channel, team=""):
            summaries.append(run_tick("2026-11-23T10:01:00", env, tmp_path))  # no offset: Berlin time

    serve_now = MONDAY_10.astimezone(ZoneInfo("UTC"))  # what serve's clock gives: datetime.now(UTC)
    report = Dispatcher(coach, posting_client(settings), TickWhileServeIsAboutToPost()).tick(serve_now)

    assert posted_count(summaries[0]) == 0 and "reconciled 0" in summaries[0]
    assert fake.calls_to("conversations.history") == []
    assert len(nudge_posts(fake)) == 1 and len(report.posted) == 1
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))


# -- killed between posting and recording ---------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("slack_kept_it", [True, False], ids=["slack-has-it", "slack-never-got-it"])
def test_a_tick_killed_between_post_and_record_is_reconciled_after_the_lease(
    coach, clock, fake, settings, tmp_path, slack_kept_it, nudges_in
):
    """SIGKILL while Slack answers: after LEASE the channel's history decides, and nothing is posted twice."""
    first = capture(coach, clock, "Acme", channel="C0ONE")
    second = capture(coach, clock, "Globex", channel="C0ONE")  # one channel: its deals go out in order
    fake.epoch = MONDAY_10.timestamp()
    env = tick_env(fake, settings)
    running: dict[str, subprocess.Popen] = {}
    started = threading.Event()

    def kill_the_poster(call):
        """Slack has (or lost) the message, the bot never hears back."""
        started.wait(timeout=30)
        if not slack_kept_it:
            fake.messages.pop((call.response["channel"], call.response["ts"]))
        running["proc"].send_signal(signal.SIGKILL)
        running["proc"].wait(timeout=30)

    fake.on("chat.postMessage", kill_the_poster)
    running["proc"] = start_tick(MONDAY_10, env, tmp_path)
    started.set()
    code, _, _ = finish(running["proc"])
    fake.off("chat.postMessage")

    assert code == -signal.SIGKILL and fake.violations == []
    [orphan_call] = nudge_posts(fake)
    assert orphan_call.params["channel"] == "C0ONE"
    orphan = post_row(settings, post_id_of(orphan_call.params))
    assert (orphan["status"], orphan["ts"], orphan["deal_id"]) == ("sending", None, first.id)
    due = due_nudge_ids(settings, MONDAY_10)
    assert [n["status"] for n in deal_nudges(settings, first.id) if n["id"] in due] == ["sending"]
    assert [n["status"] for n in deal_nudges(settings, second.id) if n["id"] in due] == ["planned"]

    within_lease = run_tick(MONDAY_10 + LEASE / 2, env, tmp_path)  # the orphan may still be in flight: hands off
    assert posted_count(within_lease) == 1 and "reconciled 0" in within_lease
    assert [c.params["channel"] for c in nudge_posts(fake)] == ["C0ONE", "C0ONE"]
    assert lookups(fake, nudges_in) == []
    assert post_row(settings, orphan["id"])["status"] == "sending"

    after_lease = run_tick(MONDAY_10 + LEASE + timedelta(minutes=1), env, tmp_path)
    assert "reconciled 1" in after_lease
    [history] = lookups(fake, nudges_in)
    assert history.params["channel"] == "C0ONE"
    if nudges_in == "thread":  # the nudge is a reply under the deal's message, and is looked for in its thread
        assert (
            orphan_call.params["thread_ts"]
            == history.params["ts"]
            == query(settings, "SELECT message_ts FROM deals WHERE id = ?", (first.id,))[0]["message_ts"]
        )
    if slack_kept_it:
        assert len(nudge_posts(fake)) == 2  # found in the history: recorded, not posted again
        recorded = post_row(settings, orphan["id"])
        assert (recorded["status"], recorded["ts"]) == ("posted", orphan_call.response["ts"])
    else:
        assert [c.params["channel"] for c in nudge_posts(fake)] == ["C0ONE", "C0ONE", "C0ONE"]
        assert post_row(settings, orphan["id"])["status"] == "failed"
    assert_posted_exactly_once(fake, settings, due)
    assert posted_count(run_tick(MONDAY_10 + 2 * LEASE, env, tmp_path)) == 0
    assert_database_ok(settings)


# -- Slack says no, or says nothing -----------------------------------------------------------------------


@pytest.mark.parametrize(("retry_after", "wait"), [(30, 60), (120, 120)])
def test_a_429_waits_out_retry_after_for_that_channel_then_posts_once(
    coach, clock, fake, settings, tick, retry_after, wait
):
    """Rate limited: the channel's deals wait at least a minute or Retry-After; other channels carry on."""
    acme = capture(coach, clock, "Acme", channel="C0A")
    initech = capture(coach, clock, "Initech", channel="C0A")
    globex = capture(coach, clock, "Globex", channel="C0B")
    fake.fail("chat.postMessage", status=429, retry_after=retry_after)

    report = tick(MONDAY_10)
    assert [c.params["channel"] for c in nudge_posts(fake)] == ["C0A", "C0B"]  # Initech not even tried
    assert len(report.posted) == 1 and len(report.retrying) == 2
    for deal in (acme, initech):
        [nudge] = deal_nudges(settings, deal.id)[:1]
        assert (nudge["status"], nudge["post_id"], nudge["attempts"]) == ("planned", None, 1)
        assert datetime.fromisoformat(nudge["next_attempt_at"]) == MONDAY_10 + timedelta(seconds=wait)
    assert deal_nudges(settings, acme.id)[0]["last_error"] == "ratelimited"
    assert deal_nudges(settings, globex.id)[0]["status"] == "posted"

    assert tick(MONDAY_10 + timedelta(seconds=wait - 1)).posted == []
    assert len(nudge_posts(fake)) == 2
    assert len(tick(MONDAY_10 + timedelta(seconds=wait)).posted) == 2
    assert [c.params["channel"] for c in nudge_posts(fake)] == ["C0A", "C0B", "C0A", "C0A"]
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))


def test_ok_false_is_retried_with_growing_backoff_until_slack_takes_it(coach, clock, fake, settings, tick):
    """ok:false means Slack surely did not post: back to planned, retried after 1, 2, 4 minutes, never dropped."""
    deal = capture(coach, clock, "Acme")
    fake.fail("chat.postMessage", error="fatal_error", times=3)
    now, retries_at = MONDAY_10, []
    for _ in range(3):
        report = tick(now)
        assert report.posted == [] and len(report.retrying) == 1
        [nudge] = deal_nudges(settings, deal.id)[:1]
        assert (nudge["status"], nudge["last_error"]) == ("planned", "fatal_error")
        retry_at = datetime.fromisoformat(nudge["next_attempt_at"])
        retries_at.append(retry_at - now)
        assert tick(retry_at - timedelta(seconds=1)).retrying == []  # not before its time
        now = retry_at
    assert retries_at == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert len(nudge_posts(fake)) == 3

    assert len(tick(now).posted) == 1
    [nudge] = deal_nudges(settings, deal.id)[:1]
    assert (nudge["status"], nudge["attempts"], nudge["last_error"]) == ("posted", 3, None)
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))


@BOTH
@pytest.mark.parametrize("arrange", UNKNOWN_OUTCOMES, ids=lambda arrange: arrange.__name__)
def test_an_unknown_outcome_is_settled_from_the_channel_history(
    coach, clock, fake, settings, client, tick, arrange, nudges_in
):
    """5xx, timeout or a lost connection: unconfirmed, then the history says whether to record it or post it."""
    deal = capture(coach, clock, "Acme")
    slack_kept_it = arrange(fake, client)

    report = tick(MONDAY_10)
    fake.wait_for("chat.postMessage", 2, answered=True)  # after the announcement, a slow Slack finishes the nudge
    [first] = nudge_posts(fake)
    fake.off("chat.postMessage")
    client.timeout = TIMEOUT_SECONDS
    assert report.posted == [] and report.unconfirmed == [post_id_of(first.params)]
    assert post_row(settings, report.unconfirmed[0])["status"] == "unconfirmed"
    assert {n["status"] for n in deal_nudges(settings, deal.id) if n["post_id"]} == {"sending"}
    assert held_by_slack(fake) == (Counter({report.unconfirmed[0]: 1}) if slack_kept_it else Counter())

    report = tick(MONDAY_10 + timedelta(minutes=1))
    assert len(lookups(fake, nudges_in)) == 1
    assert len(nudge_posts(fake)) == (1 if slack_kept_it else 2)
    assert report.posted == ([] if slack_kept_it else [post_id_of(nudge_posts(fake)[-1].params)])
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))
    assert tick(MONDAY_10 + timedelta(minutes=2)).posted == []


# -- channels the bot can't reach ---------------------------------------------------------------------------


def archived(fake):
    fake.unreachable_channels = {"C0GONE": "is_archived"}
    return "C0GONE"


def private_and_not_invited(fake):
    fake.not_joined = {"G0PRIV"}
    return "G0PRIV"


@pytest.mark.parametrize("arrange", [archived, private_and_not_invited])
def test_an_unreachable_channel_sends_each_nudge_to_the_owner_and_tells_managers_once(
    coach, clock, fake, settings, tick, arrange
):
    """The owner gets every nudge by DM with its buttons; each manager hears once about the deal."""
    channel = arrange(fake)
    deal = capture(coach, clock, "Acme", channel=channel)
    days = [MONDAY_10 + timedelta(days=d) for d in (0, 1, 3)]  # Monday, Tuesday, Thursday: a new step each day
    for day in days:
        tick(day)

    owner_dms = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == REP]
    manager_dms = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGER]
    assert len(owner_dms) == 3 and len(manager_dms) == 1
    assert "Acme" in manager_dms[0].params["text"] and f"<#{channel}>" in manager_dms[0].params["text"]
    for dm in owner_dms:
        assert f"couldn't post in <#{channel}>" in dm.params["blocks"][0]["text"]["text"]
        buttons = [e for b in dm.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
        for nudge_id in [int(e["value"]) for e in buttons if e["action_id"] == "nudge_done"]:
            [posted_in] = query(
                settings,
                "SELECT p.channel_id FROM nudges n JOIN posts p ON p.id = n.post_id WHERE n.id = ?",
                (nudge_id,),
            )
            assert posted_in["channel_id"] == OWNER_DM
    assert fake.violations == []
    due = due_nudge_ids(settings, days[-1])
    assert len(due) >= 3
    assert_posted_exactly_once(fake, settings, due)
    assert query(settings, "SELECT delivery_error FROM deals WHERE id = ?", (deal.id,))[0]["delivery_error"]


def test_when_the_owner_cannot_be_reached_either_managers_get_each_undelivered_nudge(
    coach, clock, fake, settings, tick
):
    """Channel archived and the owner's DM refused: the nudges stay on record and managers see every one of them."""
    fake.unreachable_channels = {"C0GONE": "is_archived", REP: "user_not_found"}
    deal = capture(coach, clock, "Acme", channel="C0GONE", extra="$5k contact: Jane Doe")
    tick(MONDAY_10)
    tick(MONDAY_10 + timedelta(days=1))

    due = due_nudge_ids(settings, MONDAY_10 + timedelta(days=1))
    rows = [n for n in deal_nudges(settings, deal.id) if n["id"] in due]
    assert [(n["status"], n["last_error"]) for n in rows] == [("undeliverable", "is_archived")] * 3
    notes = [c.params["text"] for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGER]
    assert len(notes) == 2  # one per undelivered message: nobody else can see them
    assert "Call Jane Doe to congratulate Acme" in notes[0] and "Send Jane Doe the next steps" in notes[1]
    for text in notes:
        assert "<#C0GONE>" in text and f"couldn't reach <@{REP}>" in text
        assert "directly" not in text  # it must not claim the owner got them
    assert held_by_slack(fake) == Counter()
    assert tick(MONDAY_10 + timedelta(days=1, minutes=1)).undeliverable == []  # on record, not retried or lost


# -- after an outage --------------------------------------------------------------------------------------


def test_after_an_outage_each_deal_gets_one_catch_up_message_oldest_first(coach, clock, fake, settings, tick, pace):
    """Weeks without a tick: one message per deal, oldest deal first, naming the windows that passed and carrying
    the steps still worth doing; nothing left planned that was due, nothing posted twice."""
    oldco = capture(coach, clock, "Oldco", at=MONDAY_10 - timedelta(weeks=6), extra="$120k persona: economic")
    midco = capture(coach, clock, "Midco", at=MONDAY_10 - timedelta(weeks=3))
    newco = capture(coach, clock, "Newco", at=MONDAY_10 - timedelta(weeks=3) + timedelta(days=2), channel="C0OTHER")
    due = due_nudge_ids(settings, MONDAY_10)

    report = tick(MONDAY_10)
    posts = nudge_posts(fake)
    assert [c.params["text"].split("Catching up on ")[1].split(":")[0] for c in posts] == ["Oldco", "Midco", "Newco"]
    assert [c.params["channel"] for c in posts] == [CHANNEL, CHANNEL, "C0OTHER"]
    assert report.late == report.posted and len(report.posted) == 3
    assert pace.slept == [1.0]  # Oldco and Midco share a channel
    for deal in (oldco, midco, newco):
        rows = [n for n in deal_nudges(settings, deal.id) if n["id"] in due]
        assert {n["status"] for n in rows} <= {"posted", "missed"} and "missed" in {n["status"] for n in rows}
        [post_id] = {n["post_id"] for n in rows}
        assert post_row(settings, post_id)["late"] == 1
    assert len(report.missed) == len(
        query(settings, "SELECT id FROM nudges WHERE status = 'missed'")
    )  # each counted once

    assert tick(MONDAY_10 + timedelta(minutes=1)).posted == []
    posted = [
        n for n in due if query(settings, "SELECT status FROM nudges WHERE id = ?", (n,))[0]["status"] == "posted"
    ]
    assert_posted_exactly_once(fake, settings, posted)
    assert fake.violations == []


# -- pacing -----------------------------------------------------------------------------------------------


def test_posts_to_one_channel_are_a_second_apart_and_other_channels_do_not_wait(coach, clock, fake, tick, pace):
    """Slack allows about one message per second per channel; the pacer sleeps only for the same channel."""
    for account, channel in [("Acme", "C0A"), ("Initech", "C0A"), ("Globex", "C0B"), ("Umbrella", "C0A")]:
        capture(coach, clock, account, channel=channel)
    timeline: list[tuple[float, str]] = []

    def each_post_takes_300ms(call):
        timeline.append((pace.now, call.params["channel"]))
        pace.now += 0.3

    fake.on("chat.postMessage", each_post_takes_300ms)
    assert len(tick(MONDAY_10).posted) == 4

    assert [channel for _, channel in timeline] == ["C0A", "C0A", "C0B", "C0A"]
    assert pace.slept == [0.7, 0.4]  # a second since the channel's last post, minus the time already gone
    same_channel = [at for at, channel in timeline if channel == "C0A"]
    assert [round(b - a, 3) for a, b in itertools.pairwise(same_channel)] == [1.0, 1.0]
    assert round(timeline[2][0] - timeline[1][0], 3) == 0.3  # C0B right after C0A's post, no wait


def test_two_tick_processes_share_one_channels_pace_through_the_database(coach, clock, fake, settings, tmp_path):
    """Each process used to keep its own pace, so two posted twice a second to one channel and Slack refused one.
    The paces live in the database now: two `tick`s at once stay a second apart there, and nothing is refused."""
    for i in range(4):
        capture(coach, clock, f"Account{i}", channel="C0ONE")
    due = due_nudge_ids(settings, MONDAY_10)
    fake.epoch = MONDAY_10.timestamp()
    # Slack's about one a second per channel (with short bursts), enforced from here on; 0.8 s leaves room for a
    # loaded machine's jitter between a reserved moment and the post's arrival, and two unshared paces still collide
    fake.channel_rate_limit = 0.8
    fake._last_post.clear()  # the captures' announcements were a while ago (they are the rep's, not the ticks')
    env = tick_env(fake, settings)
    results = [finish(p) for p in [start_tick(MONDAY_10, env, tmp_path) for _ in range(2)]]

    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert sum(posted_count(out) for _, out, _ in results) == 4
    assert [c.failed for c in nudge_posts(fake)] == [False] * 4  # no 429
    assert_posted_exactly_once(fake, settings, due)


# -- the fallbacks fail for a while ----------------------------------------------------------------------


def test_a_passing_failure_of_the_owners_dm_is_retried_not_written_off(coach, clock, fake, settings, tick):
    """Channel archived and Slack busy when we DM the owner: the steps wait and go out once Slack answers."""
    deal = capture(coach, clock, "Acme", channel="C0GONE")
    fake.fail("chat.postMessage", error="is_archived")  # the channel post
    fake.fail("chat.postMessage", status=429, retry_after=60)  # then the owner's DM, longer than a run waits
    report = tick(MONDAY_10)
    assert report.retrying and not report.undeliverable
    [first] = [n for n in deal_nudges(settings, deal.id) if n["step_id"] == "congratulate"]
    assert first["status"] == "planned" and "owner DM" in first["last_error"]

    fake.unreachable_channels = {"C0GONE": "is_archived"}
    tick(MONDAY_10 + timedelta(minutes=2))
    [first] = [n for n in deal_nudges(settings, deal.id) if n["step_id"] == "congratulate"]
    assert first["status"] == "posted"
    delivered = [c.params["channel"] for c in fake.calls_to("chat.postMessage") if not c.failed]
    assert delivered == ["C0GONE", REP, MANAGER]  # the announcement (before the channel went), then the owner
    # gets the nudge once, and the manager hears once


def test_a_post_whose_channel_vanished_is_delivered_afresh_not_left_unconfirmed(coach, clock, fake, settings, tick):
    """A timeout, then the channel is deleted: history can't be read, so the owner gets the nudge by DM."""
    deal = capture(coach, clock, "Acme", channel="C0GONE")
    fake.fail("chat.postMessage", status=503)
    assert tick(MONDAY_10).unconfirmed
    fake.unreachable_channels = {"C0GONE": "channel_not_found"}
    fake.fail("conversations.history", status=200, error="channel_not_found")
    tick(MONDAY_10 + timedelta(minutes=1))
    [first] = [n for n in deal_nudges(settings, deal.id) if n["step_id"] == "congratulate"]
    assert first["status"] == "posted"
    delivered = [c.params["channel"] for c in fake.calls_to("chat.postMessage") if not c.failed]
    assert delivered == ["C0GONE", REP, MANAGER]  # the announcement, before the channel was deleted


# -- a run that meets rate limits and failures ------------------------------------------------------------


def accounts_in(call) -> list[str]:
    return [name for name in ("Acme", "Globex", "Initech", "Umbrella") if name in call.params["text"]]


def test_a_short_429_is_waited_out_and_posted_in_the_same_run(coach, clock, fake, settings, tick, pace):
    """Retry-After of a few seconds: Slack surely did not post it, so the run waits (on the fake clock) and posts."""
    capture(coach, clock, "Acme")
    fake.fail("chat.postMessage", status=429, retry_after=2, times=2)
    report = tick(MONDAY_10)
    assert len(report.posted) == 1 and report.retrying == []
    assert pace.slept == [2, 2]
    assert [c.failed for c in nudge_posts(fake)] == [True, True, False]
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))


def test_a_run_that_meets_several_failures_in_a_row_still_delivers_the_rest(coach, clock, fake, settings, tick, pace):
    """Three short 429s on one post, then a 503 on the next: both wait for a later run, the others go out now."""
    deals = [capture(coach, clock, account, channel="C0A") for account in ("Acme", "Globex", "Initech", "Umbrella")]
    fake.fail("chat.postMessage", status=429, retry_after=1, times=3)
    fake.fail("chat.postMessage", status=503)
    report = tick(MONDAY_10)
    assert len(report.retrying) == 1 and len(report.unconfirmed) == 1 and len(report.posted) == 2
    assert [accounts_in(c) for c in nudge_posts(fake) if not c.failed] == [["Initech"], ["Umbrella"]]
    [acme] = deal_nudges(settings, deals[0].id)[:1]
    assert (acme["status"], acme["last_error"]) == ("planned", "ratelimited")

    tick(MONDAY_10 + timedelta(minutes=1))  # the 503 is settled from the history, the 429 posted again
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))


# -- history lookups where Slack limits them ----------------------------------------------------------------


@BOTH
def test_an_unknown_post_is_looked_for_in_its_own_time_window_not_from_now_back(
    coach, clock, fake, settings, tick, nudges_in
):
    """A day of chatter after a post of unknown fate: reading back from now would stop short (Slack gives 15
    messages a call to apps outside the Marketplace) and post it again; its own window finds it at once."""
    deal = capture(coach, clock, "Acme")
    fake.fail("chat.postMessage", status=500, stored=True)
    [unknown] = tick(MONDAY_10).unconfirmed
    fake.history_page_max = 15
    for minute in range(200):  # the team talks all day where the nudge went, long after the post
        fake.epoch = (MONDAY_10 + timedelta(hours=1, minutes=minute)).timestamp()
        chatter(fake, settings, deal.id, f"chatter {minute}", nudges_in)

    report = tick(MONDAY_10 + timedelta(days=1))
    assert report.reconciled == [unknown] and post_row(settings, unknown)["status"] == "posted"
    assert len(lookups(fake, nudges_in)) == 1
    assert len(nudge_posts(fake)) == 1 + 1  # Monday's once, and Tuesday's step
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))


@BOTH
def test_a_history_read_a_page_a_minute_finds_the_post_over_several_runs_and_never_posts_it_again(
    coach, clock, fake, settings, tick, nudges_in
):
    """15 messages a call, one call a minute: each run reads on from where the last one stopped, a 429 leaves the
    post unknown (never posted on a guess), and the post is found on the third run."""
    deal = capture(coach, clock, "Acme")
    fake.epoch = MONDAY_10.timestamp()

    def busy_minutes():  # inside the post's window, where a search reaches them before the post
        for n in range(40):
            chatter(fake, settings, deal.id, f"chatter {n}", nudges_in)

    if nudges_in == "thread":  # a thread is read oldest first: the team talked there just before the nudge
        busy_minutes()
    fake.fail("chat.postMessage", status=500, stored=True)
    [unknown] = tick(MONDAY_10).unconfirmed
    if nudges_in == "channel":  # a channel's history is read newest first: the team talked right after it
        busy_minutes()
    fake.history_page_max = 15

    for run in (1, 2):
        fake.history_calls_left = 1  # a minute has passed: one more call allowed
        report = tick(MONDAY_10 + timedelta(minutes=run))
        assert report.reconciled == [] and report.posted == []
        assert post_row(settings, unknown)["status"] == "unconfirmed"
        assert len(nudge_posts(fake)) == 1
    fake.history_calls_left = 1
    assert tick(MONDAY_10 + timedelta(minutes=3)).reconciled == [unknown]
    pages = lookups(fake, nudges_in)
    assert [c.failed for c in pages] == [False, True, False, True, False]  # a page a minute, the rest refused
    assert post_row(settings, unknown)["status"] == "posted" and len(nudge_posts(fake)) == 1
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))


# -- a deal's announcement, and its nudges after it ---------------------------------------------------------


def test_a_deals_nudges_wait_for_its_announcement_and_other_deals_do_not(coach, clock, fake, settings, tick):
    """Globex was stored but its announcement never went out (its process died): within the lease nothing of
    Globex is posted; after it, the announcement is looked for, posted once, and only then its nudges."""
    acme = capture(coach, clock, "Acme")
    clock.now = MONDAY_10
    globex = store_deal(coach, "Globex $5k", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="g")

    report = tick(MONDAY_10 + timedelta(minutes=1))
    assert [accounts_in(c) for c in nudge_posts(fake)] == [["Acme"]]
    assert report.announced == [] and fake.calls_to("conversations.history") == []
    assert {n["status"] for n in deal_nudges(settings, globex.id)} == {"planned"}

    report = tick(MONDAY_10 + LEASE + timedelta(minutes=1))
    assert len(report.announced) == 1 and len(report.posted) == 1
    calls = fake.calls_to("chat.postMessage")
    [announced] = [c for c in fake.posts_of(ANNOUNCED) if "Globex" in c.params["text"]]
    [nudge] = [c for c in nudge_posts(fake) if "Globex" in c.params["text"]]
    assert calls.index(announced) < calls.index(nudge)
    [row] = query(settings, "SELECT message_ts FROM deals WHERE id = ?", (globex.id,))
    assert row["message_ts"] == announced.response["ts"]
    assert acme.id != globex.id
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, MONDAY_10))


def business_instant(after: datetime) -> datetime:
    """The first moment from `after` with a few business minutes ahead (Monday to Friday, 09:00-17:00 Berlin)."""
    hours = BusinessHours(BERLIN)
    moment = after.astimezone(BERLIN).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if hours.is_open(moment) and hours.is_open(moment + timedelta(minutes=5)):
        return moment
    day = hours.first_open_day(moment.date() + timedelta(days=0 if moment.hour < 9 else 1))
    return datetime.combine(day, datetime.min.time(), tzinfo=BERLIN).replace(hour=10)


@pytest.mark.parametrize("slack_kept_it", [True, False], ids=["slack-has-it", "slack-never-got-it"])
def test_serve_killed_after_acking_a_capture_before_its_announcement_lands(fake, settings, tmp_path, slack_kept_it):
    """kill -9 after the ack, while the announcement is on its way: the next ticks settle it (history first, even
    when that is rate limited), post it once at most, and only then the deal's nudges."""
    port = free_port()
    env = {**tick_env(fake, settings), "PORT": str(port)}
    proc, _ = start_serve(env, tmp_path)
    acked = threading.Event()

    def kill_before_the_bot_hears(call):
        acked.wait(timeout=30)
        if not slack_kept_it:
            fake.messages.pop((call.response["channel"], call.response["ts"]))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    fake.on("chat.postMessage", kill_before_the_bot_hears)
    body = signing.command_body(text="Acme Rockets $120k", response_url=fake.response_url())
    status, _, _ = signing.post(f"http://127.0.0.1:{port}/slack/events", body, SECRET, content_type=signing.FORM)
    acked.set()
    proc.wait(timeout=30)
    proc.stderr.close()
    fake.off("chat.postMessage")
    assert status == 200 and proc.returncode == -signal.SIGKILL and fake.violations == []
    [deal] = query(settings, "SELECT * FROM deals")
    [claim] = query(settings, "SELECT * FROM posts WHERE kind = 'announcement'")
    assert (deal["message_ts"], claim["status"]) == (None, "sending")
    assert len(fake.posts_of(ANNOUNCED)) == 1
    captured = datetime.fromisoformat(claim["claimed_at"])

    within_lease = run_tick(captured + timedelta(minutes=1), env, tmp_path)
    assert "reconciled 0" in within_lease and "announced 0" in within_lease and posted_count(within_lease) == 0
    assert fake.calls_to("conversations.history") == []

    after_lease = business_instant(captured + LEASE)
    fake.fail("conversations.history", status=429, retry_after=60)  # the lookup itself is limited
    limited = run_tick(after_lease, env, tmp_path)
    assert posted_count(limited) == 0 and "announced 0" in limited and nudge_posts(fake) == []
    assert query(settings, "SELECT status FROM posts WHERE id = ?", (claim["id"],)) == [{"status": "unconfirmed"}]
    assert len(fake.posts_of(ANNOUNCED)) == 1  # unknown is not a reason to post again

    settled = run_tick(after_lease + timedelta(minutes=1), env, tmp_path)
    assert "reconciled 1" in settled and posted_count(settled) == 1
    assert len(fake.posts_of(ANNOUNCED)) == (1 if slack_kept_it else 2)
    held = [(ts, m) for (_, ts), m in fake.messages.items() if (m.get("metadata") or {}).get("event_type") == ANNOUNCED]
    [(ts, _)] = held
    assert query(settings, "SELECT message_ts FROM deals") == [{"message_ts": ts}]
    calls = fake.calls_to("chat.postMessage")
    [nudge] = nudge_posts(fake)
    assert calls.index(nudge) > max(calls.index(c) for c in fake.posts_of(ANNOUNCED))
    assert posted_count(run_tick(after_lease + timedelta(minutes=2), env, tmp_path)) == 0
    assert len(fake.posts_of(ANNOUNCED)) == (1 if slack_kept_it else 2)
    assert_database_ok(settings)
