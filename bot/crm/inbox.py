"""The CRM inbox and the CRM deals in SQL: every webhook event is stored here before its CRM is answered, and the
worker turns it into one deal per CRM deal, however often the CRM repeats itself."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from bot.crm.types import Event
from bot.storage import insert, query, query_one
from bot.timestamps import parse_stamp, stamp

LEASE = timedelta(minutes=10)  # an event claimed this long ago and not settled was left by a process that died
PENDING, DONE, IGNORED, FAILED = "pending", "done", "ignored", "failed"


@dataclass(frozen=True)
class Stored:
    id: int
    attempts: int
    event: Event


def store_events(db: sqlite_utils.Database, events: Iterable[Event], *, now: datetime) -> int:
    """Inside a write: keep each event once (a CRM's retry of one already stored changes nothing). Returns how
    many were new."""
    at, new = stamp(now), 0
    for e in events:
        cursor = db.execute(
            "INSERT INTO crm_inbox (crm, event_key, crm_account, crm_deal_id, occurred_at, payload, status, attempts, "
            "next_at, received_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (crm, event_key) DO NOTHING",
            [
                e.crm,
                e.key,
                e.crm_account,
                e.crm_deal_id,
                stamp(e.occurred_at) if e.occurred_at else None,
                json.dumps(dict(e.payload), sort_keys=True),
                at,
                at,
            ],
        )
        new += cursor.rowcount
    return new


def _stored(row: dict) -> Stored:
    return Stored(
        id=row["id"],
        attempts=row["attempts"],
        event=Event(
            crm=row["crm"],
            key=row["event_key"],
            crm_account=row["crm_account"],
            crm_deal_id=row["crm_deal_id"],
            occurred_at=parse_stamp(row["occurred_at"]) if row["occurred_at"] else None,
            payload=json.loads(row["payload"]),
        ),
    )


def due(db: sqlite_utils.Database, *, now: datetime, limit: int) -> list[tuple[int, str]]:
    """(id, crm) of the events whose time has come, oldest first (each is claimed before it is worked on)."""
    rows = db.execute(
        "SELECT id, crm FROM crm_inbox WHERE status = 'pending' AND next_at <= ? ORDER BY id LIMIT ?",
        [stamp(now), limit],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def postpone(db: sqlite_utils.Database, event_id: int, error: str, *, at: datetime, now: datetime) -> bool:
    """An event not tried in this run because its CRM just failed: it waits as long as the one that failed, its
    attempts untouched. Only while nobody has claimed it (a claim moves next_at past now)."""
    cursor = db.execute(
        "UPDATE crm_inbox SET next_at = ?, error = ? WHERE id = ? AND status = 'pending' AND next_at <= ?",
        [stamp(at), error, event_id, stamp(now)],
    )
    return cursor.rowcount == 1


def claim(db: sqlite_utils.Database, event_id: int, *, now: datetime) -> Stored | None:
    """Inside a write: the right to work on an event for LEASE, or None (another worker has it, or it is settled).
    One conditional UPDATE, so of two workers (serve and a tick) exactly one wins on any engine."""
    cursor = db.execute(
        "UPDATE crm_inbox SET next_at = ?, attempts = attempts + 1 WHERE id = ? AND status = 'pending' AND next_at <= ?",
        [stamp(now + LEASE), event_id, stamp(now)],
    )
    if cursor.rowcount != 1:
        return None
    row = query_one(db, "SELECT * FROM crm_inbox WHERE id = ?", [event_id])
    return _stored(row) if row else None


def settle(db: sqlite_utils.Database, event_id: int, status: str, outcome: str, *, now: datetime) -> None:
    db.execute(
        "UPDATE crm_inbox SET status = ?, outcome = ?, done_at = ? WHERE id = ?",  # an earlier error stays, for status
        [status, outcome, stamp(now), event_id],
    )


def give_up(db: sqlite_utils.Database, event_id: int, error: str, *, now: datetime) -> None:
    """The CRM said for good that the deal behind the event can't be read (deleted, 404): kept with its error for
    `crm status`, not tried again."""
    db.execute(
        "UPDATE crm_inbox SET status = ?, error = ?, outcome = ?, done_at = ? WHERE id = ? AND status = 'pending'",
        [FAILED, error, "not tried again", stamp(now), event_id],
    )


def retry_later(db: sqlite_utils.Database, event_id: int, error: str, *, at: datetime) -> None:
    """The CRM (or Slack) failed for now: the event waits, never dropped."""
    db.execute(
        "UPDATE crm_inbox SET next_at = ?, error = ? WHERE id = ? AND status = 'pending'", [stamp(at), error, event_id]
    )


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most an hour: a failing CRM is asked again for as long as it takes."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


# -- the CRM deals: one Deal Coach deal per (crm, account, CRM deal id) ----------------------------------------


@dataclass(frozen=True)
class CrmLink:
    id: int
    crm: str
    deal_id: int
    won: bool
    linked: bool
    last_event_at: str | None


def get_link(db: sqlite_utils.Database, crm: str, crm_account: str, crm_deal_id: str) -> CrmLink | None:
    row = query_one(
        db,
        "SELECT * FROM crm_deals WHERE crm = ? AND crm_account = ? AND crm_deal_id = ?",
        [crm, crm_account, crm_deal_id],
    )
    if row is None:
        return None
    return CrmLink(row["id"], row["crm"], row["deal_id"], row["won"] == 1, row["linked"] == 1, row["last_event_at"])


def add_link(
    db: sqlite_utils.Database,
    *,
    crm: str,
    crm_account: str,
    crm_deal_id: str,
    deal_id: int,
    owner_email: str | None,
    linked: bool,
    event_at: datetime | None,
    now: datetime,
) -> int:
    at = stamp(now)
    return insert(
        db,
        "crm_deals",
        {
            "crm": crm,
            "crm_account": crm_account,
            "crm_deal_id": crm_deal_id,
            "deal_id": deal_id,
            "won": 1,
            "owner_email": owner_email,
            "linked": int(linked),
            "last_event_at": stamp(event_at) if event_at else None,
            "created_at": at,
            "updated_at": at,
        },
    )


def set_won(db: sqlite_utils.Database, link: CrmLink, won: bool, *, event_at: datetime | None, now: datetime) -> bool:
    """Record the CRM's state of the deal; True if it changed (won -> not won, or back). A note to the managers is
    left pending with the change, for take_note."""
    cursor = db.execute(
        "UPDATE crm_deals SET won = ?, note_pending = ?, last_event_at = COALESCE(?, last_event_at), updated_at = ? "
        "WHERE id = ? AND won = ?",
        [
            int(won),
            "resumed" if won else "paused",
            stamp(event_at) if event_at else None,
            stamp(now),
            link.id,
            int(not won),
        ],
    )
    return cursor.rowcount == 1


def is_stale(link: CrmLink, event_at: datetime | None) -> bool:
    """An event older than the last one applied (CRMs deliver out of order): it changes nothing."""
    return bool(event_at and link.last_event_at and stamp(event_at) < link.last_event_at)


def take_note(db: sqlite_utils.Database, deal_id: int) -> str | None:
    """The managers' note waiting for a deal ('paused' or 'resumed'), taken once: at most one DM per change."""
    row = query_one(
        db, "SELECT id, note_pending FROM crm_deals WHERE deal_id = ? AND note_pending IS NOT NULL", [deal_id]
    )
    if row is None:
        return None
    cursor = db.execute(
        "UPDATE crm_deals SET note_pending = NULL WHERE id = ? AND note_pending = ?", [row["id"], row["note_pending"]]
    )
    return row["note_pending"] if cursor.rowcount == 1 else None


# -- what `dealcoach crm status` shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class CrmStatus:
    crm: str
    last_event: str | None
    last_deal: str | None
    last_deal_id: int | None
    pending: int
    last_error: str | None
    last_error_at: str | None


def status(db: sqlite_utils.Database, crm: str) -> CrmStatus:
    events = (
        query_one(
            db,
            "SELECT MAX(received_at) AS last_event, SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending "
            "FROM crm_inbox WHERE crm = ?",
            [crm],
        )
        or {}
    )
    deal = query_one(
        db, "SELECT deal_id, created_at FROM crm_deals WHERE crm = ? ORDER BY created_at DESC, id DESC LIMIT 1", [crm]
    )
    error = query_one(
        db,
        "SELECT error, received_at, status, crm_deal_id FROM crm_inbox WHERE crm = ? AND error IS NOT NULL "
        "ORDER BY id DESC LIMIT 1",
        [crm],
    )
    return CrmStatus(
        crm=crm,
        last_event=events.get("last_event"),
        last_deal=deal["created_at"] if deal else None,
        last_deal_id=deal["deal_id"] if deal else None,
        pending=events.get("pending") or 0,
        last_error=(f"{error['error']} (deal {error['crm_deal_id']}; {_since(error['status'])})" if error else None),
        last_error_at=error["received_at"] if error else None,
    )


def _since(status: str) -> str:
    return {PENDING: "still waiting", FAILED: "not tried again"}.get(status, f"since {status}")


def pending_count(db: sqlite_utils.Database) -> int:
    return query(db, "SELECT COUNT(*) AS n FROM crm_inbox WHERE status = 'pending'")[0]["n"]
