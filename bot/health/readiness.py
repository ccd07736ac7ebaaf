"""A reason-to-believe check for a verbal yes: the primer's six readiness questions as a checklist on the deal;
each one the rep can't tick becomes a targeted step with a draft (the playbook's `when = "readiness_gap"` steps),
due before the signature step. Saved in one transaction: the answers, the gap steps, the signature moved after
them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlite_utils

from bot.deals.model import READINESS_GAP, Deal
from bot.playbook.loader import READINESS, Playbook
from bot.playbook.loader import READINESS_GAP as GAP_STEP
from bot.storage import insert, query
from bot.timestamps import stamp

# What the buyer should be able to answer from what we told them, as the checklist asks it.
QUESTIONS = {
    "solves": "What our product solves for them, in their terms",
    "peers": "How customers like them got results",
    "belief": "Why it will work for them specifically (a reason to believe)",
    "implementation": "What implementation will demand: people, time, learning curve",
    "onboarding": "What happens in the first days after they sign",
    "assurances": "The assurances behind the decision: peers, guarantees, terms",
}
assert tuple(QUESTIONS) == READINESS
GAPS_A_DAY = 2  # gap steps due on one business day: with the day's other touches, a message stays short


@dataclass(frozen=True)
class Answers:
    """The checklist as last saved: the questions ticked (the buyer could answer them), by whom and when."""

    ticked: tuple[str, ...] = ()
    by: str | None = None
    at: str | None = None

    @property
    def gaps(self) -> tuple[str, ...]:
        return tuple(q for q in READINESS if q not in self.ticked)


def answers_of(deal: Deal) -> Answers | None:
    """The deal's saved checklist, or None if nobody has answered it (or what is stored can't be read)."""
    try:
        data = json.loads(deal.readiness) if deal.readiness else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    ticked = tuple(q for q in READINESS if q in (data.get("ticked") or []))
    return Answers(ticked, data.get("by"), data.get("at"))


def save(
    db: sqlite_utils.Database,
    deal: Deal,
    ticked: set[str],
    *,
    actor: str,
    now: datetime,
    today: date,
    open_day: Callable[[date], date],
    playbook: Playbook,
) -> list[str]:
    """Inside a write: store the answers and plan one step per gap, none twice, at most GAPS_A_DAY a business day
    from today (`open_day`: the first business day on or after a date), so the buyer isn't sent six emails at once;
    a gap now ticked loses its step if it isn't posted yet; the signature step, if due by the last gap's day, moves
    to the business day after it so the gaps come first. Returns the gaps that got a new step."""
    at = stamp(now)
    db.execute(
        "UPDATE deals SET readiness = ?, updated_at = ? WHERE id = ?",
        [json.dumps({"ticked": [q for q in READINESS if q in ticked], "by": actor, "at": at}), at, deal.id],
    )
    existing = {
        r["step_id"]: r
        for r in query(
            db, "SELECT id, step_id, status FROM nudges WHERE deal_id = ? AND purpose = ?", [deal.id, READINESS_GAP]
        )
    }
    added = []
    day = last = open_day(today)
    for item in READINESS:
        step = playbook.triggered(GAP_STEP, item)
        if step is None:
            continue
        row = existing.get(step.id)
        if item in ticked:
            if row is not None and row["status"] == "planned":
                db.execute("DELETE FROM nudges WHERE id = ? AND status = 'planned'", [row["id"]])
            continue
        if row is not None and row["status"] not in ("cancelled",):
            continue  # already a step for this gap (planned, posted or acted on)
        due = max(day, open_day(today + timedelta(days=step.days)))
        insert(
            db,
            "nudges",
            {
                "deal_id": deal.id,
                "step_id": step.id,
                "stage": step.stage,
                "title": step.title,
                "due_date": due.isoformat(),
                "status": "planned",
                "purpose": READINESS_GAP,
                "created_at": at,
                "updated_at": at,
            },
        )
        added.append(item)
        last = max(last, due)
        if len(added) % GAPS_A_DAY == 0:
            day = open_day(day + timedelta(days=1))
    if added:
        signature = [s.id for s in playbook.steps if s.unsigned_only]
        if signature:
            marks = ",".join("?" * len(signature))
            db.execute(
                f"UPDATE nudges SET due_date = ?, updated_at = ? WHERE deal_id = ? AND status = 'planned' "
                f"AND due_date <= ? AND step_id IN ({marks})",
                [open_day(last + timedelta(days=1)).isoformat(), at, deal.id, last.isoformat(), *signature],
            )
    return added
