"""What the Home tab shows, read from the database: a rep's follow-ups by when they fall due, a manager's team.

Pure functions of a sqlite-utils database and the day (or instant) they are asked about; no Slack here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlite_utils

from bot.deals.model import Deal, Nudge, nudge_from_row, row_to_deal, sql_list
from bot.nudges.ledger import within_window
from bot.nudges.reminders import reps_first
from bot.stats import ACTIONABLE, AT_RISK_KEPT, AtRisk, RepStats, at_risk, rep_stats
from bot.storage import query
from bot.timestamps import stamp

HORIZON = timedelta(days=14)  # "upcoming": due within the next two weeks


@dataclass(frozen=True)
class Item:
    """One follow-up on the Home tab, with the deal it belongs to."""

    nudge: Nudge
    deal: Deal


@dataclass(frozen=True)
class MyNudges:
    overdue: list[Item]
    today: list[Item]
    upcoming: list[Item]
    missed: list[Item] = ()  # late past their window: no longer on the rep's reminder, counted as missed

    def __len__(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.upcoming) + len(self.missed)


@dataclass(frozen=True)
class TeamView:
    """A manager's part of Home, read as the daily digest reads it, with the thresholds it was read with."""

    reps: list[RepStats]
    at_risk: list[AtRisk]  # the first AT_RISK_KEPT deals at risk of the reps the manager follows
    large_deal: Decimal
    quiet_days: int
    at_risk_total: int | None = None  # how many in all

    @property
    def at_risk_count(self) -> int:
        return len(self.at_risk) if self.at_risk_total is None else self.at_risk_total


@dataclass(frozen=True)
class Home:
    """Everything one user's Home tab shows; `team` only for managers."""

    user_id: str
    today: date
    nudges: MyNudges
    deals: list[tuple[Deal, str, Nudge | None]]
    team: TeamView | None = None


def _deals_by_id(db: sqlite_utils.Database, ids: Iterable[int]) -> dict[int, Deal]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {r["id"]: row_to_deal(r) for r in query(db, f"SELECT * FROM deals WHERE id IN ({marks})", ids)}


def my_nudges(
    db: sqlite_utils.Database, *, team_id: str, user_id: str, today: date, windows: dict[str, int] | None = None
) -> MyNudges:
    """The user's open follow-ups (assigned to them, or on their deals and not handed to someone else); a late one
    whose window has passed (`windows`, the reminder's and the digest's rule) is missed, not overdue."""
    rows = query(
        db,
        f"""
        SELECT n.* FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status = 'open' AND n.status IN ({sql_list(ACTIONABLE)})
          AND COALESCE(n.assignee_id, d.owner_id) = :user AND n.due_date <= :until
        ORDER BY n.due_date, n.id
        """,
        {"team": team_id, "user": user_id, "until": (today + HORIZON).isoformat()},
    )
    nudges = [nudge_from_row(r) for r in rows]
    deals = _deals_by_id(db, (n.deal_id for n in nudges))
    items = [Item(n, deals[n.deal_id]) for n in nudges]
    late = [i for i in items if i.nudge.due_date < today]
    worth = windows or {}
    return MyNudges(
        overdue=[i for i in late if within_window(worth, i.nudge.step_id, i.nudge.due_date, today)],
        missed=[i for i in late if not within_window(worth, i.nudge.step_id, i.nudge.due_date, today)],
        today=[i for i in items if i.nudge.due_date == today],
        upcoming=[i for i in items if i.nudge.due_date > today],
    )


def load(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    user_id: str,
    today: date,
    now: datetime,
    deals: list[tuple[Deal, str, Nudge | None]],
    manager: bool,
    large_deal: Decimal,
    quiet_days: int,
    windows: dict[str, int] | None = None,
    reps: frozenset[str] | None = None,
) -> Home:
    """One user's Home tab; a manager's team part uses the digest's thresholds (and the playbook's `windows`, after
    which a late step is missed, not overdue), so both flag the same deals and count the same steps."""
    team = None
    if manager:
        team = TeamView(
            reps=reps_first(
                db, rep_stats(db, team_id=team_id, today=today, now=now), team_id=team_id, today=today, windows=windows
            ),
            at_risk=(
                risky := at_risk(
                    db,
                    team_id=team_id,
                    now=now,
                    today=today,
                    large_deal=large_deal,
                    quiet_days=quiet_days,
                    reps=reps,
                    limit=AT_RISK_KEPT,
                    windows=windows or {},
                )
            ).items,
            at_risk_total=risky.total,
            large_deal=large_deal,
            quiet_days=quiet_days,
        )
    return Home(
        user_id=user_id,
        today=today,
        nudges=my_nudges(db, team_id=team_id, user_id=user_id, today=today, windows=windows),
        deals=deals,
        team=team,
    )


# -- who has opened Home, and whose Home a change touches -----------------------------------------------------


def record_opened(db: sqlite_utils.Database, *, team_id: str, user_id: str, now: datetime) -> None:
    db.execute(
        "INSERT INTO home_views (team_id, user_id, opened_at) VALUES (?, ?, ?) "
        "ON CONFLICT (team_id, user_id) DO UPDATE SET opened_at = excluded.opened_at",
        [team_id, user_id, stamp(now)],
    )


def opened_home(db: sqlite_utils.Database, *, team_id: str, user_ids: Iterable[str | None]) -> set[str]:
    """Those of `user_ids` who have opened the Home tab at least once: only theirs are worth republishing."""
    wanted = sorted({u for u in user_ids if u})
    if not wanted:
        return set()
    marks = ",".join("?" * len(wanted))
    rows = db.execute(
        f"SELECT user_id FROM home_views WHERE team_id = ? AND user_id IN ({marks})", [team_id, *wanted]
    ).fetchall()
    return {r[0] for r in rows}
