"""The welcome_kits table: one row per deal, so a deal's kit is shared into its thread once, whoever clicks or runs.

A row is claimed by INSERT (the UNIQUE deal_id lets exactly one click create it); every later change is a
conditional UPDATE on the status and due time it was read with, so two processes never both take it. Statuses:

  sending      a process is building and sharing it; due_at: when that claim counts as orphaned (its process died)
  retry        Slack surely did not share it (a 429, ok:false, an upload that failed); due_at: when to try again
  unconfirmed  the share timed out or met a 5xx: it may be in the thread; due_at: when to look for its file id there
  posted       it is in the thread
  dropped      the deal was deleted or cancelled before its kit could be shared

`file_id` is recorded before the share is asked for, and cleared whenever Slack surely did not share it: a row
taken again with a file id may be in the thread already, and is looked for there before anything is uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from bot.storage import query, query_one
from bot.timestamps import stamp

LEASE = timedelta(minutes=10)  # far longer than building and sharing a kit takes
WAITING = ("sending", "retry", "unconfirmed")


@dataclass(frozen=True)
class KitRow:
    id: int
    deal_id: int
    team_id: str
    channel_id: str
    thread_ts: str
    requested_by: str
    status: str
    file_id: str | None
    attempts: int
    last_error: str | None
    claimed_at: str
    due_at: str
    posted_at: str | None


def _row(r: dict) -> KitRow:
    return KitRow(**r)


def get(db: sqlite_utils.Database, deal_id: int) -> KitRow | None:
    row = query_one(db, "SELECT * FROM welcome_kits WHERE deal_id = ?", [deal_id])
    return _row(row) if row else None


def claim(
    db: sqlite_utils.Database,
    *,
    deal_id: int,
    team_id: str,
    channel_id: str,
    thread_ts: str,
    user_id: str,
    now: datetime,
) -> tuple[KitRow, bool]:
    """Inside a write transaction: (the deal's kit row, True when this call created it and so holds its claim).

    One writer at a time: nobody writes the row between the INSERT and the SELECT, since SQLite lets one write
    transaction in at a time; with concurrent writers the INSERT ... ON CONFLICT DO NOTHING alone stays exclusive."""
    cursor = db.execute(
        "INSERT INTO welcome_kits (deal_id, team_id, channel_id, thread_ts, requested_by, status, attempts, "
        "claimed_at, due_at) VALUES (?, ?, ?, ?, ?, 'sending', 1, ?, ?) ON CONFLICT (deal_id) DO NOTHING",
        [deal_id, team_id, channel_id, thread_ts, user_id, stamp(now), stamp(now + LEASE)],
    )
    row = get(db, deal_id)
    assert row is not None
    return row, cursor.rowcount == 1


def due(db: sqlite_utils.Database, *, now: datetime, limit: int = 20) -> list[KitRow]:
    """Rows whose time has come: a retry, a share to look for, a claim whose process died."""
    rows = query(
        db,
        "SELECT * FROM welcome_kits WHERE status IN ('sending', 'retry', 'unconfirmed') AND due_at <= ? "
        "ORDER BY due_at, id LIMIT ?",
        [stamp(now), limit],
    )
    return [_row(r) for r in rows]


def take(db: sqlite_utils.Database, row: KitRow, *, now: datetime) -> KitRow | None:
    """Claim a due row again, as it was read: None when another process got there first."""
    cursor = db.execute(
        "UPDATE welcome_kits SET status = 'sending', claimed_at = ?, due_at = ?, attempts = attempts + 1 "
        "WHERE id = ? AND status = ? AND due_at = ?",
        [stamp(now), stamp(now + LEASE), row.id, row.status, row.due_at],
    )
    if cursor.rowcount != 1:
        return None
    return get(db, row.deal_id)


def set_file(db: sqlite_utils.Database, kit_id: int, file_id: str) -> None:
    """Before the share: from here on a lost answer is looked for in the thread by this id."""
    db.execute("UPDATE welcome_kits SET file_id = ? WHERE id = ? AND status = 'sending'", [file_id, kit_id])


def posted(db: sqlite_utils.Database, kit_id: int, *, now: datetime) -> None:
    db.execute(
        "UPDATE welcome_kits SET status = 'posted', posted_at = ?, last_error = NULL WHERE id = ?",
        [stamp(now), kit_id],
    )


def retry(db: sqlite_utils.Database, kit_id: int, *, error: str, at: datetime) -> None:
    """Slack surely did not share it: the file (unshared, seen by nobody) is forgotten and a later run starts over."""
    db.execute(
        "UPDATE welcome_kits SET status = 'retry', file_id = NULL, last_error = ?, due_at = ? WHERE id = ?",
        [error, stamp(at), kit_id],
    )


def unconfirmed(db: sqlite_utils.Database, kit_id: int, *, error: str, check_at: datetime) -> None:
    """It may be in the thread: a later run looks for its file id there before anything is shared again."""
    db.execute(
        "UPDATE welcome_kits SET status = 'unconfirmed', last_error = ?, due_at = ? WHERE id = ?",
        [error, stamp(check_at), kit_id],
    )


def drop(db: sqlite_utils.Database, kit_id: int, *, reason: str) -> None:
    db.execute("UPDATE welcome_kits SET status = 'dropped', last_error = ? WHERE id = ?", [reason, kit_id])
