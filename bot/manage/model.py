"""Manager actions in SQL: handing a step, a deal or a departing rep's open deals to someone else.

Each is a conditional UPDATE, so a repeated submission changes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import sqlite_utils

from bot.deals.model import OPEN, Deal, Nudge, nudge_from_row, row_to_deal, sql_list
from bot.nudges.ledger import within_window
from bot.storage import query
from bot.timestamps import stamp


def steps_owed(
    db: sqlite_utils.Database, deal_id: int, *, today: date, windows: dict[str, int] | None = None
) -> list[Nudge]:
    """The deal's steps still owed and due by today, oldest first: what a reminder names. With the playbook's
    `windows`, only those still worth doing: one past its window is missed (the rep's reminder and the digest's
    rule), not owed."""
    rows = query(
        db,
        f"SELECT * FROM nudges WHERE deal_id = ? AND status IN ({sql_list(OPEN)}) AND due_date <= ? "
        "ORDER BY due_date, id",
        [deal_id, today.isoformat()],
    )
    owed = [nudge_from_row(r) for r in rows]
    if windows is None:
        return owed
    return [n for n in owed if within_window(windows, n.step_id, n.due_date, today)]


def next_step(
    db: sqlite_utils.Database,
    deal_id: int,
    *,
    after: date | None = None,
    today: date | None = None,
    windows: dict[str, int] | None = None,
) -> Nudge | None:
    """The deal's oldest open step (due after `after`, when given). With `today` and the playbook's `windows`, the
    oldest still worth doing: one past its window is missed, not owed (the reminder's and the digest's rule)."""
    later = "" if after is None else " AND due_date > ?"
    rows = query(
        db,
        f"SELECT * FROM nudges WHERE deal_id = ? AND status IN ({sql_list(OPEN)}){later} ORDER BY due_date, id",
        [deal_id] if after is None else [deal_id, after.isoformat()],
    )
    for row in rows:
        nudge = nudge_from_row(row)
        if today is None or windows is None or within_window(windows, nudge.step_id, nudge.due_date, today):
            return nudge
    return None


def hand_over_deal(db: sqlite_utils.Database, deal_id: int, *, to: str, now: datetime) -> bool:
    """The open deal becomes `to`'s: its owner, and every open step its owner had (steps handed to someone
    else stay with them). False when it is `to`'s already, or not open."""
    # One writer at a time: the UPDATE's row count is the claim; with concurrent writers it stays one UPDATE.
    at = stamp(now)
    cur = db.execute(
        "UPDATE deals SET owner_id = ?, updated_at = ? WHERE id = ? AND status = 'open' AND owner_id != ?",
        [to, at, deal_id, to],
    )
    if cur.rowcount != 1:
        return False
    db.execute(
        f"UPDATE nudges SET assignee_id = NULL, updated_at = ? WHERE deal_id = ? AND assignee_id = ? "
        f"AND status IN ({sql_list(OPEN)})",
        [at, deal_id, to],
    )
    return True


def hand_over_step(db: sqlite_utils.Database, nudge_id: int, *, to: str, now: datetime) -> bool:
    """One step to `to`, as the nudge's own Reassign does; False when it is theirs already or resolved."""
    cur = db.execute(
        "UPDATE nudges SET assignee_id = ?, updated_at = ? WHERE id = ? AND status IN ('planned', 'posted') "
        "AND (assignee_id IS NULL OR assignee_id != ?)",
        [to, stamp(now), nudge_id, to],
    )
    return cur.rowcount == 1


def open_steps(db: sqlite_utils.Database, deal_ids: list[int]) -> int:
    """How many steps are still owed on these deals."""
    if not deal_ids:
        return 0
    marks = ",".join("?" * len(deal_ids))
    [row] = query(
        db, f"SELECT COUNT(*) AS n FROM nudges WHERE deal_id IN ({marks}) AND status IN ({sql_list(OPEN)})", deal_ids
    )
    return row["n"]


def open_deals_of(db: sqlite_utils.Database, *, team_id: str, owner_id: str) -> list[Deal]:
    rows = query(
        db,
        "SELECT * FROM deals WHERE team_id = ? AND owner_id = ? AND status = 'open' ORDER BY id",
        [team_id, owner_id],
    )
    return [row_to_deal(r) for r in rows]


@dataclass(frozen=True)
class ManagerTeam:
    """Whom a manager follows: people they picked, and a Slack user group (its members as last read)."""

    members: frozenset[str] = frozenset()
    usergroup: str | None = None
    group_members: frozenset[str] = frozenset()

    @property
    def reps(self) -> frozenset[str] | None:
        """Everyone they follow, or None for everyone (nothing chosen)."""
        chosen = self.members | self.group_members
        return chosen if chosen or self.usergroup else None


def manager_team(db: sqlite_utils.Database, *, team_id: str, manager_id: str) -> ManagerTeam:
    rows = query(db, "SELECT * FROM manager_teams WHERE team_id = ? AND manager_id = ?", [team_id, manager_id])
    if not rows:
        return ManagerTeam()
    row = rows[0]
    return ManagerTeam(
        frozenset(json.loads(row["members"])),
        row["usergroup"],
        frozenset(json.loads(row["group_members"] or "[]")),
    )


def team_of(db: sqlite_utils.Database, *, team_id: str, manager_id: str) -> frozenset[str] | None:
    """The reps a manager follows, or None for everyone (the default)."""
    return manager_team(db, team_id=team_id, manager_id=manager_id).reps


def set_team(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    manager_id: str,
    members: list[str],
    now: datetime,
    usergroup: str | None = None,
    group_members: Iterable[str] = (),
) -> None:
    """Replace the manager's team; nothing chosen: everyone again."""
    db.execute(
        "INSERT INTO manager_teams (team_id, manager_id, members, usergroup, group_members, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (team_id, manager_id) DO UPDATE SET members = excluded.members, "
        "usergroup = excluded.usergroup, group_members = excluded.group_members, updated_at = excluded.updated_at",
        [
            team_id,
            manager_id,
            json.dumps(sorted(set(members))),
            usergroup,
            json.dumps(sorted(set(group_members))),
            stamp(now),
        ],
    )


def refresh_group(
    db: sqlite_utils.Database, *, team_id: str, manager_id: str, group_members: list[str], now: datetime
) -> None:
    """The user group's members as Slack lists them now."""
    db.execute(
        "UPDATE manager_teams SET group_members = ?, updated_at = ? WHERE team_id = ? AND manager_id = ? "
        "AND usergroup IS NOT NULL",
        [json.dumps(sorted(set(group_members))), stamp(now), team_id, manager_id],
    )
