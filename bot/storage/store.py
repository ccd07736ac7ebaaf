"""The store: where the database lives, each thread's connection to it, and write transactions.

Each thread opens one connection on first use and keeps it for good (closing the last connection to a WAL
database checkpoints it); units of work (`Store.session`, `Store.write`) borrow it. Writes are IMMEDIATE
transactions: SQLite lets one writer in at a time, and several use cases rely on that (see the comments
marked "one writer at a time" where they do)."""

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
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 5000  # jobs and start-up: nobody is waiting on them; requests wait DEALCOACH_REQUEST_DB_WAIT_MS
BUSY_MEMORY_S = 10.0  # after a request's wait ran out on the lock, requests this soon after try once, without waiting
WAL_ATTEMPTS = 40

logger = logging.getLogger(__name__)


class DatabaseBusy(sqlite3.OperationalError):
    """No write lock within this unit of work's wait: another writer, in this process or another, held it."""


class DatabaseGone(sqlite3.OperationalError):
    """DEALCOACH_DB no longer names the file this process opened: it was removed or replaced under it."""


class Store:
    """Knows where the database lives and lends each thread its one connection, opened on first use and kept.

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
        from bot.storage.migrations import migrate  # the migrations use this module's transaction()

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
    if "can't be reached" in text:
        return "the database can't be reached just now"
    if "locked" in text or "busy" in text:
        return "the database is busy"
    if "full" in text:
        return "the server's disk is full (an admin has been told)"
    return "the database couldn't save it"


def retry_helps(exc: sqlite3.Error) -> bool:
    """Whether trying again in a moment can work: a busy database frees up; a removed file or a full disk waits for
    an admin (a process whose file was removed or replaced saves nothing until it is restarted)."""
    return not isinstance(exc, DatabaseGone) and "full" not in str(exc).lower()


# SQLite's answers that say the database can't be used just now (locked, full, unreadable), not that our SQL is wrong
OUTAGE_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}
OUTAGE_CODES |= {sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY}


def is_outage(exc: BaseException) -> bool:
    """The database can't be used just now (busy, full, its file removed): the jobs wait it out and say so once."""
    if isinstance(exc, (DatabaseBusy, DatabaseGone)):
        return True
    return isinstance(exc, sqlite3.OperationalError) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in OUTAGE_CODES


def log_storage_failure(log: logging.Logger, what: str, exc: sqlite3.Error) -> None:
    """A busy database or a vanished file is a fault we expect and answer: one line, since the store has said
    why (DatabaseGone once, as an ERROR). Anything else may be a bug or a broken disk: with its traceback."""
    if isinstance(exc, (DatabaseBusy, DatabaseGone)):
        log.warning("%s: %s", what, exc)
    else:
        log.error("%s", what, exc_info=exc)


def is_postgres(db) -> bool:
    """Whether a unit of work's connection is PostgreSQL's (bot.storage.postgres) rather than SQLite's."""
    return getattr(db, "engine", None) == "postgresql"


def for_update(db, *, skip_locked: bool = True) -> str:
    """The clause that locks the rows a claim reads until its transaction ends: `SELECT ... {for_update(db)}`.
    Rows another instance holds are skipped (a dispatcher's claim: someone else is posting them), or waited for
    with `skip_locked=False` (a click on a deal: the second sees what the first did). Empty on SQLite, whose write
    transaction already holds the only lock."""
    if not is_postgres(db):
        return ""
    return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"


def query(db: sqlite_utils.Database, sql: str, params: list | dict | None = None) -> list[dict]:
    """Rows as dicts with one statement: sqlite-utils' rows_where() first reads the schema three times."""
    cursor = db.execute(sql, params if params is not None else [])
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def query_one(db: sqlite_utils.Database, sql: str, params: list | dict | None = None) -> dict | None:
    found = query(db, sql, params)
    return found[0] if found else None


def insert(db: sqlite_utils.Database, table: str, row: dict) -> int:
    """A plain INSERT for hot paths (sqlite-utils' insert() looks up the schema three times per call); returns the
    new row's id, by RETURNING, as PostgreSQL does too (SQLite has it since 3.35)."""
    columns = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join("?" * len(row))
    sql = f'INSERT INTO "{table}" ({columns}) VALUES ({marks}) RETURNING id'
    [(new_id,)] = db.execute(sql, list(row.values())).fetchall()  # fetched to the end: the statement is done
    return new_id


def insert_many(db: sqlite_utils.Database, table: str, rows: list[dict]) -> None:
    """Rows sharing the same keys, in one executemany; call inside a transaction."""
    if not rows:
        return
    columns = ", ".join(f'"{c}"' for c in rows[0])
    marks = ", ".join("?" * len(rows[0]))
    executemany = db.executemany if is_postgres(db) else db.conn.executemany
    executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', [list(r.values()) for r in rows])


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
    for its message). On PostgreSQL, a plain transaction: its claims lock rows, not the database."""
    if is_postgres(db):
        with db.transaction():
            yield db
        return
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
