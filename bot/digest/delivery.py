"""Managers' daily digests: reconcile, claim, post, confirm; once per manager per local day, whatever happens.

Protocol (bot/slack/posting.py's, with the `digests` table as the source of truth; see README "Managers' digest"):
1. Reconcile. A digest `unconfirmed` for a minute (timeout or 5xx) or still `sending` after LEASE (its process died
   between posting and recording) is looked up in the manager's DM (conversations.open, then
   conversations.history within the claim's time window, page by page) by the digest id in its metadata.
   Found: recorded as sent. Missing: `retry`. Only part of the window read: still unconfirmed.
2. Claim. From DEALCOACH_DIGEST_TIME on each business day in the manager's zone, one INSERT of
   (team, manager, local date): the UNIQUE constraint lets one process win, across restarts and processes.
   A `retry` row whose time has come is re-claimed by a conditional UPDATE, which one process wins too.
3. Post. Outside any transaction, post_once to the manager's user id with metadata {digest_id}, through a client
   without automatic retries: a retried POST after a timeout could post twice. A 429 asking for a few seconds
   is waited out and tried again in the same run.
4. Confirm. Record the DM channel and ts, then upload the chart (its failure is logged, nothing more).
   Otherwise: a longer 429 or ok:false means Slack surely did not post it, so the row waits in `retry`
   (Retry-After, or a backoff growing with how late the digest already is, up to an hour) for a later run the
   same day; a timeout or 5xx means we can't tell, so the row is `unconfirmed` and step 1 decides next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.digest import build, ledger
from bot.digest.blocks import TOP_SIGNALS, chart_comment, chart_title, digest_message
from bot.digest.chart import completion_png
from bot.manage.service import followed_now  # the reps each manager chose; None: everyone
from bot.nudges.links import Links
from bot.runtime import Runtime
from bot.signals import watch
from bot.slack.client import describe, error_code
from bot.slack.links import normal_url
from bot.slack.posting import (
    AMBIGUOUS_ERRORS,
    LEASE,
    RATELIMITED,
    Found,
    Missing,
    NotPosted,
    Patience,
    Unknown,
    find_posted,
    metadata,
    post_once,
    read_patiently,
    retry_delay,
)
from bot.storage import DatabaseBusy, DatabaseGone

logger = logging.getLogger(__name__)
EVENT_TYPE = "dealcoach_digest"
MIN_RETRY, MAX_RETRY = timedelta(minutes=1), timedelta(hours=1)  # after Slack refused a digest (not a 429)
CHART_MIN_WEEKS = 2
__all__ = ["LEASE", "EVENT_TYPE", "DigestReport", "DigestSender"]


@dataclass
class DigestReport:
    sent: list[str] = field(default_factory=list)  # manager ids
    charts: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    reconciled: list[int] = field(default_factory=list)  # digest ids
    problem: str | None = None  # why nothing could be sent this run

    def merge(self, other: DigestReport) -> None:
        for name in ("sent", "charts", "retrying", "unconfirmed", "reconciled"):
            getattr(self, name).extend(getattr(other, name))
        self.problem = "; ".join(p for p in (self.problem, other.problem) if p) or None

    def summary(self) -> str:
        line = (
            f"sent {len(self.sent)} digests ({len(self.charts)} with a chart), retrying {len(self.retrying)}, "
            f"unconfirmed {len(self.unconfirmed)}, reconciled {len(self.reconciled)}"
        )
        return f"{line}; {self.problem}" if self.problem else line


def backoff_when_late(late_by: timedelta) -> timedelta:
    """The later the digest already is, the longer the wait: 1, 2, 4 … minutes, at most an hour."""
    return min(max(late_by, MIN_RETRY), MAX_RETRY)


class DigestSender:
    def __init__(self, coach: Runtime, client: WebClient, *, members_only: bool = False):
        """`members_only`: with several workspaces, skip managers Slack says aren't in this one."""
        self.coach = coach
        self.client = client
        self.members_only = members_only
        self.settings = coach.settings
        self._png: dict[tuple, bytes] = {}
        self.patience = Patience(coach.sleep)  # short 429s are waited out within one run, on the coach's clock

    def run(self, now: datetime) -> DigestReport:
        """One pass: settle digests of unknown fate, then post each manager's digest that is due and unclaimed."""
        report = DigestReport()
        if not self.settings.managers:
            return report
        self.reconcile(now, report)
        identity = self._identity(report)
        if identity is None:
            return report
        team_id, team_url = identity
        for manager in self.settings.managers:
            try:
                self._deliver(manager, team_id, team_url, now, report)
            except (DatabaseBusy, DatabaseGone):  # the database, not this manager: the run stops, the job says why
                raise
            except Exception:  # one manager's problem must not cost the others their digest
                logger.exception("Digest for %s failed; a 'sending' claim is checked again after the lease", manager)
        if report.sent or report.retrying or report.unconfirmed or report.reconciled:
            logger.info("Digests at %s: %s", now.isoformat(timespec="minutes"), report.summary())
        return report

    def _identity(self, report: DigestReport) -> tuple[str, str | None] | None:
        """(team id, team URL) from one auth.test per run: the URL makes the deals' permalinks."""
        try:
            answer = read_patiently(self.client.auth_test, self.patience)
        except (SlackApiError, *AMBIGUOUS_ERRORS) as exc:
            report.problem = f"no digests this run: auth.test failed ({describe(exc)})"
            logger.warning("No digests this run: auth.test failed (%s)", describe(exc))
            return None
        url = normal_url(answer.get("url"))
        self.coach.team_urls.remember(answer["team_id"], url)  # Home's links need it too
        return answer["team_id"], url

    # -- when: each manager's own morning ----------------------------------------------------------------

    def zone_of(self, team_id: str, manager: str, now: datetime) -> ZoneInfo | None:
        """The manager's zone from users.info, kept a day; DEALCOACH_TIMEZONE if Slack can't tell (logged once).
        None when, with several workspaces, Slack says the manager isn't in this one."""
        with self.coach.store.session() as db:
            fresh, name, member = ledger.cached_zone(db, team_id=team_id, user_id=manager, now=now)
        if not fresh:
            name, member = self._look_up_zone(manager, known=name)
            with self.coach.store.write() as db:
                ledger.remember_zone(db, team_id=team_id, user_id=manager, tz=name, now=now, member=member)
        if not member and self.members_only:
            return None
        return _zone(name) or self.settings.tz

    def _look_up_zone(self, manager: str, *, known: str | None) -> tuple[str | None, bool]:
        """(zone name, member of this workspace)."""
        fallback = known or self.settings.timezone
        try:
            name = read_patiently(lambda: self.client.users_info(user=manager), self.patience)["user"].get("tz")
        except (SlackApiError, *AMBIGUOUS_ERRORS) as exc:
            not_here = isinstance(exc, SlackApiError) and error_code(exc) in ("user_not_found", "users_not_found")
            if not_here and self.members_only:
                return known, False  # a manager of another workspace: normal with several installs
            logger.warning(
                "Could not read %s's time zone from Slack (%s); using %s for their digest today",
                manager,
                describe(exc),
                fallback,
            )
            return known, True
        if not _zone(name):
            logger.warning("Slack gave %s no usable time zone (%r); using %s", manager, name, fallback)
            return known, True
        return name, True

    def is_due(self, local: datetime) -> bool:
        return local.weekday() < 5 and local.time() >= self.settings.digest_at

    # -- claim, post, confirm -----------------------------------------------------------------------------

    def _deliver(self, manager: str, team_id: str, team_url: str | None, now: datetime, report: DigestReport) -> None:
        zone = self.zone_of(team_id, manager, now)
        if zone is None:
            return  # a manager of another workspace
        local = now.astimezone(zone)
        if not self.is_due(local):
            return
        with self.coach.store.session() as db:
            if not ledger.claimable(db, team_id=team_id, manager_id=manager, local_date=local.date(), now=now):
                return  # sent, in flight, or waiting: the common case every minute after the digest time
        with self.coach.store.write() as db:
            ledger.expire(db, team_id=team_id, manager_id=manager, before=local.date())
            row = ledger.claim(db, team_id=team_id, manager_id=manager, local_date=local.date(), now=now)
        if row is None:
            return
        reps = followed_now(self.coach, self.client, team_id=team_id, manager_id=manager)
        data = self._gather(row, team_id, now, local.date(), reps)
        text, blocks = digest_message(
            data,
            links=self._links(data, team_url, manager),
            tz=zone,
            large_deal=self.settings.large_deal,
            quiet_days=self.settings.quiet_days,
        )
        outcome = post_once(
            self.client,
            manager,
            text=text,
            blocks=blocks,
            metadata=metadata(EVENT_TYPE, digest_id=row.id),
            patience=self.patience,
            pace=self.coach.pacer,
            team_id=team_id,
            unfurl_media=False,
        )
        if isinstance(outcome, Unknown):
            self._unconfirmed(row, manager, outcome.error, report)
            return
        if isinstance(outcome, NotPosted):
            if outcome.kind == RATELIMITED:
                wait = retry_delay(outcome, attempts=0)
            else:
                scheduled = datetime.combine(local.date(), self.settings.digest_at, tzinfo=zone)
                wait = backoff_when_late(now - scheduled)
            self._retry(row, manager, outcome.error, now + wait, report)
            return
        with self.coach.store.write() as db:
            ledger.confirm(db, row.id, channel_id=outcome.channel, ts=outcome.ts)
        report.sent.append(manager)
        self._upload_chart(data.weeks, outcome.channel, manager, report)

    def _gather(
        self, row: ledger.DigestRow, team_id: str, now: datetime, today: date, reps: frozenset[str] | None
    ) -> build.Digest:
        with self.coach.store.session() as db:
            since = ledger.last_sent(db, team_id=team_id, manager_id=row.manager_id, other_than=row.id)
            return build.gather(
                db,
                team_id=team_id,
                now=now,
                today=today,
                since=since,
                large_deal=self.settings.large_deal,
                quiet_days=self.settings.quiet_days,
                signature_days=self.settings.signature_days,
                tz=self.settings.tz,
                reps=reps,
                go_live_days=self.coach.playbook.go_live_after_days,
                windows=watch.windows(self.coach.playbook.steps),
            )

    def _links(self, data: build.Digest, team_url: str | None, manager: str) -> Links:
        """Each slipping deal's oldest step links to its own message (DEALCOACH_NUDGES_IN), the deals to theirs."""
        with self.coach.store.session() as db:
            return Links.load(
                db,
                (s.steps[0] for s in data.slipping[:TOP_SIGNALS]),
                team_url=team_url,
                nudges_in=self.settings.nudges_in,
                viewer=manager,
            )

    def _retry(self, row, manager: str, error: str, retry_at: datetime, report: DigestReport) -> None:
        with self.coach.store.write() as db:
            ledger.mark_retry(db, row.id, error=error, retry_at=retry_at)
        report.retrying.append(manager)
        logger.warning("Digest for %s not sent (%s); trying again at %s", manager, error, retry_at.isoformat())

    def _unconfirmed(self, row, manager: str, error: str, report: DigestReport) -> None:
        with self.coach.store.write() as db:
            ledger.mark_unconfirmed(db, row.id, error=error)
        report.unconfirmed.append(manager)
        logger.warning("Digest for %s: outcome unknown (%s); will check the DM before trying again", manager, error)

    def _upload_chart(self, weeks: list[build.WeekRate], channel: str, manager: str, report: DigestReport) -> None:
        """After the digest is recorded as sent: a failure here is logged and never repeats the digest."""
        if len(weeks) < CHART_MIN_WEEKS:
            return
        key = tuple(weeks)
        try:
            if key not in self._png:
                self._png[key] = completion_png(weeks, chart_title(weeks))
            self.client.files_upload_v2(
                channel=channel,
                content=self._png[key],
                filename="completion.png",
                title=chart_title(weeks),
                initial_comment=chart_comment(weeks),
            )
        except Exception:  # the digest is sent and stays sent; the chart is a bonus
            logger.exception("Digest for %s was sent, but its chart could not be uploaded", manager)
            return
        report.charts.append(manager)

    # -- reconciling --------------------------------------------------------------------------------------

    def reconcile(self, now: datetime, report: DigestReport) -> None:
        with self.coach.store.session() as db:
            candidates = ledger.to_reconcile(db, now=now, lease=LEASE)
        for row in candidates:
            with self.coach.store.write() as db:
                if not ledger.take_for_reconcile(db, row, now=now):
                    continue
            search = find_posted(
                self.client, row.manager_id, row, event_type=EVENT_TYPE, key="digest_id", patience=self.patience
            )
            with self.coach.store.write() as db:
                if isinstance(search, Found):
                    ledger.confirm(db, row.id, channel_id=search.channel, ts=search.ts)
                elif isinstance(search, Missing):
                    ledger.mark_retry(db, row.id, error="not in the DM's history", retry_at=now)
                else:  # only part of the DM read: still unknown, so nothing is posted again
                    ledger.mark_unconfirmed(db, row.id, error=search.error, searched_to=search.searched_to)
            if not isinstance(search, Found | Missing):
                logger.warning("Digest %s: can't check the DM yet (%s); will try again", row.id, search.error)
                continue
            report.reconciled.append(row.id)


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
