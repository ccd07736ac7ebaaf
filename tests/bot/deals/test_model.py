"""Deals and their plans in SQL, on real files: captures stored once, edits re-planning only what is planned."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest

from bot.deals import model as deals
from bot.deals.capture import Money
from bot.deals.model import DealFields
from bot.storage import Store
from tests.bot.dealdata import ACME, FRIDAY, LATER, MONDAY, PLAYBOOK, capture, count, nudges


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "dealcoach.db")
    store.migrate()
    return store


# --- capturing deals -----------------------------------------------------------------------------------------


def test_capture_stores_the_deal_and_one_nudge_per_planned_step(store):
    """The deal and its whole plan are written together, each nudge due on the playbook's date; without a go-live
    date, a step timed from go-live is not planned on a guess (the go-live question, in the built-in playbook, asks)."""
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
    planned = [p for p in planned if p.step.after != "go_live"]
    assert [(n.step_id, n.stage, n.title, n.due_date, n.status) for n in stored] == [
        (p.step.id, p.step.stage, p.step.title, p.due, "planned") for p in planned
    ]
    assert {n.step_id: n.due_date for n in stored} == {
        "call": FRIDAY,
        "note": date(2026, 1, 6),
        "exec-lunch": date(2026, 1, 12),
        "cfo-review": date(2026, 1, 22),
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
    assert count(store, "nudges") == 4


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
        "kickoff": (date(2026, 2, 16), "planned"),  # planned once go-live is known
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
