"""The numbers a manager asks for, read from a real SQLite file: on time means by the end of the due day in the
team's zone; the remorse rate counts cancellations after the yes and never a deleted capture."""

from __future__ import annotations

from datetime import date

from bot.digest.numbers import numbers
from tests.bot.digest.test_build import BERLIN, Team, berlin
from tests.conftest import OTHER_REP, REP, TEAM

TODAY = date(2026, 11, 23)


def test_completion_on_time_counts_steps_done_by_the_end_of_their_day_in_the_teams_zone(store):
    team = Team(store)
    team.deal("Acme", 10_000, berlin(11, 16))  # call due Nov 16, note Nov 18, win Nov 22
    team.done("Acme", "call", berlin(11, 16, 23))  # 23:00 in Berlin is still its day (22:00 UTC)
    team.done("Acme", "note", berlin(11, 19, 0))  # just after midnight: a day late
    team.deal("Globex", 10_000, berlin(11, 16), owner=OTHER_REP)
    team.skip("Globex", "call", berlin(11, 16))
    with store.session() as db:
        n = numbers(db, team_id=TEAM, today=TODAY, tz=BERLIN)
    # Acme: call on time, note late, win owed; Globex: call skipped, note and win owed
    assert (n.on_time_by_rep[REP].part, n.on_time_by_rep[REP].whole) == (1, 3)
    assert (n.on_time_by_rep[OTHER_REP].part, n.on_time_by_rep[OTHER_REP].whole) == (0, 3)
    assert (n.on_time.part, n.on_time.whole) == (1, 6)


def test_the_remorse_rate_is_the_share_of_deals_closed_in_the_window_cancelled_since(store):
    team = Team(store)
    team.deal("Old", 10_000, berlin(7, 1))  # closed before both windows
    team.deal("Kept", 10_000, berlin(10, 1))
    team.deal("Backed Out", 10_000, berlin(10, 1))
    team.cancel("Backed Out", berlin(11, 1), "Budget")
    team.deal("Recent", 10_000, berlin(11, 20), owner=OTHER_REP)
    team.deal("Mistake", 10_000, berlin(11, 20), owner=OTHER_REP)
    with store.write() as db:
        db.execute("UPDATE deals SET status = 'deleted' WHERE account = 'Mistake'")
    with store.session() as db:
        n = numbers(db, team_id=TEAM, today=TODAY, tz=BERLIN)
        mine = numbers(db, team_id=TEAM, today=TODAY, tz=BERLIN, reps=frozenset({OTHER_REP}))
    assert (n.remorse[30].part, n.remorse[30].whole) == (0, 1)
    assert (n.remorse[90].part, n.remorse[90].whole) == (1, 3)
    assert {rep: (s.part, s.whole) for rep, s in n.remorse_by_rep.items()} == {REP: (1, 2), OTHER_REP: (0, 1)}
    assert (mine.remorse[90].part, mine.remorse[90].whole) == (0, 1)
