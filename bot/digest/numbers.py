"""The numbers a manager asks for, team and per rep: the remorse rate, completion on time, what is due this week,
deals live. Pure queries, no Slack; a deal deleted as a mistake was never a deal, so none of it counts here.

Remorse rate: of the deals closed (their close date) in the last N days, the share cancelled since.
Completion on time: of the steps due in the last 30 days, the share done by their due date (in the team's zone),
out of done + skipped + still owed (the completion rate's denominator, `bot.stats.completion`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

import sqlite_utils

from bot.deals.model import sql_list
from bot.stats import COUNTED, OPEN, RATE_DAYS
from bot.storage import query
from bot.timestamps import stamp

REMORSE_WINDOWS = (30, 90)


@dataclass(frozen=True)
class Share:
    """`part` of `whole`; its rate is None when there is nothing to count."""

    part: int
    whole: int

    @property
    def rate(self) -> float | None:
        return self.part / self.whole if self.whole else None


@dataclass(frozen=True)
class Numbers:
    remorse: dict[int, Share]  # window in days -> closed and cancelled since, the team
    remorse_by_rep: dict[str, Share]  # the longest window, per deal owner
    on_time: Share  # the team's steps due in the last 30 days: done by their due date, of all due
    on_time_by_rep: dict[str, Share]
    due_this_week: int  # steps still owed on open deals, due from today to Sunday
    due_this_week_by_rep: Counter = field(default_factory=Counter)
    live: int = 0  # open deals that have gone live


def remorse(
    db: sqlite_utils.Database, *, team_id: str, today: date, days: int, reps: frozenset[str] | None = None
) -> tuple[Share, dict[str, Share]]:
    """Deals closed in the last `days` days (today included) and how many of them were cancelled since (of `reps`'
    deals, or everyone's)."""
    rows = query(  # counted in SQL: one row per rep comes back, not one per deal
        db,
        "SELECT owner_id, COUNT(*) AS closed, SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled "
        "FROM deals WHERE team_id = ? AND status IN ('open', 'cancelled') AND close_date > ? AND close_date <= ? "
        "GROUP BY owner_id",
        [team_id, (today - timedelta(days=days)).isoformat(), today.isoformat()],
    )
    per_rep = {
        r["owner_id"]: Share(int(r["cancelled"]), int(r["closed"]))
        for r in rows
        if reps is None or r["owner_id"] in reps
    }
    return Share(sum(s.part for s in per_rep.values()), sum(s.whole for s in per_rep.values())), per_rep


def _on_time(
    db: sqlite_utils.Database, *, team_id: str, today: date, tz: tzinfo, reps: frozenset[str] | None
) -> tuple[Share, dict[str, Share]]:
    """Per rep, of the steps due in the last 30 days (done, skipped or still owed past their day), those done by
    the end of their due day in the team's zone. Each day's deadline is a row of a VALUES table, so the database
    counts and only one row per rep comes back."""
    days = [today - timedelta(days=k) for k in range(RATE_DAYS)]
    marks = ", ".join(f"(:due{k}, :end{k})" for k in range(len(days)))
    params: dict = {"team": team_id, "today": today.isoformat()}
    for k, day in enumerate(days):
        params[f"due{k}"] = day.isoformat()
        params[f"end{k}"] = stamp(datetime.combine(day + timedelta(days=1), time(), tzinfo=tz))
    owed = f"n.status IN ({sql_list(OPEN)}) AND d.status = 'open' AND n.due_date < :today"
    rows = query(
        db,
        f"""
        WITH days (due, deadline) AS (VALUES {marks})
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep,
          SUM(CASE WHEN n.status = 'done' AND n.resolved_at < days.deadline THEN 1 ELSE 0 END) AS timely,
          SUM(CASE WHEN n.status IN ('done', 'skipped') OR ({owed}) THEN 1 ELSE 0 END) AS due
        FROM nudges n JOIN deals d ON d.id = n.deal_id JOIN days ON days.due = n.due_date
        WHERE d.team_id = :team AND d.status != 'deleted' AND n.status IN ({sql_list(COUNTED)})
        GROUP BY COALESCE(n.assignee_id, d.owner_id)
        """,
        params,
    )
    per_rep = {
        r["rep"]: Share(int(r["timely"] or 0), int(r["due"] or 0))
        for r in rows
        if r["due"] and (reps is None or r["rep"] in reps)
    }
    return Share(sum(s.part for s in per_rep.values()), sum(s.whole for s in per_rep.values())), per_rep


def numbers(
    db: sqlite_utils.Database, *, team_id: str, today: date, tz: tzinfo, reps: frozenset[str] | None = None
) -> Numbers:
    """Everything the digest's *The numbers* says, as of `today` (the reader's date), for `reps` (None: everyone)."""
    windows = {days: remorse(db, team_id=team_id, today=today, days=days, reps=reps) for days in REMORSE_WINDOWS}
    on_time, on_time_by_rep = _on_time(db, team_id=team_id, today=today, tz=tz, reps=reps)
    sunday = today + timedelta(days=6 - today.weekday())
    due = query(
        db,
        f"""
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep, COUNT(*) AS steps FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status = 'open' AND n.status IN ({", ".join(f"'{s}'" for s in OPEN)})
          AND n.due_date >= :today AND n.due_date <= :sunday
        GROUP BY COALESCE(n.assignee_id, d.owner_id)
        """,
        {"team": team_id, "today": today.isoformat(), "sunday": sunday.isoformat()},
    )
    week: Counter[str] = Counter({r["rep"]: int(r["steps"]) for r in due if reps is None or r["rep"] in reps})
    live_rows = query(
        db, "SELECT owner_id FROM deals WHERE team_id = ? AND status = 'open' AND live_at IS NOT NULL", [team_id]
    )
    return Numbers(
        remorse={days: team for days, (team, _) in windows.items()},
        remorse_by_rep=windows[max(REMORSE_WINDOWS)][1],
        on_time=on_time,
        on_time_by_rep=on_time_by_rep,
        due_this_week=sum(week.values()),
        due_this_week_by_rep=week,
        live=sum(1 for r in live_rows if reps is None or r["owner_id"] in reps),
    )
