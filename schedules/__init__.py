"""APScheduler wiring: interval jobs wake the dispatcher and the digest sender; the work lives in the database."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from bot.coach import Coach
from schedules.jobs import dispatch_nudges, send_digests

DISPATCH_JOB = "dispatch-nudges"
DIGEST_JOB = "send-digests"  # each manager's digest, checked every minute; the digests table makes it once a day


def build_scheduler(coach: Coach, client: WebClient) -> BackgroundScheduler:
    """An unstarted scheduler; `serve` starts it. One dispatcher at a time; a missed minute is just skipped."""
    scheduler = BackgroundScheduler(timezone=coach.settings.tz)
    scheduler.add_job(
        dispatch_nudges,
        "interval",
        minutes=1,
        id=DISPATCH_JOB,
        args=[coach, client],
        max_instances=1,
        coalesce=True,
        misfire_grace_time=300,
        replace_existing=True,
    )
    scheduler.add_job(
        send_digests,
        "interval",
        minutes=1,
        id=DIGEST_JOB,
        args=[coach, client],
        max_instances=1,
        coalesce=True,
        misfire_grace_time=300,
        replace_existing=True,
    )
    return scheduler
