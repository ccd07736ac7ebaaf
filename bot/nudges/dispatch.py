"""The dispatcher: settles announcements and posts due nudges, exactly once, whatever Slack or the process does.

Each tick follows the shared protocol of bot/slack/posting.py (the database is the source of truth; see README
"Exactly once"):
1. Settle. A post still `sending` after LEASE (its process died between posting and recording) or `unconfirmed`
   (a timeout or 5xx: Slack may or may not have it) is looked for in its channel's history, within its own time
   window, by the post id in the message metadata. Found: recorded as posted. Missing (the whole window read):
   a nudge post's steps go back to planned and are posted below; an announcement is posted afresh at once.
   Anything less (the history rate limited, or longer than one run reads): still unknown, never posted again on
   a guess. Announcements waiting for a retry whose time has come are posted.
2. Claim. Within business hours, for each deal with steps due whose announcement is settled, one IMMEDIATE
   transaction turns its planned steps into `sending` under a new post id. Only one dispatcher can win each step.
3. Post. Outside any transaction, post_once with metadata {post_id}, keeping the paces every process shares (about
   one message a second per channel, DEALCOACH_POSTS_PER_MINUTE per workspace), with a client that never retries by
   itself; a 429 asking for a few seconds is waited out.
4. Confirm. Record the ts, or: release the steps for a later retry when Slack surely did not post (a longer 429,
   ok:false), mark the post unconfirmed when we can't tell, or deliver to the owner by DM when the channel can't
   be reached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from slack_sdk import WebClient

from bot.deals import announcements, wins
from bot.deals.model import Deal, Nudge, clear_delivery_problem, get_deal, record_delivery_problem
from bot.health import drafts, gate
from bot.nudges import ledger
from bot.nudges.blocks import late_steps, nudge_message, undeliverable_dm
from bot.nudges.known import known_for, uses_peers
from bot.nudges.known import refresh as refresh_people
from bot.nudges.ledger import ANNOUNCEMENT, WIN
from bot.runtime import Runtime
from bot.slack import workspaces
from bot.slack.blocks import MESSAGE_BLOCKS, section
from bot.slack.pacing import Pace
from bot.slack.posting import (
    LEASE,
    OFFLINE,
    RATELIMITED,
    SHORT_WAIT,
    UNREACHABLE,
    Found,
    Missing,
    NotPosted,
    Patience,
    Posted,
    Unknown,
    backoff,
    find_posted,
    metadata,
    post_once,
    retry_delay,
)
from bot.slack.workspaces import ClientFor
from bot.storage import DatabaseBusy, DatabaseGone

logger = logging.getLogger(__name__)
EVENT_TYPE = "dealcoach_nudge"
__all__ = ["LEASE", "EVENT_TYPE", "Dispatcher", "FailureLog", "FAILURES", "Pacer", "TickReport"]


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
            "Slack %s (%s): the messages affected wait and are retried; more failures of this kind are counted, "
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

    def wait(self, channel: str, team: str = "") -> None:
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
    announced: list[int] = field(default_factory=list)  # deals' channel messages posted by this tick
    shared: list[int] = field(default_factory=list)  # wins shared with the team (testimonial, referral, live)
    missed: list[int] = field(default_factory=list)  # nudge ids whose window had passed: told, recorded as missed
    reminders: object = None  # the reps' reminders sent after this tick (bot.nudges.reminders.ReminderReport)
    open: bool = False

    def summary(self) -> str:
        return (
            f"posted {len(self.posted)} ({len(self.late)} late), retrying {len(self.retrying)}, "
            f"unconfirmed {len(self.unconfirmed)}, sent to owners {len(self.undeliverable)}, "
            f"reconciled {len(self.reconciled)}, announced {len(self.announced)}, wins shared {len(self.shared)}, "
            f"missed {len(self.missed)}"
        )


class Dispatcher:
    def __init__(self, coach: Runtime, client: WebClient | ClientFor, pacer: Pace | None = None, workers: int = 1):
        """`client`: one WebClient for every workspace, or a function giving each workspace's client. `pacer`: the
        paces shared by every process through the database (the runtime's, the default), or one for this process
        only (tests). `workers`: how many channels are posted to at once (each channel's deals in order)."""
        self.coach = coach
        self.clients = workspaces.clients(client)
        self.pacer = pacer or coach.pacer
        self.workers = workers
        self.hours = coach.hours

    def tick(self, now: datetime) -> TickReport:
        """One pass: settle posts of unknown fate and waiting announcements, then (in business hours) post every
        due step, oldest deals first. One post's failure never stops the others."""
        report = TickReport(open=self.hours.is_open(now))
        patience = Patience(sleep=self.pacer.sleep)  # short 429s are waited out on the pacer's clock
        self.settle(now, report, patience)
        if not report.open:
            return report
        today = self.hours.today(now)
        with self.coach.store.session() as db:
            deal_ids = ledger.due_deal_ids(db, today=today, now=now)
        blocked: dict[str, datetime] = {}  # channel -> when Slack lets us post there again

        def run(ids: list[int]) -> None:
            for deal_id in ids:
                try:
                    self._dispatch_deal(deal_id, today, now, report, blocked, patience)
                except (DatabaseBusy, DatabaseGone):  # the database, not this deal: the run stops, the job says why
                    raise
                except Exception:  # a claim left 'sending' is settled after the lease; the other deals go on
                    logger.exception("Dispatching deal #%s failed; its steps are settled after the lease", deal_id)

        if self.workers <= 1:
            run(deal_ids)
        else:  # channels in parallel, each channel's deals in order (its pace is one post a second anyway)
            by_channel: dict[str, list[int]] = {}
            with self.coach.store.session() as db:
                for deal_id in deal_ids:
                    deal = get_deal(db, deal_id)
                    if deal is not None:
                        by_channel.setdefault(self.where(deal)[0], []).append(deal_id)
            workers = min(self.workers, len(by_channel)) or 1  # every channel at once, so none is left for the end
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dispatch") as pool:
                for future in [pool.submit(run, ids) for ids in by_channel.values()]:
                    future.result()
        if report.posted or report.retrying or report.undeliverable or report.announced or report.shared:
            logger.info("Dispatch at %s: %s", now.isoformat(timespec="minutes"), report.summary())
        return report

    def _dispatch_deal(
        self, deal_id: int, today: date, now: datetime, report: TickReport, blocked: dict, patience: Patience
    ) -> None:
        with self.coach.store.write() as db:
            # asks wait their turn; False: another instance's dispatcher has this deal just now
            ours = gate.before_claim(db, deal_id, today=today, now=now, playbook=self.coach.playbook)
            claimed = (
                ledger.claim(
                    db,
                    deal_id,
                    today=today,
                    now=now,
                    is_late=self._is_late(now),
                    where=self.where,
                    steps=self.coach.steps_by_id(),
                )
                if ours
                else None
            )
        if claimed is None:
            return
        post, deal, steps = claimed
        report.missed.extend(n.id for n in steps if n.status == ledger.MISSED)
        if post.channel_id in blocked:
            self._release(post, now, "rate limited earlier in this tick", blocked[post.channel_id], report)
            return
        client = self.clients(deal.team_id)
        if client is None:  # installed through OAuth once, no token now: wait for a reinstall
            self._release(post, now, "no installation for this workspace", now + timedelta(hours=1), report)
            return
        self._send(client, post, deal, steps, now, report, blocked, patience)

    def where(self, deal: Deal) -> tuple[str, str | None]:
        """Where a deal's nudges go (DEALCOACH_NUDGES_IN): a reply in the thread of its message (top level in the
        channel while it has none), a message of its own in the channel, or its owner's DM."""
        mode = self.coach.settings.nudges_in
        if mode == "dm":
            return deal.owner_id, None
        if mode == "thread":
            return deal.channel_id, deal.posted_ts
        return deal.channel_id, None

    def _is_late(self, now: datetime):
        def is_late(due, created_at: str) -> bool:
            return self.hours.is_late(due, now, since=datetime.fromisoformat(created_at))

        return is_late

    # -- posting ----------------------------------------------------------------------------------------

    def _render(self, post: ledger.Post, deal: Deal, steps: list[Nudge]) -> tuple[str, list[dict]]:
        with self.coach.store.session() as db:
            by_id = drafts.steps_for(db, deal, self.coach.playbook)
        known = known_for(self.coach, deal, peers_needed=uses_peers(by_id.get(n.step_id) for n in steps))
        is_late = late_steps(self.hours, deal, post.claimed_at)
        return nudge_message(
            deal, steps, by_id, post_id=post.id, is_late=is_late, tz=self.coach.settings.tz, known=known
        )

    @staticmethod
    def _metadata(post, deal: Deal) -> dict:
        return metadata(EVENT_TYPE, post_id=post.id, deal_id=deal.id)

    def _send(
        self,
        client: WebClient,
        post,
        deal: Deal,
        steps: list[Nudge],
        now: datetime,
        report: TickReport,
        blocked: dict,
        patience: Patience,
    ) -> None:
        refresh_people(self.coach, client, deal, steps)  # the names its drafts sign and introduce with
        text, blocks = self._render(post, deal, steps)
        in_dm = post.channel_id.startswith(("U", "W"))
        outcome = post_once(
            client,
            post.channel_id,
            text=text,
            blocks=blocks,
            metadata=self._metadata(post, deal),
            patience=patience,
            pace=self.pacer,
            team_id=deal.team_id,
            join=not in_dm,
            **({"thread_ts": post.thread_ts} if post.thread_ts else {}),
        )
        if isinstance(outcome, Unknown):
            self._unconfirmed(post, outcome.error, report)
            return
        if isinstance(outcome, NotPosted):
            if outcome.kind == UNREACHABLE:
                self._deliver_to_owner(client, post, deal, steps, outcome.error, now, report, patience)
                return
            retry_at = now + retry_delay(outcome, steps[0].attempts)
            if outcome.kind == RATELIMITED and (outcome.wait or timedelta(0)) > timedelta(seconds=SHORT_WAIT):
                blocked[post.channel_id] = retry_at  # longer than a run waits: the channel's other deals too
            if outcome.kind == OFFLINE:
                FAILURES.failed("unreachable", outcome.error, now)
                self._release(post, now, "unreachable", retry_at, report, logged=True)
            else:
                self._release(post, now, outcome.error, retry_at, report)
            return
        FAILURES.succeeded(now)
        with self.coach.store.write() as db:
            ledger.confirm(db, post.id, channel_id=outcome.channel, ts=outcome.ts, now=now)
            clear_delivery_problem(db, deal.id)
        report.posted.append(post.id)
        if post.late:
            report.late.append(post.id)

    def _release(
        self, post, now: datetime, error: str, retry_at: datetime, report: TickReport, *, logged: bool = False
    ) -> None:
        with self.coach.store.write() as db:
            ledger.release(db, post.id, now=now, error=error, retry_at=retry_at)
        report.retrying.append(post.id)
        if not logged:
            FAILURES.failed("refused a post" if error != "ratelimited" else "rate limiting", error, now)
        logger.debug("Post %s not sent (%s); retrying at %s", post.id, error, retry_at.isoformat(timespec="minutes"))

    def _unconfirmed(self, post, error: str, report: TickReport, *, channel_id: str | None = None) -> None:
        with self.coach.store.write() as db:
            ledger.mark_unconfirmed(db, post.id, error=error, channel_id=channel_id)
        report.unconfirmed.append(post.id)
        FAILURES.failed("timeouts and server errors", error, self.coach.now())
        logger.debug("Post %s: outcome unknown (%s); will check the channel before trying again", post.id, error)

    def _deliver_to_owner(
        self,
        client: WebClient,
        post,
        deal: Deal,
        steps: list[Nudge],
        code: str,
        now: datetime,
        report: TickReport,
        patience: Patience,
    ) -> None:
        """The channel is out of reach: the owner still gets the nudge, by DM, and managers hear about it once."""
        owner_note, manager_note = undeliverable_dm(deal, steps, code, channel_id=deal.channel_id)
        text, blocks = self._render(post, deal, steps)
        outcome = post_once(
            client,
            deal.owner_id,
            text=text,
            blocks=[section(owner_note), *blocks][:MESSAGE_BLOCKS],
            metadata=self._metadata(post, deal),
            patience=patience,
            pace=self.pacer,
            team_id=deal.team_id,
        )
        if isinstance(outcome, Unknown):  # the DM may be there: the owner's DM history decides
            self._unconfirmed(post, f"{code}; owner DM: {outcome.error}", report, channel_id=deal.owner_id)
            return
        if isinstance(outcome, NotPosted) and outcome.kind in (RATELIMITED, OFFLINE):
            retry_at = now + max(backoff(steps[0].attempts), outcome.wait or timedelta(0))
            self._release(post, now, f"{code}; owner DM failed ({outcome.error})", retry_at, report)
            return
        if isinstance(outcome, NotPosted):  # the owner can't be messaged either
            with self.coach.store.write() as db:
                ledger.mark_undeliverable(db, post.id, now=now, error=code)
            logger.error(
                "Deal #%s: channel %s unreachable (%s) and the owner's DM failed too (%s)",
                deal.id,
                deal.channel_id,
                code,
                outcome.error,
            )
            report.undeliverable.append(post.id)
            _, undelivered_note = undeliverable_dm(deal, steps, code, channel_id=deal.channel_id, owner_reached=False)
            self._tell_managers(client, deal, undelivered_note)  # every time: nobody else will see these steps
            return
        with self.coach.store.write() as db:
            ledger.confirm(db, post.id, channel_id=outcome.channel, ts=outcome.ts, now=now, sent_to=deal.owner_id)
            first_time = record_delivery_problem(db, deal.id, code)
        report.undeliverable.append(post.id)
        logger.warning(
            "Deal #%s: channel %s unreachable (%s); nudge sent to the owner by DM", deal.id, deal.channel_id, code
        )
        if first_time:
            self._tell_managers(client, deal, manager_note)

    def _tell_managers(self, client: WebClient, deal: Deal, note: str) -> None:
        """A note, sent at most once (no retries): managers learn of the problem, nobody gets it twice."""
        for manager in self.coach.settings.managers:
            try:
                client.chat_postMessage(channel=manager, text=note)
            except Exception:
                logger.warning("Could not tell manager %s about deal #%s's unreachable channel", manager, deal.id)

    # -- settling: posts of unknown fate, and announcements waiting for another try ---------------------------

    def settle(self, now: datetime, report: TickReport, patience: Patience) -> None:
        with self.coach.store.session() as db:
            candidates = ledger.posts_to_settle(db, now=now, lease=LEASE)
        for post in candidates:
            try:
                with self.coach.store.session() as db:
                    deal = get_deal(db, post.deal_id)
                client = self.clients(deal.team_id) if deal else None
                if client is None:
                    continue  # its workspace has no installation now: settle it after a reinstall
                if post.status == "retry" and post.kind == WIN:
                    with self.coach.store.write() as db:
                        claimed = wins.claim_again(db, post, now=now)
                    if claimed is not None:
                        self._share_win(client, claimed, deal, now, report, patience)
                elif post.status == "retry":
                    with self.coach.store.write() as db:
                        claimed = announcements.claim_again(db, post, now=now)
                    if claimed is not None:
                        self._announce(client, claimed, deal, now, report, patience)
                else:
                    self._reconcile(client, post, deal, now, report, patience)
            except (DatabaseBusy, DatabaseGone):  # the database, not this post: the run stops, the job says why
                raise
            except Exception:  # one post's problem must not cost the others their turn
                logger.exception("Settling post %s failed; it is tried again on a later tick", post.id)

    def _reconcile(
        self, client: WebClient, post, deal: Deal, now: datetime, report: TickReport, patience: Patience
    ) -> None:
        with self.coach.store.write() as db:
            if not ledger.take_for_reconcile(db, post, now=now):
                return
        announcement = post.kind == ANNOUNCEMENT
        event_type = {ANNOUNCEMENT: announcements.EVENT_TYPE, WIN: wins.EVENT_TYPE}.get(post.kind, EVENT_TYPE)
        search = find_posted(client, post.channel_id, post, event_type=event_type, key="post_id", patience=patience)
        if isinstance(search, Found):
            with self.coach.store.write() as db:
                if announcement:
                    announcements.confirm(db, post, channel_id=search.channel, ts=search.ts, now=now)
                elif post.kind == WIN:
                    ledger.confirm(db, post.id, channel_id=search.channel, ts=search.ts, now=now)
                else:
                    ledger.confirm(db, post.id, channel_id=search.channel, ts=search.ts, now=now)
            report.reconciled.append(post.id)
            return
        if not isinstance(search, Missing):  # read only part of the window: still unknown, never a guess
            with self.coach.store.write() as db:
                ledger.mark_unconfirmed(db, post.id, error=search.error, searched_to=search.searched_to)
            FAILURES.failed("history lookups failing", search.error, now)
            return
        report.reconciled.append(post.id)
        if post.kind == WIN:  # not there: shared afresh, now
            with self.coach.store.write() as db:
                db.execute("UPDATE posts SET status = 'retry' WHERE id = ? AND status = 'sending'", [post.id])
                again = ledger.get_post(db, post.id)
                claimed = wins.claim_again(db, again, now=now) if again else None
            if claimed is not None:
                self._share_win(client, claimed, deal, now, report, patience)
            return
        if not announcement:
            with self.coach.store.write() as db:  # the steps are posted afresh below, in business hours
                ledger.release(db, post.id, now=now, error="not posted", retry_at=now)
            return
        with self.coach.store.write() as db:
            claimed = announcements.post_afresh(db, post, now=now)
        if claimed is not None:
            self._announce(client, claimed, deal, now, report, patience)

    def _share_win(
        self, client: WebClient, post, deal: Deal, now: datetime, report: TickReport, patience: Patience
    ) -> None:
        outcome = wins.deliver(self.coach.store, client, post, deal, now=now, patience=patience, pace=self.pacer)
        if isinstance(outcome, Posted):
            FAILURES.succeeded(now)
            report.shared.append(post.id)
        elif isinstance(outcome, Unknown):
            report.unconfirmed.append(post.id)
        elif outcome.kind != UNREACHABLE:
            report.retrying.append(post.id)

    def _announce(
        self, client: WebClient, post, deal: Deal, now: datetime, report: TickReport, patience: Patience
    ) -> None:
        outcome = announcements.deliver(
            self.coach.store, client, post, deal, now=now, patience=patience, pace=self.pacer
        )
        if isinstance(outcome, Posted):
            FAILURES.succeeded(now)
            report.announced.append(post.id)
        elif isinstance(outcome, Unknown):
            report.unconfirmed.append(post.id)
            FAILURES.failed("timeouts and server errors", outcome.error, now)
        elif outcome.kind == UNREACHABLE:
            logger.warning(
                "Deal #%s: its channel %s can't be reached (%s); the deal's nudges go to its owner by DM",
                deal.id,
                deal.channel_id,
                outcome.error,
            )
        else:
            report.retrying.append(post.id)
            FAILURES.failed("rate limiting" if outcome.kind == RATELIMITED else "refused a post", outcome.error, now)
