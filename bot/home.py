"""What the Home tab shows, read from the database: a rep's follow-ups by when they fall due, a manager's team.

Pure functions of a sqlite-utils database and the day (or instant) they are asked about; no Slack here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlite_utils

from bot.deals import Deal, Nudge, nudge_from_row, row_to_deal

OPEN = ("planned", "sending", "posted")
HORIZON = timedelta(days=14)  # "upcoming": due within the next two weeks
QUIET = timedelta(days=14)  # an open deal nobody has touched for this long is at risk
COMPLETION_WINDOW = timedelta(days=30)
LARGE_DEAL = Decimal(100_000)  # where the built-in playbook adds an executive sponsor call and a team gift


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

    def __len__(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.upcoming)


@dataclass(frozen=True)
class RepStats:
    """One row of the manager's team table; follow-ups count for whoever must do them (assignee, else owner)."""

    user_id: str
    open_deals: int = 0
    overdue: int = 0
    due_today: int = 0
    due_30d: int = 0  # steps due in the last 30 days, not counting those due today and still open
    done_30d: int = 0

    @property
    def completion(self) -> float | None:
        return self.done_30d / self.due_30d if self.due_30d else None


@dataclass(frozen=True)
class AtRisk:
    deal: Deal
    overdue_affirm: int  # affirm-stage steps past due, counted on large deals only
    quiet_days: int | None  # days since anyone last acted on the deal, once that is QUIET or more


@dataclass(frozen=True)
class Home:
    """Everything one user's Home tab shows; `team` and `at_risk` only for managers."""

    user_id: str
    today: date
    nudges: MyNudges
    deals: list[tuple[Deal, str, Nudge | None]]
    team: list[RepStats] | None = None
    at_risk: list[AtRisk] | None = None


def _rows(db: sqlite_utils.Database, sql: str, params: dict | list) -> list[dict]:
    cursor = db.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]


def _deals_by_id(db: sqlite_utils.Database, ids: Iterable[int]) -> dict[int, Deal]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {r["id"]: row_to_deal(r) for r in db["deals"].rows_where(f"id IN ({marks})", ids)}


def my_nudges(db: sqlite_utils.Database, *, team_id: str, user_id: str, today: date) -> MyNudges:
    """The user's open follow-ups (assigned to them, or on their deals and not handed to someone else)."""
    rows = _rows(
        db,
        """
        SELECT n.* FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status = 'open' AND n.status IN ('planned', 'sending', 'posted')
          AND COALESCE(n.assignee_id, d.owner_id) = :user AND n.due_date <= :until
        ORDER BY n.due_date, n.id
        """,
        {"team": team_id, "user": user_id, "until": (today + HORIZON).isoformat()},
    )
    nudges = [nudge_from_row(r) for r in rows]
    deals = _deals_by_id(db, (n.deal_id for n in nudges))
    items = [Item(n, deals[n.deal_id]) for n in nudges]
    return MyNudges(
        overdue=[i for i in items if i.nudge.due_date < today],
        today=[i for i in items if i.nudge.due_date == today],
        upcoming=[i for i in items if i.nudge.due_date > today],
    )


def team_stats(db: sqlite_utils.Database, *, team_id: str, today: date) -> list[RepStats]:
    """Per rep: open deals, overdue and due-today steps, and how many of the last 30 days' steps were done."""
    counts = _rows(
        db,
        """
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep,
          SUM(n.status IN ('planned', 'sending', 'posted') AND n.due_date < :today) AS overdue,
          SUM(n.status IN ('planned', 'sending', 'posted') AND n.due_date = :today) AS due_today,
          SUM(n.status != 'cancelled' AND n.due_date BETWEEN :since AND :today
              AND NOT (n.status IN ('planned', 'sending', 'posted') AND n.due_date = :today)) AS due_30d,
          SUM(n.status = 'done' AND n.due_date BETWEEN :since AND :today) AS done_30d
        FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND n.due_date <= :today
        GROUP BY rep
        """,
        {"team": team_id, "today": today.isoformat(), "since": (today - COMPLETION_WINDOW).isoformat()},
    )
    owned = db.execute(
        "SELECT owner_id, COUNT(*) FROM deals WHERE team_id = ? AND status = 'open' GROUP BY owner_id", [team_id]
    ).fetchall()
    stats: dict[str, dict] = defaultdict(dict)
    for owner, n in owned:
        stats[owner]["open_deals"] = n
    for row in counts:
        if row["overdue"] or row["due_today"] or row["due_30d"]:
            stats[row["rep"]].update({k: row[k] for k in ("overdue", "due_today", "due_30d", "done_30d")})
    reps = [RepStats(user_id=user, **values) for user, values in stats.items()]
    return sorted(reps, key=lambda r: (-r.overdue, -r.due_today, -r.open_deals, r.user_id))


def _moment(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def deals_at_risk(db: sqlite_utils.Database, *, team_id: str, today: date, now: datetime) -> list[AtRisk]:
    """Large deals with affirm steps overdue, then open deals nobody has acted on for QUIET or more."""
    deal_rows = list(db["deals"].rows_where("team_id = ? AND status = 'open'", [team_id]))
    steps = _rows(
        db,
        """
        SELECT n.deal_id, n.stage, n.status, n.due_date, n.resolved_at FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = ? AND d.status = 'open'
        """,
        [team_id],
    )
    by_deal: dict[int, list[dict]] = defaultdict(list)
    for step in steps:
        by_deal[step["deal_id"]].append(step)
    found = []
    for row in deal_rows:
        deal = row_to_deal(row)
        mine = by_deal[deal.id]
        waiting = [s for s in mine if s["status"] in OPEN]
        if not waiting:
            continue  # accomplished: nothing left to fall behind on
        overdue_affirm = 0
        if deal.fields.money.amount >= LARGE_DEAL:
            overdue_affirm = sum(1 for s in waiting if s["stage"] == "affirm" and s["due_date"] < today.isoformat())
        touches = [row["created_at"], row["updated_at"], deal.signed_at, deal.live_at]
        touches += [s["resolved_at"] for s in mine]
        last = max(m for m in map(_moment, touches) if m is not None)
        quiet = (now - last).days if now - last >= QUIET else None
        if overdue_affirm or quiet is not None:
            found.append(AtRisk(deal, overdue_affirm, quiet))
    return sorted(found, key=lambda r: (-r.overdue_affirm, -r.deal.fields.money.amount, -(r.quiet_days or 0)))


def load(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    user_id: str,
    today: date,
    now: datetime,
    deals: list[tuple[Deal, str, Nudge | None]],
    manager: bool,
) -> Home:
    return Home(
        user_id=user_id,
        today=today,
        nudges=my_nudges(db, team_id=team_id, user_id=user_id, today=today),
        deals=deals,
        team=team_stats(db, team_id=team_id, today=today) if manager else None,
        at_risk=deals_at_risk(db, team_id=team_id, today=today, now=now) if manager else None,
    )


# -- who has opened Home, and whose Home a change touches -----------------------------------------------------


def record_opened(db: sqlite_utils.Database, *, team_id: str, user_id: str, now: datetime) -> None:
    db.execute(
        "INSERT INTO home_views (team_id, user_id, opened_at) VALUES (?, ?, ?) "
        "ON CONFLICT (team_id, user_id) DO UPDATE SET opened_at = excluded.opened_at",
        [team_id, user_id, now.isoformat(timespec="seconds")],
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


def people_of_deals(db: sqlite_utils.Database, deal_ids: Iterable[int]) -> dict[str, set[str]]:
    """team -> the owners of these deals and everyone their steps were handed to."""
    ids = sorted(set(deal_ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.execute(
        f"SELECT team_id, owner_id FROM deals WHERE id IN ({marks}) "
        f"UNION SELECT d.team_id, n.assignee_id FROM nudges n JOIN deals d ON d.id = n.deal_id "
        f"WHERE n.deal_id IN ({marks}) AND n.assignee_id IS NOT NULL",
        [*ids, *ids],
    ).fetchall()
    people: dict[str, set[str]] = defaultdict(set)
    for team, user in rows:
        people[team].add(user)
    return dict(people)


def deals_of_posts(db: sqlite_utils.Database, post_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(post_ids))
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [r[0] for r in db.execute(f"SELECT DISTINCT deal_id FROM posts WHERE id IN ({marks})", ids).fetchall()]
