"""Jobs the scheduler (or `dealcoach tick`) runs. Each takes `now`; the domain decides what is due."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient

from bot.coach import Coach
from bot.digest_delivery import DigestReport, DigestSender
from bot.dispatch import Dispatcher, Pacer, TickReport

logger = logging.getLogger(__name__)


def dispatch_nudges(
    coach: Coach, client: WebClient, now: datetime | None = None, pacer: Pacer | None = None
) -> TickReport:
    """Post every nudge due at `now` (default: the coach's clock) and reconcile any left unconfirmed."""
    try:
        report = Dispatcher(coach, client, pacer).tick(now or coach.now())
    except Exception:
        logger.exception("Nudge dispatch failed; the next tick will pick up where this one stopped")
        raise
    coach.refresh_homes_of_posts(client, report.posted + report.undeliverable + report.reconciled)  # never raises
    return report


def send_digests(coach: Coach, client: WebClient, now: datetime | None = None) -> DigestReport:
    """Send each manager's daily digest due at `now` (default: the coach's clock), once, and settle unknown ones."""
    try:
        return DigestSender(coach, client).run(now or coach.now())
    except Exception:
        logger.exception("Sending digests failed; the next run will pick up where this one stopped")
        raise
