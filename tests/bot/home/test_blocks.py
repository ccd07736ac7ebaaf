"""The Home tab's builder and queries: never over 100 blocks, nothing lost without a count, numbers that add up."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.deals.capture import Money
from bot.deals.model import Deal, DealFields, Nudge, people_of_deals
from bot.digest.build import gather
from bot.home import view as home
from bot.home.blocks import home_view
from bot.home.view import Home, Item, MyNudges, TeamView
from bot.playbook.loader import load
from bot.stats import AtRisk, RepStats
from tests.conftest import MANAGER, TEAM
from tests.fakeslack import view_problems

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def deal(i: int, owner: str = "U0REP") -> Deal:
    fields = DealFields(account=f"Account {i}", money=Money(Decimal(150_000), "USD"), close_date=TODAY)
    return Deal(i, TEAM, "C0TEAM", owner, fields, "open", None, "2026-11-01T09:00:00+00:00")


def item(i: int, due: date, status: str = "posted") -> Item:
    return Item(Nudge(i, i, "congratulate", "affirm", "Call {contact_first}", due, status), deal(i))


def mine(overdue: int, today: int, upcoming: int) -> MyNudges:
    return MyNudges(
        overdue=[item(i, TODAY - timedelta(days=3)) for i in range(overdue)],
        today=[item(1000 + i, TODAY) for i in range(today)],
        upcoming=[item(2000 + i, TODAY + timedelta(days=5), "planned") for i in range(upcoming)],
    )


def counted(view: dict, what: str) -> int:
    """How many of `what` a view summarises in its "…and N more" lines."""
    for b in view["blocks"]:
        if b["type"] == "context":
            m = re.match(rf"…and (\d+) more {what}", b["elements"][0]["text"])
            if m:
                return int(m.group(1))
    return 0


def actions(view: dict, prefix: str) -> int:
    return sum(1 for b in view["blocks"] if b["type"] == "actions" and b["block_id"].startswith(prefix))


@pytest.mark.parametrize("overdue", [0, 1, 30, 400])
@pytest.mark.parametrize("today", [0, 2, 60])
@pytest.mark.parametrize("upcoming", [0, 45])
@pytest.mark.parametrize("deals", [0, 1, 200])
@pytest.mark.parametrize("manager", [False, True])
def test_any_mix_fits_in_100_valid_blocks_and_whatever_is_cut_is_counted(overdue, today, upcoming, deals, manager):
    team = [RepStats(f"U{i:04d}", 0, i % 4, 1, 3, 0, 1, open_deals=7) for i in range(200)]
    risks = [AtRisk(deal(i), 3, TODAY - timedelta(days=3), NOW - timedelta(days=15)) for i in range(300)]
    data = Home(
        user_id="U0REP",
        today=TODAY,
        nudges=mine(overdue, today, upcoming),
        deals=[(deal(5000 + i), "Affirm", None) for i in range(deals)],
        team=TeamView(team, risks, Decimal(100_000), 14) if manager else None,
    )
    view = home_view(data, now=NOW, tz=BERLIN)
    assert len(view["blocks"]) <= 100
    assert view_problems(view) == []
    shown = actions(view, "nudge_")
    assert shown + counted(view, "overdue") + counted(view, "due today") + counted(view, "upcoming") == len(data.nudges)
    assert actions(view, "deal_") + counted(view, "open deals") == deals
    if len(data.nudges) and len(data.nudges) + deals <= 40:
        assert shown == len(data.nudges)  # nothing is cut while it all fits
    if manager:
        assert view["blocks"][0]["text"]["text"] == "Team"
        heads = [i for i, b in enumerate(view["blocks"]) if b["type"] == "header"]
        table = [b for b in view["blocks"][heads[0] : heads[1]] if b["type"] == "section"]
        assert sum(len(b["text"]["text"].splitlines()) for b in table) + counted(view, "reps") == len(team)
        assert view["blocks"][heads[1]]["text"]["text"] == "Deals at risk"


def test_a_rep_with_nothing_is_welcomed_with_the_command_to_type():
    view = home_view(Home("U0NEW", TODAY, mine(0, 0, 0), []), now=NOW, tz=BERLIN)
    assert view["blocks"][0]["text"]["text"] == "Welcome to Deal Coach"
    assert "`/closed-deal Acme Rockets $120k`" in str(view["blocks"])
    assert view_problems(view) == []


def test_a_helper_without_deals_of_their_own_is_told_how_to_capture_one():
    view = home_view(Home("U0LEAD", TODAY, mine(0, 1, 0), []), now=NOW, tz=BERLIN)
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] in ("section", "header")]
    assert "My deals" in texts and "No open deals. Capture one with `/closed-deal Acme Rockets $120k`." in texts
    assert actions(view, "nudge_") == 1


# -- the queries, on a real SQLite file ---------------------------------------------------------------------


@pytest.fixture
def db(store):
    with store.write() as db:
        yield db


def add_deal(db, owner: str, amount: str = "20000", *, created: datetime = NOW) -> int:
    from bot.deals.model import capture_deal

    fields = DealFields(account="Acme", money=Money(Decimal(amount), "USD"), close_date=created.date())
    deal_id, _ = capture_deal(
        db, team_id=TEAM, channel_id="C0TEAM", owner_id=owner, fields=fields, playbook=load(), now=created
    )
    db.execute("UPDATE nudges SET due_date = '2027-06-01' WHERE deal_id = ?", [deal_id])
    return deal_id


def manager_home(db, *, large_deal: str = "100000", quiet_days: int = 14) -> TeamView:
    data = home.load(
        db,
        team_id=TEAM,
        user_id=MANAGER,
        today=TODAY,
        now=NOW,
        deals=[],
        manager=True,
        large_deal=Decimal(large_deal),
        quiet_days=quiet_days,
    )
    assert data.team is not None
    return data.team


def remind(db, rep: str, on: date = TODAY) -> None:
    """The rep's morning reminder went on `on`, as bot.nudges.reminders records it."""
    at = NOW.isoformat()
    db.execute(
        "INSERT INTO reminders (team_id, rep_id, local_date, status, claimed_at, lease_at, sent_at) "
        "VALUES (?, ?, ?, 'sent', ?, ?, ?)",
        [TEAM, rep, on.isoformat(), at, at, at],
    )


def set_step(db, deal_id: int, step: str, due: date, status: str = "planned", **extra) -> None:
    sets = ", ".join(f"{k} = ?" for k in extra)
    db.execute(
        f"UPDATE nudges SET due_date = ?, status = ?{', ' + sets if sets else ''} WHERE deal_id = ? AND step_id = ?",
        [due.isoformat(), status, *extra.values(), deal_id, step],
    )


def test_completion_counts_steps_due_in_the_last_30_days_but_not_todays_open_ones(db):
    d = add_deal(db, "U0REP")
    set_step(db, d, "congratulate", TODAY - timedelta(days=40), "done")  # too old to count
    set_step(db, d, "next-steps", TODAY - timedelta(days=10), "done")
    set_step(db, d, "thank-you-note", TODAY - timedelta(days=5), "skipped")
    set_step(db, d, "welcome-kit", TODAY - timedelta(days=2), "posted")  # overdue
    set_step(db, d, "celebrate-milestone", TODAY, "posted")  # due today: not late yet
    set_step(db, d, "win-analysis", TODAY - timedelta(days=1), "posted", assignee_id="U0LEAD")
    for rep in ("U0REP", "U0LEAD"):  # their morning reminders went: their late steps count as overdue now
        remind(db, rep)
    stats = {r.rep_id: r for r in manager_home(db).reps}
    rep = stats["U0REP"]
    assert (rep.open_deals, rep.overdue, rep.due_today) == (1, 1, 1)
    assert (rep.done_30, rep.skipped_30, rep.overdue_30) == (1, 1, 1)  # done ÷ (done + skipped + overdue)
    assert rep.rate == pytest.approx(1 / 3)
    lead = stats["U0LEAD"]
    assert (lead.open_deals, lead.overdue, lead.rate) == (0, 1, 0.0)
    assert list(stats) == ["U0REP", "U0LEAD"]  # the one with more due today first on a tie of overdue


def test_at_risk_large_deals_behind_on_affirm_and_quiet_deals_but_not_finished_ones(db):
    big = add_deal(db, "U0REP", "250000")
    set_step(db, big, "congratulate", TODAY - timedelta(days=3), "posted")
    set_step(db, big, "activation-check-in", TODAY - timedelta(days=3), "posted")  # not affirm
    small = add_deal(db, "U0REP", "20000")
    set_step(db, small, "congratulate", TODAY - timedelta(days=3), "posted")
    quiet = add_deal(db, "U0OTHER", created=NOW - timedelta(days=15))
    woken = add_deal(db, "U0OTHER", created=NOW - timedelta(days=30))
    set_step(db, woken, "next-steps", TODAY - timedelta(days=20), "done", resolved_at=NOW.isoformat())
    done = add_deal(db, "U0OTHER", created=NOW - timedelta(days=90))
    db.execute("UPDATE nudges SET status = 'done' WHERE deal_id = ?", [done])
    risks = manager_home(db).at_risk
    assert [(r.deal.id, r.overdue_early, r.quiet_since) for r in risks] == [
        (big, 1, None),
        (quiet, 0, NOW - timedelta(days=15)),
    ]
    assert small not in [r.deal.id for r in risks]
    assert small in [r.deal.id for r in manager_home(db, large_deal="20000").at_risk]  # the settings' thresholds
    assert quiet not in [r.deal.id for r in manager_home(db, quiet_days=16).at_risk]


def test_home_and_the_digest_flag_the_same_deals_and_count_the_same_for_each_rep(db):
    big = add_deal(db, "U0REP", "250000", created=NOW - timedelta(days=20))
    set_step(db, big, "congratulate", TODAY - timedelta(days=3), "posted")
    set_step(db, big, "next-steps", TODAY - timedelta(days=8), "skipped")
    quiet = add_deal(db, "U0OTHER", created=NOW - timedelta(days=40))
    set_step(db, quiet, "next-steps", TODAY - timedelta(days=29), "done", resolved_at="2026-10-24T08:00:00+00:00")
    add_deal(db, "U0IDLE")  # an open deal, nothing due yet: on Home's team table, not in the digest
    team = manager_home(db)
    digest = gather(db, team_id=TEAM, now=NOW, today=TODAY, since=None, large_deal=Decimal(100_000), quiet_days=14)
    assert [r.deal.id for r in team.at_risk] == [r.deal.id for r in digest.at_risk] == [big, quiet]
    assert team.at_risk == digest.at_risk
    assert [r.rep_id for r in team.reps] == ["U0REP", "U0OTHER", "U0IDLE"]
    assert [(r.rep_id, r.overdue, r.due_today, r.rate) for r in digest.reps] == [
        (r.rep_id, r.overdue, r.due_today, r.rate) for r in team.reps if r.rep_id != "U0IDLE"
    ]


def test_only_those_who_opened_home_are_refreshed_and_a_deal_touches_its_owner_and_helpers(db):
    d = add_deal(db, "U0REP")
    set_step(db, d, "congratulate", TODAY, assignee_id="U0LEAD")
    assert people_of_deals(db, [d]) == {TEAM: {"U0REP", "U0LEAD"}}
    assert home.opened_home(db, team_id=TEAM, user_ids=["U0REP", "U0LEAD", None]) == set()
    home.record_opened(db, team_id=TEAM, user_id="U0LEAD", now=NOW)
    home.record_opened(db, team_id=TEAM, user_id="U0LEAD", now=NOW + timedelta(hours=1))
    home.record_opened(db, team_id="T0OTHER", user_id="U0REP", now=NOW)
    assert home.opened_home(db, team_id=TEAM, user_ids=["U0REP", "U0LEAD"]) == {"U0LEAD"}
