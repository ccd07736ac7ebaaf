"""Several instances on one database, as the README's deployment runs them: three `serve` processes take the
captures (one is killed mid-post, Slack loses or fails some posts), while three `tick` and two `digest` processes
run at once. Nothing is lost or repeated: each deal's message, each due nudge and each manager's digest is held
by Slack exactly once. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from bot.deals.announcements import EVENT_TYPE as ANNOUNCED
from bot.digest.delivery import EVENT_TYPE as DIGEST
from bot.nudges.dispatch import EVENT_TYPE, LEASE
from tests import signing
from tests.conftest import MANAGER, SECRET
from tests.processes import finish, free_port, keep_reading, start_job, start_serve
from tests.schedules.test_exactly_once import (
    assert_posted_exactly_once,
    business_instant,
    due_nudge_ids,
    query,
    tick_env,
)

pytestmark = pytest.mark.both_engines
INSTANCES, DEALS = 3, 18
KILLED, LOST = "Killed Mid Post", "Lost Reply"  # accounts whose announcement meets a crash, a dropped connection


def night_zone(now: datetime) -> str:
    """A zone where it is about 2 in the morning now: hours before anything is due in business hours."""
    shift = (2 - now.hour) % 24
    shift = shift - 24 if shift > 14 else shift
    return f"Etc/GMT{-shift:+d}" if shift else "UTC"


def capture(port: int, account: str, trigger: str, fake) -> int:
    body = signing.command_body(
        text=f"{account} $5k", channel_id=f"C0{trigger.upper()}", response_url=fake.response_url(), trigger_id=trigger
    )
    status, _, _ = signing.post(f"http://127.0.0.1:{port}/slack/events", body, SECRET, content_type=signing.FORM)
    return status


def metadata_ids(fake, event_type: str, key: str) -> Counter:
    """How many messages Slack holds for each id of one kind of message (from the metadata each carries)."""
    held = Counter()
    for message in list(fake.messages.values()):
        meta = message.get("metadata") or {}
        if meta.get("event_type") == event_type:
            held[meta["event_payload"][key]] += 1
    return held


def run_together(commands: list[tuple[str, datetime]], env: dict[str, str], cwd) -> list[str]:
    procs = [start_job(command, now.isoformat(), env, cwd) for command, now in commands]
    results = [finish(p, timeout=120) for p in procs]
    assert [code for code, _, _ in results] == [0] * len(procs), [err for _, _, err in results]
    return [out for _, out, _ in results]


def test_three_instances_with_concurrent_ticks_and_digests_post_everything_exactly_once(fake, settings, tmp_path):
    env = tick_env(fake, settings)
    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    ports = [free_port() for _ in range(INSTANCES)]
    # The instances' own schedulers run on the real clock, which the fake's timestamps can't follow once the test
    # moves them to the ticks' `now`: in their zone it is night (nothing to post) and they send no digests, so
    # only the tick and digest processes post those, while the instances still settle what they find.
    serving = {**env, "DEALCOACH_TIMEZONE": night_zone(datetime.now(UTC)), "DEALCOACH_MANAGERS": ""}
    with ThreadPoolExecutor(max_workers=INSTANCES) as pool:  # started together, as a deployment's would
        started = list(pool.map(lambda port: start_serve({**serving, "PORT": str(port)}, tmp_path), ports))
    instances: list[subprocess.Popen] = []
    for proc, log in started:
        keep_reading(proc, log)
        instances.append(proc)
    try:
        killed = instances[1]

        def crash_or_lose(call):
            text = call.params.get("text") or ""
            if KILLED in text:  # the instance posting it dies before it hears Slack's answer
                killed.send_signal(signal.SIGKILL)
                killed.wait(timeout=30)
            elif LOST in text:  # Slack stored it, the connection dropped: the instance can't tell
                return "drop"
            return None

        fake.on("chat.postMessage", crash_or_lose)
        fake.fail("chat.postMessage", status=503, times=2)  # two announcements Slack never stored: unknown too
        accounts = [f"Account {i:02d}" for i in range(DEALS)] + [LOST]
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(
                pool.map(
                    lambda i: capture(ports[i % INSTANCES], accounts[i], f"t{i:02d}", fake),
                    range(len(accounts)),
                )
            )
            # the same command delivered twice, to two instances at once (a retry through the load balancer)
            replays = list(pool.map(lambda port: capture(port, "Replayed", "replayed", fake), [ports[0], ports[2]]))
        assert statuses == [200] * len(accounts) and replays == [200, 200]
        assert capture(ports[1], KILLED, "killed", fake) == 200  # acked, then its instance dies mid-post
        killed.wait(timeout=30)
        total = len(accounts) + 2
        while len(fake.posts_of(ANNOUNCED)) < total:  # every lazy announcement has reached Slack (waiting on calls)
            fake.wait_for("chat.postMessage", count=len(fake.calls_to("chat.postMessage")) + 1, timeout=60)
        fake.off("chat.postMessage")
        assert [r["n"] for r in query(settings, "SELECT COUNT(*) AS n FROM deals")] == [total]

        # every due nudge, the orphaned and unknown announcements, and the manager's digest, from five processes
        captured = max(datetime.fromisoformat(r["claimed_at"]) for r in query(settings, "SELECT claimed_at FROM posts"))
        first = business_instant((captured + LEASE + timedelta(minutes=1)).astimezone(UTC))
        fake.epoch = first.timestamp()
        dropped = []

        def drop_the_first_nudge(call):  # Slack stores it, the connection drops: like a timeout, the tick can't tell
            if call.params.get("metadata", {}).get("event_type") == EVENT_TYPE and not dropped:
                dropped.append(call)
                return "drop"
            return None

        fake.on("chat.postMessage", drop_the_first_nudge)
        run_together([("tick", first)] * 3 + [("digest", first)] * 2, env, tmp_path)
        fake.off("chat.postMessage")
        assert dropped
        later = first + LEASE + timedelta(minutes=2)
        fake.epoch = later.timestamp()
        run_together([("tick", later)] * 3 + [("digest", later)] * 2, env, tmp_path)
    finally:
        for proc in instances:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in instances:
            proc.wait(timeout=30)
            proc.stderr.close()

    announced = metadata_ids(fake, ANNOUNCED, "post_id")
    assert set(announced.values()) == {1}
    deals = query(
        settings,
        "SELECT d.id, d.message_ts, p.id AS post_id FROM deals d JOIN posts p ON p.deal_id = d.id "
        "AND p.kind = 'announcement' AND p.status = 'posted'",
    )
    assert len(deals) == total and all(d["message_ts"] for d in deals)
    assert sorted(announced) == sorted(d["post_id"] for d in deals)  # every deal's message, once each
    assert_posted_exactly_once(fake, settings, due_nudge_ids(settings, first))
    digests = metadata_ids(fake, DIGEST, "digest_id")
    sent = query(settings, "SELECT id, team_id, manager_id, local_date FROM digests WHERE status = 'sent'")
    assert sent and set(digests.values()) == {1} and sorted(digests) == sorted(r["id"] for r in sent)
    assert len({(r["team_id"], r["manager_id"], r["local_date"]) for r in sent}) == len(sent)
    assert fake.violations == []
