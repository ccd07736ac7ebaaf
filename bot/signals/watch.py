"""The manager's two lists, each with its rule written once here and stated in the digest: *Buyer signals* (what the
buyer said or did) and *Follow-ups slipping* (steps overdue after the rep's own reminder, weighted by deal size).

Reads `signals_of` for the buyer's side and the steps for the rep's; pure queries, no Slack. One meaning of missed,
the playbook's: a step counts as slipping from the day after it falls due, once its nudge has reached the rep, until
its own window passes (its playbook `window`, the days after it falls due that it is still worth doing; MISSED_AFTER
for a step without one). Then it counts once, as missed, never as forever overdue. A step the catch-up recorded as
missed (status 'missed': its window passed while the bot was away, bot.nudges.ledger) was never posted, so it never
slips: it counts once as missed, in the digest after it was recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlite_utils

from bot.deals.capture import Money
from bot.deals.model import Deal, Nudge, deals_by_id, nudge_from_row, sql_list
from bot.nudges.ledger import MISSED, MISSED_AFTER, windows
from bot.nudges.ledger import first_due_within_window as _first_due
from bot.nudges.reminders import REMINDED
from bot.signals.model import BuyerFacts, signals_of
from bot.storage import query
from bot.timestamps import stamp

__all__ = ["MISSED_AFTER", "windows"]  # the rule's numbers live with is_stale (bot.nudges.ledger); read here too

# Steps whose nudge reached the rep (posted in the channel, or sent by DM when the channel can't be reached).
NUDGED = ("posted", "undeliverable")

BUYER_SIGNALS_RULE = (
    "Open deals where the buyer sounded worried last time we heard, a concern is flagged with nothing positive "
    "heard since, a verbal yes has waited more than {days} days for its signature, the buyer asked to cancel, or the "
    "deal moved out of closed-won in the CRM. "
    "Cancellation asks first, then the biggest deals."
)
SLIPPING_RULE = (
    "Open deals with steps overdue after their nudge reached the rep and the rep's own morning reminder listed them, "
    "until the step's window passes (its playbook window, or {missed} days late for a step without one): then it "
    "counts once as missed. Biggest amount × steps overdue first: the bigger the spend, the bigger the doubt."
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


def buyer_signals(
    db: sqlite_utils.Database, *, team_id: str, today: date, signature_days: int, reps: frozenset[str] | None = None
) -> list[Flagged]:
    """*Buyer signals*: cancellation asks first, then by amount, largest first (`reps`: only their deals)."""
    facts = signals_of(db, team_id=team_id, today=today, signature_days=signature_days)
    flagged = [f for f in facts.values() if f.flagged]
    deals = deals_by_id(db, [f.deal_id for f in flagged])
    found = [Flagged(deals[f.deal_id], f) for f in flagged if f.deal_id in deals]
    if reps is not None:
        found = [f for f in found if f.deal.owner_id in reps]
    return sorted(found, key=lambda f: (not f.cancel_asked, -f.deal.fields.money.amount, f.deal.id))


def slipping(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    today: date,
    reps: frozenset[str] | None = None,
    windows: Mapping[str, int] | None = None,
) -> list[Slipping]:
    """*Follow-ups slipping*: deals with steps overdue after their reminder and still within their window (`windows`,
    by step id; MISSED_AFTER days for the rest), heaviest first."""
    first_due, params = _first_due(windows, today, "today")
    rows = query(
        db,
        f"""
        SELECT n.* FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status = 'open' AND n.status IN ({sql_list(NUDGED)})
          AND n.due_date < :today AND n.due_date >= :today_floor AND n.due_date >= {first_due}
          AND {REMINDED}
        ORDER BY n.due_date, n.id
        """,
        {"team": team_id, "today": today.isoformat(), **params},
    )
    steps: dict[int, list[Nudge]] = {}
    for r in rows:
        steps.setdefault(r["deal_id"], []).append(nudge_from_row(r))
    deals = deals_by_id(db, steps)
    found = [Slipping(deals[i], tuple(s)) for i, s in steps.items() if i in deals]
    if reps is not None:
        found = [s for s in found if (s.steps[0].assignee_id or s.deal.owner_id) in reps or s.deal.owner_id in reps]
    return sorted(found, key=lambda s: (-s.weight, s.steps[0].due_date, s.deal.id))


def missed_between(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    after: date,
    today: date,
    reps: frozenset[str] | None = None,
    windows: Mapping[str, int] | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Steps missed since the last digest, each counted once: a step nudged and never done whose window (`windows`,
    else MISSED_AFTER days) was still open on `after` and has passed by `today`, and a step the catch-up recorded as
    missed after `since` and by `now` (none without them)."""
    passed_today, params = _first_due(windows, today, "today")
    passed_after, after_params = _first_due(windows, after, "after")
    per_rep = """
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep, COUNT(*) AS steps FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status = 'open' AND {steps}
        GROUP BY COALESCE(n.assignee_id, d.owner_id)
        """
    rows = query(  # nudged and never done: the window was open on `after` and has passed by `today`
        db,
        per_rep.format(
            steps=f"n.status IN ({sql_list(NUDGED)}) AND n.due_date >= :after_floor "
            f"AND n.due_date >= {passed_after} AND n.due_date < {passed_today}"
        ),
        {"team": team_id, **params, **after_params},
    )
    if since is not None and now is not None:  # recorded as missed by the catch-up since the last digest
        rows += query(
            db,
            per_rep.format(steps="n.status = :missed AND n.resolved_at > :since AND n.resolved_at <= :now"),
            {"team": team_id, "missed": MISSED, "since": stamp(since), "now": stamp(now)},
        )
    return sum(int(r["steps"]) for r in rows if reps is None or r["rep"] in reps)
