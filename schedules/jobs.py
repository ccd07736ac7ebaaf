"""Jobs the scheduler (or `dealcoach tick`) runs. Each takes `now`; the domain decides what is due."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from slack_sdk import WebClient

from bot.coach import Coach
from bot.crm import worker as crm_worker
from bot.crm.worker import CrmReport
from bot.deals import retention
from bot.digest.delivery import DigestReport, DigestSender
from bot.nudges.dispatch import Dispatcher, Pacer, TickReport
from bot.nudges.reminders import RepReminders
from bot.slack import workspaces
from bot.slack.posting import Patience
from bot.slack.workspaces import ClientFor, Workspaces
from bot.storage import is_outage, storage_problem
from bot.welcome.service import KitReport, share_due_kits

Clients = WebClient | Workspaces | ClientFor  # one workspace's client, or a client per workspace

logger = logging.getLogger(__name__)
PARALLEL_CHANNELS = 64  # channels posted to at once by one dispatch run (a thread each, mostly asleep on the pace)


def dispatch_nudges(
    coach: Coach, client: Clients, now: datetime | None = None, pacer: Pacer | None = None
) -> TickReport:
    """Turn the CRM events waiting in the inbox into deals, then post every nudge due at `now` (default: the coach's
    clock) and reconcile any left unconfirmed: a deal that arrived from the CRM is announced in the same run."""
    client = workspaces.clients(client)
    drain_crm(coach, client, now)
    with _logged("Nudge dispatch failed; the next tick will pick up where this one stopped"):
        now = now or coach.now()
        # with no pacer given, the paces every process shares (in the database), and channels in parallel
        report = Dispatcher(coach, client, pacer, workers=1 if pacer else PARALLEL_CHANNELS).tick(now)
        # each rep with overdue steps hears first, privately, at the start of their business day
        report.reminders = RepReminders(coach, client, Patience(sleep=pacer.sleep) if pacer else None).run(now)
    coach.refresh_homes_of_posts(client, report.posted + report.undeliverable + report.reconciled)  # never raises
    return report


def drain_crm(coach: Coach, client: Clients, now: datetime | None = None) -> CrmReport:
    """The CRM inbox, drained (see bot/crm/worker.py); then what the new, linked, paused or resumed deals touched
    is redrawn. A failure here is logged and leaves the events in the inbox; the nudges still go out."""
    if not coach.crm:
        return CrmReport()
    client_for = workspaces.clients(client)
    try:
        report = crm_worker.drain(coach, coach.crm, client_for, now=now or coach.now())
    except Exception as exc:
        if is_outage(exc):
            raise
        logger.exception("Draining the CRM inbox failed; its events wait for the next run")
        return CrmReport()
    for redraw in report.redraws:
        team_client = client_for(redraw.team_id)
        if team_client is not None:
            coach.redraw(team_client, redraw)
    if report.created or report.linked or report.paused or report.resumed or report.delayed or report.failed:
        logger.info("%s", report.summary())
    return report


def send_digests(coach: Coach, client: Clients, now: datetime | None = None) -> DigestReport:
    """Send each manager's daily digest due at `now` (default: the coach's clock), once, and settle unknown ones.

    With several workspaces (OAuth installs) each gets its own run with its own token, and a manager gets the
    digest of the workspace they belong to."""
    now = now or coach.now()
    with _logged("Sending digests failed; the next run will pick up where this one stopped"):
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


def share_welcome_kits(coach: Coach, client: Clients, now: datetime | None = None) -> KitReport:
    """Share the welcome kits Slack didn't take earlier, and settle those whose share went unanswered."""
    with _logged("Sharing welcome kits failed; the next run will pick up where this one stopped"):
        return share_due_kits(coach, workspaces.clients(client), now or coach.now())


@contextmanager
def _logged(what: str) -> Iterator[None]:
    """A job that fails says so with its traceback; a database outage is left to whoever runs the job (the
    scheduler's Outage says it once, `dealcoach tick` exits with it)."""
    try:
        yield
    except Exception as exc:
        if not is_outage(exc):
            logger.exception(what)
        raise


def erase_finished_deals(coach: Coach, client: Clients, now: datetime | None = None) -> list[int]:
    """Retention (DEALCOACH_RETENTION_DAYS): the personal data of deals finished longer ago is erased."""
    days = coach.settings.retention_days
    if days is None:
        return []
    with _logged("Erasing finished deals' personal data failed; the next run tries again"):
        erased = retention.erase_finished(coach.store, now=now or coach.now(), days=days)
    if erased:
        logger.info("Retention: erased the personal data of %d deal(s) finished over %d days ago", len(erased), days)
    return erased


class Outage:
    """What the scheduled jobs say about a database they can't use: one line when an outage starts, one when it
    is over, nothing in between, however many runs a minute meet it (no traceback from us or from APScheduler)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: set[str] = set()  # the jobs whose last run met the outage

    def run(self, job: Callable[[Coach, Clients], object], coach: Coach, client: Clients) -> None:
        """One scheduled run of `job`. Its failures are logged (by the job, or here once per outage), never raised:
        APScheduler would log each again with a traceback, every minute."""
        try:
            job(coach, client)
        except Exception as exc:
            if is_outage(exc):
                self._started(job.__name__, exc)
            return
        self._over(job.__name__)

    def _started(self, name: str, exc: BaseException) -> None:
        with self._lock:
            first = not self._failing
            self._failing.add(name)
        if first:
            logger.warning(
                "Scheduled jobs can't use the database: %s (%s, in %s). Nothing is posted until it answers again; "
                "they try every minute and say nothing more until then.",
                storage_problem(exc),
                exc,
                name,
            )

    def _over(self, name: str) -> None:
        """Over once every job that met it has run again."""
        with self._lock:
            was = bool(self._failing)
            self._failing.discard(name)
            over = was and not self._failing
        if over:
            logger.info("Scheduled jobs use the database again (%s ran); nudges and digests resume.", name)
