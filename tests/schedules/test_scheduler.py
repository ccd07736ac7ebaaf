"""The APScheduler wiring: one dispatch job a minute that never overlaps itself or piles up missed runs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.interval import IntervalTrigger

from bot.coach import Coach
from bot.playbook.loader import load
from bot.slack.client import posting_client
from bot.storage.store import Store
from schedules import DIGEST_JOB, DISPATCH_JOB, build_scheduler
from schedules.jobs import Outage, dispatch_nudges
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP, TEAM
from tests.processes import WriteLockHolder

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_one_dispatch_job_every_minute_that_cannot_overlap(coach):
    client = posting_client(coach.settings)
    scheduler = build_scheduler(coach, client)
    assert not scheduler.running
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(DISPATCH_JOB)  # beside it: the digest job (tests/schedules/test_digests.py)
        assert job.id == DISPATCH_JOB
        assert isinstance(job.func.__self__, Outage) and job.args == (dispatch_nudges, coach, client)
        assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == timedelta(minutes=1)
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time >= 60
    finally:
        scheduler.shutdown(wait=False)


def scheduled_runs(coach):
    """The scheduler's own jobs, run as APScheduler runs them (func(*args)), a few minutes' worth."""
    scheduler = build_scheduler(coach, posting_client(coach.settings))
    jobs = [scheduler.get_job(job_id) for job_id in (DISPATCH_JOB, DIGEST_JOB)]
    assert jobs[0].func.__self__ is jobs[1].func.__self__  # one Outage for both jobs

    def run_minutes(n: int) -> None:
        for _ in range(n):
            for job in jobs:
                assert job.func(*job.args) is None  # nothing raised for APScheduler to log again

    return run_minutes


def due_deal(coach, clock, account: str = "Acme Rockets") -> None:
    clock.now = MONDAY_10
    deal = store_deal(coach, f"{account} $120k", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key=account)
    coach.announce(deal.id)  # as /closed-deal does; its first steps are due now


def job_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("schedules", "apscheduler"))]


def test_a_removed_database_file_is_said_once_per_outage_not_a_traceback_a_minute(coach, clock, settings, fake, caplog):
    due_deal(coach, clock)
    fake.reset()
    run_minutes = scheduled_runs(coach)
    caplog.set_level(logging.INFO)
    moved = settings.db_path.with_name("moved-away.db")
    settings.db_path.rename(moved)  # removed under the running server
    run_minutes(3)
    assert fake.calls_to("chat.postMessage") == []
    [line] = job_lines(caplog)
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert "the database file was removed or replaced" in line.getMessage() and "say nothing more" in line.getMessage()
    assert all(r.exc_info is None for r in caplog.records)  # the store's own ERROR says it once, without one either

    caplog.clear()
    moved.rename(settings.db_path)  # put back: the same file again
    run_minutes(2)
    [line] = job_lines(caplog)
    assert line.levelno == logging.INFO and "use the database again" in line.getMessage()
    assert fake.calls_to("chat.postMessage") != []  # the due steps are posted now


def test_a_database_busy_behind_another_process_is_said_once_per_outage(
    settings, store, clock, pace, pacer, fake, caplog
):
    jobs_coach = Coach(
        settings, Store(settings.db_path, busy_timeout_ms=20), load(), clock, sleep=pace.sleep, pacer=pacer
    )
    due_deal(jobs_coach, clock)
    fake.reset()
    run_minutes = scheduled_runs(jobs_coach)
    caplog.set_level(logging.INFO)
    with WriteLockHolder(settings.db_path, at_most=60) as other_process:
        run_minutes(3)
        assert other_process.release() == "released when told"
    [line] = job_lines(caplog)
    assert line.levelno == logging.WARNING and line.exc_info is None and "the database is busy" in line.getMessage()
    assert fake.calls_to("chat.postMessage") == []

    caplog.clear()
    run_minutes(1)
    [line] = job_lines(caplog)
    assert "use the database again" in line.getMessage()
    assert fake.calls_to("chat.postMessage") != []

    due_deal(jobs_coach, clock, "Initech")
    caplog.clear()
    with WriteLockHolder(settings.db_path, at_most=60):  # a second outage is said again
        run_minutes(2)
    assert ["the database is busy" in r.getMessage() for r in job_lines(caplog)] == [True]
