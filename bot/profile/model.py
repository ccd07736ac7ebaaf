"""The team profile as data, and its one row per workspace in SQL (the profile as JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlite_utils

from bot.storage import query, query_one
from bot.timestamps import stamp


@dataclass(frozen=True)
class Sponsor:
    """The exec sponsor: a Slack user, or someone outside Slack by name and title."""

    user: str | None = None
    name: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Member:
    """One of the implementation team: only the Slack id is kept; name, title and photo come from Slack."""

    user: str
    role: str
    fun_fact: str | None = None


@dataclass(frozen=True)
class Reference:
    """A customer a rep can point a new buyer to."""

    name: str
    result: str
    segment: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    personas: tuple[str, ...] = ()
    may_name: bool = False


@dataclass(frozen=True)
class Links:
    welcome_kit: str | None = None
    thank_you_video: str | None = None


@dataclass(frozen=True)
class TeamProfile:
    company: str | None = None
    exec_sponsor: Sponsor | None = None
    implementation_team: tuple[Member, ...] = ()
    references: tuple[Reference, ...] = ()
    links: Links = field(default_factory=Links)
    sticking_points: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self == TeamProfile()

    def to_json(self) -> str:
        data = asdict(self)
        for ref in data["references"]:
            for key in ("min_amount", "max_amount"):
                ref[key] = None if ref[key] is None else str(ref[key])
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> TeamProfile:
        data = json.loads(text)
        sponsor = data.get("exec_sponsor")

        def amount(value) -> Decimal | None:
            return None if value is None else Decimal(value)

        return cls(
            company=data.get("company"),
            exec_sponsor=Sponsor(**sponsor) if sponsor else None,
            implementation_team=tuple(Member(**m) for m in data.get("implementation_team") or ()),
            references=tuple(
                Reference(
                    **{
                        **r,
                        "min_amount": amount(r.get("min_amount")),
                        "max_amount": amount(r.get("max_amount")),
                        "personas": tuple(r.get("personas") or ()),
                    },
                )
                for r in data.get("references") or ()
            ),
            links=Links(**(data.get("links") or {})),
            sticking_points=tuple(data.get("sticking_points") or ()),
        )


@dataclass(frozen=True)
class StoredProfile:
    team_id: str
    profile: TeamProfile
    source: str  # "file <path>", or "slack <user id>"
    updated_at: str


def get(db: sqlite_utils.Database, team_id: str) -> StoredProfile | None:
    row = query_one(db, "SELECT * FROM team_profiles WHERE team_id = ?", [team_id])
    return _stored(row) if row else None


def all_profiles(db: sqlite_utils.Database) -> list[StoredProfile]:
    return [_stored(r) for r in query(db, "SELECT * FROM team_profiles ORDER BY team_id")]


def _stored(row: dict) -> StoredProfile:
    return StoredProfile(row["team_id"], TeamProfile.from_json(row["profile"]), row["source"], row["updated_at"])


def seed(db: sqlite_utils.Database, team_id: str, profile: TeamProfile, *, source: str, now: datetime) -> bool:
    """Store `profile` only if the workspace has none yet; True when this call stored it."""
    cursor = db.execute(
        "INSERT INTO team_profiles (team_id, profile, source, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (team_id) DO NOTHING",
        [team_id, profile.to_json(), source, stamp(now)],
    )
    return cursor.rowcount == 1


def replace(db: sqlite_utils.Database, team_id: str, profile: TeamProfile, *, source: str, now: datetime) -> None:
    """Store `profile` as the workspace's whole profile, whatever was there."""
    db.execute(
        "INSERT INTO team_profiles (team_id, profile, source, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (team_id) DO UPDATE SET profile = excluded.profile, source = excluded.source, "
        "updated_at = excluded.updated_at",
        [team_id, profile.to_json(), source, stamp(now)],
    )


def known_teams(db: sqlite_utils.Database) -> list[str]:
    """Every workspace Deal Coach has seen: a profile, a deal, a Home tab opened, an install."""
    rows = query(
        db,
        "SELECT team_id FROM team_profiles UNION SELECT team_id FROM deals UNION SELECT team_id FROM home_views "
        "UNION SELECT team_id FROM workspaces ORDER BY team_id",
    )
    return [r["team_id"] for r in rows]
