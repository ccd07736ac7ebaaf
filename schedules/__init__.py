"""APScheduler wiring: interval jobs wake the dispatcher and the digest sender; the work lives in the database."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from bot.coach import Coach
from schedules.jobs import Outage, dispatch_nudges, send_digests, share_welcome_kits

DISPATCH_JOB = "dispatch-nudges"
DIGEST_JOB = "send-digests"  # each manager's digest, checked every minute; the digests table makes it once a day
KIT_JOB = "share-welcome-kits"  # welcome kits Slack didn't take at the click, from the welcome_kits table


def build_scheduler(coach: Coach, client: WebClient) -> BackgroundScheduler:
    """An unstarted scheduler; `serve` starts it. One run of each job at a time; a missed minute is just skipped.
    Both jobs share one Outage: a database they can't use is said once, not by each job every minute."""
    scheduler = BackgroundScheduler(timezone=coach.settings.tz)
    outage = Outage()
    for job, job_id in ((dispatch_nudges, DISPATCH_JOB), (send_digests, DIGEST_JOB), (share_welcome_kits, KIT_JOB)):
        scheduler.add_job(
            outage.run,
            "interval",
            minutes=1,
            id=job_id,
            name=job.__name__,
            args=[job, coach, client],
            max_instances=1,
            coalesce=True,
            misfire_grace_time=300,
            replace_existing=True,
        )
    return scheduler
