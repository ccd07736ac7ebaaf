"""A deleted capture counts nowhere: the digest and the managers' Home read exactly as if it was never captured."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal

from bot.deals import model as deals
from bot.home.view import load
from bot.slack.workspaces import teams_with_deals
from bot.stats import rep_stats
from bot.storage import Store
from tests.bot.digest.test_build import NOW, TODAY, Team, berlin, read
from tests.conftest import MANAGER, REP, TEAM


def seed(team: Team, *, mistakes: bool) -> None:
    """One real deal and its history; with `mistakes`, two more captures with steps done, skipped and overdue."""
    team.deal("Keep", 250_000, berlin(11, 16))
    if mistakes:
        team.deal("Typo Deal", 250_000, berlin(11, 16))  # large, its affirm steps overdue: would be at risk
        team.deal("Twice", 42_000, berlin(11, 22, 15))  # captured yesterday: would be in "closed"
    team.post_due()
    team.done("Keep", "call", berlin(11, 16, 11))
    team.done("Keep", "win", berlin(11, 20), outcome={"kind": "win_reason", "reason": "Fast setup"})
    if mistakes:
        team.done("Typo Deal", "call", berlin(11, 16, 11))
        team.skip("Typo Deal", "note", berlin(11, 18))
        team.done("Typo Deal", "win", berlin(11, 22), outcome={"kind": "win_reason", "reason": "A reason never given"})
        team.done("Twice", "call", berlin(11, 22, 16))
        with team.store.write() as db:
            for account in ("Typo Deal", "Twice"):
                assert deals.delete_deal(db, team.ids[account], actor=REP, now=NOW) is not None


def comparable(digest) -> dict:
    """A digest with each deal named by its account, so two databases can be compared."""
    data = asdict(digest)
    for risk in data["at_risk"]:
        risk["deal"] = risk["deal"]["fields"]["account"]
    for key in ("closed", "cancelled"):
        data[key] = [d["fields"]["account"] for d in data[key]]
    for outcome in data["outcomes"]:
        outcome["deal"] = outcome["deal"]["fields"]["account"]
    return data


def test_a_deleted_capture_is_in_no_digest_list_stat_or_chart(store, tmp_path):
    seed(Team(store), mistakes=True)
    never = Store(tmp_path / "never-captured.db")
    never.migrate()
    seed(Team(never), mistakes=False)

    with_deleted, without = read(store), read(never)
    assert comparable(with_deleted) == comparable(without)
    assert [r.deal.account for r in with_deleted.at_risk] == ["Keep"]  # the check is not vacuous: Keep is there
    assert [r.text for r in with_deleted.reasons] == ["Fast setup"] and with_deleted.weeks


def test_a_deleted_capture_is_not_on_a_managers_home_nor_in_its_teams(store, tmp_path):
    seed(Team(store), mistakes=True)
    never = Store(tmp_path / "never-captured.db")
    never.migrate()
    seed(Team(never), mistakes=False)

    def home_team(s: Store):
        with s.session() as db:
            view = load(
                db,
                team_id=TEAM,
                user_id=MANAGER,
                today=TODAY,
                now=NOW,
                deals=[],
                manager=True,
                large_deal=Decimal("100000"),
                quiet_days=14,
            )
            stats = rep_stats(db, team_id=TEAM, today=TODAY, now=NOW, since=berlin(11, 1))
            return (
                view.team.reps,
                [r.deal.account for r in view.team.at_risk],
                view.nudges,
                stats,
                teams_with_deals(db),
            )

    assert home_team(store) == home_team(never)
    reps, at_risk, _, stats, _ = home_team(store)
    assert at_risk == ["Keep"] and reps[0].open_deals == 1 and stats[0].done == 2


def test_deleting_twice_changes_nothing_the_second_time(store):
    team = Team(store)
    team.deal("Typo Deal", 5_000, berlin(11, 16))
    with store.write() as db:
        assert deals.delete_deal(db, team.ids["Typo Deal"], actor=REP, now=NOW) == []
        assert deals.delete_deal(db, team.ids["Typo Deal"], actor=MANAGER, now=NOW) is None
        assert deals.get_deal(db, team.ids["Typo Deal"]).deleted_by == REP
