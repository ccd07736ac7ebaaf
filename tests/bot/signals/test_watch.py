"""The buyer's side of a deal and the two lists' rules, read from a real SQLite file: what clears a worried buyer
or a concern, and a missed step counted once, not forever overdue."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot.signals import model as signals
from bot.signals.watch import MISSED_AFTER, buyer_signals, missed_between, slipping
from tests.bot.digest.test_build import BERLIN, Team, berlin
from tests.conftest import MANAGER, REP, TEAM

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set

TODAY = date(2026, 11, 23)


def heard(store, deal_id: int, day: int, *, key: str, sentiment=None, concern=None, kind="touch") -> None:
    with store.write() as db:
        signals.record(
            db,
            team_id=TEAM,
            deal_id=deal_id,
            kind=kind,
            by_user=REP,
            happened_on=date(2026, 11, day),
            now=datetime(2026, 11, day, 12, tzinfo=BERLIN),
            request_key=key,
            sentiment=sentiment,
            concern=concern,
        )


def facts(store, **kw):
    with store.session() as db:
        return signals.signals_of(db, team_id=TEAM, today=TODAY, signature_days=7, **kw)


def test_the_latest_word_decides_worried_and_a_positive_one_settles_a_concern(store):
    team = Team(store)
    acme = team.deal("Acme", 120_000, berlin(11, 2))
    heard(store, acme, 10, key="a", sentiment="worried")
    assert facts(store)[acme].worried is not None
    heard(store, acme, 12, key="b", sentiment="neutral")
    assert acme not in facts(store)  # heard since, and not worried: nothing to say
    heard(store, acme, 13, key="c", kind="concern", concern="budget")
    assert [c.concern for c in facts(store)[acme].concerns] == ["budget"]
    heard(store, acme, 14, key="d", sentiment="neutral")
    assert [c.concern for c in facts(store)[acme].concerns] == ["budget"]  # neutral doesn't settle it
    heard(store, acme, 15, key="e", sentiment="positive")
    assert acme not in facts(store)
    with store.write() as db:  # the same request again stores nothing
        assert not signals.record(
            db, team_id=TEAM, deal_id=acme, kind="touch", by_user=REP, happened_on=TODAY, now=berlin(11, 23),
            request_key="e", sentiment="worried",
        )  # fmt: skip
    assert acme not in facts(store)


def test_a_verbal_yes_is_listed_once_it_waits_longer_than_the_signature_days(store):
    team = Team(store)
    seven = team.deal("Seven Days", 10_000, berlin(11, 16))
    eight = team.deal("Eight Days", 10_000, berlin(11, 15))
    with store.write() as db:
        db.execute("UPDATE deals SET signed = 0")
    found = facts(store)
    assert seven not in found and found[eight].unsigned_days == 8
    with store.session() as db:
        listed = buyer_signals(db, team_id=TEAM, today=TODAY, signature_days=7)
    assert [f.deal.account for f in listed] == ["Eight Days"]


def test_cancellation_asks_lead_then_the_biggest_deals(store):
    team = Team(store)
    small = team.deal("Small", 5_000, berlin(11, 2))
    big = team.deal("Big", 500_000, berlin(11, 2))
    heard(store, big, 10, key="w", sentiment="worried")
    heard(store, small, 10, key="x", kind="concern", concern="cancel")
    with store.session() as db:
        listed = buyer_signals(db, team_id=TEAM, today=TODAY, signature_days=7)
        mine = buyer_signals(db, team_id=TEAM, today=TODAY, signature_days=7, reps=frozenset({MANAGER}))
    assert [f.deal.account for f in listed] == ["Small", "Big"] and mine == []


def test_a_step_slips_only_after_its_nudge_and_is_missed_once_when_its_window_passes(store):
    team = Team(store)
    team.deal("Tiny", 4_500, berlin(11, 2))  # steps due Nov 2 (call), Nov 4 (note), Nov 8 (win), Nov 22 (check-in)
    with store.session() as db:
        assert slipping(db, team_id=TEAM, today=TODAY) == []  # overdue, but never reached the rep
    team.post_due(TODAY)
    with store.session() as db:
        assert slipping(db, team_id=TEAM, today=TODAY) == []  # posted, but the rep's own reminder hasn't listed it
    team.remind(REP)
    with store.session() as db:
        [tiny] = slipping(db, team_id=TEAM, today=TODAY)
        assert [n.step_id for n in tiny.steps] == ["check-in"]  # the others are more than 14 days late
        assert missed_between(db, team_id=TEAM, after=TODAY - timedelta(days=1), today=TODAY) == 1  # the win, today
        # each passes its window once, in the digest of the day it becomes 15 days late: Nov 17, Nov 19, Nov 23
        per_day = {
            d: missed_between(db, team_id=TEAM, after=TODAY.replace(day=d - 1), today=TODAY.replace(day=d))
            for d in range(10, 24)
        }
    assert {d: n for d, n in per_day.items() if n} == {17: 1, 19: 1, 23: 1} and MISSED_AFTER == 14


def test_the_last_touch_heard_counts_work_outside_the_playbook(store):
    team = Team(store)
    acme = team.deal("Acme", 120_000, berlin(11, 2))
    heard(store, acme, 10, key="t1", sentiment="positive")
    heard(store, acme, 18, key="t2", sentiment="neutral")
    heard(store, acme, 20, key="c", kind="concern", concern="budget")  # a concern is no touch
    with store.session() as db:
        assert signals.last_heard(db, team_id=TEAM) == {acme: date(2026, 11, 18)}


def test_a_deal_that_left_closed_won_in_the_crm_is_a_buyer_signal_and_unhealthy_until_won_again(store):
    """The CRM reverting a won deal (bot.crm pauses it) is on *Buyer signals* with what to do, and makes the deal
    unhealthy by the one definition; won again, both clear."""
    from bot.deals.model import pause_deal, resume_deal
    from bot.digest.blocks import buyer_signal_line
    from bot.health.rules import health

    team = Team(store)
    acme = team.deal("Acme", 120_000, berlin(11, 2))
    with store.write() as db:
        pause_deal(db, acme, now=berlin(11, 20))
    assert facts(store)[acme].reverted_on == date(2026, 11, 20)
    with store.session() as db:
        [item] = buyer_signals(db, team_id=TEAM, today=TODAY, signature_days=7)
        sick = health(db, acme, today=TODAY)
    line = buyer_signal_line(item, None)
    assert "moved out of closed-won in the CRM (Fri Nov 20)" in line and "*Do:* ask the rep why" in line
    assert not sick.healthy and "moved out of closed-won in the CRM" in sick.reasons
    with store.write() as db:
        resume_deal(db, acme, now=berlin(11, 22))
    assert acme not in facts(store)
    with store.session() as db:
        assert "moved out of closed-won in the CRM" not in health(db, acme, today=TODAY).reasons
