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

from bot.stats import OPEN, RATE_DAYS
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
    rows = query(
        db,
        "SELECT owner_id, status FROM deals WHERE team_id = ? AND status IN ('open', 'cancelled') "
        "AND close_date > ? AND close_date <= ?",
        [team_id, (today - timedelta(days=days)).isoformat(), today.isoformat()],
    )
    rows = [r for r in rows if reps is None or r["owner_id"] in reps]
    closed: Counter[str] = Counter(r["owner_id"] for r in rows)
    cancelled: Counter[str] = Counter(r["owner_id"] for r in rows if r["status"] == "cancelled")
    per_rep = {rep: Share(cancelled[rep], closed[rep]) for rep in closed}
    return Share(sum(cancelled.values()), sum(closed.values())), per_rep


def _on_time(
    db: sqlite_utils.Database, *, team_id: str, today: date, tz: tzinfo, reps: frozenset[str] | None
) -> tuple[Share, dict[str, Share]]:
    rows = query(
        db,
        """
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep, n.status, n.due_date, n.resolved_at, d.status AS deal_status
        FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status != 'deleted' AND n.due_date > :window AND n.due_date <= :today
          AND n.status NOT IN ('cancelled')
        """,
        {"team": team_id, "window": (today - timedelta(days=RATE_DAYS)).isoformat(), "today": today.isoformat()},
    )
    timely: Counter[str] = Counter()
    due: Counter[str] = Counter()
    deadlines: dict[str, str] = {}  # a due day -> the stamp of the next midnight in the team's zone
    for r in rows:
        if reps is not None and r["rep"] not in reps:
            continue
        owed = r["status"] in OPEN and r["deal_status"] == "open" and r["due_date"] < today.isoformat()
        if r["status"] not in ("done", "skipped") and not owed:
            continue  # due today and not done yet, or a cancelled deal's step: not counted either way
        due[r["rep"]] += 1
        if r["status"] == "done" and r["resolved_at"]:
            if r["due_date"] not in deadlines:
                day_after = date.fromisoformat(r["due_date"]) + timedelta(days=1)
                deadlines[r["due_date"]] = stamp(datetime.combine(day_after, time(), tzinfo=tz))
            timely[r["rep"]] += r["resolved_at"] < deadlines[r["due_date"]]  # UTC stamps compare as strings
    per_rep = {rep: Share(timely[rep], due[rep]) for rep in due}
    return Share(sum(timely.values()), sum(due.values())), per_rep


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
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status = 'open' AND n.status IN ({", ".join(f"'{s}'" for s in OPEN)})
          AND n.due_date >= :today AND n.due_date <= :sunday
        """,
        {"team": team_id, "today": today.isoformat(), "sunday": sunday.isoformat()},
    )
    week: Counter[str] = Counter(r["rep"] for r in due if reps is None or r["rep"] in reps)
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
