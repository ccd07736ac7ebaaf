"""The schema's migrations, on real files: idempotent, WAL, safe from several processes, and each one's data
changes (rows as an older version stored them)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlite_utils

from bot.deals import model as deals
from bot.digest import build
from bot.nudges import ledger
from bot.slack.posting import LEASE
from bot.stats import at_risk
from bot.storage import Store
from bot.storage.migrations import MIGRATIONS

NOW = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "dealcoach.db")
    store.migrate()
    return store


def database_at(path, version: int) -> sqlite_utils.Database:
    """A database as a release with migrations up to `version` left it (close it when done)."""
    conn = sqlite3.connect(path)
    conn.isolation_level = None
    db = sqlite_utils.Database(conn)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for number, apply in MIGRATIONS[:version]:
        apply(db)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?)", [number, "2026-01-01T00:00:00+00:00"])
    return db


# --- migrations ----------------------------------------------------------------------------------------------


def test_migrate_is_idempotent(tmp_path):
    """Every process migrates at start-up, so the second run must change nothing."""
    store = Store(tmp_path / "dealcoach.db")
    latest = MIGRATIONS[-1][0]
    assert store.migrate() == latest
    with store.session() as db:
        tables = set(db.table_names())
        first = db.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
    assert {"deals", "nudges", "schema_migrations"} <= tables
    assert [v for v, _ in first] == [v for v, _ in MIGRATIONS]

    assert store.migrate() == latest
    with store.session() as db:
        assert db.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall() == first


def test_migrate_turns_on_wal(store):
    """WAL lets the scheduler read while a listener writes; it is a property of the file, seen by every connection."""
    raw = sqlite3.connect(store.path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_threads_migrating_a_new_file_at_once_all_succeed(tmp_path):
    """The bot and the scheduler start together; whichever migrates second must wait, not crash.

    One round rarely hits the race (SQLite refuses the switch to WAL at once, without its busy wait, while
    another connection holds a lock), so this runs many rounds; the deterministic test below pins the cause.
    """
    for round_ in range(60):
        path = tmp_path / f"race-{round_}.db"
        start = threading.Barrier(4)
        results: list[int] = []
        errors: list[BaseException] = []

        def migrate(path=path, start=start, results=results, errors=errors):
            start.wait()
            try:
                results.append(Store(path).migrate())
            except BaseException as exc:  # collected and asserted below, with the round that failed
                errors.append(exc)

        threads = [threading.Thread(target=migrate) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], f"round {round_}"
        assert results == [MIGRATIONS[-1][0]] * 4
        with Store(path).session() as db:
            assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


class TracedStore(Store):
    """A real Store whose connections report each statement, so a test can act between two of them."""

    def __init__(self, path, on_statement):
        super().__init__(path)
        self.on_statement = on_statement

    def connect(self):
        db = super().connect()
        db.conn.set_trace_callback(self.on_statement)
        return db


def test_migrate_waits_for_another_writer_instead_of_failing(tmp_path):
    """Another connection mid-write makes the WAL switch fail at once; migrate retries until the writer is done."""
    path = tmp_path / "dealcoach.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other_process (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other_process VALUES (1)")
    wal_attempts: list[str] = []

    def on_statement(sql: str) -> None:
        if "journal_mode" in sql.lower():
            wal_attempts.append(sql)
            if len(wal_attempts) == 2:  # the first attempt was refused: let the other writer finish now
                writer.execute("COMMIT")

    try:
        assert TracedStore(path, on_statement).migrate() == MIGRATIONS[-1][0]
    finally:
        writer.close()
    assert len(wal_attempts) >= 2
    with Store(path).session() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM other_process").fetchone()[0] == 1


def test_a_deal_left_posting_before_v8_becomes_an_orphaned_claim_for_the_dispatcher(tmp_path):
    """Before v7 a crash mid-post left message_ts = 'posting' for good; now the dispatcher settles it."""
    path = tmp_path / "old.db"
    with database_at(path, 6).conn as conn:
        db = sqlite_utils.Database(conn)
        for n, ts in enumerate(["posting", "1767346200.000100", None], 1):
            db.execute(
                "INSERT INTO deals (id, team_id, channel_id, owner_id, account, amount, currency, close_date, "
                "message_ts, created_at, updated_at) VALUES (?, 'T0', 'C0', 'U0', 'A', '1', 'USD', '2026-01-02', "
                "?, '2026-01-02T09:30:00+00:00', '2026-01-02T09:30:00+00:00')",
                [n, ts],
            )
    store = Store(path)
    store.migrate()
    with store.session() as db:
        assert [deals.get_deal(db, n).posted_ts for n in (1, 2, 3)] == [None, "1767346200.000100", None]
        assert ledger.posts_to_settle(db, now=NOW, lease=LEASE) == []  # its lease runs from the capture
        [orphan] = ledger.posts_to_settle(db, now=NOW + LEASE + timedelta(minutes=1), lease=LEASE)
    assert (orphan.deal_id, orphan.kind, orphan.status) == (1, "announcement", "sending")
    assert orphan.claimed_at == "2026-01-02T09:30:00+00:00"  # its history is searched around the capture


def test_times_stored_with_another_offset_become_utc_stamps_and_compare_as_instants(tmp_path):
    """Before every time was stored as UTC, a row could say 11:30+02:00. Migration 9 rewrites those as UTC stamps,
    so the digest and the team stats compare times as strings, portably, and still compare the instants: 11:30+02:00
    is 09:30 UTC, before a digest sent at 10:00 UTC, though "11:30" > "10:00" as text."""
    path = tmp_path / "old.db"
    with database_at(path, 8).conn as conn:
        db = sqlite_utils.Database(conn)
        for n, created, cancelled in [
            (1, "2026-01-02T11:30:00+02:00", None),  # 09:30 UTC
            (2, "2026-01-02T10:30:00+00:00", "2026-01-02T12:15:00+02:00"),  # cancelled at 10:15 UTC
            (3, "2026-01-02T09:00:00", None),  # no offset: UTC, as parse_stamp reads it
        ]:
            status = "cancelled" if cancelled else "open"
            db.execute(
                "INSERT INTO deals (id, team_id, channel_id, owner_id, account, amount, currency, close_date, status, "
                "cancelled_at, created_at, updated_at) VALUES (?, 'T0', 'C0', 'U0', ?, '1', 'USD', '2026-01-02', ?, "
                "?, ?, ?)",
                [n, f"Account {n}", status, cancelled, created, created],
            )
        db.execute(
            "INSERT INTO nudges (deal_id, step_id, stage, title, due_date, status, resolved_at, created_at, updated_at) "
            "VALUES (1, 'call', 'affirm', 'Call', '2026-01-02', 'done', '2026-01-02T11:45:00+02:00', ?, ?)",
            ["2026-01-02T09:30:00+00:00"] * 2,
        )
        db.execute(
            "INSERT INTO nudges (deal_id, step_id, stage, title, due_date, status, created_at, updated_at) "
            "VALUES (1, 'note', 'affirm', 'Note', '2026-01-20', 'planned', ?, ?)",
            ["2026-01-02T09:30:00+00:00"] * 2,
        )
    store = Store(path)
    store.migrate()
    with store.session() as db:
        stored = db.execute("SELECT id, created_at, cancelled_at FROM deals ORDER BY id").fetchall()
        resolved = db.execute("SELECT resolved_at FROM nudges WHERE status = 'done'").fetchone()[0]
        ten = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
        before_ten = build.closed_since(db, team_id="T0", since=NOW - timedelta(hours=1), now=ten)
        after_ten = build.closed_since(db, team_id="T0", since=ten, now=ten + timedelta(hours=1))
        cancelled = build.cancelled_since(db, team_id="T0", since=ten, now=ten + timedelta(hours=1))
        quiet = at_risk(
            db, team_id="T0", now=ten + timedelta(days=14), today=date(2026, 1, 16), large_deal=10**9, quiet_days=14
        ).items
    assert stored == [
        (1, "2026-01-02T09:30:00+00:00", None),
        (2, "2026-01-02T10:30:00+00:00", "2026-01-02T10:15:00+00:00"),
        (3, "2026-01-02T09:00:00+00:00", None),
    ]
    assert resolved == "2026-01-02T09:45:00+00:00"
    assert [d.id for d in before_ten] == [1, 3]  # newest first, by the instant
    assert [d.id for d in after_ten] == [2]
    assert [d.id for d in cancelled] == [2]
    assert [(r.deal.id, r.quiet_since) for r in quiet] == [(1, datetime(2026, 1, 2, 9, 45, tzinfo=UTC))]
