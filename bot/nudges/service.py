"""Nudge use cases: what reps do with a follow-up (done, skip, snooze, reassign), once, and drawing a posted
nudge message as it stands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from slack_sdk import WebClient

from bot.deals import blocks as deal_blocks
from bot.deals import model as deals
from bot.deals import wins
from bot.deals.capture import InputError
from bot.deals.model import Deal, Nudge
from bot.deals.service import NotAllowed, Redraw
from bot.health import drafts, gate
from bot.nudges import ledger, reminders
from bot.nudges.blocks import (
    ASK_AGAIN_DAYS,
    already_resolved_text,
    details_modal,
    handover_text,
    late_steps,
    nudge_message,
)
from bot.nudges.known import known_for, uses_peers
from bot.nudges.known import refresh as refresh_people
from bot.nudges.links import Links
from bot.runtime import Runtime
from bot.slack.ids import is_user_id
from bot.slack.text import mention
from bot.timestamps import parse_stamp

REASSIGN_PROBLEM = (
    "That isn't someone I can hand this follow-up to. Pick a teammate from the Reassign menu (e.g. Jane Doe); "
    "nothing changed."
)


@dataclass(frozen=True)
class NudgeChange:
    changed: bool
    nudge: Nudge | None
    deal: Deal
    post_id: int | None
    explanation: str | None
    audience: frozenset[str] = frozenset()  # whose Home tab shows this step, before or after, and who acted
    redraw: Redraw | None = None


def handover(rt: Runtime, client: WebClient | None, nudge: Nudge, deal: Deal, *, by: str, to: str) -> str:
    """The DM `to` gets when `by` hands them a follow-up: what, and where its message is, linked for them."""
    team_url = rt.team_urls.get(client, deal.team_id)
    with rt.store.session() as db:
        links = Links.load(db, [nudge], team_url=team_url, nudges_in=rt.settings.nudges_in, viewer=to)
    return handover_text(nudge, deal, by=by, links=links)


def nudge_for(rt: Runtime, nudge_id: int, *, team_id: str, user_id: str) -> tuple[Nudge, Deal]:
    """A nudge and its deal, if this user may act on it (owner, assignee or manager); raises NotAllowed."""
    with rt.store.session() as db:
        nudge = ledger.get_nudge(db, nudge_id)
        deal = deals.get_deal(db, nudge.deal_id) if nudge else None
    if nudge is None or deal is None or deal.team_id != team_id:
        raise NotAllowed("I can't find that follow-up any more.")
    if deal.deleted:
        raise NotAllowed(deal_blocks.deal_unchanged_text(deal, "nudge"))
    allowed = {deal.owner_id, nudge.assignee_id, *rt.settings.managers} - {None}
    if user_id not in allowed:
        who = mention(deal.owner_id) + (f" or {mention(nudge.assignee_id)}" if nudge.assignee_id else "")
        raise NotAllowed(f"Only {who}, or a manager, can act on this follow-up.")
    return nudge, deal


def act_on_nudge(rt: Runtime, nudge_id: int, action: str, *, team_id: str, user_id: str, **details) -> NudgeChange:
    """Done, skip, snooze or reassign, once: a repeat click changes nothing and says why. Raises NotAllowed,
    or InputError for an assignee that isn't a member id."""
    if action == "reassign" and not is_user_id(details["assignee"]):
        raise InputError(REASSIGN_PROBLEM, "")
    nudge, deal = nudge_for(rt, nudge_id, team_id=team_id, user_id=user_id)
    post_id = nudge.post_id
    now = rt.now()
    also_posts: list[int] = []  # other nudge messages whose steps the change ended (signing ends its steps)
    with rt.store.write() as db:
        if action == "done":
            change = ledger.mark_done(db, nudge_id, actor=user_id, now=now, outcome=details.get("outcome"))
            win = wins.win_of_outcome(details.get("outcome"))
            if change.changed and win:  # the team hears of it in the channel
                wins.claim(db, deal, win, thread=rt.settings.nudges_in == "thread", now=now)
            step = rt.steps_by_id().get(nudge.step_id)
            if change.changed and step is not None and step.unsigned_only:
                also_posts = deals.mark_signed(db, deal.id, actor=user_id, now=now, playbook=rt.playbook) or []
        elif action == "skip":
            change = ledger.mark_skipped(db, nudge_id, actor=user_id, now=now, reason=details.get("reason"))
        elif action == "snooze":
            current = ledger.get_nudge(db, nudge_id)  # a step not yet due moves on from its own date
            start = max(rt.today(), current.due_date) if current else rt.today()
            until = rt.hours.first_open_day(start + timedelta(days=details["days"]))
            change = ledger.snooze(db, nudge_id, actor=user_id, now=now, until=until, today=rt.today())
        elif action == "reassign":
            change = ledger.reassign(db, nudge_id, actor=user_id, assignee=details["assignee"], now=now)
        else:
            raise ValueError(f"unknown nudge action {action!r}")
        if change.changed and action in ("done", "skip") and nudge.purpose == deals.RECOVERY:
            gate.release_held(db, nudge_id, today=rt.today(), now=now, playbook=rt.playbook)  # the asks come back
        listed = reminders.listing(db, team_id=team_id, nudge_ids=[nudge_id]) if change.changed else []
    explanation = None if change.changed else already_resolved_text(change.nudge, action)
    after = change.nudge.assignee_id if change.nudge else None
    audience = frozenset({deal.owner_id, nudge.assignee_id, after, user_id} - {None})
    posts = tuple(dict.fromkeys(p for p in (post_id, *also_posts) if p))
    redraw = Redraw(team_id, deals=(deal.id,), posts=posts, people=audience, reminders=tuple(listed))
    return NudgeChange(change.changed, change.nudge, deal, post_id, explanation, audience, redraw)


def refresh_names(rt: Runtime, client: WebClient, post_ids: Iterable[int]) -> None:
    """Before nudge messages are redrawn: the names their drafts sign with, if not cached today (a step handed to a
    teammate is signed with theirs)."""
    for post_id in post_ids:
        with rt.store.session() as db:
            post = ledger.get_post(db, post_id)
            deal = deals.get_deal(db, post.deal_id) if post else None
            shown = ledger.nudges_shown_in(db, post_id) if deal else []
        if deal is not None:
            refresh_people(rt, client, deal, shown)


def rendered_post(rt: Runtime, post_id: int) -> tuple[str, str, str, list[dict]] | None:
    """(channel, ts, text, blocks) of a posted nudge message as it should look now, for chat.update."""
    with rt.store.session() as db:
        post = ledger.get_post(db, post_id)
        if post is None or post.status != "posted" or not post.ts:
            return None
        deal = deals.get_deal(db, post.deal_id)
        shown = ledger.nudges_shown_in(db, post_id)
        words = drafts.steps_for(db, deal, rt.playbook) if deal is not None else rt.steps_by_id()
    if deal is not None and deal.deleted:  # its steps are gone: the message says why, without buttons
        return (post.channel_id, post.ts, *deal_blocks.deleted_deal_message(deal))
    posted_on = parse_stamp(post.claimed_at).astimezone(rt.settings.tz).date()
    wanted = uses_peers(words.get(n.step_id) for n in shown if n.actionable)  # a resolved step shows no draft
    known = known_for(rt, deal, today=posted_on, peers_needed=wanted)
    is_late = late_steps(rt.hours, deal, post.claimed_at)
    text, message_blocks = nudge_message(
        deal, shown, words, post_id=post.id, is_late=is_late, tz=rt.settings.tz, known=known
    )
    return post.channel_id, post.ts, text, message_blocks


def rendered_reminder(rt: Runtime, reminder_id: int) -> tuple[str, str, str, list[dict]] | None:
    """(channel, ts, text, blocks) of a rep's sent reminder as its steps stand now, for chat.update."""
    return reminders.rendered(rt, reminder_id)


def nudge_details(rt: Runtime, nudge_id: int, *, team_id: str) -> dict:
    """More: the whole coaching for a step (why, how, the whole draft), for anyone in the deal's workspace to read;
    raises NotAllowed for a step that isn't there (or is another workspace's)."""
    with rt.store.session() as db:
        nudge = ledger.get_nudge(db, nudge_id)
        deal = deals.get_deal(db, nudge.deal_id) if nudge else None
    if nudge is None or deal is None or deal.team_id != team_id or deal.deleted:
        raise NotAllowed("I can't find that follow-up any more.")
    with rt.store.session() as db:
        step = drafts.steps_for(db, deal, rt.playbook).get(nudge.step_id)
        post = ledger.get_post(db, nudge.post_id) if nudge.post_id else None
    # the same meeting days as the message it came from offered
    posted_on = parse_stamp(post.claimed_at).astimezone(rt.settings.tz).date() if post else None
    known = known_for(rt, deal, today=posted_on, peers_needed=uses_peers([step]))
    return details_modal(nudge, deal, step, known)


def replan_overdue(rt: Runtime, reminder_id: int, *, team_id: str, user_id: str):
    """Re-plan from a rep's reminder: their open overdue steps move forward. Returns (channel, ts, text, blocks) to
    redraw the reminder with (saying what moved, and each step's new day), and what else to redraw (the moved
    steps' own messages, other reminders listing them, Home); raises NotAllowed for anyone but the rep, or when
    there is nothing left to move (a second click)."""
    replanned = reminders.replan(rt, reminder_id, team_id=team_id, user_id=user_id)
    if replanned is None:
        raise NotAllowed("Only the rep this reminder is for can re-plan these follow-ups.")
    moved, days, row = replanned
    if not moved:
        raise NotAllowed(reminders.NOTHING_TO_REPLAN)
    message = reminders.rendered(rt, reminder_id, replanned=(len(moved), days))
    with rt.store.session() as db:
        others = reminders.listing(db, team_id=team_id, nudge_ids=[n.id for n in moved])
    posts = tuple(dict.fromkeys(n.post_id for n in moved if n.post_id))
    redraw = Redraw(
        team_id,
        deals=tuple(dict.fromkeys(n.deal_id for n in moved)),  # their plans show the new days
        posts=posts,
        people=frozenset({user_id}),
        reminders=tuple(r for r in others if r != reminder_id),
    )
    return message, redraw


LIVE_TODAY, SET_DATE, NOT_YET = "live_today", "set_date", "not_yet"


def answer_go_live(
    rt: Runtime, nudge_id: int, answer: str, *, team_id: str, user_id: str, go_live: date | None = None
) -> NudgeChange:
    """The go-live question answered, once, by the deal's owner or a manager: live today, a date (past or
    expected; one from today back counts as live), or not yet (asked again in a week). The deal's go-live date and
    the steps timed from it are written in the same transaction as the answer. Raises NotAllowed."""
    nudge, deal = nudge_for(rt, nudge_id, team_id=team_id, user_id=user_id)
    if not deals.can_edit(deal, user_id, rt.settings.managers):
        raise NotAllowed(f"Only {mention(deal.owner_id)}, who closed this deal, or a manager can answer this.")
    now, today = rt.now(), rt.today()
    also_posts: list[int] = []
    with rt.store.write() as db:
        if answer == NOT_YET:
            again = rt.hours.first_open_day(today + timedelta(days=ASK_AGAIN_DAYS))
            change = ledger.snooze(db, nudge_id, actor=user_id, now=now, until=again, today=today)
        else:
            when = today if answer == LIVE_TODAY else go_live
            if when is None:
                raise ValueError("a go-live answer needs its date")
            live = when <= today
            note = f"live since {when:%a %b %-d, %Y}" if live else f"go-live expected {when:%a %b %-d, %Y}"
            change = ledger.answer(db, nudge_id, actor=user_id, now=now, note=note)
            if change.changed:
                playbook = rt.playbook
                marked = deals.mark_live(db, deal.id, go_live=when, now=now, playbook=playbook, live=live)
                if marked is not None and live:  # the team hears of it in the channel, as after Mark live
                    wins.claim(db, deal, wins.LIVE, thread=rt.settings.nudges_in == "thread", now=now)
                also_posts = marked or []
        listed = reminders.listing(db, team_id=team_id, nudge_ids=[nudge_id]) if change.changed else []
    explanation = None if change.changed else already_resolved_text(change.nudge, "answer")
    audience = frozenset({deal.owner_id, nudge.assignee_id, user_id} - {None})
    posts = tuple(dict.fromkeys(p for p in (nudge.post_id, *also_posts) if p))
    redraw = Redraw(team_id, deals=(deal.id,), posts=posts, people=audience, reminders=tuple(listed))
    return NudgeChange(change.changed, change.nudge, deal, nudge.post_id, explanation, audience, redraw)
