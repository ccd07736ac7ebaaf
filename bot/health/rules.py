"""One definition of a deal's health, for the asks' gate (bot.health.gate), Home and the digest (bot.stats).

A deal is unhealthy while an early step (an affirm-stage step, or a step due before its go-live date) is overdue on
it, unless a recovery step done or skipped since settled it (the rep found out what was wrong), or while the buyer's
side says otherwise: the latest word on how the buyer sounded was worried, or a concern stands with nothing positive
heard since (bot.signals.model.worries; a positive word, recorded after the recovery call say, settles both). The
conditions live in UNHEALTHY_STEP (SQL over nudges `n` joined to deals `d`, with :today) and `Health.reasons`;
an early step whose window passed (status 'missed', issue 11) counts too: the moment to reassure was lost. Nothing
else decides whether a deal is healthy. Pure queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

import sqlite_utils

from bot.deals.model import OPEN, RECOVERY, sql_list
from bot.nudges.ledger import MISSED, first_due_within_window
from bot.signals.model import CONCERNS, worries
from bot.storage import query

# An early step: the first days' touches, or anything due before the customer goes live.
EARLY_STEP = "(n.stage = 'affirm' OR (d.go_live_date IS NOT NULL AND n.due_date < d.go_live_date))"
# A recovery step done or skipped after the step fell due has dealt with it (stamps and dates compare as strings).
SETTLED_BY_RECOVERY = (
    f"EXISTS (SELECT 1 FROM nudges r WHERE r.deal_id = n.deal_id AND r.purpose = '{RECOVERY}' "
    "AND r.status IN ('done', 'skipped') AND r.resolved_at > n.due_date)"
)
# The one rule: an early step still owed past its due date, or whose window passed undone (missed), on an open deal,
# and not settled by a recovery step.
UNHEALTHY_STEP = (
    f"d.status = 'open' AND {EARLY_STEP} AND n.status IN ({sql_list((*OPEN, MISSED))}) AND n.due_date < :today "
    f"AND COALESCE(n.purpose, '') != '{RECOVERY}' AND NOT {SETTLED_BY_RECOVERY}"
)


@dataclass(frozen=True)
class Health:
    """Why a deal is or isn't healthy: early steps overdue (how many, since when), what the buyer's side said."""

    deal_id: int
    overdue_early: int = 0  # the missed ones included
    oldest_overdue: date | None = None
    oldest_owed: date | None = None  # the oldest of those still owed (not missed)
    missed_early: int = 0  # of them, steps whose window passed undone
    worried: bool = False  # the latest word on how the buyer sounded was worried
    concerns: tuple[str, ...] = ()  # standing concerns, as the team named them
    reverted: bool = False  # the deal left closed-won in its CRM (and hasn't come back)

    @property
    def healthy(self) -> bool:
        return not self.reasons

    @property
    def reasons(self) -> tuple[str, ...]:
        """What makes the deal unhealthy, in a few words each (buyer signals add theirs here)."""
        found = []
        owed = self.overdue_early - self.missed_early
        if owed:
            steps = "early step" if owed == 1 else "early steps"
            found.append(f"{owed} {steps} overdue since {self.oldest_owed or self.oldest_overdue:%b %-d}")
        if self.missed_early:
            steps = "early step" if self.missed_early == 1 else "early steps"
            found.append(f"{self.missed_early} {steps} missed")
        if self.worried:
            found.append("the buyer sounded worried")
        found += [f"concern: {c}" for c in self.concerns]
        if self.reverted:
            found.append("moved out of closed-won in the CRM")
        return tuple(found)


def unhealthy(
    db: sqlite_utils.Database,
    *,
    today: date,
    team_id: str | None = None,
    deal_ids: Iterable[int] | None = None,
    windows: dict[str, int] | None = None,
) -> dict[int, Health]:
    """The unhealthy deals of a workspace (or among `deal_ids`), each with why. With the playbook's `windows`, a late
    step past its window is counted as missed, not overdue (the reminder's, Home's and the digest's rule); without,
    only a step the catch-up recorded as missed."""
    where, params = "", {"today": today.isoformat()}
    missed = f"n.status = '{MISSED}'"
    if windows is not None:
        first_due, window_params = first_due_within_window(windows, today, "health")
        missed = f"({missed} OR n.due_date < {first_due})"
        params |= window_params
    if team_id is not None:
        where += " AND d.team_id = :team"
        params["team"] = team_id
    if deal_ids is not None:
        deal_ids = ids = sorted(set(deal_ids))
        if not ids:
            return {}
        where += f" AND d.id IN ({','.join(str(int(i)) for i in ids)})"
    rows = query(
        db,
        f"""
        SELECT d.id AS deal_id, COUNT(n.id) AS overdue_early, MIN(n.due_date) AS oldest_overdue,
               COUNT(CASE WHEN {missed} THEN 1 END) AS missed_early,
               MIN(CASE WHEN NOT {missed} THEN n.due_date END) AS oldest_owed
        FROM deals d JOIN nudges n ON n.deal_id = d.id
        WHERE {UNHEALTHY_STEP}{where}
        GROUP BY d.id
        """,
        params,
    )
    found = {
        r["deal_id"]: Health(
            r["deal_id"],
            r["overdue_early"],
            date.fromisoformat(r["oldest_overdue"]),
            missed_early=r["missed_early"],
            oldest_owed=date.fromisoformat(r["oldest_owed"]) if r["oldest_owed"] else None,
        )
        for r in rows
    }
    for deal_id, buyer in worries(db, team_id=team_id, deal_ids=deal_ids).items():
        named = tuple(dict.fromkeys(CONCERNS.get(c.concern, "other").lower() for c in buyer.concerns))
        found[deal_id] = replace(
            found.get(deal_id, Health(deal_id)),
            worried=buyer.worried is not None,
            concerns=named,
            reverted=buyer.reverted_on is not None,
        )
    return found


def health(db: sqlite_utils.Database, deal_id: int, *, today: date, windows: dict[str, int] | None = None) -> Health:
    """One deal's health as of `today` (`windows`: see unhealthy)."""
    return unhealthy(db, today=today, deal_ids=[deal_id], windows=windows).get(deal_id, Health(deal_id))
