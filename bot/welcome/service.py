"""Welcome kit use cases: building a deal's kit (the button, the CLI and the benchmark share it), sharing it into the
deal's thread exactly once, and the scheduler's run that retries what Slack didn't take and settles the unknown.

The share follows the exactly-once protocol (bot/slack/posting.py, README "Exactly once"): the kit's row is claimed
first (one per deal), the file is uploaded and its id recorded, then files.completeUploadExternal, the one call
that puts a message in the thread, is made once through a client that never retries. A 429 or ok:false waits in
`retry`; a timeout or 5xx is `unconfirmed` and looked for by its file id in the thread before anything is shared
again. The kit is one message (the PDF with its comment), so there is never half of it in the thread."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.deals import model as deals
from bot.deals.model import Deal
from bot.deals.service import NotAllowed
from bot.profile.service import profile_of
from bot.runtime import Runtime
from bot.slack.client import TIMEOUT_SECONDS, describe
from bot.slack.pacing import AFTER_ACK_WAIT, Pace
from bot.slack.posting import (
    AMBIGUOUS_ERRORS,
    Found,
    Missing,
    NotPosted,
    Patience,
    Posted,
    Unknown,
    find_shared,
    read_patiently,
    retry_delay,
    share_once,
    upload_file,
)
from bot.storage import StorageError
from bot.welcome import blocks, ledger, photos
from bot.welcome.kit import Kit, MissingProfile, SlackPerson, assemble, check_profile, slack_person
from bot.welcome.ledger import KitRow
from bot.welcome.pdf import render

logger = logging.getLogger(__name__)
CHECK_AFTER = timedelta(minutes=1)  # a share whose answer was lost: give Slack a minute to show it in the thread
PROFILE_RETRY = timedelta(hours=1)  # a waiting kit whose team profile was emptied meanwhile


@dataclass(frozen=True)
class Built:
    kit: Kit
    pdf: bytes
    deal: Deal


@dataclass
class KitReport:
    posted: list[int] = field(default_factory=list)  # deal ids
    retrying: list[int] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"welcome kits: shared {len(self.posted)}, retrying {len(self.retrying)}, "
            f"unconfirmed {len(self.unconfirmed)}"
        )


# -- building ------------------------------------------------------------------------------------------------------


def _people(client: WebClient | None, users: list[str], patience: Patience) -> dict[str, SlackPerson]:
    """users.info for each person the kit names; one Slack can't tell about is left nameless, never guessed."""
    found: dict[str, SlackPerson] = {}
    for user in dict.fromkeys(u for u in users if u):
        if client is None:
            continue
        try:
            answer = read_patiently(lambda u=user: client.users_info(user=u), patience)
        except (SlackApiError, *AMBIGUOUS_ERRORS) as exc:
            logger.warning("Welcome kit: could not read the Slack profile of %s (%s)", user, describe(exc))
            continue
        found[user] = slack_person(answer["user"])
    return found


def build(rt: Runtime, deal: Deal, client: WebClient | None, *, patience: Patience | None = None) -> Built:
    """The deal's kit as a PDF; MissingProfile (saying what to set) when the team profile can't make one."""
    stored = profile_of(rt, deal.team_id)
    profile = check_profile(stored.profile if stored else None)
    with rt.store.session() as db:
        nudges = deals.deal_nudges(db, deal.id)
    sponsor = profile.exec_sponsor.user if profile.exec_sponsor else None
    users = [deal.fields.impl_lead_id, *(m.user for m in profile.implementation_team), sponsor, deal.owner_id]
    people = _people(client, [u for u in users if u], patience or Patience(rt.sleep))
    faces = [deal.fields.impl_lead_id, *(m.user for m in profile.implementation_team)]  # the photos the page shows
    fetched = photos.fetch_all([people[u].photo_url for u in faces if u in people])
    kit = assemble(
        profile,
        deal,
        nudges,
        rt.steps_by_id(),
        people=people,
        photo=lambda url: fetched.get(url) if url else None,
        today=rt.today(),
    )
    return Built(kit, render(kit), deal)


def build_for_deal(rt: Runtime, deal_id: int) -> Built:
    """The CLI's kit: the same as the button's, read with the deal's workspace client. LookupError: no such deal."""
    deal = _deal(rt, deal_id)
    if deal is None or deal.deleted:
        raise LookupError(f"There is no deal #{deal_id}.")
    return build(rt, deal, rt.workspaces.posting_client(deal.team_id))


def _deal(rt: Runtime, deal_id: int) -> Deal | None:
    with rt.store.session() as db:
        return deals.get_deal(db, deal_id)


# -- the button ----------------------------------------------------------------------------------------------------


def send_welcome_kit(rt: Runtime, deal_id: int, *, team_id: str, user_id: str) -> str:
    """The Welcome kit button: build the deal's kit and share it into the deal's thread, once. Returns what the
    clicker is told privately; NotAllowed for anyone but the deal's owner or a manager."""
    deal = _deal(rt, deal_id)
    if deal is None or deal.team_id != team_id or deal.deleted:
        raise NotAllowed("I can't find that deal any more.")
    if not deals.can_edit(deal, user_id, rt.settings.managers):
        raise NotAllowed(blocks.not_allowed_text(deal))
    if deal.cancelled:
        return blocks.closed_deal_text(deal)
    if not deal.posted_ts:
        return blocks.no_thread_text(deal)
    stored = profile_of(rt, team_id)
    try:
        check_profile(stored.profile if stored else None)
    except MissingProfile as exc:
        return blocks.no_profile_text(str(exc))
    now = rt.now()
    with rt.store.write() as db:
        row, ours = ledger.claim(
            db,
            deal_id=deal.id,
            team_id=team_id,
            channel_id=deal.channel_id,
            thread_ts=deal.posted_ts,
            user_id=user_id,
            now=now,
        )
    if not ours:
        return blocks.already_text(deal, row, rt.settings.tz)
    client = rt.workspaces.posting_client(team_id)
    if client is None:  # uninstalled meanwhile: the scheduler shares it after a reinstall
        _retry(rt, row, "no installation", now + PROFILE_RETRY)
        return blocks.delayed_text(deal, "no installation", now + PROFILE_RETRY, rt.settings.tz)
    try:
        # from the lazy listener: its turn in the channel's pace is waited for a moment at most, else the scheduler
        state = deliver(rt, row, client, now=now, patience=Patience(rt.sleep), pace=rt.pacer.at_most(AFTER_ACK_WAIT))
    except StorageError:
        raise  # the listeners' one storage-failure answer; the claim is taken up again after its lease
    except Exception:
        logger.exception("Welcome kit for deal #%s failed; the scheduler tries again after its lease", deal.id)
        return blocks.failed_text(deal, now + ledger.LEASE, rt.settings.tz)
    return _answer(rt, deal, state)


def _answer(rt: Runtime, deal: Deal, state: KitRow | None) -> str:
    if state is None or state.status == "posted":
        return blocks.shared_text(deal)
    if state.status == "retry":
        return blocks.delayed_text(
            deal, state.last_error or "error", datetime.fromisoformat(state.due_at), rt.settings.tz
        )
    if state.status == "dropped":
        return blocks.closed_deal_text(deal)
    return blocks.unconfirmed_text(deal)


# -- the protocol ----------------------------------------------------------------------------------------------------


def deliver(
    rt: Runtime, row: KitRow, client: WebClient, *, now: datetime, patience: Patience, pace: Pace | None = None
) -> KitRow | None:
    """Settle, build, upload and share one claimed kit; returns its row as it was left. `pace`: the shared pace the
    share keeps (the runtime's, unless a listener bounds its wait)."""
    deal = _deal(rt, row.deal_id)
    if deal is None or deal.deleted or deal.cancelled:
        with rt.store.write() as db:
            ledger.drop(db, row.id, reason="the deal was deleted or cancelled")
        return _reread(rt, row)
    if row.file_id:  # a share asked for earlier may be in the thread: look before sharing anything
        search = find_shared(client, row.file_id, channel=row.channel_id, thread_ts=row.thread_ts, patience=patience)
        if isinstance(search, Found):
            with rt.store.write() as db:
                ledger.posted(db, row.id, now=now)
            logger.info("Welcome kit for deal #%s found in its thread (%s)", deal.id, row.file_id)
            return _reread(rt, row)
        if not isinstance(search, Missing):
            _unconfirmed(rt, row, search.error, now + CHECK_AFTER * min(2 ** (row.attempts - 1), 60))
            return _reread(rt, row)
    try:
        built = build(rt, deal, client, patience=patience)
    except MissingProfile as exc:
        _retry(rt, row, f"team profile needs {exc}", now + PROFILE_RETRY)
        return _reread(rt, row)
    uploaded = upload_file(client, built.pdf, filename=blocks.file_name(deal), timeout=TIMEOUT_SECONDS)
    if isinstance(uploaded, NotPosted):
        _retry(rt, row, uploaded.error, now + retry_delay(uploaded, row.attempts - 1))
        return _reread(rt, row)
    with rt.store.write() as db:
        ledger.set_file(db, row.id, uploaded)
    outcome = share_once(
        client,
        uploaded,
        channel=row.channel_id,
        thread_ts=row.thread_ts,
        title=blocks.file_title(deal),
        comment=blocks.share_comment(deal, built.kit.company),
        patience=patience,
        pace=pace or rt.pacer,
        team_id=deal.team_id,
    )
    if isinstance(outcome, Posted):
        with rt.store.write() as db:
            ledger.posted(db, row.id, now=now)
    elif isinstance(outcome, Unknown):
        _unconfirmed(rt, row, outcome.error, now + CHECK_AFTER)
    else:
        _retry(rt, row, outcome.error, now + retry_delay(outcome, row.attempts - 1))
    return _reread(rt, row)


def _reread(rt: Runtime, row: KitRow) -> KitRow | None:
    with rt.store.session() as db:
        return ledger.get(db, row.deal_id)


def _retry(rt: Runtime, row: KitRow, error: str, at: datetime) -> None:
    with rt.store.write() as db:
        ledger.retry(db, row.id, error=error, at=at)
    logger.warning("Welcome kit for deal #%s not shared (%s); trying again at %s", row.deal_id, error, at.isoformat())


def _unconfirmed(rt: Runtime, row: KitRow, error: str, at: datetime) -> None:
    with rt.store.write() as db:
        ledger.unconfirmed(db, row.id, error=error, check_at=at)
    logger.warning(
        "Welcome kit for deal #%s: outcome unknown (%s); looking in its thread at %s", row.deal_id, error, at
    )


def share_due_kits(rt: Runtime, client_for, now: datetime) -> KitReport:
    """The scheduler's run: every kit whose retry or check is due (or whose process died) is taken by one process
    and settled. Whoever clicked hears by DM once a kit that had to wait is in the thread."""
    report = KitReport()
    with rt.store.session() as db:
        rows = ledger.due(db, now=now)
    patience = Patience(rt.sleep)
    for row in rows:
        client = client_for(row.team_id)
        if client is None:
            continue  # uninstalled: it waits for a reinstall
        with rt.store.write() as db:
            taken = ledger.take(db, row, now=now)
        if taken is None:
            continue
        try:
            state = deliver(rt, taken, client, now=now, patience=patience)
        except Exception:  # one kit's problem must not cost the others; its claim is checked again after the lease
            logger.exception("Welcome kit for deal #%s failed; it is tried again after its lease", row.deal_id)
            continue
        status = state.status if state else "posted"
        {"posted": report.posted, "retry": report.retrying, "unconfirmed": report.unconfirmed}.get(status, []).append(
            row.deal_id
        )
        if status == "posted":
            _tell_later(rt, client, taken)
    if report.posted or report.retrying or report.unconfirmed:
        logger.info("At %s: %s", now.isoformat(timespec="minutes"), report.summary())
    return report


def _tell_later(rt: Runtime, client: WebClient, row: KitRow) -> None:
    """A private note, sent at most once (it is not the kit): a failure is logged and the kit stays shared."""
    deal = _deal(rt, row.deal_id)
    if deal is None:
        return
    try:
        client.chat_postMessage(channel=row.requested_by, text=blocks.late_shared_text(deal))
    except (SlackApiError, *AMBIGUOUS_ERRORS) as exc:
        logger.warning(
            "Welcome kit for deal #%s shared; couldn't tell %s (%s)", deal.id, row.requested_by, describe(exc)
        )


__all__ = ["Built", "KitReport", "build", "build_for_deal", "send_welcome_kit", "share_due_kits"]
