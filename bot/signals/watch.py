"""The manager's two lists, each with its rule written once here and stated in the digest: *Buyer signals* (what the
buyer said or did) and *Follow-ups slipping* (steps overdue after the rep's own reminder, weighted by deal size).

Reads `signals_of` for the buyer's side and the steps for the rep's; pure queries, no Slack. A step counts as
slipping from the day after it falls due, once its nudge has reached the rep, until MISSED_AFTER days later: then
its window has passed and it counts once, as missed, never as forever overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlite_utils

from bot.deals.capture import Money
from bot.deals.model import Deal, Nudge, nudge_from_row, row_to_deal
from bot.nudges.reminders import REMINDED as REMINDED_BY_MORNING
from bot.signals.model import BuyerFacts, signals_of
from bot.storage import query

MISSED_AFTER = 14  # days past its due date after which a step's window has passed: missed, counted once
# Steps whose nudge reached the rep (posted in the channel, or sent by DM when the channel can't be reached).
REMINDED = ("posted", "undeliverable")

BUYER_SIGNALS_RULE = (
    "Open deals where the buyer sounded worried last time we heard, a concern is flagged with nothing positive "
    "heard since, a verbal yes has waited more than {days} days for its signature, the buyer asked to cancel, or the "
    "deal moved out of closed-won in the CRM. "
    "Cancellation asks first, then the biggest deals."
)
SLIPPING_RULE = (
    "Open deals with steps overdue after their nudge reached the rep and the rep's own morning reminder listed them, "
    "up to {missed} days late (then they count "
    "once as missed), biggest amount × steps overdue first: the bigger the spend, the bigger the doubt."
)


@dataclass(frozen=True)
class Flagged:
    """A deal on *Buyer signals*, with its buyer facts."""

    deal: Deal
    facts: BuyerFacts

    @property
    def cancel_asked(self) -> bool:
        return self.facts.cancel_asked is not None


@dataclass(frozen=True)
class Slipping:
    """A deal on *Follow-ups slipping*: its overdue steps after the reminder, oldest first."""

    deal: Deal
    steps: tuple[Nudge, ...]

    @property
    def weight(self) -> Decimal:
        return self.deal.fields.money.amount * len(self.steps)


def at_stake(deals: list[Deal]) -> list[Money]:
    """The amounts of `deals`, summed per currency (largest first): what a list puts at stake."""
    totals: dict[str, Decimal] = {}
    for deal in deals:
        money = deal.fields.money
        totals[money.currency] = totals.get(money.currency, Decimal(0)) + money.amount
    return sorted((Money(amount, cur) for cur, amount in totals.items()), key=lambda m: (-m.amount, m.currency))


def _deals(db: sqlite_utils.Database, ids: list[int]) -> dict[int, Deal]:
    found: dict[int, Deal] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found |= {r["id"]: row_to_deal(r) for r in query(db, f"SELECT * FROM deals WHERE id IN ({marks})", chunk)}
    return found


def buyer_signals(
    db: sqlite_utils.Database, *, team_id: str, today: date, signature_days: int, reps: frozenset[str] | None = None
) -> list[Flagged]:
    """*Buyer signals*: cancellation asks first, then by amount, largest first (`reps`: only their deals)."""
    facts = signals_of(db, team_id=team_id, today=today, signature_days=signature_days)
    flagged = [f for f in facts.values() if f.flagged]
    deals = _deals(db, sorted(f.deal_id for f in flagged))
    found = [Flagged(deals[f.deal_id], f) for f in flagged if f.deal_id in deals]
    if reps is not None:
        found = [f for f in found if f.deal.owner_id in reps]
    return sorted(found, key=lambda f: (not f.cancel_asked, -f.deal.fields.money.amount, f.deal.id))


def slipping(
    db: sqlite_utils.Database, *, team_id: str, today: date, reps: frozenset[str] | None = None
) -> list[Slipping]:
    """*Follow-ups slipping*: deals with steps overdue after their reminder and not yet missed, heaviest first."""
    rows = query(
        db,
        f"""
        SELECT n.* FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status = 'open' AND n.status IN ({", ".join(f"'{s}'" for s in REMINDED)})
          AND n.due_date < :today AND n.due_date >= :window AND {REMINDED_BY_MORNING}
        ORDER BY n.due_date, n.id
        """,
        {"team": team_id, "today": today.isoformat(), "window": (today - timedelta(days=MISSED_AFTER)).isoformat()},
    )
    steps: dict[int, list[Nudge]] = {}
    for r in rows:
        steps.setdefault(r["deal_id"], []).append(nudge_from_row(r))
    deals = _deals(db, sorted(steps))
    found = [Slipping(deals[i], tuple(s)) for i, s in steps.items() if i in deals]
    if reps is not None:
        found = [s for s in found if (s.steps[0].assignee_id or s.deal.owner_id) in reps or s.deal.owner_id in reps]
    return sorted(found, key=lambda s: (-s.weight, s.steps[0].due_date, s.deal.id))


def missed_between(
    db: sqlite_utils.Database, *, team_id: str, after: date, today: date, reps: frozenset[str] | None = None
) -> int:
    """Steps whose window passed after `after` and by `today` (MISSED_AFTER days past due, never done): each is
    counted once, in the digest of the day it passed."""
    rows = query(
        db,
        f"""
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status = 'open' AND n.status IN ({", ".join(f"'{s}'" for s in REMINDED)})
          AND n.due_date < :until AND n.due_date >= :since
        """,
        {
            "team": team_id,
            "until": (today - timedelta(days=MISSED_AFTER)).isoformat(),
            "since": (after - timedelta(days=MISSED_AFTER)).isoformat(),
        },
    )
    return sum(1 for r in rows if reps is None or r["rep"] in reps)
