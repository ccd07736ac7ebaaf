"""Block Kit for the managers' daily digest (pure): most urgent first, inside Slack's limits however big the team."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.deals.model import Deal
from bot.digest.build import Digest, Outcome, WeekRate
from bot.digest.numbers import Share
from bot.manage.blocks import TOP_WITH_MENU, acted_list
from bot.nudges.blocks import nudge_title
from bot.nudges.links import Links, labelled
from bot.report.render import digest_lines
from bot.settings import Settings
from bot.signals.blocks import quoted_note
from bot.signals.model import CONCERNS, Signal
from bot.signals.watch import BUYER_SIGNALS_RULE, MISSED_AFTER, SLIPPING_RULE, Flagged, Slipping, at_stake
from bot.slack.blocks import MESSAGE_BLOCKS, context, divider, header, pack_lines, section
from bot.slack.text import escape, mention, plain, truncate
from bot.stats import AtRisk, RepStats

TOP_AT_RISK, TOP_DEALS, TOP_REPS, TOP_OUTCOMES, TOP_SIGNALS = 10, 8, 40, 8, 10
SECTIONS_PER_PART = 2  # sections one part of the digest may fill before the rest is summarised
MORE = "…and {n} more — see the Home tab"
ACCOUNT_CHARS, REASON_CHARS, DETAIL_CHARS = 80, 300, 200


def deal_label(deal: Deal, links: Links | None) -> str:
    """The account, linked to the deal's message (in thread mode with its thread open) once it is posted."""
    return labelled(links.deal(deal) if links else None, escape(truncate(deal.account, ACCOUNT_CHARS)))


def _quoted(text: str | None, limit: int) -> str:
    return f"“{escape(truncate(' '.join(text.split()), limit))}”" if text and text.strip() else ""


def _day(moment, tz: ZoneInfo | None = None) -> str:
    if isinstance(moment, datetime):
        moment = moment.astimezone(tz) if tz else moment
    return f"{moment:%a %b %-d}"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def _pack(heading: str, lines: list[str], total: int) -> list[dict]:
    """The heading and as many lines as fit in SECTIONS_PER_PART sections; the rest become "…and N more"."""
    return pack_lines(lines, MORE, heading=heading, total=total, sections=SECTIONS_PER_PART)


def at_risk_line(item: AtRisk, links: Links | None, now: datetime) -> str:
    deal = item.deal
    why = []
    if item.owed_early:
        why.append(
            f"{_plural(item.owed_early, 'early touch', 'early touches')} overdue since "
            f"{_day(item.oldest_owed or item.oldest_overdue)}"
        )
    if item.missed_early:  # past their window: missed, as the slipping list and the rep's reminder count them
        why.append(f"{_plural(item.missed_early, 'early touch', 'early touches')} missed")
    if item.quiet_since is not None:
        why.append(f"no touch for {_plural(max((now - item.quiet_since).days, 0), 'day')}")
    money = deal.fields.money.format()
    todo = AT_RISK_TODO if item.large else QUIET_TODO
    return (
        f"• {deal_label(deal, links)} · {money} · {go_live_note(deal)} · {mention(deal.owner_id)} — "
        f"{'; '.join(why)}. *Do:* {todo}."
    )


def at_risk_rule(large_deal: Decimal, quiet_days: int) -> str:
    """The list's rule, as stated under it (bot.stats.at_risk decides; bot.health.rules says what unhealthy is)."""
    return (
        f"Large deals ({large_deal:,.0f} or more, in the deal's own currency) with an early touch overdue (the first "
        f"days' touches, or anything due before go-live), counted from its due day, or missed (past its window), "
        f"oldest first; then open deals "
        f"with no step done or touch logged for {quiet_days}+ days."
    )


def go_live_note(deal: Deal) -> str:
    """Where go-live stands, as recorded: live since, expected, or not known yet (never a guess)."""
    when = deal.fields.go_live_date
    if when is None:
        return "go-live not known yet"
    return f"live since {when:%b %-d}" if deal.live_at else f"go-live {when:%b %-d}"


CONCERN_TODO = {
    "budget": "revisit the business case with their economic buyer",
    "champion_left": "find and meet the new champion this week",
    "implementation": "get the implementation lead and the buyer on one call about the plan",
    "cancel": "call their sponsor today, before the cancellation is final",
}
WORRIED_TODO = "call back this week and answer that doubt"
REVERTED_TODO = "ask the rep why the CRM no longer shows it won, before the buyer hears from anyone else"
UNSIGNED_TODO = "ask what stands between them and the signature"
# Said when nothing slips: true however the steps stand (done, in time, not yet reminded, or missed and counted).
SLIPPING_EMPTY = "Nothing slipping right now."
SLIPPING_TODO = "*Remind rep*, or *Reassign* if they can't get to it"
SLIPPING_NO_MENU_TODO = "ask the rep to catch up, or reassign the steps with *Reassign* on each step's message"
AT_RISK_TODO = "make sure the buyer hears from us this week: ask the rep to call, or call them yourself"
QUIET_TODO = "ask the rep for a personal check-in with the buyer this week"


def _heard(signal: Signal) -> str:
    note = quoted_note(signal.note)
    return f" ({_day(signal.happened_on)}){': ' + note if note else ''}"


def buyer_signal_line(item: Flagged, links: Links | None) -> str:
    """Why the deal is on *Buyer signals* (every reason, the buyer's words escaped) and what to do first."""
    facts, why, todo = item.facts, [], []
    asked = facts.cancel_asked
    if asked is not None:
        why.append(f"asked to cancel{_heard(asked)}")
        todo.append(CONCERN_TODO["cancel"])
    if facts.worried is not None:
        where = "on a logged touch" if facts.worried.kind == "touch" else "after a follow-up"
        why.append(f"sounded worried {where}{_heard(facts.worried)}")
        todo.append(WORRIED_TODO)
    for concern in facts.concerns:
        if concern is not asked and concern.concern != "cancel":
            why.append(f"{CONCERNS[concern.concern].lower()} flagged{_heard(concern)}")
            todo.append(CONCERN_TODO[concern.concern])
    if facts.unsigned_days is not None:
        why.append(f"verbal yes {_plural(facts.unsigned_days, 'day')} ago, still unsigned")
        todo.append(UNSIGNED_TODO)
    if facts.reverted_on is not None:
        why.append(f"moved out of closed-won in the CRM ({_day(facts.reverted_on)}); its follow-ups are paused")
        todo.append(REVERTED_TODO)
    deal = item.deal
    return (
        f"• {deal_label(deal, links)} · {deal.fields.money.format()} · {mention(deal.owner_id)} — "
        f"{'; '.join(why)}. *Do:* {todo[0] if todo else WORRIED_TODO}."
    )


def slipping_line(item: Slipping, links: Links | None, *, menu: bool = True) -> str:
    """Why the deal is slipping and what to do: with its menu, *Remind rep* or *Reassign*; without one (past the
    first few deals), what the manager can do without it."""
    deal, oldest = item.deal, item.steps[0]
    who = sorted({mention(n.assignee_id or deal.owner_id) for n in item.steps})
    title = truncate(nudge_title(oldest, deal), 120)  # rendered with the deal's facts escaped
    where = links.step_words(oldest, deal) if links else None  # its message: thread reply, channel message or DM
    return (
        f"• {deal_label(deal, links)} · {deal.fields.money.format()} · {' '.join(who)} — "
        f"{_plural(len(item.steps), 'step')} overdue after the nudge, oldest “{title}” (due {_day(oldest.due_date)}"
        f"{', ' + where if where else ''}). *Do:* {SLIPPING_TODO if menu else SLIPPING_NO_MENU_TODO}."
    )


def _share(share: Share) -> str:
    return f"{share.rate:.0%} ({share.part} of {share.whole})" if share.rate is not None else "–"


def _remorse(days: int, share: Share) -> str:
    if share.rate is None:
        return f"no deal closed in the last {days} days"
    return f"{_share(share)} of the deals closed in the last {days} days cancelled since"


def _percent(share: Share | None) -> str:
    return f"{share.rate:.0%}" if share is not None and share.rate is not None else "–"


def trend_line(weeks: list[WeekRate]) -> str:
    """The week-by-week completion rate as one compact line of text, oldest first."""
    if not weeks:
        return "no steps due in the last weeks yet"
    rates = " → ".join(f"{w.rate:.0%}" for w in weeks)
    if len(weeks) == 1:
        return f"{rates} (the week of {_day(weeks[0].start)})"
    return f"{rates} (weeks of {_day(weeks[0].start)} to {_day(weeks[-1].start)})"


def numbers_blocks(d: Digest) -> list[dict]:
    """*The numbers*: remorse rate, on time, this week, wins, the trend; then each rep against the team."""
    n = d.numbers
    if n is None or not (n.remorse[max(n.remorse)].whole or n.on_time.whole or n.due_this_week or n.live):
        return []  # a team with nothing closed or due yet: nothing to count
    remorse = "; ".join(_remorse(days, share) for days, share in sorted(n.remorse.items()))
    kinds = Counter(o.kind for o in d.outcomes)
    wins = (
        f"{_plural(kinds['testimonial'], 'testimonial')} and {_plural(kinds['referral'], 'referral')} received "
        f"in the last 30 days, {_plural(n.live, 'deal')} live"
    )
    if d.reasons:
        wins += f", top reason to buy {_quoted(d.reasons[0].text, 80)} ({d.reasons[0].count}×)"
    lines = [
        f"• *Remorse rate*: {remorse}.",
        f"• *Completion on time*: {_share(n.on_time)} of the steps due in the last 30 days done by their due day."
        if n.on_time.rate is not None
        else "• *Completion on time*: no step was due in the last 30 days.",
        f"• *Trend*, completion by week: {trend_line(d.weeks)}.",
        f"• *Due this week*: {_plural(n.due_this_week, 'step')}. *Wins*: {wins}.",
    ]
    if d.coaching is not None:  # the first digest of the month: last month's coaching report
        lines += digest_lines(d.coaching)
    blocks = _pack(":chart_with_upwards_trend: *The numbers*", lines, len(lines))
    reps = sorted(set(n.remorse_by_rep) | set(n.on_time_by_rep) | set(n.due_this_week_by_rep))
    if reps:
        team = max(n.remorse)
        rows = [
            f"• *Team*: {_share(n.remorse[team])} · {_percent(n.on_time)} · {n.due_this_week}",
            *(
                f"• {mention(rep)}: {_share(n.remorse_by_rep.get(rep, Share(0, 0)))} · "
                f"{_percent(n.on_time_by_rep.get(rep))} · {n.due_this_week_by_rep.get(rep, 0)}"
                for rep in reps[:TOP_REPS]
            ),
        ]
        heading = f"*Each rep against the team* (remorse rate, {team} days · on time, 30 days · due this week)"
        blocks += pack_lines(rows, MORE, heading=heading, total=len(reps) + 1, sections=1)
    return blocks


def _stake(deals: list[Deal]) -> str:
    amounts = at_stake(deals)
    return " + ".join(m.format() for m in amounts) if amounts else "nothing"


def closed_line(deal: Deal, links: Links | None) -> str:
    state = " (cancelled since)" if deal.cancelled else ""
    return f"• {deal_label(deal, links)} · {deal.fields.money.format()} · {mention(deal.owner_id)}{state}"


def rep_line(rep: RepStats) -> str:
    rate = f"{rep.rate:.0%} complete (30 d)" if rep.rate is not None else "no steps due in 30 d"
    alarm = ":warning: " if rep.overdue else ""
    return (
        f"{alarm}{mention(rep.rep_id)} · {rep.done} done · {rep.overdue} overdue · {rep.due_today} due today · {rate}"
    )


def outcome_line(item: Outcome, links: Links | None) -> str:
    kind = "Testimonial" if item.kind == "testimonial" else "Referrals"
    detail = _quoted(item.detail, DETAIL_CHARS)
    by = f" ({mention(item.by)})" if item.by else ""
    return f"• {kind} · {deal_label(item.deal, links)}{': ' + detail if detail else ''}{by}"


def cancelled_line(deal: Deal, links: Links | None) -> str:
    why = _quoted(deal.cancel_reason, REASON_CHARS) or "no reason given"
    by = f" by {mention(deal.cancelled_by)}" if deal.cancelled_by else ""
    return f"• {deal_label(deal, links)} · {deal.fields.money.format()} · cancelled{by} — {why}"


def digest_text(d: Digest) -> str:
    """The notification and fallback text: counts only, no user-typed text."""
    return (
        f"Your Deal Coach digest for {_day(d.today)}: {_plural(len(d.buyer_signals), 'buyer signal')}, "
        f"{_plural(len(d.slipping), 'deal')} with follow-ups slipping, {d.at_risk_count} at risk, "
        f"{len(d.closed)} closed and {len(d.cancelled)} cancelled {_window(d)}."
    )


def _window(d: Digest) -> str:
    return "in the last 24 hours" if d.first else "since your last digest"


def digest_message(
    d: Digest,
    *,
    tz: ZoneInfo,
    team_url: str | None = None,
    links: Links | None = None,
    large_deal: Decimal = Settings.large_deal,
    quiet_days: int = Settings.quiet_days,
) -> tuple[str, list[dict]]:
    """(text, blocks) of one manager's digest; `links` to the deals' and steps' messages (without it, the deals'
    channel messages under `team_url`); `large_deal` and `quiet_days` are the settings the at-risk list used,
    stated under it."""
    links = links or Links(team_url)
    if d.first:
        covering = "Your first digest: covering the last 24 hours."
    else:
        covering = f"Since your last digest ({_day(d.since, tz)}, {d.since.astimezone(tz):%H:%M})."
    if d.reps_followed:
        covering += f" Your team: {' '.join(mention(u) for u in sorted(d.reps_followed)[:30])} (Home → My team)."
    blocks: list[dict] = [
        header(plain(f"Deal Coach digest · {_day(d.today)}")),
        context(f"{covering} Most urgent first."),
    ]

    blocks.append(divider())
    link = links.deal
    heading = f":rotating_light: *Buyer signals* ({len(d.buyer_signals)}) · {_stake([f.deal for f in d.buyer_signals])} at stake"
    lines = [(item.deal, buyer_signal_line(item, links)) for item in d.buyer_signals[:TOP_SIGNALS]]
    empty = "Nothing heard from a buyer that should worry you."
    rule = BUYER_SIGNALS_RULE.format(days=d.signature_days)
    blocks += acted_list(heading, lines, len(d.buyer_signals), empty=empty, rule=rule, more=MORE, link=link)

    blocks.append(divider())
    heading = f":hourglass: *Follow-ups slipping* ({len(d.slipping)}) · {_stake([s.deal for s in d.slipping])} at stake"
    lines = [
        (item.deal, slipping_line(item, links, menu=i < TOP_WITH_MENU))
        for i, item in enumerate(d.slipping[:TOP_SIGNALS])
    ]
    missed = (
        f" Since your last digest, {_plural(d.missed, 'step')} passed {'its' if d.missed == 1 else 'their'} window"
        " undone: missed, counted once."
        if d.missed
        else ""
    )
    empty = SLIPPING_EMPTY
    rule = SLIPPING_RULE.format(missed=MISSED_AFTER) + missed
    blocks += acted_list(heading, lines, len(d.slipping), empty=empty, rule=rule, more=MORE, link=link)

    blocks.append(divider())
    heading = f":warning: *At risk of buyer's remorse* ({d.at_risk_count})"
    if d.at_risk:
        lines = [at_risk_line(item, links, d.now) for item in d.at_risk[:TOP_AT_RISK]]
        blocks += _pack(heading, lines, d.at_risk_count)
    else:
        blocks.append(section(f"{heading}\nNothing at risk: early touches are on time and no deal has gone quiet."))
    blocks.append(context(at_risk_rule(large_deal, quiet_days)))

    if d.closed:
        blocks.append(divider())
        heading = f":tada: *Closed {_window(d)}* ({len(d.closed)})"
        blocks += _pack(heading, [closed_line(deal, links) for deal in d.closed[:TOP_DEALS]], len(d.closed))

    if d.reps:
        blocks.append(divider())
        heading = (  # overdue as slipping counts it: the at-risk list above counts a step from its due day
            f":bar_chart: *Follow-ups by rep* (done {_window(d)}, overdue after the rep's own reminder, due today, "
            "completion)"
        )
        blocks += _pack(heading, [rep_line(rep) for rep in d.reps[:TOP_REPS]], len(d.reps))

    numbers = numbers_blocks(d)
    if numbers:
        blocks.append(divider())
        blocks += numbers

    if d.reasons:
        blocks.append(divider())
        heading = (
            f":speech_balloon: *Why buyers chose us* (from {_plural(d.reasons_total, 'win analysis', 'win analyses')})"
        )
        lines = [f"• {_quoted(r.text, 150)} — {r.count}×" for r in d.reasons]
        blocks += _pack(heading, lines, len(lines))

    if d.outcomes:
        blocks.append(divider())
        heading = f":star: *Testimonials and referrals, last 30 days* ({len(d.outcomes)})"
        lines = [outcome_line(item, links) for item in d.outcomes[:TOP_OUTCOMES]]
        blocks += _pack(heading, lines, len(d.outcomes))

    if d.cancelled:
        blocks.append(divider())
        heading = f":x: *Cancelled {_window(d)}* ({len(d.cancelled)})"
        lines = [cancelled_line(deal, links) for deal in d.cancelled[:TOP_DEALS]]
        blocks += _pack(heading, lines, len(d.cancelled))

    blocks.append(context("Completion = done ÷ (done + skipped + overdue) of the steps due in the last 30 days."))
    return digest_text(d), blocks[:MESSAGE_BLOCKS]


def chart_title(weeks: list[WeekRate]) -> str:
    return f"Team completion rate, last {_plural(len(weeks), 'week')}"


def chart_comment(weeks: list[WeekRate]) -> str:
    latest, before = weeks[-1], weeks[-2]
    return (
        f"Completion rate by week: {latest.rate:.0%} in the week of {_day(latest.start)}, "
        f"{before.rate:.0%} the week before."
    )
