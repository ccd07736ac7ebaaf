"""APScheduler wiring: one interval job wakes the dispatcher; the nudges themselves live in the database."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from bot.coach import Coach
from schedules.jobs import dispatch_nudges

DISPATCH_JOB = "dispatch-nudges"


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
    return scheduler
