"""The APScheduler wiring: one dispatch job a minute that never overlaps itself or piles up missed runs."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.triggers.interval import IntervalTrigger

from bot.slack.client import posting_client
from schedules import DISPATCH_JOB, build_scheduler
from schedules.jobs import dispatch_nudges


def test_one_dispatch_job_every_minute_that_cannot_overlap(coach):
    client = posting_client(coach.settings)
    scheduler = build_scheduler(coach, client)
    assert not scheduler.running
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(DISPATCH_JOB)  # beside it: the digest job (tests/schedules/test_digests.py)
        assert job.id == DISPATCH_JOB
        assert job.func is dispatch_nudges and job.args == (coach, client)
        assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == timedelta(minutes=1)
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time >= 60
    finally:
        scheduler.shutdown(wait=False)
