"""The digests ledger in SQL: one row per manager per local day, so a digest is posted once whoever runs.

A row is claimed by INSERT: the UNIQUE (team_id, manager_id, local_date) constraint lets exactly one process
create it. After that every change is a conditional UPDATE on the current status, so two processes can never
both win a retry or a reconcile. Statuses:

  sending      a process holds it and is posting (lease_at: when that attempt or check started)
  unconfirmed  a timeout or 5xx: Slack may or may not have it; the DM's history decides
  sent         Slack has it (ts, channel_id); sent_at is the instant its content was read
  retry        Slack surely did not post it (429, ok:false, or not in the history); lease_at: when to try again
  missed       its day ended before it could be posted; the next digest covers the gap
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlite_utils

from bot.storage import query, query_one
from bot.timestamps import stamp

ZONE_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class DigestRow:
    id: int
    team_id: str
    manager_id: str
    local_date: date
    status: str
    channel_id: str | None
    ts: str | None
    claimed_at: str  # when the current attempt read its content (UTC)
    lease_at: str
    sent_at: str | None
    error: str | None
    searched_to: str | None = None  # how far down its window a DM history search has read


def _row(r: dict) -> DigestRow:
    return DigestRow(**{**r, "local_date": date.fromisoformat(r["local_date"])})


def get(db: sqlite_utils.Database, digest_id: int) -> DigestRow | None:
    row = query_one(db, "SELECT * FROM digests WHERE id = ?", [digest_id])
    return _row(row) if row else None


def claimable(db: sqlite_utils.Database, *, team_id: str, manager_id: str, local_date: date, now: datetime) -> bool:
    """A cheap read first: no row yet for that day, or one waiting for a retry whose time has come."""
    row = db.execute(
        "SELECT status, lease_at FROM digests WHERE team_id = ? AND manager_id = ? AND local_date = ?",
        [team_id, manager_id, local_date.isoformat()],
    ).fetchone()
    return row is None or (row[0] == "retry" and row[1] <= stamp(now))


def claim(
    db: sqlite_utils.Database, *, team_id: str, manager_id: str, local_date: date, now: datetime
) -> DigestRow | None:
    """Inside a write transaction: this day's digest is ours to post, or None (sent, in flight or waiting).

    One writer at a time: between the INSERT (or the retry's UPDATE) and the SELECT of the row nobody else
    writes it, since SQLite lets one write transaction in at a time; that makes the claim exclusive."""
    key = [team_id, manager_id, local_date.isoformat()]
    cur = db.execute(
        "INSERT INTO digests (team_id, manager_id, local_date, status, claimed_at, lease_at) "
        "VALUES (?, ?, ?, 'sending', ?, ?) ON CONFLICT (team_id, manager_id, local_date) DO NOTHING",
        [*key, stamp(now), stamp(now)],
    )
    if cur.rowcount != 1:
        cur = db.execute(
            "UPDATE digests SET status = 'sending', claimed_at = ?, lease_at = ?, searched_to = NULL "
            "WHERE team_id = ? AND manager_id = ? AND local_date = ? AND status = 'retry' AND lease_at <= ?",
            [stamp(now), stamp(now), *key, stamp(now)],
        )
        if cur.rowcount != 1:
            return None
    [row] = query(db, "SELECT * FROM digests WHERE team_id = ? AND manager_id = ? AND local_date = ?", key)
    return _row(row)


def last_sent(db: sqlite_utils.Database, *, team_id: str, manager_id: str, other_than: int) -> datetime | None:
    """When the content of this manager's previous digest was read: the next one starts from there."""
    row = db.execute(
        "SELECT MAX(sent_at) FROM digests WHERE team_id = ? AND manager_id = ? AND status = 'sent' AND id != ?",
        [team_id, manager_id, other_than],
    ).fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def confirm(db: sqlite_utils.Database, digest_id: int, *, channel_id: str, ts: str) -> bool:
    """Slack has it: record where; its content was read at claimed_at. False if it was not ours to confirm."""
    # One writer at a time: the conditional UPDATE's row count is the claim (a confirm racing a reconcile records
    # once), exact because SQLite lets one writer in at a time. With concurrent writers it must stay one
    # UPDATE ... WHERE, so the row lock re-checks the status.
    cur = db.execute(
        "UPDATE digests SET status = 'sent', channel_id = ?, ts = ?, sent_at = claimed_at, error = NULL "
        "WHERE id = ? AND status IN ('sending', 'unconfirmed')",
        [channel_id, ts, digest_id],
    )
    return cur.rowcount == 1


def mark_retry(db: sqlite_utils.Database, digest_id: int, *, error: str, retry_at: datetime) -> None:
    """Slack surely did not post it: anyone may claim it again from `retry_at`, the same day."""
    db.execute(
        "UPDATE digests SET status = 'retry', lease_at = ?, error = ? WHERE id = ? AND status IN ('sending', 'unconfirmed')",
        [stamp(retry_at), error, digest_id],
    )


def mark_unconfirmed(db: sqlite_utils.Database, digest_id: int, *, error: str, searched_to: str | None = None) -> None:
    """We can't tell whether Slack posted it: the DM's history decides before anything is posted again.
    `searched_to`: how far a history search got, so the next one reads on from there."""
    db.execute(
        "UPDATE digests SET status = 'unconfirmed', error = ?, searched_to = COALESCE(?, searched_to) "
        "WHERE id = ? AND status = 'sending'",
        [error, searched_to, digest_id],
    )


def to_reconcile(
    db: sqlite_utils.Database, *, now: datetime, lease: timedelta, settle: timedelta = timedelta(minutes=1)
) -> list[DigestRow]:
    """Digests whose outcome we never learned: unconfirmed for `settle` (a slow Slack may still be storing one
    a moment after the client gave up), or still 'sending' long after their process died."""
    rows = query(
        db,
        "SELECT * FROM digests WHERE (status = 'unconfirmed' AND lease_at <= ?) OR (status = 'sending' AND lease_at < ?) "
        "ORDER BY id",
        [stamp(now - settle), stamp(now - lease)],
    )
    return [_row(r) for r in rows]


def take_for_reconcile(db: sqlite_utils.Database, row: DigestRow, *, now: datetime) -> bool:
    """Hold the digest for a history check, only if nobody else took it since we looked (the conditional UPDATE
    is the claim; one writer at a time makes its row count exact)."""
    cur = db.execute(
        "UPDATE digests SET status = 'sending', lease_at = ? WHERE id = ? AND status = ? AND lease_at = ?",
        [stamp(now), row.id, row.status, row.lease_at],
    )
    return cur.rowcount == 1


def expire(db: sqlite_utils.Database, *, team_id: str, manager_id: str, before: date) -> int:
    """Digests of days already over that still wait for a retry are dropped: the next digest covers them."""
    # One writer at a time: the conditional UPDATE takes only digests still waiting, and a claim can't slip in
    # between, because SQLite lets one writer in at a time. With concurrent writers it must stay one
    # UPDATE ... WHERE, so the row lock re-checks the status.
    cur = db.execute(
        "UPDATE digests SET status = 'missed' WHERE team_id = ? AND manager_id = ? AND local_date < ? AND status = 'retry'",
        [team_id, manager_id, before.isoformat()],
    )
    return cur.rowcount


# -- managers' time zones, from users.info, kept for a day ----------------------------------------------------


def cached_zone(
    db: sqlite_utils.Database, *, team_id: str, user_id: str, now: datetime
) -> tuple[bool, str | None, bool]:
    """(fresh, tz, member): fresh when looked up less than a day ago; tz None when Slack gave none (or failed);
    member False when Slack said the user isn't in this workspace."""
    row = query_one(
        db, "SELECT tz, fetched_at, member FROM users WHERE team_id = ? AND user_id = ?", [team_id, user_id]
    )
    if row is None:
        return False, None, True
    fetched = datetime.fromisoformat(row["fetched_at"])
    return now - fetched < ZONE_MAX_AGE, row["tz"], bool(row["member"])


def remember_zone(
    db: sqlite_utils.Database, *, team_id: str, user_id: str, tz: str | None, now: datetime, member: bool = True
) -> None:
    db.execute(
        "INSERT INTO users (team_id, user_id, tz, fetched_at, member) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (team_id, user_id) DO UPDATE SET tz = excluded.tz, fetched_at = excluded.fetched_at, "
        "member = excluded.member",
        [team_id, user_id, tz, stamp(now), int(member)],
    )
