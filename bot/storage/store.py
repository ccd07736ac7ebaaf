"""SQLite access: a fresh connection per unit of work, WAL, a bounded wait for the lock and versioned migrations."""

from __future__ import annotations

import copy
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from bot.timestamps import stamp

BUSY_TIMEOUT_MS = 5000  # jobs and start-up: nobody is waiting on them; requests wait DEALCOACH_REQUEST_DB_WAIT_MS
BUSY_MEMORY_S = 10.0  # after a request's wait ran out on the lock, requests this soon after try once, without waiting
WAL_ATTEMPTS = 40

logger = logging.getLogger(__name__)


class DatabaseBusy(sqlite3.OperationalError):
    """No write lock within this unit of work's wait: another writer, in this process or another, held it."""


class DatabaseGone(sqlite3.OperationalError):
    """DEALCOACH_DB no longer names the file this process opened: it was removed or replaced under it."""


class Store:
    """Knows where the database lives and hands out short-lived connections, one per thread of work.

    Each unit of work (`session`, `write`) waits for a busy database at most `busy_timeout_ms`, in-process
    queueing included; `for_requests` gives the same database as Slack's requests use it."""

    def __init__(
        self, path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, trace: Callable[[str], None] | None = None
    ):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.trace = trace  # sees every SQL statement: benchmarks count queries with it
        self._local = threading.local()
        self._file = OpenedFile(self.path)
        self.try_once_when_held = False  # see for_requests

    def for_requests(self, wait_ms: int) -> Store:
        """This store, sharing its connections, as Slack's requests use it: a request has to answer within
        3 seconds, a job can afford to wait longer. Each unit of work waits at most `wait_ms` for the lock, and
        once one has waited that long in vain, the next try the lock once without waiting until one gets it: a
        burst of requests behind a long lock is answered at once, not queued behind each other's waits for the
        server's few threads."""
        view = copy.copy(self)
        view.busy_timeout_ms = wait_ms
        view.try_once_when_held = True
        return view

    def connect(self) -> sqlite_utils.Database:
        """A new connection to the file this store opened first. Only that first open may create the file: a
        database removed under a running process is refused, never silently replaced by an empty one."""
        known = self._file.identity is not None
        if known:
            self._file.check()
        uri = self.path.resolve().as_uri() + ("?mode=rw" if known else "")
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_ms / 1000)
        except sqlite3.OperationalError:
            if known:
                self._file.check()  # removed between the check and the open
            raise
        if not known:
            self._file.remember()
        if self.trace is not None:
            conn.set_trace_callback(self.trace)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return sqlite_utils.Database(conn)

    def _connection(self, wait_ms: int) -> sqlite_utils.Database:
        """This thread's connection (sqlite3 objects are bound to their thread), opened on first use and kept:
        closing the last connection to a WAL database checkpoints it, a millisecond each time. Checks that the
        path still names the file first, and sets how long SQLite may wait for the lock."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self.connect()
            self._local.wait_ms = int(self.busy_timeout_ms)
        else:
            self._file.check()
        if self._local.wait_ms != wait_ms:
            db.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
            self._local.wait_ms = wait_ms
        return db

    @contextmanager
    def session(self) -> Iterator[sqlite_utils.Database]:
        """This thread's connection for reads. In WAL, readers don't wait for a writer; when SQLite does make
        one wait (recovering the WAL index after a crash, a database taken out of WAL), each statement waits at
        most this store's wait."""
        yield self._connection(int(self.busy_timeout_ms))

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One IMMEDIATE transaction: all of it is stored or none of it, and writers queue instead of failing.

        Threads of this process queue on a mutex first: SQLite's own busy handler sleeps in steps of up to
        100 ms, which under a burst of captures turned into long ack tails. One deadline bounds both waits, the
        mutex and SQLite's lock, and an exhausted wait raises DatabaseBusy. After COMMIT the path must still
        name the file written to, or the work is not durable and DatabaseGone is raised."""
        wait_ms = int(self.busy_timeout_ms)
        deadline = time.monotonic() + wait_ms / 1000
        key = _key(self.path)
        lock = _write_lock(key)
        if not lock.acquire(timeout=wait_ms / 1000):
            raise DatabaseBusy(f"database is locked: other writes of this process held it for {wait_ms} ms")
        try:
            left_ms = max(0, min(wait_ms, math.ceil((deadline - time.monotonic()) * 1000)))
            since = _HELD_SINCE.get(key)
            held = self.try_once_when_held and since is not None and time.monotonic() - since < BUSY_MEMORY_S
            db = self._connection(0 if held else left_ms)
            begun = False
            try:
                with transaction(db, wait_ms=None if held else wait_ms):
                    begun = True
                    _HELD_SINCE.pop(key, None)
                    yield db
            except DatabaseBusy:
                if not begun:
                    _HELD_SINCE[key] = time.monotonic()
                raise
            self._file.check()
        finally:
            lock.release()

    def migrate(self) -> int:
        """Bring the schema up to date; safe to run from several processes at once. Returns the version."""
        with self.connect() as db:
            _use_wal(db)
            return migrate(db)


class OpenedFile:
    """Which file (device and inode) the store opened at its path, so one removed or replaced under a running
    process is noticed: its connections would keep writing to the old file, lost at the next start."""

    def __init__(self, path: Path):
        self.path = path
        self.identity: tuple[int, int] | None = None
        self._reported = False
        self._lock = threading.Lock()

    def _current(self) -> tuple[int, int] | None:
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return found.st_dev, found.st_ino

    def remember(self) -> None:
        with self._lock:
            if self.identity is None:
                self.identity = self._current()

    def check(self) -> None:
        """Raise DatabaseGone unless the path still names the file first opened; log it once, as an ERROR."""
        if self.identity is None or self._current() == self.identity:
            return
        with self._lock:
            first, self._reported = not self._reported, True
        if first:
            logger.error(
                "The database file %s (DEALCOACH_DB) was removed or replaced while Deal Coach was running. Nothing is "
                "read or saved from now on (captures and forms are told so) and no new database is created. Restart "
                "Deal Coach to open what is there now: a restored backup as it is, or a new, empty database if there "
                "is no file.",
                self.path,
            )
        raise DatabaseGone(f"the database file {self.path} was removed or replaced while Deal Coach was running")


def _use_wal(db: sqlite_utils.Database) -> None:
    """Switch to WAL, retrying: SQLite refuses the switch at once, without the busy wait, to avoid a deadlock
    when another connection is switching or writing at the same moment (two processes starting together)."""
    for attempt in range(1, WAL_ATTEMPTS + 1):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or attempt == WAL_ATTEMPTS:
                raise
            time.sleep(0.005 * attempt)


def storage_problem(exc: sqlite3.Error) -> str:
    """What went wrong with the database, in words for the user who has to try again."""
    if isinstance(exc, DatabaseGone):
        return "the database file was removed or replaced (an admin has been told)"
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "the database is busy"
    if "full" in text:
        return "the server's disk is full (an admin has been told)"
    return "the database couldn't save it"


def retry_helps(exc: sqlite3.Error) -> bool:
    """Whether trying again in a moment can work: a busy database frees up; a removed file or a full disk waits for
    an admin (a process whose file was removed or replaced saves nothing until it is restarted)."""
    return not isinstance(exc, DatabaseGone) and "full" not in str(exc).lower()


def log_storage_failure(log: logging.Logger, what: str, exc: sqlite3.Error) -> None:
    """A busy database or a vanished file is a fault we expect and answer: one line, since the store has said
    why (DatabaseGone once, as an ERROR). Anything else may be a bug or a broken disk: with its traceback."""
    if isinstance(exc, (DatabaseBusy, DatabaseGone)):
        log.warning("%s: %s", what, exc)
    else:
        log.error("%s", what, exc_info=exc)


def query(db: sqlite_utils.Database, sql: str, params: list | dict | None = None) -> list[dict]:
    """Rows as dicts with one statement: sqlite-utils' rows_where() first reads the schema three times."""
    cursor = db.execute(sql, params if params is not None else [])
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def query_one(db: sqlite_utils.Database, sql: str, params: list | dict | None = None) -> dict | None:
    found = query(db, sql, params)
    return found[0] if found else None


def insert(db: sqlite_utils.Database, table: str, row: dict) -> int:
    """A plain INSERT for hot paths: sqlite-utils' insert() looks up the schema three times per call."""
    columns = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join("?" * len(row))
    return db.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(row.values())).lastrowid


def insert_many(db: sqlite_utils.Database, table: str, rows: list[dict]) -> None:
    """Rows sharing the same keys, in one executemany; call inside a transaction."""
    if not rows:
        return
    columns = ", ".join(f'"{c}"' for c in rows[0])
    marks = ", ".join("?" * len(rows[0]))
    db.conn.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', [list(r.values()) for r in rows])


_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_HELD_SINCE: dict[str, float] = {}  # per database: when a unit of work last found SQLite's lock held, unobtainable


def _key(path: Path) -> str:
    return str(path.resolve())


def _write_lock(key: str) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())  # re-entrant: a nested write fails loudly, not a deadlock


@contextmanager
def transaction(db: sqlite_utils.Database, *, wait_ms: int | None = None) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE takes the write lock up front, so a busy database waits rather than deadlocks; a wait
    that runs out raises DatabaseBusy (`wait_ms`, the unit of work's whole wait or None for a single try, is only
    for its message)."""
    if db.conn.in_transaction:
        raise RuntimeError("a write transaction is already open on this thread's connection; don't nest them")
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        waited = f"within {wait_ms} ms" if wait_ms is not None else "still held, tried once without waiting"
        raise DatabaseBusy(f"database is locked: no write lock {waited}") from exc
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


def _v1_deals_and_nudges(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE deals (
            id INTEGER PRIMARY KEY,
            team_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            account TEXT NOT NULL,
            amount TEXT NOT NULL,
            currency TEXT NOT NULL,
            contact_name TEXT,
            contact_title TEXT,
            persona TEXT NOT NULL DEFAULT 'other',
            close_date TEXT NOT NULL,
            go_live_date TEXT,
            impl_lead_id TEXT,
            why_bought TEXT,
            status TEXT NOT NULL DEFAULT 'open',
            capture_key TEXT UNIQUE,
            message_ts TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX deals_by_team_owner ON deals (team_id, owner_id)")
    db.execute(
        """
        CREATE TABLE nudges (
            id INTEGER PRIMARY KEY,
            deal_id INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            step_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            title TEXT NOT NULL,
            due_date TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'planned',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (deal_id, step_id)
        )
        """
    )
    db.execute("CREATE INDEX nudges_by_status_due ON nudges (status, due_date)")


def _v2_delivery(db: sqlite_utils.Database) -> None:
    """Posts (one Slack message carrying a deal's due steps) and what reps do with each step."""
    db.execute(
        """
        CREATE TABLE posts (
            id INTEGER PRIMARY KEY,
            deal_id INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            channel_id TEXT NOT NULL,
            status TEXT NOT NULL,
            ts TEXT,
            late INTEGER NOT NULL DEFAULT 0,
            claimed_at TEXT NOT NULL,
            lease_at TEXT NOT NULL,
            posted_at TEXT,
            error TEXT
        )
        """
    )
    db.execute("CREATE INDEX posts_by_status ON posts (status, lease_at)")
    db.execute(
        """
        CREATE TABLE post_nudges (
            post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
            nudge_id INTEGER NOT NULL REFERENCES nudges (id) ON DELETE CASCADE,
            PRIMARY KEY (post_id, nudge_id)
        )
        """
    )
    for column in (
        "post_id INTEGER REFERENCES posts (id)",
        "assignee_id TEXT",
        "attempts INTEGER NOT NULL DEFAULT 0",
        "next_attempt_at TEXT",
        "last_error TEXT",
        "resolved_by TEXT",
        "resolved_at TEXT",
        "note TEXT",
        "outcome TEXT",
        "snoozed_until TEXT",
        "snoozed_by TEXT",
    ):
        db.execute(f"ALTER TABLE nudges ADD COLUMN {column}")
    db.execute("CREATE INDEX nudges_by_post ON nudges (post_id)")
    db.execute("CREATE INDEX nudges_by_deal ON nudges (deal_id, status)")
    db.execute("ALTER TABLE deals ADD COLUMN delivery_error TEXT")


def _v3_lifecycle_and_digests(db: sqlite_utils.Database) -> None:
    """Deals signed, live or cancelled; managers' daily digests (one per manager per local day); user zones."""
    for column in (
        "signed INTEGER NOT NULL DEFAULT 1",
        "signed_at TEXT",
        "live_at TEXT",
        "cancelled_at TEXT",
        "cancelled_by TEXT",
        "cancel_reason TEXT",
    ):
        db.execute(f"ALTER TABLE deals ADD COLUMN {column}")
    db.execute("CREATE INDEX deals_by_status ON deals (team_id, status, created_at)")
    db.execute(
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            team_id TEXT NOT NULL,
            manager_id TEXT NOT NULL,
            local_date TEXT NOT NULL,
            status TEXT NOT NULL,
            channel_id TEXT,
            ts TEXT,
            claimed_at TEXT NOT NULL,
            lease_at TEXT NOT NULL,
            sent_at TEXT,
            error TEXT,
            UNIQUE (team_id, manager_id, local_date)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE users (
            team_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            tz TEXT,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (team_id, user_id)
        )
        """
    )


def _v4_home_views(db: sqlite_utils.Database) -> None:
    """Who has opened the Home tab: only their tabs are republished when their follow-ups change."""
    db.execute(
        """
        CREATE TABLE home_views (
            team_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            PRIMARY KEY (team_id, user_id)
        )
        """
    )


def _v5_partial_indexes(db: sqlite_utils.Database) -> None:
    """Indexes on just the rows each minute's tick looks for. Nearly every post is 'posted', so SQLite's
    statistics make a plain index on status look useless and it scanned every post instead."""
    db.execute("CREATE INDEX posts_unconfirmed ON posts (id) WHERE status = 'unconfirmed'")
    db.execute("CREATE INDEX posts_sending ON posts (lease_at) WHERE status = 'sending'")
    db.execute("CREATE INDEX nudges_planned_due ON nudges (due_date, deal_id) WHERE status = 'planned'")


def _v6_workspaces(db: sqlite_utils.Database) -> None:
    """Installed and uninstalled workspaces (no row: active), and whether a user belongs to a workspace."""
    db.execute(
        """
        CREATE TABLE workspaces (
            team_id TEXT PRIMARY KEY,
            active INTEGER NOT NULL,
            changed_at TEXT NOT NULL
        )
        """
    )
    db.execute("ALTER TABLE users ADD COLUMN member INTEGER NOT NULL DEFAULT 1")


def _v7_deleted_and_held_captures(db: sqlite_utils.Database) -> None:
    """Captures deleted as mistakes (kept, with status 'deleted', so a replay or a double click finds them, and
    counted nowhere), and captures held back while their rep is asked whether they repeat an earlier one."""
    db.execute("ALTER TABLE deals ADD COLUMN deleted_at TEXT")
    db.execute("ALTER TABLE deals ADD COLUMN deleted_by TEXT")
    db.execute(
        """
        CREATE TABLE held_captures (
            capture_key TEXT PRIMARY KEY,
            team_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            fields TEXT NOT NULL,
            duplicate_of INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            created_at TEXT NOT NULL
        )
        """
    )


def _v8_announcements_once(db: sqlite_utils.Database) -> None:
    """A deal's channel message becomes a post like any nudge message: claimed with the deal, posted with its id in
    the metadata, confirmed, and reconciled after a crash. History searches keep how far they have read."""
    db.execute("ALTER TABLE posts ADD COLUMN kind TEXT NOT NULL DEFAULT 'nudges'")
    db.execute("ALTER TABLE posts ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE posts ADD COLUMN searched_to TEXT")
    db.execute("ALTER TABLE digests ADD COLUMN searched_to TEXT")
    db.execute("CREATE UNIQUE INDEX posts_one_announcement ON posts (deal_id) WHERE kind = 'announcement'")
    db.execute("CREATE INDEX posts_retry ON posts (lease_at) WHERE status = 'retry'")
    # A deal left at 'posting' by a process that died: its announcement is an orphaned claim, settled by the
    # dispatcher like any other (looked for in the channel's history around its capture, posted if missing).
    db.execute(
        "INSERT INTO posts (deal_id, channel_id, status, late, claimed_at, lease_at, kind, attempts) "
        "SELECT id, channel_id, 'sending', 0, created_at, created_at, 'announcement', 1 FROM deals "
        "WHERE message_ts = 'posting'"
    )
    db.execute("UPDATE deals SET message_ts = NULL WHERE message_ts = 'posting'")


MIGRATIONS: list[tuple[int, Callable[[sqlite_utils.Database], None]]] = [
    (1, _v1_deals_and_nudges),
    (2, _v2_delivery),
    (3, _v3_lifecycle_and_digests),
    (4, _v4_home_views),
    (5, _v5_partial_indexes),
    (6, _v6_workspaces),
    (7, _v7_deleted_and_held_captures),
    (8, _v8_announcements_once),
]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply each missing migration in its own transaction, recording it in schema_migrations."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for version, apply in MIGRATIONS:
        with transaction(db):
            done = db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [version]).fetchone()
            if done:
                continue
            apply(db)
            db.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                [version, stamp(datetime.now(UTC))],
            )
    return MIGRATIONS[-1][0]
