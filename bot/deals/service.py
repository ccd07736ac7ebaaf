"""Deal use cases: capture (typed, from the form, held as a likely repeat), edit, the lifecycle (signed, live,
cancelled, deleted), posting a deal's channel message once, and drawing it as it stands."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.deals import announcements, blocks, wins
from bot.deals import model as deals
from bot.deals.blocks import read_modal_metadata
from bot.deals.capture import InputError, parse_quick_capture
from bot.deals.forms import read_deal_form
from bot.deals.model import Deal, DealFields, Nudge, people_of_deals
from bot.health import rules as health
from bot.nudges.ledger import windows, within_window
from bot.runtime import Runtime
from bot.slack.pacing import AFTER_ACK_WAIT
from bot.slack.posting import PACED, UNREACHABLE, NotPosted, Patience
from bot.slack.text import channel_link, mention

logger = logging.getLogger(__name__)


class NotAllowed(Exception):
    """The user may not change this deal (or act on this follow-up); the message says who can."""


class LooksLikeARepeat(Exception):
    """The capture repeats a recent one (deals.find_duplicate): nothing was stored, and it is held under its
    capture key until the rep says to capture it anyway or to leave it."""

    def __init__(self, earlier: Deal, capture_key: str):
        super().__init__(f"looks like deal #{earlier.id}")
        self.earlier = earlier
        self.capture_key = capture_key


# What a capture that looks like a recent one does: ask each time until the rep answers the question (a typed
# command), ask once so that saving the same form again keeps both (the form), or just store it (scripts).
ASK, ASK_ONCE, KEEP = "ask", "ask_once", "keep"


@dataclass(frozen=True)
class Redraw:
    """Everything a change to a deal shows up in: its channel message, nudge messages, reps' reminders, Home tabs."""

    team_id: str
    deals: tuple[int, ...] = ()
    posts: tuple[int, ...] = ()
    people: frozenset[str] = frozenset()  # whose Home tab to republish (if they have opened it)
    reminders: tuple[int, ...] = ()  # reps' morning reminders listing a step that changed


@dataclass(frozen=True)
class DealChange:
    changed: bool
    deal: Deal | None
    post_ids: list[int]
    explanation: str | None
    redraw: Redraw | None = None


def capture_command(
    rt: Runtime, text: str, *, team_id: str, channel_id: str, user_id: str, capture_key: str, repeats: str = ASK
) -> tuple[Deal, bool]:
    """Parse `/closed-deal Acme $120k ...` and store the deal with its plan; raises InputError. Returns the deal
    and whether this call stored it (False for a replay of the same command). A capture repeating a recent one
    raises LooksLikeARepeat and is held until answered (capture_held, leave_held), unless `repeats` is KEEP."""
    today = rt.today()
    quick = parse_quick_capture(text, rt.settings.currency, today=today)
    if quick.go_live_date and quick.go_live_date < today:
        raise InputError(
            f"The go-live date {quick.go_live_date:%Y-%m-%d} is before today's close. Use a date from today on.",
            f"/closed-deal Acme Rockets $120k live: {today + timedelta(days=30):%Y-%m-%d}",
        )
    fields = DealFields(
        account=quick.account,
        money=quick.money,
        close_date=today,
        contact_name=quick.contact_name,
        contact_title=quick.contact_title,
        persona=quick.persona,
        go_live_date=quick.go_live_date,
        signed=quick.signed,
    )
    return capture(
        rt, fields, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=capture_key, repeats=repeats
    )


def capture(
    rt: Runtime, fields: DealFields, *, team_id: str, channel_id: str, user_id: str, capture_key: str, repeats: str
) -> tuple[Deal, bool]:
    """The deal, its plan and the claim on its announcement, in one transaction (announce() posts it); or, for a
    likely repeat, the capture held back while its rep is asked."""
    now = rt.now()
    earlier = None
    with rt.store.write() as db:
        # One writer at a time: whether this key was captured or held, and whether the capture repeats a recent
        # one, stay as read here until it is stored or held below, because SQLite lets one writer in at a time.
        if repeats != KEEP and deals.get_deal_by_capture_key(db, capture_key) is None:  # not a replay
            answered = repeats == ASK_ONCE and deals.release_held(db, capture_key)  # the form, saved again
            if not answered:
                earlier = deals.find_duplicate(db, team_id=team_id, owner_id=user_id, fields=fields, now=now)
            if earlier is not None:
                deals.hold_capture(
                    db,
                    capture_key=capture_key,
                    team_id=team_id,
                    channel_id=channel_id,
                    owner_id=user_id,
                    fields=fields,
                    duplicate_of=earlier.id,
                    now=now,
                )
        if earlier is None:
            deal, created = _store_capture(
                rt, db, fields, team_id=team_id, channel_id=channel_id, owner_id=user_id, key=capture_key, now=now
            )
    if earlier is not None:  # raised after the commit, so the held capture is stored
        raise LooksLikeARepeat(earlier, capture_key)
    return deal, created


def _store_capture(
    rt: Runtime, db, fields: DealFields, *, team_id: str, channel_id: str, owner_id: str, key: str, now: datetime
) -> tuple[Deal, bool]:
    """Inside a write: the deal, its plan and, the first time, the claim on its announcement."""
    deal_id, created = deals.capture_deal(
        db,
        team_id=team_id,
        channel_id=channel_id,
        owner_id=owner_id,
        fields=fields,
        playbook=rt.playbook,
        now=now,
        capture_key=key,
    )
    if created:
        announcements.claim_with_capture(db, deal_id=deal_id, channel_id=channel_id, now=now)
    deal = deals.get_deal(db, deal_id)
    assert deal is not None
    return deal, created


def capture_held(rt: Runtime, capture_key: str, *, team_id: str, user_id: str) -> tuple[Deal, bool]:
    """Capture it anyway: store the held capture as typed, once (its capture key makes a second click find the
    first); only its rep may. Returns the deal and whether this click stored it. Raises NotAllowed."""
    now = rt.now()
    with rt.store.write() as db:
        held = _held(db, capture_key, team_id=team_id, user_id=user_id)
        if held is None:
            deal = deals.get_deal_by_capture_key(db, capture_key)
            if deal is None or deal.team_id != team_id or deal.owner_id != user_id:
                raise NotAllowed(blocks.HELD_EXPIRED)
            return deal, False
        stored = _store_capture(
            rt,
            db,
            held.fields,
            team_id=held.team_id,
            channel_id=held.channel_id,
            owner_id=held.owner_id,
            key=capture_key,
            now=now,
        )
        deals.release_held(db, capture_key)
    return stored


def leave_held(rt: Runtime, capture_key: str, *, team_id: str, user_id: str) -> bool:
    """Leave it: forget the held capture; False if it was answered already. Raises NotAllowed."""
    with rt.store.write() as db:
        held = _held(db, capture_key, team_id=team_id, user_id=user_id)
        return held is not None and deals.release_held(db, capture_key)


def _held(db, capture_key: str, *, team_id: str, user_id: str) -> deals.HeldCapture | None:
    held = deals.held_capture(db, capture_key)
    if held is not None and (held.team_id != team_id or held.owner_id != user_id):
        raise NotAllowed(f"Only {mention(held.owner_id)}, who typed that capture, can answer this.")
    return held


def save_form(
    rt: Runtime, values: dict, private_metadata: str, *, team_id: str, user_id: str, view_id: str
) -> tuple[Deal, bool]:
    """Store a submitted deal form: a new deal, or edits to one. Returns the deal and whether this submission
    changed anything (False for a repeat of one already saved). Raises FormErrors or NotAllowed."""
    channel_id, deal_id = read_modal_metadata(private_metadata)
    fields = read_deal_form(values, default_currency=rt.settings.currency, today=rt.today())
    if deal_id is None:
        if not channel_id:
            raise NotAllowed("This form lost track of its channel. Run /closed-deal again in the team channel.")
        return capture(
            rt, fields, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=view_id, repeats=ASK_ONCE
        )
    with rt.store.write() as db:
        deal = deals.get_deal(db, deal_id)
        check_may_edit(rt, deal, team_id=team_id, user_id=user_id)
        deals.update_deal(db, deal_id, fields, playbook=rt.playbook, now=rt.now())
        updated = deals.get_deal(db, deal_id)
    assert updated is not None
    return updated, True


def deal_for_editing(rt: Runtime, deal_id: int, *, team_id: str, user_id: str) -> Deal:
    """The deal behind an "Add details" click, if this user may change it; raises NotAllowed."""
    with rt.store.session() as db:
        deal = deals.get_deal(db, deal_id)
    check_may_edit(rt, deal, team_id=team_id, user_id=user_id)
    assert deal is not None
    return deal


def check_may_edit(rt: Runtime, deal: Deal | None, *, team_id: str, user_id: str, deleted_ok: bool = False) -> None:
    """Raise NotAllowed unless the user may change the deal: its owner or a manager, in its workspace."""
    if deal is None or deal.team_id != team_id:
        raise NotAllowed("I can't find that deal any more.")
    if not deals.can_edit(deal, user_id, rt.settings.managers):
        raise NotAllowed(f"Only {mention(deal.owner_id)}, who closed this deal, or a manager can change it.")
    if deal.deleted and not deleted_ok:
        raise NotAllowed(blocks.deal_unchanged_text(deal, "edit"))


def get_deal(rt: Runtime, deal_id: int) -> Deal | None:
    with rt.store.session() as db:
        return deals.get_deal(db, deal_id)


def announce(rt: Runtime, deal_id: int, *, notify: Callable[[str], object] = lambda text: None) -> None:
    """Post a deal's channel message, exactly once: through the shared protocol, with a client that never
    retries by itself. Tells the rep through `notify` when the channel can't be reached. If Slack fails for
    now, or this process dies, the dispatcher's next tick finishes the job."""
    now = rt.now()
    with rt.store.write() as db:
        post = announcements.take(db, deal_id, now=now)
        deal = deals.get_deal(db, deal_id)
    if post is None or deal is None:
        return  # posted already, or another worker holds it
    client = rt.workspaces.posting_client(deal.team_id)
    if client is None:  # no installation for the workspace now: the dispatcher posts it after a reinstall
        with rt.store.write() as db:
            announcements.wait_for_retry(db, post, error="no installation", retry_at=now + timedelta(hours=1))
        return
    # in its turn in the paces every process shares; after the ack, but on the lazy listeners' pool, which also opens
    # forms: a turn further off than a moment (a busy channel, a tick's batch) is left to the dispatcher
    pace = rt.pacer.at_most(AFTER_ACK_WAIT)
    outcome = announcements.deliver(rt.store, client, post, deal, now=now, patience=Patience(rt.sleep), pace=pace)
    if isinstance(outcome, NotPosted) and outcome.error == PACED:
        logger.info("Deal #%s waits for its turn in %s; the dispatcher posts it", deal.id, deal.channel_id)
    elif isinstance(outcome, NotPosted):
        logger.warning("Could not post deal #%s in %s: %s", deal.id, deal.channel_id, outcome.error)
        if outcome.kind == UNREACHABLE:
            notify(blocks.cannot_post_text(deal, outcome.error))


def change_deal(rt: Runtime, deal_id: int, action: str, *, team_id: str, user_id: str, **details) -> DealChange:
    """Mark signed, mark live, cancel or delete, by the owner or a manager; change the owner, by a manager; a repeat
    changes nothing."""
    now = rt.now()
    with rt.store.write() as db:
        deal = deals.get_deal(db, deal_id)
        check_may_edit(rt, deal, team_id=team_id, user_id=user_id, deleted_ok=action == "delete")
        people = people_of_deals(db, [deal_id]).get(team_id, set())  # before a delete takes its steps
        if action == "signed":
            posts = deals.mark_signed(db, deal_id, actor=user_id, now=now, playbook=rt.playbook)
        elif action == "live":
            posts = deals.mark_live(db, deal_id, go_live=details["go_live"], now=now, playbook=rt.playbook)
            if posts is not None:  # the team hears of it in the channel
                wins.claim(db, deal, wins.LIVE, thread=rt.settings.nudges_in == "thread", now=now)
        elif action == "cancel":
            posts = deals.cancel_deal(db, deal_id, actor=user_id, reason=details["reason"], now=now)
        elif action == "delete":
            posts = deals.delete_deal(db, deal_id, actor=user_id, now=now)
        elif action == "owner":
            if user_id not in rt.settings.managers:
                raise NotAllowed("Only a manager can change who owns a deal.")
            posts = deals.set_owner(db, deal_id, details["owner_id"], now=now)
            people = people | {details["owner_id"]}
        else:
            raise ValueError(f"unknown deal action {action!r}")
        updated = deals.get_deal(db, deal_id)
        redraw = _redraw_of(db, deal_id, posts or [], team_id=team_id, actor=user_id, people=people)
    explanation = None if posts is not None else blocks.deal_unchanged_text(updated, action)
    return DealChange(posts is not None, updated, posts or [], explanation, redraw)


def deal_edited(rt: Runtime, deal_id: int, *, team_id: str, actor: str) -> Redraw:
    """What an edit from the deal form shows up in: its message, its nudge messages still open, Home tabs."""
    with rt.store.session() as db:
        return _redraw_of(db, deal_id, deals.posts_with_open_steps(db, deal_id), team_id=team_id, actor=actor)


def _redraw_of(
    db, deal_id: int, posts: Iterable[int], *, team_id: str, actor: str | None, people: Iterable[str] = ()
) -> Redraw:
    people = people_of_deals(db, [deal_id]).get(team_id, set()) | set(people) | {actor}
    return Redraw(team_id, deals=(deal_id,), posts=tuple(posts), people=frozenset(people - {None}))


def rendered_deal(rt: Runtime, deal_id: int) -> tuple[str, str, str, list[dict]] | None:
    """(channel, ts, text, blocks) of a deal's channel message as it should look now; None until it is posted."""
    with rt.store.session() as db:
        deal = deals.get_deal(db, deal_id)
        if deal is None or not deal.posted_ts:
            return None
        nudges = deals.deal_nudges(db, deal_id)
    today, worth = rt.today(), windows(rt.playbook.steps)

    def still_worth(step: Nudge) -> bool:  # a step past its window is missed: never the message's "Next"
        return step.due_date >= today or within_window(worth, step.step_id, step.due_date, today)

    text, message_blocks = blocks.deal_announcement(deal, nudges, worth=still_worth)
    return deal.channel_id, deal.posted_ts, text, message_blocks


def deal_plan(rt: Runtime, deal_id: int, *, team_id: str) -> dict:
    """See the plan: every step of a deal in a modal, for anyone in its workspace (the channel sees the deal
    anyway); raises NotAllowed for a deal that isn't there, is another workspace's, or was deleted."""
    with rt.store.session() as db:
        deal = deals.get_deal(db, deal_id)
        if deal is None or deal.team_id != team_id or deal.deleted:
            raise NotAllowed("I can't find that deal any more.")
        nudges = deals.deal_nudges(db, deal_id)
    return blocks.plan_modal(deal, nudges)


def deals_of(rt: Runtime, user_id: str, *, team_id: str) -> list[tuple[Deal, str, Nudge | None]]:
    """A rep's open deals with their stage and next step, newest first."""
    worth = windows(rt.playbook.steps)  # a late step past its window is missed, as Home's Missed list says
    with rt.store.session() as db:
        owned = deals.open_deals_of(db, team_id=team_id, owner_id=user_id)
        result = []
        for deal in owned:
            steps = deals.deal_nudges(db, deal.id)
            upcoming = [  # what is next: not a late step whose window passed (missed, listed apart on Home)
                n for n in steps if n.actionable and within_window(worth, n.step_id, n.due_date, rt.today())
            ]
            stage = deals.stage_of(deal, steps)
            sick = health.health(db, deal.id, today=rt.today(), windows=worth)
            if not sick.healthy:  # the one definition the asks' gate and the digest use
                stage += " · :warning: needs care: " + "; ".join(sick.reasons)
            result.append((deal, stage, upcoming[0] if upcoming else None))
    return result


# -- deals from a CRM ----------------------------------------------------------------------------------------


def capture_from_crm(
    rt: Runtime,
    db,
    fields: DealFields,
    *,
    team_id: str,
    channel_id: str,
    owner_id: str,
    capture_key: str,
    source: str,
    source_url: str | None,
    now: datetime,
    link_repeat: bool = True,
) -> tuple[Deal, bool, bool]:
    """Inside the CRM worker's write: a deal won in a CRM becomes a deal like a typed capture (its plan and the claim
    on its announcement, which announce() posts once). One the same rep captured with /closed-deal for the same
    account and amount (the repeat rule, find_duplicate) is linked to the CRM record instead of doubled. Returns
    the deal, whether it was created, and whether an earlier capture was linked. `owner_id` is '' when the CRM's
    owner has no Slack account we could find: the deal waits to be claimed. `link_repeat=False`: its rep said it is
    a deal of its own (or nobody answered in time), so it is created even beside a capture it looks like."""
    if owner_id and link_repeat:
        earlier = deals.find_duplicate(db, team_id=team_id, owner_id=owner_id, fields=fields, now=now)
        if earlier is not None and earlier.source is None and deals.set_source(db, earlier.id, source, source_url):
            linked = deals.get_deal(db, earlier.id)
            assert linked is not None
            return linked, False, True
    deal, created = _store_capture(
        rt, db, fields, team_id=team_id, channel_id=channel_id, owner_id=owner_id, key=capture_key, now=now
    )
    if created:
        deals.set_source(db, deal.id, source, source_url)
        deal = deals.get_deal(db, deal.id) or deal
    return deal, created, False


def pause_or_resume(db, deal_id: int, *, won: bool, now: datetime, team_id: str) -> Redraw | None:
    """Inside a write: a deal that left closed-won in its CRM pauses its pending steps; won again, it resumes.
    Returns what to redraw, or None if nothing changed."""
    posts = deals.resume_deal(db, deal_id, now=now) if won else deals.pause_deal(db, deal_id, now=now)
    if posts is None:
        return None
    return _redraw_of(db, deal_id, posts, team_id=team_id, actor=None)


def claim(rt: Runtime, deal_id: int, *, team_id: str, user_id: str, channel_id: str | None) -> DealChange:
    """Claim it: a deal from a CRM whose owner wasn't found in Slack becomes the clicker's, once. Only from the
    deal's own message, so only someone in its channel can claim it."""
    with rt.store.write() as db:
        deal = deals.get_deal(db, deal_id)
        if deal is None or deal.team_id != team_id:
            raise NotAllowed("I can't find that deal any more.")
        if channel_id != deal.channel_id:
            raise NotAllowed(f"Claim it from the deal's message in {channel_link(deal.channel_id)}, as a member there.")
        if not deals.claim_owner(db, deal_id, user_id, now=rt.now()):
            return DealChange(False, deal, [], blocks.claim_refused_text(deal))
        redraw = _redraw_of(db, deal_id, deals.posts_with_open_steps(db, deal_id), team_id=team_id, actor=user_id)
        updated = deals.get_deal(db, deal_id)
    return DealChange(True, updated, list(redraw.posts), None, redraw)
