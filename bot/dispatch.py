"""The nudge dispatcher: claim, post, confirm; exactly once per nudge, whatever Slack or the process does.

Protocol (the database is the source of truth; see README "Exactly once"):
1. Reconcile. A post still `sending` after LEASE (its process died between posting and recording) or
   `unconfirmed` (a timeout or 5xx: Slack may or may not have posted it) is looked up in the channel's
   history by the post id carried in the message metadata. Found: recorded as posted. Not found:
   its steps go back to planned and are posted below.
2. Claim. Within business hours, for each deal with steps due, one IMMEDIATE transaction turns its
   planned steps into `sending` under a new post id. Only one dispatcher can win each step.
3. Post. Outside any transaction, chat.postMessage with metadata {post_id}, paced to one message per
   second per channel. No automatic retries: a retried POST could post twice.
4. Confirm. Record the ts, or: release the steps for a later retry when Slack surely did not post
   (429, ok:false), mark the post unconfirmed when we can't tell, or deliver to the owner by DM when
   the channel can't be reached.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import deals, workspaces
from bot import nudges as lifecycle
from bot.coach import Coach
from bot.deals import Deal, Nudge
from bot.nudge_blocks import nudge_message, undeliverable_dm
from bot.slack import describe, error_code, post_in_channel, slack_ts
from bot.workspaces import ClientFor

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)  # far longer than one post can take; a 'sending' post older than this was orphaned
EVENT_TYPE = "dealcoach_nudge"
UNREACHABLE_RETRY = timedelta(minutes=5)  # the longest wait after Slack couldn't be reached at all
UNDELIVERABLE = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "method_not_supported_for_channel_type",
        "missing_scope",
        "restricted_action",
        "restricted_action_read_only_channel",
        "team_access_not_granted",
    }
)
AMBIGUOUS_ERRORS = (TimeoutError, socket.timeout, urllib.error.URLError, ConnectionError, http.client.HTTPException)


class FailureLog:
    """One log line when a kind of Slack failure starts and one when it ends, not one per attempt: a long
    outage shouldn't bury the log. Shared by every tick of the process."""

    def __init__(self):
        self._active: dict[str, list] = {}  # kind -> [since, count, example]
        self._lock = threading.Lock()

    def failed(self, kind: str, detail: str, now: datetime) -> None:
        with self._lock:
            if kind in self._active:
                self._active[kind][1] += 1
                return
            self._active[kind] = [now, 1, detail]
        logger.warning(
            "Slack %s (%s): the nudges affected wait and are retried; more failures of this kind are counted, "
            "not logged, until it passes",
            kind,
            detail,
        )

    def succeeded(self, now: datetime) -> None:
        with self._lock:
            ended, self._active = self._active, {}
        for kind, (since, count, _) in ended.items():
            minutes = int((now - since).total_seconds() // 60)
            logger.info("Slack %s over after %d failed attempts in %d minutes", kind, count, minutes)


FAILURES = FailureLog()


def _never_sent(exc: Exception) -> bool:
    """Refused before anything went out (no connection, no DNS): surely not posted, so no history check."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


class Pacer:
    """Keeps to Slack's one message per second per channel; the clock and sleep are injectable for tests."""

    def __init__(
        self,
        interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.interval = interval
        self.sleep = sleep
        self.monotonic = monotonic
        self._last: dict[str, float] = {}

    def wait(self, channel: str) -> None:
        last = self._last.get(channel)
        if last is not None:
            gap = self.interval - (self.monotonic() - last)
            if gap > 0:
                self.sleep(gap)
        self._last[channel] = self.monotonic()


@dataclass
class TickReport:
    posted: list[int] = field(default_factory=list)  # post ids
    late: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    undeliverable: list[int] = field(default_factory=list)
    reconciled: list[int] = field(default_factory=list)
    open: bool = False

    def summary(self) -> str:
        return (
            f"posted {len(self.posted)} ({len(self.late)} late), retrying {len(self.retrying)}, "
            f"unconfirmed {len(self.unconfirmed)}, sent to owners {len(self.undeliverable)}, "
            f"reconciled {len(self.reconciled)}"
        )


def _permanent(exc: Exception) -> bool:
    """Slack refused for good (a user that can't be messaged), not for now (429, 5xx, a timeout)."""
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return False
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return exc.response.status_code < 500 and exc.response.status_code != 429 and data.get("ok") is False


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most an hour: a failing step is retried for as long as it takes, never dropped."""
    return timedelta(minutes=min(2**attempts, 60))


class Dispatcher:
    def __init__(self, coach: Coach, client: WebClient | ClientFor, pacer: Pacer | None = None):
        """`client`: one WebClient for every workspace, or a function giving each workspace's client."""
        self.coach = coach
        self.clients = workspaces.clients(client)
        self.pacer = pacer or Pacer()
        self.hours = coach.hours

    def tick(self, now: datetime) -> TickReport:
        """One pass: reconcile orphans, then (in business hours) post every due step, oldest deals first."""
        report = TickReport(open=self.hours.is_open(now))
        self.reconcile(now, report)
        if not report.open:
            return report
        today = self.hours.today(now)
        with self.coach.store.session() as db:
            deal_ids = lifecycle.due_deal_ids(db, today=today, now=now)
        blocked: dict[str, datetime] = {}  # channel -> when Slack lets us post there again
        for deal_id in deal_ids:
            with self.coach.store.write() as db:
                claimed = lifecycle.claim(db, deal_id, today=today, now=now, is_late=self._is_late(now))
            if claimed is None:
                continue
            post, deal, steps = claimed
            if deal.channel_id in blocked:
                self._release(post, now, "rate limited earlier in this tick", blocked[deal.channel_id], report)
                continue
            client = self.clients(deal.team_id)
            if client is None:  # installed through OAuth once, no token now: wait for a reinstall
                self._release(post, now, "no installation for this workspace", now + timedelta(hours=1), report)
                continue
            self._send(client, post, deal, steps, now, report, blocked)
        if report.posted or report.retrying or report.undeliverable:
            logger.info("Dispatch at %s: %s", now.isoformat(timespec="minutes"), report.summary())
        return report

    def _is_late(self, now: datetime):
        def is_late(due, created_at: str) -> bool:
            return self.hours.is_late(due, now, since=datetime.fromisoformat(created_at))

        return is_late

    # -- posting ----------------------------------------------------------------------------------------

    def _render(self, post: lifecycle.Post, deal: Deal, steps: list[Nudge]) -> tuple[str, list[dict]]:
        by_id = {s.id: s for s in self.coach.playbook.steps}
        return nudge_message(deal, steps, by_id, post_id=post.id, late=post.late, tz=self.coach.settings.tz)

    def _send(
        self, client: WebClient, post, deal: Deal, steps: list[Nudge], now: datetime, report: TickReport, blocked: dict
    ) -> None:
        text, blocks = self._render(post, deal, steps)
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"post_id": post.id, "deal_id": deal.id}}
        self.pacer.wait(deal.channel_id)
        try:
            ts = post_in_channel(client, deal.channel_id, text, blocks, metadata=metadata)
        except SlackApiError as exc:
            code = error_code(exc)
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429:
                retry_after = int(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 60)))
                blocked[deal.channel_id] = now + max(timedelta(seconds=retry_after), timedelta(minutes=1))
                self._release(post, now, "ratelimited", blocked[deal.channel_id], report)
            elif status >= 500:
                self._unconfirmed(post, f"http {status}", report)
            elif code in UNDELIVERABLE:
                self._deliver_to_owner(client, post, deal, steps, code, now, report)
            else:
                self._release(post, now, code or f"http {status}", now + backoff(steps[0].attempts), report)
            return
        except AMBIGUOUS_ERRORS as exc:
            if _never_sent(exc):
                FAILURES.failed("unreachable", describe(exc), now)
                retry_at = now + min(backoff(steps[0].attempts), UNREACHABLE_RETRY)  # back soon: find out soon
                self._release(post, now, "unreachable", retry_at, report, logged=True)
            else:
                self._unconfirmed(post, type(exc).__name__, report)
            return
        FAILURES.succeeded(now)
        with self.coach.store.write() as db:
            lifecycle.confirm(db, post.id, channel_id=deal.channel_id, ts=ts, now=now)
            deals.clear_delivery_problem(db, deal.id)
        report.posted.append(post.id)
        if post.late:
            report.late.append(post.id)

    def _release(
        self, post, now: datetime, error: str, retry_at: datetime, report: TickReport, *, logged: bool = False
    ) -> None:
        with self.coach.store.write() as db:
            lifecycle.release(db, post.id, now=now, error=error, retry_at=retry_at)
        report.retrying.append(post.id)
        if not logged:
            FAILURES.failed("refused a post" if error != "ratelimited" else "rate limiting", error, now)
        logger.debug("Post %s not sent (%s); retrying at %s", post.id, error, retry_at.isoformat(timespec="minutes"))

    def _unconfirmed(self, post, error: str, report: TickReport) -> None:
        with self.coach.store.write() as db:
            lifecycle.mark_unconfirmed(db, post.id, error=error)
        report.unconfirmed.append(post.id)
        FAILURES.failed("timeouts and server errors", error, self.coach.now())
        logger.debug("Post %s: outcome unknown (%s); will check the channel before trying again", post.id, error)

    def _deliver_to_owner(
        self, client: WebClient, post, deal: Deal, steps: list[Nudge], code: str, now: datetime, report
    ) -> None:
        """The channel is out of reach: the owner still gets the nudge, by DM, and managers hear about it once."""
        owner_note, manager_note = undeliverable_dm(deal, steps, code, channel_id=deal.channel_id)
        text, blocks = self._render(post, deal, steps)
        intro = {"type": "section", "text": {"type": "mrkdwn", "text": owner_note}}
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"post_id": post.id, "deal_id": deal.id}}
        try:
            response = client.chat_postMessage(
                channel=deal.owner_id, text=text, blocks=[intro, *blocks][:50], metadata=metadata, unfurl_links=False
            )
        except (SlackApiError, *AMBIGUOUS_ERRORS) as exc:
            if not _permanent(exc):  # a 429, 5xx or timeout on the DM: try the whole delivery again later
                why = error_code(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
                self._release(post, now, f"{code}; owner DM failed ({why})", now + backoff(steps[0].attempts), report)
                return
            with self.coach.store.write() as db:
                lifecycle.mark_undeliverable(db, post.id, now=now, error=code)
            logger.error(
                "Deal #%s: channel %s unreachable (%s) and the owner's DM failed too (%s)",
                deal.id,
                deal.channel_id,
                code,
                exc,
            )
            report.undeliverable.append(post.id)
            _, undelivered_note = undeliverable_dm(deal, steps, code, channel_id=deal.channel_id, owner_reached=False)
            self._tell_managers(client, deal, undelivered_note)  # every time: nobody else will see these steps
            return
        with self.coach.store.write() as db:
            lifecycle.confirm(db, post.id, channel_id=response["channel"], ts=response["ts"], now=now)
            first_time = deals.record_delivery_problem(db, deal.id, code)
        report.undeliverable.append(post.id)
        logger.warning(
            "Deal #%s: channel %s unreachable (%s); nudge sent to the owner by DM", deal.id, deal.channel_id, code
        )
        if first_time:
            self._tell_managers(client, deal, manager_note)

    def _tell_managers(self, client: WebClient, deal: Deal, note: str) -> None:
        for manager in self.coach.settings.managers:
            try:
                client.chat_postMessage(channel=manager, text=note)
            except (SlackApiError, *AMBIGUOUS_ERRORS):
                logger.warning("Could not tell manager %s about deal #%s's unreachable channel", manager, deal.id)

    # -- reconciling --------------------------------------------------------------------------------------

    def reconcile(self, now: datetime, report: TickReport) -> None:
        with self.coach.store.session() as db:
            candidates = lifecycle.posts_to_reconcile(db, now=now, lease=LEASE)
        for post in candidates:
            with self.coach.store.session() as db:
                deal = deals.get_deal(db, post.deal_id)
            client = self.clients(deal.team_id) if deal else None
            if client is None:
                continue  # its workspace has no installation now: settle it after a reinstall
            with self.coach.store.write() as db:
                if not lifecycle.take_for_reconcile(db, post, now=now):
                    continue
            try:
                ts = self._find_in_history(client, post)
            except (SlackApiError, *AMBIGUOUS_ERRORS) as exc:
                with self.coach.store.write() as db:
                    if isinstance(exc, SlackApiError) and error_code(exc) in UNDELIVERABLE:
                        # the channel is gone or closed to us: the message can't be there; deliver afresh
                        lifecycle.release(db, post.id, now=now, error=f"history: {error_code(exc)}", retry_at=now)
                    else:
                        lifecycle.mark_unconfirmed(db, post.id, error=f"history: {exc}")
                FAILURES.failed("history lookups failing", describe(exc), now)
                continue
            with self.coach.store.write() as db:
                if ts is not None:
                    lifecycle.confirm(db, post.id, channel_id=post.channel_id, ts=ts, now=now)
                else:
                    lifecycle.release(db, post.id, now=now, error="not posted", retry_at=now)
            report.reconciled.append(post.id)

    def _find_in_history(self, client: WebClient, post: lifecycle.Post) -> str | None:
        """The ts of the message carrying this post id, looking back from just before it was claimed."""
        oldest = slack_ts(post.claimed_at) - Decimal(LEASE.total_seconds() * 6)
        cursor = None
        for _ in range(10):
            page = client.conversations_history(
                channel=post.channel_id,
                oldest=str(oldest),
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
            for message in page.get("messages", []):
                meta = message.get("metadata") or {}
                if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("post_id") == post.id:
                    return message["ts"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return None
        return None
