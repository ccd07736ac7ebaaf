"""The nudge ledger's SQL on a seeded database: the idle tick reads only the due steps."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.seed import seed
from bot.nudges import ledger

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_the_due_steps_query_reads_only_planned_steps_due_by_today_through_an_index(tmp_path):
    """Portable SQL (no INDEXED BY, no CROSS JOIN) and still flat: with ANALYZE's statistics of a team's database,
    the planner must start from an index on (status, due_date), never scan the deals or every nudge of a deal."""
    store = seed(tmp_path / "seeded.db", deals=1500, now=NOW, due_now=3)
    with store.session() as db:
        params = {"today": NOW.date().isoformat(), "now": NOW.isoformat(), "limit": 500}
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + ledger.DUE_DEALS, params).fetchall()]
        due = ledger.due_deal_ids(db, today=NOW.date(), now=NOW)
    nudge_reads = [step for step in plan if " nudges " in f" {step} "]
    assert nudge_reads, plan
    assert all(step.startswith("SEARCH nudges USING INDEX nudges_") for step in nudge_reads), plan
    assert any("status=? AND due_date<?" in step or "nudges_planned_due" in step for step in nudge_reads), plan
    assert not any(step.split()[:2] in (["SCAN", "d"], ["SCAN", "deals"]) for step in plan), plan
    assert due == [1, 2, 3]
