"""Block Kit for what a manager does about a deal (pure): the menu beside each deal in the digest and on Home
(Remind rep, Reassign, Open deal), the reminder a rep gets, the Reassign modal and its answers."""

from __future__ import annotations

from collections.abc import Callable

from bot.deals.model import Deal, Nudge
from bot.manage import forms
from bot.manage.model import ManagerTeam
from bot.nudges.blocks import nudge_title, where_it_is
from bot.nudges.links import Links, labelled
from bot.playbook.hours import due_day
from bot.slack.blocks import button, context, header, input_block, modal, option, pack_lines, section
from bot.slack.text import escape, mention, plain, truncate

DEAL_MENU, CHOOSE_TEAM = "manage_deal_menu", "manage_choose_team"
REMIND, REASSIGN, OPEN, LINK = "remind", "reassign", "open", "link"  # LINK: Slack opened the deal's URL itself
MANAGERS_ONLY = "Only a manager can do that from here."
TOP_WITH_MENU = 3  # deals of a list shown with their own menu (a block each); the rest are lines


def deal_menu(deal: Deal, link: str | None) -> dict:
    """Remind rep, Reassign, Open deal: one overflow menu, so each deal costs one block."""
    value = str(deal.id)
    opening = option("Open deal", f"{LINK if link else OPEN}:{value}")
    if link:
        opening["url"] = link
    return {
        "type": "overflow",
        "action_id": DEAL_MENU,
        "options": [option("Remind rep", f"{REMIND}:{value}"), option("Reassign…", f"{REASSIGN}:{value}"), opening],
    }


def deal_section(line: str, deal: Deal, link: str | None) -> dict:
    """One deal's line with its menu beside it."""
    block = section(line)
    block["accessory"] = deal_menu(deal, link)
    return block


def acted_list(
    heading: str,
    lines: list[tuple[Deal, str]],
    total: int,
    *,
    empty: str,
    rule: str,
    more: str,
    link: Callable[[Deal], str | None],
    with_menu: int = TOP_WITH_MENU,
) -> list[dict]:
    """A list a manager acts on: its first `with_menu` deals each with its menu (a block each), the rest packed in
    one section, then one context line with "…and N more" (`more`) and the list's rule; `empty` when none."""
    if not lines:
        return [section(f"{heading}\n{empty}"), context(rule)]
    out = [section(heading)]
    out += [deal_section(line, deal, link(deal)) for deal, line in lines[:with_menu]]
    rest = pack_lines([line for _, line in lines[with_menu:]], more, total=total - with_menu, sections=1)
    counted = rest[-1]["elements"] if rest and rest[-1]["type"] == "context" else []
    out += [b for b in rest if b["type"] == "section"]
    return [*out, {"type": "context", "elements": [*counted, *context(rule)["elements"]]}]


def read_menu(value: str | None) -> tuple[str, int] | None:
    """A menu option's value (`"remind:12"`) -> ("remind", 12); None for anything else, never an exception."""
    action, _, deal = (value or "").partition(":")
    if action not in (REMIND, REASSIGN, OPEN, LINK) or not (deal.isascii() and deal.isdigit() and len(deal) < 19):
        return None
    return action, int(deal)


def _owed_line(n: Nudge, deal: Deal, links: Links) -> str:
    line = f"• {nudge_title(n, deal)} (due {due_day(n.due_date)})"
    place = links.place(n)
    return f"{line} · {labelled(links.step(n, deal), 'open it')}" if place and links.team_url else line


def reminder_text(deal: Deal, owed: list[Nudge], upcoming: Nudge | None, *, by: str, links: Links) -> str:
    """The DM a rep gets from Remind rep: the steps, by name, each linked to its message, and where their drafts and
    buttons are (`links` is for the rep: DEALCOACH_NUDGES_IN's thread, channel or their DMs)."""
    account = escape(deal.account)
    if owed:
        steps = "\n".join(_owed_line(n, deal, links) for n in owed[:10])
        more = f"\n…and {len(owed) - 10} more." if len(owed) > 10 else ""
        if any(links.someone_elses_dm(n, deal) for n in owed):
            where = "They're on my Home tab with drafts and the buttons to mark them done."
        else:
            where = f"They're {links.mode_words(deal)}, with drafts and the buttons to mark them done."
        return f"{mention(by)} asks you to catch up on *{account}*:\n{steps}{more}\n{where}"
    if upcoming is not None:
        return (
            f"{mention(by)} asks you to keep an eye on *{account}*: nothing is overdue; next is "
            f"{nudge_title(upcoming, deal)} (due {due_day(upcoming.due_date)}). {where_it_is(upcoming, deal, links)}"
        )
    return f"{mention(by)} asks you to check in with *{account}*: how is the buyer doing? Log a touch on the deal."


def reminded_text(deal: Deal, owed: list[Nudge]) -> str:
    what = f"the {len(owed)} step{'s' if len(owed) != 1 else ''} owed" if owed else "the deal"
    return f"Reminded {mention(deal.owner_id)} about {what} on *{escape(deal.account)}* by DM."


def reassign_modal(deal: Deal, oldest: Nudge | None) -> dict:
    choices = []
    if oldest is not None:
        choices.append(option(truncate(f"Its oldest step owed: {nudge_title(oldest, deal)}", 75), forms.STEP))
    choices += [
        option("The whole deal: it becomes theirs", forms.DEAL),
        option("All of this rep's open deals (they are leaving)", forms.ALL),
    ]
    return modal(
        forms.REASSIGN_MODAL,
        title="Reassign",
        submit="Reassign",
        close="Cancel",
        metadata=forms.modal_metadata(deal=deal.id),
        blocks=[
            section(f"*{escape(deal.account)}* is {mention(deal.owner_id)}'s. What should someone else take over?"),
            input_block(
                forms.SCOPE,
                "Hand over",
                {"type": "radio_buttons", "options": choices, "initial_option": choices[0]},
                optional=False,
            ),
            input_block(
                forms.TO,
                "To",
                {"type": "users_select", "placeholder": {"type": "plain_text", "text": "Pick a teammate"}},
                optional=False,
            ),
        ],
    )


def handed_over_text(
    deals: list[Deal], scope: str, *, by: str, steps: int, step: Nudge | None = None, links: Links | None = None
) -> str:
    """The DM the new person gets; for one step, where its message is (`links` is for them)."""
    names = ", ".join(f"*{escape(d.account)}*" for d in deals[:10]) + (
        f" and {len(deals) - 10} more" if len(deals) > 10 else ""
    )
    if scope == forms.STEP:
        what = f"a follow-up on {names}: {nudge_title(step, deals[0])}" if step else f"a follow-up on {names}"
        where = where_it_is(step, deals[0], links or Links()) if step else ""
        return f"{mention(by)} handed you {what}. {where}".rstrip()
    what = "deal" if len(deals) == 1 else "deals"
    return (
        f"{mention(by)} handed you the {what} {names} with {steps} open step{'s' if steps != 1 else ''}: "
        "their follow-ups come to you from now on."
    )


def open_deal_text(deal: Deal, links: Links) -> str:
    where = links.deal_words(deal)  # the deal's thread (or message) in #sales, linked when Slack gave the URL
    return f"*{escape(deal.account)}* ({deal.fields.money.format()}, {mention(deal.owner_id)}): its plan is below; {where}."


def covering(team: ManagerTeam) -> str:
    if team.reps is None:
        return "everyone's deals (the default)"
    parts = []
    if team.members:
        parts.append(" ".join(mention(u) for u in sorted(team.members)[:30]))
    if team.usergroup:
        n = len(team.group_members)
        parts.append(f"the {n} {'person' if n == 1 else 'people'} of your user group (as Slack listed them last)")
    return "the deals of " + " and ".join(parts)


def team_home_blocks(team: ManagerTeam) -> list[dict]:
    """The manager's choice of reps on Home: whom their digest, Home and report cover."""
    return [
        header("My team"),
        section(f"Your digest, this tab's team lists and your report cover {covering(team)}."),
        {"type": "actions", "block_id": "manage_team", "elements": [button(CHOOSE_TEAM, "Choose my team", "team")]},
    ]


def team_modal(team: ManagerTeam, groups: list[dict] | None) -> dict:
    """People, and a Slack user group when Slack lists them (`groups`: its id, handle and name; None: it couldn't)."""
    people = {"type": "multi_users_select", "placeholder": {"type": "plain_text", "text": "Everyone"}}
    if team.members:
        people["initial_users"] = sorted(team.members)
    blocks = [
        section("Whose deals should your digest, Home and report cover? Choose nothing for everyone."),
        input_block(forms.PEOPLE, "The reps you manage", people, optional=True),
    ]
    choices = [
        option(truncate(plain(f"@{g.get('handle', '')} ({g.get('name', '')})"), 75), g["id"])
        for g in (groups or [])[:100]
        if forms.is_usergroup_id(g.get("id"))
    ]
    if choices:
        group = {"type": "static_select", "placeholder": {"type": "plain_text", "text": "None"}, "options": choices}
        current = next((c for c in choices if c["value"] == team.usergroup), None)
        if current:
            group["initial_option"] = current
        hint = "Its members are read again before each digest."
        blocks.append(input_block(forms.GROUP, "And/or a Slack user group", group, optional=True, hint=hint))
    elif groups is None:
        blocks.append(context("Slack didn't list your user groups just now, so pick people."))
    return modal(forms.TEAM_MODAL, title="My team", submit="Save", close="Cancel", metadata="{}", blocks=blocks)
