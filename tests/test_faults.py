"""Faults: Slack gone for an hour, a locked or full database, and a kill -9 in the middle of a burst."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from slack_sdk import WebClient

from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import FAILURES, Pacer
from bot.slack.client import posting_client
from bot.storage import BUSY_TIMEOUT_MS, Store
from schedules.jobs import dispatch_nudges
from tests import signing
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP, SECRET, TOKEN
from tests.processes import WriteLockHolder, cli_env, free_port, start_serve
from tests.slackapp import body_json, form

ROOT = Path(__file__).resolve().parent.parent
MONDAY_10_BERLIN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOWHERE = "http://127.0.0.1:9/api/"  # the discard port: connections are refused at once


def rows(settings, table):
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db[table].rows)


@pytest.fixture(autouse=True)
def fresh_failure_log():
    """The failure log lives for the process; each test starts with Slack in good health."""
    FAILURES.succeeded(MONDAY_10_BERLIN)
    yield


def test_slack_unreachable_for_an_hour_then_back_loses_and_repeats_nothing(coach, fake, clock, caplog):
    clock.now = MONDAY_10_BERLIN
    for n in range(5):  # captured and announced while Slack was fine
        deal = store_deal(
            coach, f"Account {n} $5k", team_id="T0FAKE", channel_id=f"C0{n}", user_id=REP, capture_key=f"k{n}"
        )
        coach.announce(deal.id)
    dead = WebClient(token=TOKEN, base_url=NOWHERE, retry_handlers=[])
    live = posting_client(coach.settings)
    slack_up = threading.Event()
    caplog.set_level(logging.INFO, logger="bot.nudges.dispatch")

    def clients(team_id):
        return live if slack_up.is_set() else dead

    for minute in range(60):  # every tick of an hour-long outage completes: no crash loop
        report = dispatch_nudges(coach, clients, MONDAY_10_BERLIN + timedelta(minutes=minute), Pacer(sleep=lambda s: 0))
        assert report.posted == []
    assert fake.posts_of(NUDGE) == []
    waiting = rows(coach.settings, "nudges")
    assert {n["status"] for n in waiting if n["step_id"] == "congratulate"} == {"planned"}  # kept, not dropped
    outage_lines = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage_lines) == 1, outage_lines  # one line for the failure class, not one per attempt

    slack_up.set()
    back = MONDAY_10_BERLIN + timedelta(minutes=66)  # within the 5-minute cap of the last wait
    report = dispatch_nudges(coach, clients, back, Pacer(sleep=lambda s: 0))
    assert len(report.posted) == 5
    assert sorted(c.params["channel"] for c in fake.posts_of(NUDGE)) == [f"C0{n}" for n in range(5)]
    assert dispatch_nudges(coach, clients, back + timedelta(minutes=1), Pacer(sleep=lambda s: 0)).posted == []
    assert len(fake.posts_of(NUDGE)) == 5  # each once
    assert [r.getMessage() for r in caplog.records if "over after" in r.getMessage()] != []


def test_a_database_locked_by_another_writer_gets_a_try_again_and_the_bot_keeps_serving(slack, fake, settings, coach):
    coach.settings = dataclasses.replace(settings, request_db_wait_ms=20)
    slack.command("")
    view = fake.last("views.open").params["view"]
    blocker = sqlite3.connect(settings.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = slack.submit(view, form("Acme", "$5k"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    errors = body_json(response)["errors"]
    assert "database is busy" in errors["account"] and "Save again" in errors["account"]
    assert rows(settings, "deals") == [] and rows(settings, "nudges") == []
    slack.submit(view, form("Acme", "$5k"))  # the lock is gone: the same form saves
    assert [d["account"] for d in rows(settings, "deals")] == ["Acme"]


def test_a_capture_behind_another_process_write_lock_answers_busy_within_the_request_wait(tmp_path, fake):
    """A real `serve` with DEALCOACH_REQUEST_DB_WAIT_MS=50 while another process holds SQLite's write lock. The
    other process lets go a second before the jobs' 5-second wait would run out: a capture waiting that long
    would be saved. Ours has answered "busy" while the lock was still held, and nothing was stored."""
    port, db_path = free_port(), tmp_path / "deals.db"
    env = cli_env(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.base_url,
        PORT=str(port),
        DEALCOACH_DB=str(db_path),
        DEALCOACH_REQUEST_DB_WAIT_MS="50",
    )
    url = f"http://127.0.0.1:{port}/slack/events"
    proc, _ = start_serve(env, tmp_path)
    try:
        with WriteLockHolder(db_path, at_most=BUSY_TIMEOUT_MS / 1000 - 1) as other_process:
            answers = []
            for _ in range(2):  # the second finds the lock still held: it tries once, without waiting again
                body = signing.command_body(text="Acme Rockets $120k", response_url=fake.response_url())
                answers.append(signing.post(url, body, SECRET, content_type=signing.FORM))
            released = other_process.release()
        assert released == "released when told"  # both answers came while the lock was held
        for status, _, answer in answers:
            assert status == 200
            reply = json.loads(answer)
            assert (
                "the database is busy" in reply["text"]
                and "Nothing was saved. Send it again in a moment" in reply["text"]
            )
            assert reply.get("response_type", "ephemeral") == "ephemeral"  # only the rep sees it
        with sqlite_utils.Database(db_path) as db:
            assert db.execute("SELECT COUNT(*) FROM deals").fetchone()[0] == 0
            assert db.execute("SELECT COUNT(*) FROM nudges").fetchone()[0] == 0

        body = signing.command_body(text="Acme Rockets $120k", response_url=fake.response_url())
        status, _, answer = signing.post(url, body, SECRET, content_type=signing.FORM)  # the lock is gone
        assert (status, answer) == (200, "")
        [post] = fake.wait_for("chat.postMessage")
        assert "Acme Rockets" in post.params["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        log = proc.stderr.read()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert "Could not finish /closed-deal: database is locked: no write lock within 50 ms" in log
    assert "Could not finish /closed-deal: database is locked: no write lock still held, tried once" in log
    assert "Traceback" not in log


def test_a_capture_queued_behind_a_long_write_of_this_process_answers_busy_within_the_request_wait(
    slack, fake, settings, coach
):
    """Threads of one process queue on a mutex before SQLite's lock: the request's wait bounds that queue too.
    The job's write holds on until the capture has its answer; a capture that waited for it would be saved."""
    coach.settings = dataclasses.replace(settings, request_db_wait_ms=20)
    writing, answered = threading.Event(), threading.Event()

    def long_job_write() -> bool:
        with coach.store.write():  # a job's unit of work, mid-transaction, with the jobs' longer wait
            writing.set()
            return answered.wait(timeout=10)

    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(long_job_write)
        assert writing.wait(timeout=10)
        try:
            response = slack.command("Acme $5k")
        finally:
            answered.set()
        assert job.result(timeout=30) is True  # the capture answered while the job still held the write
    text = body_json(response)["text"]
    assert "the database is busy" in text and "Nothing was saved" in text
    assert rows(settings, "deals") == [] and fake.calls_to("chat.postMessage") == []
    slack.command("Acme $5k")  # the job is done: the same capture saves
    assert [d["account"] for d in rows(settings, "deals")] == ["Acme"]


def test_a_full_disk_stores_nothing_says_so_and_the_next_capture_works(slack, fake, settings, coach, caplog):
    class FullDisk(Store):
        """Real SQLite, capped at its current size: the next page it needs fails with SQLITE_FULL."""

        def connect(self):
            db = super().connect()
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")
            return db

    healthy = coach.store
    coach.store = FullDisk(settings.db_path)
    response = slack.command("Acme Rockets $120k")
    for n in range(40):  # fill the last free pages, so the capture that follows cannot fit
        if "disk is full" in body_json(response).get("text", ""):
            break
        response = slack.command(f"Filler {n} {'y' * 190} $5k")
    body = body_json(response)
    assert "disk is full" in body["text"] and "Nothing was saved" in body["text"]
    with sqlite_utils.Database(settings.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        half = db.execute(
            "SELECT COUNT(*) FROM deals d WHERE NOT EXISTS (SELECT 1 FROM nudges n WHERE n.deal_id = d.id)"
        )
        assert half.fetchone()[0] == 0  # every stored deal has its plan: no half-written deal
    assert any(r.getMessage() == "Could not finish /closed-deal" for r in caplog.records)

    coach.store = healthy  # space is back
    slack.command("Globex $9k")
    assert "Globex" in [d["account"] for d in rows(settings, "deals")]


def test_kill_9_during_a_burst_leaves_every_acknowledged_capture_and_an_intact_database(tmp_path, fake):
    port, db_path = free_port(), tmp_path / "deals.db"
    env = cli_env(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.base_url,
        PORT=str(port),
        DEALCOACH_DB=str(db_path),
    )
    proc, _ = start_serve(env, tmp_path)
    acked: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def capture(n: int) -> None:
        account = f"Burst {n:03d}"
        body = signing.command_body(text=f"{account} $5k verbal", response_url=fake.response_url())
        try:
            status, _, _ = signing.post(
                f"http://127.0.0.1:{port}/slack/events", body, SECRET, content_type=signing.FORM
            )
        except OSError:
            return  # the server died before answering: not acknowledged
        if status == 200:
            with lock:
                acked.append(account)
                if len(acked) == 40:
                    proc.send_signal(signal.SIGKILL)  # mid-burst, while other captures and posts are in flight
                    killed.set()

    def click(n: int) -> None:
        payload = signing.block_action_payload("deal_mark_signed", str(n), user_id=REP, channel_id=CHANNEL)
        with contextlib.suppress(OSError):  # the server may already be gone
            signing.post(
                f"http://127.0.0.1:{port}/slack/events",
                signing.interaction_body(payload),
                SECRET,
                content_type=signing.FORM,
            )

    with ThreadPoolExecutor(8) as pool:
        for n in range(120):
            pool.submit(capture, n)
            if n % 3 == 0:
                pool.submit(click, n // 3 + 1)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert killed.is_set() and proc.returncode == -signal.SIGKILL

    with sqlite_utils.Database(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r["account"] for r in db["deals"].rows}
        assert set(acked) <= stored  # every capture Slack was told "ok" about survived
        orphans = db.execute(
            "SELECT COUNT(*) FROM deals d WHERE NOT EXISTS (SELECT 1 FROM nudges n WHERE n.deal_id = d.id)"
        )
        assert orphans.fetchone()[0] == 0
    restarted = Store(db_path)
    assert restarted.migrate() >= 6  # and it opens again as usual
