"""The one definition of a healthy deal: an early step (affirm stage, or due before go-live) overdue makes a deal
unhealthy, until a recovery step done or skipped since deals with it; the digest's and Home's "at risk" read it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from bot.deals import model as deals
from bot.health.rules import health, unhealthy
from bot.stats import at_risk
from tests.bot.dealdata import ACME, NOW, PLAYBOOK

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set

LIVE = date(2026, 2, 1)  # ACME closed Friday Jan 2; exec-lunch (acclimate) is due Jan 12, before go-live


def capture(store, fields=ACME) -> int:
    with store.write() as db:
        deal_id, _ = deals.capture_deal(
            db, team_id="T0TEAM", channel_id="C0DEALS", owner_id="U0REP", fields=fields, playbook=PLAYBOOK, now=NOW
        )
    return deal_id


def settle(store, deal_id: int, *step_ids: str, status: str = "done") -> None:
    marks = ",".join("?" * len(step_ids))
    with store.write() as db:
        db.execute(
            f"UPDATE nudges SET status = ?, resolved_at = '2026-01-03T10:00:00Z' WHERE deal_id = ? "
            f"AND step_id IN ({marks})",
            [status, deal_id, *step_ids],
        )


def test_a_new_deal_is_healthy_and_an_overdue_affirm_step_makes_it_unhealthy(store):
    deal_id = capture(store)
    with store.session() as db:
        assert health(db, deal_id, today=date(2026, 1, 2)).healthy
        sick = health(db, deal_id, today=date(2026, 1, 7))
    assert not sick.healthy and sick.overdue_early == 2 and sick.oldest_overdue == date(2026, 1, 2)
    assert sick.reasons == ("2 early steps overdue since Jan 2",)


def test_a_step_due_before_go_live_is_early_whatever_its_stage(store):
    deal_id = capture(store, replace(ACME, go_live_date=LIVE))
    settle(store, deal_id, "call", "note")
    with store.session() as db:
        sick = health(db, deal_id, today=date(2026, 1, 15))
    assert not sick.healthy and sick.overdue_early == 1  # exec-lunch, acclimate stage, due Jan 12 < go-live


def test_without_a_go_live_date_only_the_affirm_steps_are_early(store):
    deal_id = capture(store)
    settle(store, deal_id, "call", "note")
    with store.session() as db:
        assert health(db, deal_id, today=date(2026, 1, 15)).healthy


def test_a_recovery_step_done_since_deals_with_the_early_steps_before_it(store):
    deal_id = capture(store)
    with store.write() as db:
        db.execute(
            "INSERT INTO nudges (deal_id, step_id, stage, title, due_date, status, purpose, resolved_at, created_at, "
            "updated_at) VALUES (?, 'recovery-check', 'accomplish', 'r', '2026-01-20', 'done', 'recovery', "
            "'2026-01-20T10:00:00Z', 'x', 'x')",
            [deal_id],
        )
    with store.session() as db:
        assert health(db, deal_id, today=date(2026, 1, 21)).healthy


def test_a_cancelled_deal_is_not_listed_as_unhealthy(store):
    deal_id = capture(store)
    with store.write() as db:
        deals.cancel_deal(db, deal_id, actor="U0REP", reason="Budget", now=NOW)
    with store.session() as db:
        assert unhealthy(db, today=date(2026, 1, 15), team_id="T0TEAM") == {}


def test_the_managers_at_risk_list_reads_the_same_definition(store):
    """A large deal whose pre-go-live (acclimate) step is overdue is at risk, as it is unhealthy for the gate."""
    deal_id = capture(store, replace(ACME, go_live_date=LIVE))
    settle(store, deal_id, "call", "note")
    with store.session() as db:
        risks = at_risk(
            db,
            team_id="T0TEAM",
            now=datetime(2026, 1, 15, 9, 0, tzinfo=NOW.tzinfo),
            today=date(2026, 1, 15),
            large_deal=Decimal(100000),
            quiet_days=90,
        ).items
        assert [(r.deal.id, r.overdue_early, r.oldest_overdue) for r in risks] == [(deal_id, 1, date(2026, 1, 12))]
        assert (
            at_risk(
                db,
                team_id="T0TEAM",
                now=datetime(2026, 1, 15, 9, 0, tzinfo=NOW.tzinfo),
                today=date(2026, 1, 15) - timedelta(days=4),
                large_deal=Decimal(100000),
                quiet_days=90,
            ).items
            == []
        )


def test_the_digest_line_says_where_go_live_stands_never_a_guess(store):
    from bot.digest.blocks import at_risk_line

    known = capture(store, replace(ACME, go_live_date=LIVE))
    unknown = capture(store, replace(ACME, account="Globex"))
    settle(store, known, "call", "note")
    moment = datetime(2026, 1, 15, 9, 0, tzinfo=NOW.tzinfo)
    with store.session() as db:
        risks = at_risk(
            db, team_id="T0TEAM", now=moment, today=moment.date(), large_deal=Decimal(100000), quiet_days=90
        ).items
    lines = {r.deal.id: at_risk_line(r, None, moment) for r in risks}
    assert "go-live Feb 1" in lines[known]
    assert "go-live not known yet" in lines[unknown]


def test_an_early_step_whose_window_passed_undone_makes_the_deal_unhealthy_until_a_recovery_step(store):
    """Issue 11's catch-up records a step past its window as missed: not owed any more, but the moment to reassure
    the buyer was lost, so the deal is unhealthy (and its asks wait) until a recovery step deals with it."""
    deal_id = capture(store)
    settle(store, deal_id, "note")
    settle(store, deal_id, "call", status="missed")
    with store.session() as db:
        sick = health(db, deal_id, today=date(2026, 1, 7))
    assert not sick.healthy and sick.overdue_early == 1 and sick.missed_early == 1
    assert sick.reasons == ("1 early step missed",)
    with store.write() as db:
        db.execute(
            "INSERT INTO nudges (deal_id, step_id, stage, title, due_date, status, purpose, resolved_at, created_at, "
            "updated_at) VALUES (?, 'recovery', 'affirm', 'Find out', '2026-01-07', 'done', 'recovery', "
            "'2026-01-07T10:00:00Z', '2026-01-07T09:00:00Z', '2026-01-07T10:00:00Z')",
            [deal_id],
        )
    with store.session() as db:
        assert health(db, deal_id, today=date(2026, 1, 8)).healthy
