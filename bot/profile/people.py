"""Who the team's Slack users are (name and title, from users.info), cached per workspace: drafts sign with the
rep's name and introduce people by name, and a redraw says the same without asking Slack again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlite_utils

from bot.profile.blocks import Person
from bot.storage import query
from bot.timestamps import parse_stamp, stamp

MAX_AGE = timedelta(days=1)  # a renamed user or a new title shows up in drafts by the next day


def cached(db: sqlite_utils.Database, team_id: str, user_ids: Iterable[str]) -> dict[str, tuple[Person, datetime]]:
    """Each user's cached Person and when Slack said so; users never read are left out."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = query(
        db,
        f"SELECT user_id, name, title, fetched_at FROM people WHERE team_id = ? AND user_id IN ({marks})",
        [team_id, *ids],
    )
    return {r["user_id"]: (Person(name=r["name"], title=r["title"]), parse_stamp(r["fetched_at"])) for r in rows}


def stale(db: sqlite_utils.Database, team_id: str, user_ids: Iterable[str], *, now: datetime) -> list[str]:
    """The users whose name was never read, or read more than a day ago."""
    known = cached(db, team_id, user_ids)
    return sorted(u for u in set(user_ids) if u not in known or now - known[u][1] >= MAX_AGE)


def remember(db: sqlite_utils.Database, team_id: str, people: dict[str, Person], *, now: datetime) -> None:
    for user_id, person in people.items():
        db.execute(
            "INSERT INTO people (team_id, user_id, name, title, fetched_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (team_id, user_id) DO UPDATE SET name = excluded.name, title = excluded.title, "
            "fetched_at = excluded.fetched_at",
            [team_id, user_id, person.name, person.title, stamp(now)],
        )
