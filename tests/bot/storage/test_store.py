"""The SQLite store on real files: WAL, foreign keys, all-or-nothing writes, the wait for the lock, and the file
under a running process."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading

import pytest

from bot.deals import model as deals
from bot.storage import BUSY_TIMEOUT_MS, DatabaseBusy, DatabaseGone, Store, storage_problem
from tests.bot.dealdata import ACME, NOW, PLAYBOOK, capture, count


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "dealcoach.db")
    store.migrate()
    return store


def test_connections_enforce_foreign_keys(store):
    """Deleting a deal takes its nudges with it (ON DELETE CASCADE only works with foreign_keys on)."""
    deal_id, _ = capture(store)
    assert count(store, "nudges") > 0
    with store.write() as db:
        db.execute("DELETE FROM deals WHERE id = ?", [deal_id])
    assert count(store, "nudges") == 0


def test_an_error_inside_write_stores_nothing(store):
    """If posting fails after capture_deal, the half-made deal must not linger without its message."""
    with pytest.raises(RuntimeError, match="Slack is down"), store.write() as db:
        deal_id, created = deals.capture_deal(
            db,
            team_id="T0TEAM",
            channel_id="C0DEALS",
            owner_id="U0REP",
            fields=ACME,
            playbook=PLAYBOOK,
            now=NOW,
            capture_key="cmd-1",
        )
        assert created is True
        assert db.execute("SELECT count(*) FROM nudges").fetchone()[0] == 4  # visible inside the transaction
        raise RuntimeError("Slack is down")
    assert count(store, "deals") == 0
    assert count(store, "nudges") == 0
    with store.session() as db:
        assert deals.get_deal(db, deal_id) is None
        assert deals.get_deal_by_capture_key(db, "cmd-1") is None
    assert capture(store, capture_key="cmd-1")[1] is True  # and the key is free for the retry


# --- waiting for the lock, and the file under a running process -----------------------------------------------


def test_a_store_for_requests_shares_the_connections_and_says_busy_after_its_own_wait(store):
    """Requests see the store through `for_requests`: the same connection, their own wait, the jobs' unchanged."""
    quick = store.for_requests(5)
    with store.session() as db, quick.session() as same:
        assert same is db
    with another_writer(store.path), pytest.raises(DatabaseBusy, match="within 5 ms") as busy, quick.write():
        pytest.fail("a write without the lock")
    assert storage_problem(busy.value) == "the database is busy"
    assert store.busy_timeout_ms == BUSY_TIMEOUT_MS
    assert capture(store, capture_key="after")[1] is True


def test_after_a_request_waited_for_the_lock_in_vain_the_next_try_once_until_one_gets_it(store):
    """A burst behind a long lock is answered at once instead of each request waiting in turn for a thread."""
    quick = store.for_requests(5)
    with another_writer(store.path):
        with pytest.raises(DatabaseBusy, match="within 5 ms"), quick.write():
            pytest.fail("a write without the lock")
        for _ in range(3):
            with pytest.raises(DatabaseBusy, match="still held, tried once without waiting"), quick.write():
                pytest.fail("a write without the lock")
    assert capture(quick, capture_key="the lock is free")[1] is True  # a real try: it gets the lock
    with another_writer(store.path), pytest.raises(DatabaseBusy, match="within 5 ms"), quick.write():
        pytest.fail("a write without the lock")  # once a write got the lock, a request waits again


@contextlib.contextmanager
def another_writer(path):
    """Another connection holding SQLite's write lock, as another process would."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def remove_database(path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")


def test_a_database_removed_under_a_running_store_is_refused_said_once_and_never_recreated(store, caplog):
    """Each thread's connection would keep writing to the deleted file, lost at the next start."""
    capture(store, capture_key="before")  # this thread holds a connection to the file
    remove_database(store.path)
    with pytest.raises(DatabaseGone) as gone, store.write():
        pytest.fail("a write to a file that is gone")
    with pytest.raises(DatabaseGone), store.session():
        pytest.fail("a read from a file that is gone")
    refused = []

    def first_use_on_another_thread() -> None:
        try:
            capture(store, capture_key="elsewhere")
        except DatabaseGone as exc:
            refused.append(exc)

    thread = threading.Thread(target=first_use_on_another_thread)
    thread.start()
    thread.join()
    assert len(refused) == 1
    assert not store.path.exists()  # a new connection did not create an empty database
    assert storage_problem(gone.value) == "the database file was removed or replaced (an admin has been told)"
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]  # once, however many units of work
    assert str(store.path) in error.getMessage() and "Restart Deal Coach" in error.getMessage()


def test_a_write_whose_file_is_removed_before_it_commits_is_not_reported_as_saved(store):
    """COMMIT succeeds into the unlinked file; the store checks the path after it, so nobody is told 'saved'."""
    with pytest.raises(DatabaseGone), store.write() as db:
        deals.capture_deal(
            db,
            team_id="T0TEAM",
            channel_id="C0DEALS",
            owner_id="U0REP",
            fields=ACME,
            playbook=PLAYBOOK,
            now=NOW,
            capture_key="doomed",
        )
        remove_database(store.path)


def test_a_database_replaced_under_a_running_store_is_refused_and_left_untouched(store, tmp_path):
    """A restored backup is opened by the next start, not by connections that still hold the old file's WAL."""
    capture(store, capture_key="kept")
    backup = tmp_path / "backup.db"
    with store.session() as db, contextlib.closing(sqlite3.connect(backup)) as target:
        db.conn.backup(target)
    remove_database(store.path)
    os.replace(backup, store.path)
    restored = store.path.read_bytes()
    with pytest.raises(DatabaseGone):
        capture(store, capture_key="refused")
    with pytest.raises(DatabaseGone), store.session():
        pytest.fail("a read from the old file")
    assert store.path.read_bytes() == restored
