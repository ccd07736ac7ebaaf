"""The asks' gate: a testimonial, a referral or a celebration (`ask = true`) goes out only on a healthy deal, one
ask a message and a week apart; otherwise the recovery step comes first and the ask waits for it.

Called by the dispatcher inside the write transaction that claims a deal's due steps, so what it holds or moves is
never posted in the same message. When the recovery step is done or skipped, the asks it held come back
`then_days` later (`release_held`): re-planned, never lost.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlite_utils

from bot.deals.model import HELD, RECOVERY
from bot.health.rules import health
from bot.nudges.ledger import is_ask
from bot.playbook.loader import UNHEALTHY, Playbook
from bot.storage import for_update, insert, is_postgres, query, query_one
from bot.timestamps import stamp

ASK_SPACING = timedelta(days=7)  # asks of one deal go out at least this far apart, each in a message of its own
NO_RECOVERY_WAIT = timedelta(days=7)  # a playbook without a recovery step: an ask on an unhealthy deal waits this long
RELEASE_DAYS = 7  # a recovery step without then_days: its held asks come back this many days after it


def _ask_ids(playbook: Playbook) -> list[str]:
    return [s.id for s in playbook.steps if is_ask(s)]  # the one definition of an ask


def before_claim(db: sqlite_utils.Database, deal_id: int, *, today: date, now: datetime, playbook: Playbook) -> bool:
    """Inside the dispatcher's write transaction, before it claims this deal's due steps: hold or space out the asks
    due now, so the claim carries at most one, and only on a healthy deal. False: another dispatcher is gating this
    deal right now, so this one leaves its steps alone (they stay planned, for that one or the next tick)."""
    asks = _ask_ids(playbook)
    if not asks:
        return True
    # What is read below (the due asks, health, the deal's recovery step) stays as read until this transaction
    # ends: on SQLite because one writer is let in at a time; on PostgreSQL because the deal's row is locked here
    # first. Another instance's dispatcher holding it skips the deal, so two never both plan a recovery step or both
    # let an ask through.
    if is_postgres(db) and not db.execute(f"SELECT id FROM deals WHERE id = ?{for_update(db)}", [deal_id]).fetchall():
        return False
    marks = ",".join("?" * len(asks))
    due = query(
        db,
        f"SELECT id, step_id FROM nudges WHERE deal_id = ? AND status = 'planned' AND due_date <= ? "
        f"AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND step_id IN ({marks}) ORDER BY due_date, id",
        [deal_id, today.isoformat(), stamp(now), *asks],
    )
    if not due:
        return True
    at = stamp(now)
    if not health(db, deal_id, today=today).healthy:
        recovery = _recovery_for(db, deal_id, today=today, now=now, playbook=playbook)
        for row in due:
            if recovery is None:
                _move(db, row["id"], today + NO_RECOVERY_WAIT, at)
            else:
                db.execute(
                    "UPDATE nudges SET status = ?, held_by = ?, updated_at = ? WHERE id = ? AND status = 'planned'",
                    [HELD, recovery, at, row["id"]],
                )
        return True
    last = query_one(
        db,
        f"SELECT MAX(p.posted_at) AS at FROM nudges n JOIN posts p ON p.id = n.post_id "
        f"WHERE n.deal_id = ? AND n.step_id IN ({marks}) AND p.status = 'posted'",
        [deal_id, *asks],
    )
    recent = last and last["at"] and last["at"] > stamp(now - ASK_SPACING)
    waiting = due if recent else due[1:]  # the first due ask goes now, unless another went out this week
    for offset, row in enumerate(waiting, 1):
        _move(db, row["id"], today + ASK_SPACING * offset, at)
    return True


def _move(db: sqlite_utils.Database, nudge_id: int, due: date, at: str) -> None:
    db.execute(
        "UPDATE nudges SET due_date = ?, updated_at = ? WHERE id = ? AND status = 'planned'",
        [due.isoformat(), at, nudge_id],
    )


def _recovery_for(db: sqlite_utils.Database, deal_id: int, *, today: date, now: datetime, playbook: Playbook):
    """The deal's recovery step still to do, planned now (due today) if it has none; None without one in the
    playbook."""
    existing = query_one(
        db,
        "SELECT id FROM nudges WHERE deal_id = ? AND purpose = ? AND status IN ('planned', 'sending', 'posted') "
        "ORDER BY id LIMIT 1",
        [deal_id, RECOVERY],
    )
    if existing:
        return existing["id"]
    step = playbook.triggered(UNHEALTHY)
    if step is None:
        return None
    at = stamp(now)
    return insert(
        db,
        "nudges",
        {
            "deal_id": deal_id,
            "step_id": step.id,
            "stage": step.stage,
            "title": step.title,
            "due_date": (today + timedelta(days=step.days)).isoformat(),
            "status": "planned",
            "purpose": RECOVERY,
            "created_at": at,
            "updated_at": at,
        },
    )


def release_held(db: sqlite_utils.Database, recovery_id: int, *, today: date, now: datetime, playbook: Playbook) -> int:
    """The recovery step is done (or skipped): the asks it held are planned again, `then_days` from today, a week
    apart from one another. Returns how many came back."""
    step = playbook.triggered(UNHEALTHY)
    later = step.then_days if step is not None and step.then_days is not None else RELEASE_DAYS
    held = query(
        db, "SELECT id FROM nudges WHERE held_by = ? AND status = ? ORDER BY due_date, id", [recovery_id, HELD]
    )
    at = stamp(now)
    for offset, row in enumerate(held):
        db.execute(
            "UPDATE nudges SET status = 'planned', held_by = NULL, due_date = ?, next_attempt_at = NULL, "
            "updated_at = ? WHERE id = ? AND status = ?",
            [(today + timedelta(days=later) + ASK_SPACING * offset).isoformat(), at, row["id"], HELD],
        )
    return len(held)
