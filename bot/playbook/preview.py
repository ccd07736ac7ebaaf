"""What `dealcoach preview` prints: the plans side by side (by tier, by buyer) so the difference is visible, one
deal's dated timeline, and the pacing check, without Slack."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.playbook import pacing
from bot.playbook.loader import PERSONAS, TIERS, PlannedStep, Playbook, Step

PLACEHOLDER_SHOWN = "{%s}"
A_MONDAY = date(2026, 1, 5)


class ShownAsThemselves(dict):
    """Placeholders shown as themselves, e.g. {contact}, in the terminal."""

    def __missing__(self, key: str) -> str:
        return PLACEHOLDER_SHOWN % key


def title_of(step: Step) -> str:
    return step.title.format_map(ShownAsThemselves())


def touch(step: Step) -> str:
    """How a step meets the buyer, as its flags say."""
    if not step.buyer:
        return "team"
    return "buyer, ask" if step.ask else "buyer"


def tier_amount(playbook: Playbook, tier: str) -> Decimal:
    return dict(playbook.tiers).get(tier, Decimal(0))


def _table(playbook: Playbook, columns: list[str], plans: list[list[PlannedStep]], own_draft: list[str | None]) -> str:
    days = [{p.step.id: (p.due - A_MONDAY).days for p in plan} for plan in plans]
    rows = []
    for step in playbook.steps:
        if not any(step.id in d for d in days):
            continue
        first = min(d[step.id] for d in days if step.id in d)
        cells = []
        for d, persona in zip(days, own_draft, strict=True):
            mark = "*" if persona and step.id in d and persona in dict(step.draft_for) else ""
            cells.append(f"{d[step.id]}{mark}" if step.id in d else "·")
        rows.append((first, step, cells))
    rows.sort(key=lambda r: r[0])
    width = max(len(c) for c in columns) + 2
    lines = [f"{'step':<28}{'touch':<12}" + "".join(f"{c:>{width}}" for c in columns)]
    for _, step, cells in rows:
        lines.append(f"{step.id[:27]:<28}{touch(step):<12}" + "".join(f"{c:>{width}}" for c in cells))
    touches = [str(sum(1 for p in plan if p.step.buyer)) for plan in plans]
    lines.append(f"{'buyer touches':<40}" + "".join(f"{c:>{width}}" for c in touches))
    return "\n".join(lines)


def overview(playbook: Playbook) -> str:
    """Every tier for the same buyer, every buyer in the standard tier: which steps, on which day after close."""
    tiers = [t for t in TIERS if playbook.tiers or t == "standard"]
    by_tier = [
        playbook.plan(close_date=A_MONDAY, persona="other", amount=tier_amount(playbook, t), currency=playbook.currency)
        for t in tiers
    ]
    middle = tier_amount(playbook, "standard")
    by_persona = [
        playbook.plan(close_date=A_MONDAY, persona=p, amount=middle, currency=playbook.currency) for p in PERSONAS
    ]
    starts = ", ".join(f"{t} from {a:,} {playbook.currency}" for t, a in playbook.tiers) or "one tier (no [tiers])"
    return "\n".join(
        [
            f"{playbook.name} ({playbook.source}). Tiers: {starts}.",
            f"Days after a Monday close; go-live assumed on day {playbook.go_live_after_days}. "
            "touch: buyer (touches the buyer), ask (asks them for something), team (inside the team).",
            "",
            "By tier, for the same buyer:",
            _table(playbook, tiers, by_tier, [None] * len(tiers)),
            "",
            "By buyer, in the standard tier (* = a draft written for that buyer):",
            _table(playbook, list(PERSONAS), by_persona, list(PERSONAS)),
        ]
    )


def pacing_report(playbook: Playbook) -> tuple[str, bool]:
    """(what the check says, whether the playbook keeps the rules)."""
    rules = (
        f"at most {pacing.MAX_TOUCHES} buyer touches in any {pacing.WINDOW_DAYS} days, no buyer silence over "
        f"{pacing.MAX_SILENCE} days in the first {pacing.HORIZON}"
    )
    found = pacing.check(playbook)
    if not found:
        return f"Pacing: every tier and buyer keeps the rules ({rules}).", True
    lines = [f"Pacing: {len(found)} breach{'es' if len(found) != 1 else ''} of the rules ({rules}):"]
    lines += [f"  - {v}" for v in found]
    return "\n".join(lines), False
