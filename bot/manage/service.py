"""What a manager does about a deal from the digest or Home: remind its rep (a DM naming the steps), reassign a
step, the deal or all of a departing rep's deals, open the deal. Managers only; a repeat changes nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.deals import blocks as deal_blocks
from bot.deals import model as deals
from bot.deals.model import Deal, Nudge, people_of_deals
from bot.deals.service import NotAllowed, Redraw
from bot.digest.blocks import (  # one wording for the digest and Home
    MORE,
    SLIPPING_EMPTY,
    buyer_signal_line,
    slipping_line,
)
from bot.manage import blocks, forms
from bot.manage import model as manage
from bot.nudges import ledger
from bot.nudges.links import Links
from bot.runtime import Runtime
from bot.signals import watch
from bot.slack.blocks import MESSAGE_BLOCKS, header, section
from bot.slack.client import describe, error_code
from bot.slack.forms import FormErrors
from bot.slack.ids import is_user_id

logger = logging.getLogger(__name__)


def _manager(rt: Runtime, user_id: str) -> None:
    if user_id not in rt.settings.managers:
        raise NotAllowed(blocks.MANAGERS_ONLY)


def team_of(rt: Runtime, *, team_id: str, manager_id: str) -> frozenset[str] | None:
    """The reps this manager follows; None: everyone."""
    with rt.store.session() as db:
        return manage.team_of(db, team_id=team_id, manager_id=manager_id)


def _group_members(client: WebClient, usergroup: str) -> list[str]:
    """The user group's members as Slack lists them now; raises SlackApiError or OSError."""
    users = client.usergroups_users_list(usergroup=usergroup).get("users") or []
    return [u for u in users if isinstance(u, str) and is_user_id(u)]


def team_modal(rt: Runtime, client: WebClient, *, team_id: str, user_id: str) -> dict:
    """People, and the workspace's user groups if Slack lists them."""
    _manager(rt, user_id)
    with rt.store.session() as db:
        team = manage.manager_team(db, team_id=team_id, manager_id=user_id)
    try:
        groups = client.usergroups_list().get("usergroups") or []
    except (SlackApiError, OSError) as exc:
        logger.warning("Could not list user groups for the team form: %s", describe(exc))
        groups = None
    return blocks.team_modal(team, groups)


def save_team(rt: Runtime, client: WebClient, values: dict, *, team_id: str, user_id: str) -> Redraw:
    """The manager's reps and user group (neither: everyone); their Home is redrawn. The group's members are read
    now, so a group Slack won't list is refused inline. Raises FormErrors or NotAllowed."""
    _manager(rt, user_id)
    members, usergroup = forms.read_team(values)
    group_members: list[str] = []
    if usergroup:
        try:
            group_members = _group_members(client, usergroup)
        except (SlackApiError, OSError) as exc:
            problem = error_code(exc) if isinstance(exc, SlackApiError) else "no answer"
            raise FormErrors(
                {forms.GROUP: f"Slack wouldn't list that group's members ({problem}). Pick its people instead."}
            ) from None
    with rt.store.write() as db:
        manage.set_team(
            db,
            team_id=team_id,
            manager_id=user_id,
            members=members,
            usergroup=usergroup,
            group_members=group_members,
            now=rt.now(),
        )
    return Redraw(team_id, people=frozenset({user_id}))


def followed_now(rt: Runtime, client: WebClient, *, team_id: str, manager_id: str) -> frozenset[str] | None:
    """The reps a manager follows, their user group read again first (for the digest); if Slack won't list it, the
    members it had last time."""
    with rt.store.session() as db:
        team = manage.manager_team(db, team_id=team_id, manager_id=manager_id)
    if team.usergroup:
        try:
            fresh = _group_members(client, team.usergroup)
        except (SlackApiError, OSError) as exc:
            logger.warning("Could not read user group %s; using its last members: %s", team.usergroup, describe(exc))
        else:
            with rt.store.write() as db:
                manage.refresh_group(db, team_id=team_id, manager_id=manager_id, group_members=fresh, now=rt.now())
            return team.members | frozenset(fresh) if team.members or fresh else frozenset()
    return team.reps


def _deal(rt: Runtime, deal_id: int, *, team_id: str, user_id: str) -> Deal:
    _manager(rt, user_id)
    with rt.store.session() as db:
        deal = deals.get_deal(db, deal_id)
    if deal is None or deal.team_id != team_id or deal.deleted:
        raise NotAllowed("I can't find that deal any more.")
    return deal


def _links_for(rt: Runtime, client: WebClient | None, deal: Deal, steps: list, *, viewer: str) -> Links:
    """Links to these steps' messages and the deal's, for `viewer` (the workspace URL read once, then kept)."""
    team_url = rt.team_urls.get(client, deal.team_id)
    with rt.store.session() as db:
        return Links.load(db, steps, team_url=team_url, nudges_in=rt.settings.nudges_in, viewer=viewer)


def remind_rep(
    rt: Runtime, deal_id: int, *, team_id: str, user_id: str, client: WebClient | None = None
) -> tuple[str, str, str]:
    """(the rep, the DM naming the steps owed with links to them, what the manager is told). Raises NotAllowed."""
    deal = _deal(rt, deal_id, team_id=team_id, user_id=user_id)
    if deal.status != "open":
        raise NotAllowed(deal_blocks.deal_unchanged_text(deal, "nudge"))
    with rt.store.session() as db:
        # Only the steps still worth doing: one past its window is missed (the reminder's and digest's rule)
        owed = manage.steps_owed(db, deal.id, today=rt.today(), windows=ledger.windows(rt.playbook.steps))
        upcoming = None if owed else manage.next_step(db, deal.id, after=rt.today())
    links = _links_for(rt, client, deal, [*owed[:10], *([upcoming] if upcoming else [])], viewer=deal.owner_id)
    reminder = blocks.reminder_text(deal, owed, upcoming, by=user_id, links=links)
    return deal.owner_id, reminder, blocks.reminded_text(deal, owed)


def reassign_modal(rt: Runtime, deal_id: int, *, team_id: str, user_id: str) -> dict:
    deal = _deal(rt, deal_id, team_id=team_id, user_id=user_id)
    if deal.status != "open":
        raise NotAllowed(deal_blocks.deal_unchanged_text(deal, "nudge"))
    with rt.store.session() as db:
        oldest = manage.next_step(db, deal.id, today=rt.today(), windows=ledger.windows(rt.playbook.steps))
    return blocks.reassign_modal(deal, oldest)


@dataclass(frozen=True)
class HandedOver:
    """What a Reassign handed to whom, for the DM they get once the modal is answered (handover_text)."""

    deals: tuple[Deal, ...]
    scope: str
    by: str
    to: str
    steps: int
    step: Nudge | None = None  # scope STEP: the step handed over


def handover_text(rt: Runtime, client: WebClient | None, handed: HandedOver) -> str:
    """The DM the new person gets; for a step, where its message is, linked for them."""
    links = None
    if handed.step is not None:
        links = _links_for(rt, client, handed.deals[0], [handed.step], viewer=handed.to)
    return blocks.handed_over_text(
        list(handed.deals), handed.scope, by=handed.by, steps=handed.steps, step=handed.step, links=links
    )


def reassign(
    rt: Runtime, values: dict, private_metadata: str, *, team_id: str, user_id: str
) -> tuple[Redraw, HandedOver] | None:
    """Hand over what the manager chose: (what to redraw, what was handed to whom), or None when nothing changed (a
    repeated submission). Raises FormErrors or NotAllowed; nothing changes then. Called before the modal's ack, so
    it reads no Slack: the DM (handover_text) is written after."""
    deal_id = forms.read_modal_metadata(private_metadata)
    if deal_id is None:
        raise NotAllowed(forms.LOST_TRACK)
    scope, to = forms.read_reassign(values)
    deal = _deal(rt, deal_id, team_id=team_id, user_id=user_id)
    now = rt.now()
    with rt.store.write() as db:
        if scope == forms.ALL:
            moved = manage.open_deals_of(db, team_id=team_id, owner_id=deal.owner_id)
        else:
            moved = [deal] if deal.status == "open" else []
        ids = [d.id for d in moved]
        before = people_of_deals(db, ids).get(team_id, set())
        step = None
        if scope == forms.STEP:
            worth = ledger.windows(rt.playbook.steps)
            oldest = manage.next_step(db, deal.id, today=rt.today(), windows=worth) if moved else None
            changed = oldest is not None and manage.hand_over_step(db, oldest.id, to=to, now=now)
            step = ledger.get_nudge(db, oldest.id) if changed else None  # as handed over, with its message
            steps = 1
        else:
            changed = any([manage.hand_over_deal(db, i, to=to, now=now) for i in ids])
            steps = manage.open_steps(db, ids)
        posts = [p for i in ids for p in deals.posts_with_open_steps(db, i)]
    if not changed:
        return None
    # The nudge messages name who must act now; the deal's own message keeps congratulating the rep who closed it.
    redraw = Redraw(team_id, posts=tuple(posts), people=frozenset(before | {to, user_id}))
    return redraw, HandedOver(tuple(moved), scope, user_id, to, steps, step)


def open_deal(
    rt: Runtime, deal_id: int, *, team_id: str, user_id: str, client: WebClient | None = None
) -> tuple[str, list[dict]]:
    """The deal's plan as its channel message shows it, and where that message is (its thread, in thread mode), for
    the manager's DM."""
    deal = _deal(rt, deal_id, team_id=team_id, user_id=user_id)
    with rt.store.session() as db:
        nudges = deals.deal_nudges(db, deal.id)
    text, _ = deal_blocks.deal_announcement(deal, nudges)  # the channel's message is short: the DM has every step
    links = _links_for(rt, client, deal, [], viewer=user_id)
    return text, [section(blocks.open_deal_text(deal, links)), *deal_blocks.plan_blocks(deal, nudges)][:MESSAGE_BLOCKS]


def _at_stake(deals: list[Deal]) -> str:
    amounts = watch.at_stake(deals)
    money = " + ".join(m.format() for m in amounts) if amounts else "nothing"
    return f"{money} at stake" + (" · each deal's ⋮ menu: Remind rep, Reassign, Open deal" if deals else "")


HOME_MENUS = 5  # deals of each list with their own menu on Home (a tab holds 100 blocks)


def home_section(rt: Runtime, team_id: str, manager_id: str, *, team_url: str | None = None) -> list[dict]:
    """A manager's Home: whom they follow, then the digest's two lists for those reps as they stand now, each deal
    with the same menu, linked as the digest links them (with `team_url`)."""
    today = rt.today()
    with rt.store.session() as db:
        team = manage.manager_team(db, team_id=team_id, manager_id=manager_id)
        reps = team.reps
        days = rt.settings.signature_days
        flagged = watch.buyer_signals(db, team_id=team_id, today=today, signature_days=days, reps=reps)
        slips = watch.slipping(db, team_id=team_id, today=today, reps=reps, windows=watch.windows(rt.playbook.steps))
        oldest = [s.steps[0] for s in slips[:10]]
        links = Links.load(db, oldest, team_url=team_url, nudges_in=rt.settings.nudges_in, viewer=manager_id)
    out = blocks.team_home_blocks(team) + [header(f"Buyer signals ({len(flagged)})")]
    out += blocks.acted_list(
        _at_stake([f.deal for f in flagged]),
        [(f.deal, buyer_signal_line(f, links)) for f in flagged[:10]],
        len(flagged),
        empty="Nothing heard from a buyer that should worry you.",
        rule=watch.BUYER_SIGNALS_RULE.format(days=rt.settings.signature_days),
        more=MORE,
        link=links.deal,
        with_menu=HOME_MENUS,
    )
    out.append(header(f"Follow-ups slipping ({len(slips)})"))
    out += blocks.acted_list(
        _at_stake([s.deal for s in slips]),
        [(s.deal, slipping_line(s, links, menu=i < HOME_MENUS)) for i, s in enumerate(slips[:10])],
        len(slips),
        empty=SLIPPING_EMPTY,
        rule=watch.SLIPPING_RULE.format(missed=watch.MISSED_AFTER),
        more=MORE,
        link=links.deal,
        with_menu=HOME_MENUS,
    )
    return out
