"""Retention: the personal data of finished deals is erased after DEALCOACH_RETENTION_DAYS, or of one deal on
request (`dealcoach purge --deal ID`), on both engines. The numbers the reports count are kept: the deal, its
amount, dates and statuses, each step's status and dates, and what kind of outcome a step recorded.

Personal data: the contact's name and title, why they bought, the cancel reason, the notes typed on steps (skip
reasons), the buyer's words in outcomes (a win reason, a testimonial, the referrals' names) and in buyer signals
(the note on a touch or a concern), and the CRM's copy of the deal in the webhook events settled into it. Messages
already posted in Slack are Slack's to delete."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlite_utils

from bot.deals.model import OPEN, sql_list
from bot.storage import query
from bot.timestamps import stamp

ERASED_COLUMNS = ("contact_name", "contact_title", "why_bought", "cancel_reason")
KEPT_OUTCOME_KEYS = ("kind", "result")  # what the digest counts: a testimonial received, a referral given


def finished_before(db: sqlite_utils.Database, cutoff: datetime) -> list[int]:
    """Deals finished before `cutoff` and not erased yet: cancelled or deleted then, or with no step still owed
    and their last step resolved then."""
    at = stamp(cutoff)
    rows = query(
        db,
        f"""
        SELECT d.id FROM deals d
        WHERE d.erased_at IS NULL AND (
          (d.status = 'cancelled' AND d.cancelled_at < :at)
          OR (d.status = 'deleted' AND d.deleted_at < :at)
          OR (d.status = 'open'
              AND NOT EXISTS (SELECT 1 FROM nudges n WHERE n.deal_id = d.id AND n.status IN ({sql_list(OPEN)}))
              AND EXISTS (SELECT 1 FROM nudges n WHERE n.deal_id = d.id)
              AND (SELECT MAX(n.resolved_at) FROM nudges n WHERE n.deal_id = d.id) < :at)
        )
        ORDER BY d.id
        """,
        {"at": at},
    )
    return [r["id"] for r in rows]


def erase(db: sqlite_utils.Database, deal_id: int, *, now: datetime) -> bool:
    """Inside a write transaction: erase one deal's personal data; False if there is no such deal."""
    sets = ", ".join(f"{c} = NULL" for c in ERASED_COLUMNS)
    cursor = db.execute(f"UPDATE deals SET {sets}, erased_at = ? WHERE id = ?", [stamp(now), deal_id])
    if cursor.rowcount != 1:
        return False
    db.execute("DELETE FROM held_captures WHERE duplicate_of = ?", [deal_id])  # a held repeat carries the same
    db.execute("UPDATE nudges SET note = NULL WHERE deal_id = ? AND note IS NOT NULL", [deal_id])
    db.execute("UPDATE signals SET note = NULL WHERE deal_id = ? AND note IS NOT NULL", [deal_id])  # what they said
    # the CRM's own copy of the deal (its contact, its notes) in the events already turned into this deal
    db.execute(
        "UPDATE crm_inbox SET payload = '{}' WHERE status != 'pending' AND payload != '{}' AND EXISTS ("
        "SELECT 1 FROM crm_deals c WHERE c.deal_id = ? AND c.crm = crm_inbox.crm "
        "AND c.crm_account = crm_inbox.crm_account AND c.crm_deal_id = crm_inbox.crm_deal_id)",
        [deal_id],
    )
    for row in query(db, "SELECT id, outcome FROM nudges WHERE deal_id = ? AND outcome IS NOT NULL", [deal_id]):
        db.execute("UPDATE nudges SET outcome = ? WHERE id = ?", [_kept(row["outcome"]), row["id"]])
    return True


def _kept(outcome: str) -> str:
    try:
        data = json.loads(outcome)
    except ValueError:
        data = {}
    kept = {k: v for k, v in data.items() if k in KEPT_OUTCOME_KEYS} if isinstance(data, dict) else {}
    return json.dumps(kept)


def erase_finished(store, *, now: datetime, days: int) -> list[int]:
    """The daily job: every deal finished more than `days` ago is erased, each in its own transaction (instances
    running it at once erase each deal once or twice, to the same result)."""
    with store.session() as db:
        due = finished_before(db, now - timedelta(days=days))
    for deal_id in due:
        with store.write() as db:
            erase(db, deal_id, now=now)
    return due
