"""Jobs the scheduler (or `dealcoach tick`) runs. Each takes `now`; the domain decides what is due."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient

from bot.coach import Coach
from bot.dispatch import Dispatcher, Pacer, TickReport

logger = logging.getLogger(__name__)


def dispatch_nudges(
    coach: Coach, client: WebClient, now: datetime | None = None, pacer: Pacer | None = None
) -> TickReport:
    """Post every nudge due at `now` (default: the coach's clock) and reconcile any left unconfirmed."""
    try:
        return Dispatcher(coach, client, pacer).tick(now or coach.now())
    except Exception:
        logger.exception("Nudge dispatch failed; the next tick will pick up where this one stopped")
        raise
