"""The SQLite store and deal storage, on real files: migrations, WAL, all-or-nothing writes, idempotent captures."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from bot.deals import announcements
from bot.deals import model as deals
from bot.deals.capture import Money
from bot.deals.model import DealFields
from bot.playbook.loader import parse
from bot.slack.posting import LEASE
from bot.storage import BUSY_TIMEOUT_MS, DatabaseBusy, DatabaseGone, Store, storage_problem

NOW = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
FRIDAY = date(2026, 1, 2)
MONDAY = date(2026, 1, 5)

PLAYBOOK = parse(
    """\
[playbook]
name = "DB test"
go_live_after_days = 30

[[steps]]
id = "call"
stage = "affirm"
days = 0
title = "Call {contact}"

[[steps]]
id = "note"
stage = "affirm"
days = 2
business_days = true
title = "Write to {contact}"

[[steps]]
id = "exec-lunch"
stage = "acclimate"
days = 10
personas = ["economic"]
title = "Lunch with {contact}"

[[steps]]
id = "cfo-review"
stage = "acclimate"
days = 20
personas = ["economic"]
title = "Review with the CFO"

[[steps]]
id = "champion-kit"
stage = "acclimate"
days = 5
personas = ["champion"]
title = "Send the champion kit"

[[steps]]
id = "kickoff"
stage = "activate"
after = "go_live"
days = 0
title = "Kick off {account}"
""",
    "db-test.toml",
)

ACME = DealFields(
    account="Acme Rockets",
    money=Money(Decimal("120000.50"), "EUR"),
    close_date=FRIDAY,
    contact_name="Jane Doe",
    contact_title="VP Operations",
    persona="economic",
    why_bought="Faster launches",
)


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "dealcoach.db")
    store.migrate()
    return store


def capture(store: Store, fields: DealFields = ACME, capture_key: str | None = None) -> tuple[int, bool]:
    with store.write() as db:
        return deals.capture_deal(
            db,
            team_id="T0TEAM",
            channel_id="C0DEALS",
            owner_id="U0REP",
            fields=fields,
            playbook=PLAYBOOK,
            now=NOW,
            capture_key=capture_key,
        )


def count(store: Store, table: str) -> int:
    with store.session() as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def nudges(store: Store, deal_id: int) -> dict[str, tuple[date, str]]:
    with store.session() as db:
        return {n.step_id: (n.due_date, n.status) for n in deals.deal_nudges(db, deal_id)}


def test_connections_enforce_foreign_keys(store):
    """Deleting a deal takes its nudges with it (ON DELETE CASCADE only works with foreign_keys on)."""
    deal_id, _ = capture(store)
    assert count(store, "nudges") > 0
    with store.write() as db:
        db.execute("DELETE FROM deals WHERE id = ?", [deal_id])
    assert count(store, "nudges") == 0


# --- capturing deals -----------------------------------------------------------------------------------------


def test_capture_stores_the_deal_and_one_nudge_per_planned_step(store):
    """The deal and its whole plan are written together, each nudge due on the playbook's date."""
    deal_id, created = capture(store, capture_key="cmd-1")
    assert created is True
    with store.session() as db:
        deal = deals.get_deal(db, deal_id)
        stored = deals.deal_nudges(db, deal_id)
    assert deal is not None
    assert (deal.team_id, deal.channel_id, deal.owner_id, deal.status) == ("T0TEAM", "C0DEALS", "U0REP", "open")
    assert deal.fields == ACME
    assert deal.fields.money.amount == Decimal("120000.50")
    assert deal.created_at == "2026-01-02T09:30:00+00:00"
    assert deal.message_ts is None

    planned = PLAYBOOK.plan(close_date=FRIDAY, persona="economic", amount=ACME.money.amount)
    assert [(n.step_id, n.stage, n.title, n.due_date, n.status) for n in stored] == [
        (p.step.id, p.step.stage, p.step.title, p.due, "planned") for p in planned
    ]
    assert {n.step_id: n.due_date for n in stored} == {
        "call": FRIDAY,
        "note": date(2026, 1, 6),
        "exec-lunch": date(2026, 1, 12),
        "cfo-review": date(2026, 1, 22),
        "kickoff": date(2026, 2, 1),
    }


def test_the_same_capture_key_twice_stores_one_deal(store):
    """Slack retries a slow command; the retry must find the first deal, not make a second."""
    first_id, first_created = capture(store, capture_key="cmd-1")
    deals_before, nudges_before = count(store, "deals"), count(store, "nudges")

    other = DealFields(account="Globex", money=Money(Decimal("5"), "USD"), close_date=MONDAY, persona="champion")
    again_id, again_created = capture(store, other, capture_key="cmd-1")

    assert (again_id, again_created) == (first_id, False)
    assert (first_created, count(store, "deals"), count(store, "nudges")) == (True, deals_before, nudges_before)
    with store.session() as db:
        assert deals.get_deal(db, first_id).account == "Acme Rockets"
        assert deals.get_deal_by_capture_key(db, "cmd-1").id == first_id


def test_captures_without_a_key_are_separate_deals(store):
    """Only a capture key makes two captures the same deal; two modals for one account are two deals."""
    first, _ = capture(store)
    second, _ = capture(store)
    assert first != second
    assert count(store, "deals") == 2


def test_concurrent_captures_with_one_key_store_one_deal(tmp_path):
    """Retries can arrive on two threads at once; the IMMEDIATE transaction lets exactly one create the deal."""
    store = Store(tmp_path / "dealcoach.db")
    store.migrate()
    start = threading.Barrier(4)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def attempt():
        start.wait()
        try:
            results.append(capture(Store(store.path), capture_key="retry-me"))
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({deal_id for deal_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert count(store, "deals") == 1
    assert count(store, "nudges") == 5


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
        assert db.execute("SELECT count(*) FROM nudges").fetchone()[0] == 5  # visible inside the transaction
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


# --- editing deals -------------------------------------------------------------------------------------------


def test_update_replans_only_planned_nudges(store):
    """A rep's done or skipped work is history; only steps not yet acted on move, appear or disappear."""
    deal_id, _ = capture(store)
    with store.write() as db:
        db.execute(
            "UPDATE nudges SET status = 'done', updated_at = 'marked-done' WHERE deal_id = ? AND step_id = ?",
            [deal_id, "exec-lunch"],
        )
        done_before = db.execute("SELECT * FROM nudges WHERE step_id = 'exec-lunch'").fetchone()

    edited = DealFields(
        account="Acme Rockets Inc",
        money=Money(Decimal("90000"), "EUR"),
        close_date=MONDAY,
        contact_name="Jane Doe",
        persona="champion",
        go_live_date=date(2026, 2, 16),
    )
    with store.write() as db:
        deals.update_deal(db, deal_id, edited, playbook=PLAYBOOK, now=LATER)

    assert nudges(store, deal_id) == {
        "call": (MONDAY, "planned"),  # moved with the close date
        "note": (date(2026, 1, 7), "planned"),
        "exec-lunch": (date(2026, 1, 12), "done"),  # done: kept although no longer in the plan
        "champion-kit": (date(2026, 1, 10), "planned"),  # new for a champion
        "kickoff": (date(2026, 2, 16), "planned"),  # moved to the real go-live
    }  # cfo-review was planned and no longer applies, so it is gone
    with store.session() as db:
        assert db.execute("SELECT * FROM nudges WHERE step_id = 'exec-lunch'").fetchone() == done_before
        deal = deals.get_deal(db, deal_id)
        updated_at = db.execute("SELECT updated_at FROM deals WHERE id = ?", [deal_id]).fetchone()[0]
    assert deal.fields == edited
    assert updated_at == "2026-01-05T14:00:00+00:00"


def test_update_with_the_same_fields_changes_no_nudge(store):
    """Saving the modal unchanged must not touch the plan (no churn in updated_at)."""
    deal_id, _ = capture(store)
    with store.session() as db:
        before = db.execute("SELECT * FROM nudges ORDER BY id").fetchall()
    with store.write() as db:
        deals.update_deal(db, deal_id, ACME, playbook=PLAYBOOK, now=LATER)
    with store.session() as db:
        assert db.execute("SELECT * FROM nudges ORDER BY id").fetchall() == before


# --- posting the deal message once ---------------------------------------------------------------------------


def capture_with_claim(store: Store) -> int:
    """A capture as the coach makes it: the deal, its plan and the claim on its announcement, in one transaction."""
    with store.write() as db:
        deal_id, _ = deals.capture_deal(
            db, team_id="T0TEAM", channel_id="C0DEALS", owner_id="U0REP", fields=ACME, playbook=PLAYBOOK, now=NOW
        )
        announcements.claim_with_capture(db, deal_id=deal_id, channel_id="C0DEALS", now=NOW)
    return deal_id


def test_the_captures_claim_on_its_announcement_is_taken_once(store):
    """The capture's lazy listener and a click on the deal racing to post its message: only one may post it."""
    deal_id = capture_with_claim(store)
    with store.write() as db:
        taken = announcements.take(db, deal_id, now=NOW)
        assert (taken.status, taken.kind, taken.attempts) == ("sending", "announcement", 1)
    with store.write() as db:
        assert announcements.take(db, deal_id, now=NOW) is None
        assert deals.get_deal(db, deal_id).posted_ts is None  # claimed, not yet posted


def test_a_stale_capture_claim_is_left_to_the_dispatcher(store):
    """A lazy listener that runs late (the process was stalled) must not race the dispatcher's reconcile."""
    deal_id = capture_with_claim(store)
    with store.write() as db:
        assert announcements.take(db, deal_id, now=NOW + LEASE / 2) is None


def test_an_unreachable_announcement_can_be_claimed_again_and_a_posted_one_cannot(store):
    """A channel that couldn't be reached is tried again on the deal's next change; once posted, never again."""
    deal_id = capture_with_claim(store)
    with store.write() as db:
        post = announcements.take(db, deal_id, now=NOW)
        announcements.give_up_for_now(db, post, error="channel_not_found")
    with store.write() as db:
        again = announcements.take(db, deal_id, now=LATER)
        assert (again.status, again.attempts, again.claimed_at) == ("sending", 2, "2026-01-05T14:00:00+00:00")
        announcements.confirm(db, again, channel_id="C0DEALS", ts="1767346200.000100", now=LATER)
    with store.write() as db:
        assert announcements.take(db, deal_id, now=LATER) is None
        assert deals.get_deal(db, deal_id).posted_ts == "1767346200.000100"


def test_no_claim_for_a_missing_deal(store):
    with store.write() as db:
        assert announcements.take(db, 999, now=NOW) is None
