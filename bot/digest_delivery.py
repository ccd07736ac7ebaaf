"""Managers' daily digests: reconcile, claim, post, confirm; once per manager per local day, whatever happens.

Protocol (the `digests` table is the source of truth; see README "Managers' digest"):
1. Reconcile. A digest `unconfirmed` for a minute (timeout or 5xx) or still `sending` after LEASE (its process died
   between posting and recording) is looked up in the manager's DM (conversations.open, then
   conversations.history) by the digest id in its metadata. Found: recorded as sent. Not found: `retry`.
2. Claim. From DEALCOACH_DIGEST_TIME on each business day in the manager's zone, one INSERT of
   (team, manager, local date): the UNIQUE constraint lets one process win, across restarts and processes.
   A `retry` row whose time has come is re-claimed by a conditional UPDATE, which one process wins too.
3. Post. Outside any transaction, chat.postMessage to the manager's user id with metadata {digest_id},
   through a client without automatic retries: a retried POST after a timeout could post twice.
4. Confirm. Record the DM channel and ts, then upload the chart (its failure is logged, nothing more).
   Otherwise: 429 or ok:false means Slack surely did not post it, so the row waits in `retry` (Retry-After,
   or a backoff growing with how late the digest already is, up to an hour) for a later run the same day;
   a timeout or 5xx means we can't tell, so the row is `unconfirmed` and step 1 decides next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import digest
from bot import digest_ledger as ledger
from bot.chart import completion_png
from bot.coach import Coach
from bot.digest_blocks import chart_comment, chart_title, digest_message
from bot.dispatch import AMBIGUOUS_ERRORS
from bot.slack import describe, error_code, slack_ts

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)  # far longer than one post can take; a 'sending' digest older than this was orphaned
EVENT_TYPE = "dealcoach_digest"
HISTORY_MARGIN = timedelta(hours=1)  # look this far before the claim, for clock skew
MIN_RETRY, MAX_RETRY = timedelta(minutes=1), timedelta(hours=1)
CHART_MIN_WEEKS = 2
HISTORY_PAGES = 10


class HistoryTooLong(Exception):
    """The DM's history was not read to the claim: we still can't tell, so nothing is posted again."""


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


def retry_delay(late_by: timedelta) -> timedelta:
    """The later the digest already is, the longer the wait: 1, 2, 4 … minutes, at most an hour."""
    return min(max(late_by, MIN_RETRY), MAX_RETRY)


class DigestSender:
    def __init__(self, coach: Coach, client: WebClient, *, members_only: bool = False):
        """`members_only`: with several workspaces, skip managers Slack says aren't in this one."""
        self.coach = coach
        self.client = client
        self.members_only = members_only
        self.settings = coach.settings
        self._png: dict[tuple, bytes] = {}

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
            except Exception:  # one manager's problem must not cost the others their digest
                logger.exception("Digest for %s failed; a 'sending' claim is checked again after the lease", manager)
        if report.sent or report.retrying or report.unconfirmed or report.reconciled:
            logger.info("Digests at %s: %s", now.isoformat(timespec="minutes"), report.summary())
        return report

    def _identity(self, report: DigestReport) -> tuple[str, str | None] | None:
        """(team id, team URL) from one auth.test per run: the URL makes the deals' permalinks."""
        try:
            answer = self.client.auth_test()
        except (SlackApiError, *AMBIGUOUS_ERRORS) as exc:
            report.problem = f"no digests this run: auth.test failed ({describe(exc)})"
            logger.warning("No digests this run: auth.test failed (%s)", describe(exc))
            return None
        url = answer.get("url") or None
        return answer["team_id"], (url if url is None or url.endswith("/") else url + "/")

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
            name = self.client.users_info(user=manager)["user"].get("tz")
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
        data = self._gather(row, team_id, now, local.date())
        text, blocks = digest_message(data, team_url=team_url, tz=zone)
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"digest_id": row.id}}
        try:
            response = self.client.chat_postMessage(
                channel=manager, text=text, blocks=blocks, metadata=metadata, unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500:
                self._unconfirmed(row, manager, f"http {status}", report)
                return
            if status == 429:
                retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
                wait = max(timedelta(seconds=int(retry_after or 60)), MIN_RETRY)
            else:
                scheduled = datetime.combine(local.date(), self.settings.digest_at, tzinfo=zone)
                wait = retry_delay(now - scheduled)
            self._retry(row, manager, error_code(exc) or f"http {status}", now + wait, report)
            return
        except AMBIGUOUS_ERRORS as exc:
            self._unconfirmed(row, manager, type(exc).__name__, report)
            return
        with self.coach.store.write() as db:
            ledger.confirm(db, row.id, channel_id=response["channel"], ts=response["ts"])
        report.sent.append(manager)
        self._upload_chart(data.weeks, response["channel"], manager, report)

    def _gather(self, row: ledger.DigestRow, team_id: str, now: datetime, today: date) -> digest.Digest:
        with self.coach.store.session() as db:
            since = ledger.last_sent(db, team_id=team_id, manager_id=row.manager_id, other_than=row.id)
            return digest.gather(
                db,
                team_id=team_id,
                now=now,
                today=today,
                since=since,
                large_deal=self.settings.large_deal,
                quiet_days=self.settings.quiet_days,
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

    def _upload_chart(self, weeks: list[digest.WeekRate], channel: str, manager: str, report: DigestReport) -> None:
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
            try:
                channel, ts = self._find_in_dm(row)
            except (SlackApiError, HistoryTooLong, *AMBIGUOUS_ERRORS) as exc:
                with self.coach.store.write() as db:
                    ledger.mark_unconfirmed(db, row.id, error=f"history: {describe(exc)}")
                logger.warning("Digest %s: can't check the DM yet (%s); will try again", row.id, describe(exc))
                continue
            with self.coach.store.write() as db:
                if ts is not None:
                    ledger.confirm(db, row.id, channel_id=channel, ts=ts)
                else:
                    ledger.mark_retry(db, row.id, error="not in the DM's history", retry_at=now)
            report.reconciled.append(row.id)

    def _find_in_dm(self, row: ledger.DigestRow) -> tuple[str, str | None]:
        """(DM channel, ts of the message carrying this digest id or None), looking back from its claim."""
        channel = self.client.conversations_open(users=row.manager_id)["channel"]["id"]
        oldest = slack_ts(row.claimed_at) - Decimal(int(HISTORY_MARGIN.total_seconds()))
        cursor = None
        for _ in range(HISTORY_PAGES):
            page = self.client.conversations_history(
                channel=channel, oldest=str(oldest), include_all_metadata=True, limit=200, cursor=cursor
            )
            for message in page.get("messages", []):
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if meta.get("event_type") == EVENT_TYPE and payload.get("digest_id") == row.id:
                    return channel, message["ts"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return channel, None
        raise HistoryTooLong(f"more than {HISTORY_PAGES} pages since the claim")


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
