"""Jobs the scheduler (or `dealcoach tick`) runs. Each takes `now`; the domain decides what is due."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient

from bot.coach import Coach
from bot.digest.delivery import DigestReport, DigestSender
from bot.nudges.dispatch import Dispatcher, Pacer, TickReport
from bot.slack import workspaces
from bot.slack.workspaces import ClientFor, Workspaces

Clients = WebClient | Workspaces | ClientFor  # one workspace's client, or a client per workspace

logger = logging.getLogger(__name__)


def dispatch_nudges(
    coach: Coach, client: Clients, now: datetime | None = None, pacer: Pacer | None = None
) -> TickReport:
    """Post every nudge due at `now` (default: the coach's clock) and reconcile any left unconfirmed."""
    client = workspaces.clients(client)
    try:
        report = Dispatcher(coach, client, pacer).tick(now or coach.now())
    except Exception:
        logger.exception("Nudge dispatch failed; the next tick will pick up where this one stopped")
        raise
    coach.refresh_homes_of_posts(client, report.posted + report.undeliverable + report.reconciled)  # never raises
    return report


def send_digests(coach: Coach, client: Clients, now: datetime | None = None) -> DigestReport:
    """Send each manager's daily digest due at `now` (default: the coach's clock), once, and settle unknown ones.

    With several workspaces (OAuth installs) each gets its own run with its own token, and a manager gets the
    digest of the workspace they belong to."""
    now = now or coach.now()
    try:
        if not (isinstance(client, Workspaces) and client.store is not None):
            single = client if isinstance(client, WebClient) else workspaces.clients(client)("")
            return DigestSender(coach, single).run(now)
        with coach.store.session() as db:
            teams = workspaces.teams_with_deals(db)
        report = DigestReport()
        for team_id in teams:
            team_client = client.posting_client(team_id)
            if team_client is not None:
                report.merge(DigestSender(coach, team_client, members_only=True).run(now))
        return report
    except Exception:
        logger.exception("Sending digests failed; the next run will pick up where this one stopped")
        raise
