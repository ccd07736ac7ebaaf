"""Block Kit for the Home tab (pure): a rep's follow-ups and deals; for a manager, the team and its risks first.

Slack refuses a view over 100 blocks, so every list here is cut to a budget and summarised ("…and N more").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.deals.blocks import deal_actions
from bot.deals.capture import EXAMPLE
from bot.deals.model import Deal, Nudge
from bot.home.view import HORIZON, Home, Item, MyNudges, TeamView
from bot.nudges.blocks import nudge_actions, nudge_title
from bot.nudges.links import Links
from bot.playbook.hours import due_day
from bot.playbook.loader import STAGE_LABEL
from bot.playbook.render import facts, render
from bot.slack.blocks import context, divider, header, pack_lines, section
from bot.slack.text import bold, mention
from bot.stats import RATE_DAYS, AtRisk, RepStats

HOME_CALLBACK = "dealcoach_home"
VIEW_BLOCKS = 100
TEAM_ROWS, RISK_ROWS = 60, 25
NUDGE_SHARE = 2 / 3  # of the blocks left for the lists, when follow-ups and deals don't both fit


def _day(d) -> str:
    return f"{d:%a %b %-d}"


MISSED_NOTE = (
    "Their moment has passed (each step's window): your morning reminder no longer lists them, and managers count "
    "each once as missed, not overdue. *Done* if you did it anyway, or *Skip*."
)


def _nudge_line(item: Item, today, links: Links, *, missed: bool = False) -> str:
    n, deal = item.nudge, item.deal
    meta = [STAGE_LABEL.get(n.stage, n.stage.capitalize()), f"due {due_day(n.due_date)}"]
    late = (today - n.due_date).days
    if missed:
        meta.append(":white_circle: missed")
    elif late > 0:
        meta.append(f":hourglass: {late} day{'s' if late != 1 else ''} late")
    posted = links.step_words(n, deal) if n.status == "posted" else None
    if posted is not None:  # the message itself: the reply in the deal's thread, the channel message or the DM
        meta.append(posted)
    else:  # not posted yet (or its message unknown): the deal's message, which holds its plan
        if n.status == "planned" and n.due_date <= today:
            meta.append("not posted yet")
        meta.append(links.deal_words(deal))
    if n.assignee_id and n.assignee_id != deal.owner_id:
        meta.append(f"reassigned from {mention(deal.owner_id)}")
    if n.snoozed_until and n.status == "planned":
        meta.append(":zzz: snoozed")
    return f"*{nudge_title(n, deal)}*\n" + " · ".join(meta)


def nudge_item_blocks(item: Item, today, links: Links, *, missed: bool = False) -> list[dict]:
    """One follow-up: what to do, when and where its message is, then the same buttons as on that message."""
    return [section(_nudge_line(item, today, links, missed=missed)), nudge_actions(item.nudge)]


def my_nudges_blocks(nudges: MyNudges, today, budget: int, links: Links) -> list[dict]:
    """Overdue, due today, upcoming, then missed (past their window); at most `budget` blocks, oldest first, the rest
    counted."""
    out: list[dict] = [header("My nudges")]
    if not len(nudges):
        out.append(section(f"Nothing due in the next {HORIZON.days} days. :tada:"))
        return out
    groups = [
        (":red_circle: Overdue", "overdue", nudges.overdue),
        (":large_orange_circle: Due today", "due today", nudges.today),
        (f":calendar: Upcoming (next {HORIZON.days} days)", "upcoming", nudges.upcoming),
        (":white_circle: Missed", "missed", nudges.missed),
    ]
    groups = [g for g in groups if g[2]]
    notes = 1 if nudges.missed else 0  # the missed group says what missed means
    needed = 1 + notes + sum(1 + 2 * len(items) for _, _, items in groups)
    reserve = 0 if needed <= budget else len(groups)  # one "…and N more" line per group
    slots = max(0, (budget - 1 - notes - len(groups) - reserve) // 2)
    for title, word, items in groups:
        shown = items[:slots]
        slots -= len(shown)
        out.append(section(f"*{title}* ({len(items)})"))
        if items is nudges.missed:
            out.append(context(MISSED_NOTE))
        for item in shown:
            out += nudge_item_blocks(item, today, links, missed=items is nudges.missed)
        if len(items) > len(shown):
            out.append(context(f"…and {len(items) - len(shown)} more {word}, not shown here."))
    return out


def _deal_line(deal: Deal, stage: str, upcoming: Nudge | None, links: Links) -> str:
    line = f"{bold(deal.account)} · {deal.fields.money.format()} · {stage} · {links.deal_words(deal)}"
    go_live = deal.fields.go_live_date
    line += f"\nGo-live: {_day(go_live)}" if go_live else "\nGo-live: not known yet (you'll be asked)"
    if upcoming:
        values = facts(deal.fields, owner_id=deal.owner_id)
        line += f"\nNext: {render(upcoming.title, values)} (due {due_day(upcoming.due_date)})"
    return line


def my_deals_blocks(deals: list[tuple[Deal, str, Nudge | None]], budget: int, links: Links) -> list[dict]:
    """The user's open deals with their stage and the deal buttons; at most `budget` blocks."""
    out: list[dict] = [header(f"My deals ({len(deals)})")]
    fits = 1 + 2 * len(deals) <= budget
    slots = len(deals) if fits else max(0, (budget - 2) // 2)
    for deal, stage, upcoming in deals[:slots]:
        out += [section(_deal_line(deal, stage, upcoming, links)), deal_actions(deal)]
    if len(deals) > slots:
        out.append(context(f"…and {len(deals) - slots} more open deals, newest first. `/closed-deal list` too."))
    return out


def _needed(nudges: MyNudges, deals: list) -> tuple[int, int]:
    """Blocks each list takes when shown in full (an empty one: its header and one line)."""
    groups = [g for g in (nudges.overdue, nudges.today, nudges.upcoming, nudges.missed) if g]
    notes = 1 if nudges.missed else 0
    return (1 + notes + sum(1 + 2 * len(g) for g in groups) if groups else 2), (1 + 2 * len(deals) if deals else 2)


def welcome_blocks() -> list[dict]:
    """A rep with nothing yet: what Deal Coach does and how to start."""
    return [
        header("Welcome to Deal Coach"),
        section(
            "The moment a buyer says yes, tell me in your team channel and I'll plan the follow-ups that turn "
            "a new customer into a loyal one: a personal call, next steps, a handwritten note, a win analysis, "
            "check-ins. Your nudges and deals then show up right here."
        ),
        section(
            f"*Capture your first deal*\n`{EXAMPLE}` in the team channel\n"
            "`/closed-deal` alone opens a form with every field · `/closed-deal help` shows all the options"
        ),
    ]


def _rep_line(rep: RepStats) -> str:
    parts = [mention(rep.rep_id), f"{rep.open_deals} open deal{'s' if rep.open_deals != 1 else ''}"]
    parts.append(f":red_circle: *{rep.overdue} overdue*" if rep.overdue else "0 overdue")
    parts.append(f"{rep.due_today} due today")
    parts.append(f"{rep.rate:.0%} done" if rep.rate is not None else "nothing due lately")
    return " · ".join(parts)


def team_blocks(reps: list[RepStats]) -> list[dict]:
    """The manager's table: one line per rep, those with overdue steps first."""
    out = [header("Team")]
    if not reps:
        return out + [section("No deals in this workspace yet. Reps capture them with `/closed-deal` in a channel.")]
    out.append(
        context(
            f"Open deals · overdue and due-today steps of whoever must do them · completion: done ÷ (done + skipped "
            f"+ overdue) of the steps due in the last {RATE_DAYS} days"
        )
    )
    return out + pack_lines(
        [_rep_line(r) for r in reps[:TEAM_ROWS]], "…and {n} more reps, all on time.", total=len(reps)
    )


def _risk_line(risk: AtRisk, now: datetime, links: Links) -> str:
    deal = risk.deal
    line = f"{bold(deal.account)} · {deal.fields.money.format()} · {mention(deal.owner_id)} · {links.deal_words(deal)}"
    if risk.owed_early:
        line += f" · :rotating_light: {risk.owed_early} early step{'s' if risk.owed_early != 1 else ''} overdue"
    if risk.missed_early:
        line += f" · :rotating_light: {risk.missed_early} early step{'s' if risk.missed_early != 1 else ''} missed"
    if risk.quiet_since is not None:
        line += f" · :zzz: quiet for {max((now - risk.quiet_since).days, 0)} days"
    return line


def at_risk_blocks(team: TeamView, now: datetime, links: Links) -> list[dict]:
    """The same deals the digest flags, in the same order."""
    out = [header("Deals at risk")]
    if not team.at_risk:
        return out + [
            section(
                "None: every large deal is healthy (no early step overdue) and no deal has been quiet for "
                f"{team.quiet_days} days."
            )
        ]
    out.append(
        context(
            f"Large deals ({team.large_deal:,.0f} or more) with early steps overdue or missed (the first days' "
            "touches, or anything due before go-live), oldest first, then deals with "
            f"no step done or touch logged for {team.quiet_days}+ days"
        )
    )
    return out + pack_lines(
        [_risk_line(r, now, links) for r in team.at_risk[:RISK_ROWS]],
        "…and {n} more deals at risk.",
        total=team.at_risk_count,
    )


def home_view(
    home: Home,
    *,
    now: datetime,
    tz: ZoneInfo,
    profile: list[dict] = (),
    watch: list[dict] = (),
    links: Links = Links(),  # noqa: B008 (frozen: never changed)
) -> dict:
    """The whole tab, never over Slack's 100 blocks; `profile` is the managers' Team profile section, `watch` their
    Buyer signals and Follow-ups slipping, each deal with its menu; `links` to each step's and deal's message."""
    footer = context(f"Updated {now.astimezone(tz):%a %b %-d, %H:%M} · This tab refreshes when your follow-ups change.")
    top: list[dict] = []
    if home.team is not None:
        top += team_blocks(home.team.reps) + [*watch] + at_risk_blocks(home.team, now, links) + [divider()]
        if profile:
            top += [*profile, divider()]
    elif not len(home.nudges) and not home.deals:
        return {"type": "home", "callback_id": HOME_CALLBACK, "blocks": [*welcome_blocks(), footer]}
    budget = VIEW_BLOCKS - len(top) - 2  # the divider between the two lists, and the footer
    need_nudges, need_deals = _needed(home.nudges, home.deals)
    if need_nudges + need_deals <= budget:
        nudge_budget = need_nudges
    else:
        nudge_budget = max(budget - need_deals, min(need_nudges, int(budget * NUDGE_SHARE)))
    blocks = top + my_nudges_blocks(home.nudges, home.today, nudge_budget, links)
    if home.deals:
        blocks += [divider(), *my_deals_blocks(home.deals, budget - nudge_budget, links)]
    elif home.team is None:  # a rep helping on others' deals; a manager without deals needs no reminder
        blocks += [divider(), header("My deals"), section(f"No open deals. Capture one with `{EXAMPLE}`.")]
    blocks.append(footer)
    return {"type": "home", "callback_id": HOME_CALLBACK, "blocks": blocks[:VIEW_BLOCKS]}
