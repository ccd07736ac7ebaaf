"""The pacing rules a playbook keeps for every tier and buyer: a buyer is neither crowded nor left alone.

At most three buyer touches in any seven days, and no buyer silence over three weeks in the first 100 days.
Touches are the steps marked `buyer = true`, on the day the nudge goes out (a step due at the weekend goes out
on Monday), for a deal closed on each day of the week, with go-live where the playbook assumes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from bot.playbook.loader import PERSONAS, PlannedStep, Playbook, Step

MAX_TOUCHES = 3
WINDOW_DAYS = 7
MAX_SILENCE = 21
HORIZON = 100
A_MONDAY = date(2026, 1, 5)  # any Monday: the checks close a deal on each day of that week
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Violation:
    tier: str
    persona: str
    amount: Decimal
    closed: str  # the weekday the deal closed on
    rule: str
    days: tuple[int, ...]  # days after close: the crowded touches, or the silence's first and last day

    def __str__(self) -> str:
        deal = f"{self.tier} tier (a deal of {self.amount:,}), {self.persona} buyer, closed on a {self.closed}"
        return f"{deal}: {self.rule}"


@dataclass(frozen=True)
class Touch:
    day: int  # days after close the nudge goes out
    step: Step


def sample_deals(playbook: Playbook) -> list[tuple[str, Decimal]]:
    """(tier, amount) pairs covering every set of steps an amount can select: each tier's start and every step's
    amount bounds."""
    points = {start for _, start in playbook.tiers} | {Decimal(0)}
    for step in playbook.steps:
        if step.min_amount is not None:
            points.add(step.min_amount)
        if step.max_amount is not None:
            points |= {step.max_amount, step.max_amount + Decimal("0.01")}
    return [(playbook.tier_of(a, playbook.currency), a) for a in sorted(points)]


def _sent_on(due: date) -> date:
    while due.weekday() >= 5:
        due += timedelta(days=1)
    return due


def touches(playbook: Playbook, *, persona: str, amount: Decimal, closed: date) -> list[Touch]:
    """The buyer touches of one deal, by the day its nudge goes out."""
    plan = playbook.plan(close_date=closed, persona=persona, amount=amount, currency=playbook.currency)
    found = [Touch((_sent_on(p.due) - closed).days, p.step) for p in plan if p.step.buyer]
    return sorted(found, key=lambda t: t.day)


def _crowded(days: list[int]) -> tuple[int, ...] | None:
    for i, first in enumerate(days):
        window = [d for d in days[i:] if d < first + WINDOW_DAYS]
        if len(window) > MAX_TOUCHES:
            return tuple(window)
    return None


def _silence(days: list[int]) -> tuple[int, int] | None:
    marks = [0, *(d for d in days if d <= HORIZON), HORIZON]
    for before, after in zip(marks, marks[1:], strict=False):
        if after - before > MAX_SILENCE:
            return before, after
    return None


def breaches(plan: list[PlannedStep], closed: date) -> list[str]:
    """The rules one deal's own plan breaks (its go-live may sit elsewhere than the playbook assumes)."""
    days = sorted((_sent_on(p.due) - closed).days for p in plan if p.step.buyer)
    found = []
    crowded, silent = _crowded(days), _silence(days)
    if crowded:
        shown = ", ".join(str(d) for d in crowded)
        found.append(f"{len(crowded)} buyer touches within {WINDOW_DAYS} days (days {shown})")
    if silent:
        found.append(f"no buyer touch from day {silent[0]} to day {silent[1]} ({silent[1] - silent[0]} days)")
    return found


def check(playbook: Playbook) -> list[Violation]:
    """Every breach of the pacing rules, the first per tier, amount, buyer and rule."""
    found: list[Violation] = []
    for tier, amount in sample_deals(playbook):
        for persona in PERSONAS:
            seen: set[str] = set()
            for offset in range(7):
                closed = A_MONDAY + timedelta(days=offset)
                days = [t.day for t in touches(playbook, persona=persona, amount=amount, closed=closed)]
                crowded, silent = _crowded(days), _silence(days)
                where = {"tier": tier, "persona": persona, "amount": amount, "closed": WEEKDAYS[offset]}
                if crowded and "crowded" not in seen:
                    seen.add("crowded")
                    shown = ", ".join(str(d) for d in crowded)
                    rule = (
                        f"{len(crowded)} buyer touches within {WINDOW_DAYS} days (days {shown}); "
                        f"at most {MAX_TOUCHES} in any {WINDOW_DAYS} days"
                    )
                    found.append(Violation(**where, rule=rule, days=crowded))
                if silent and "silent" not in seen:
                    seen.add("silent")
                    before, after = silent
                    rule = (
                        f"no buyer touch from day {before} to day {after} ({after - before} days); "
                        f"at most {MAX_SILENCE} days of silence in the first {HORIZON}"
                    )
                    found.append(Violation(**where, rule=rule, days=silent))
    return found
