"""Buyer signals in SQL: how the buyer sounded after a step, a touch outside the plan, a concern flagged; and what
they add up to per deal (`signals_of`), the facts the one health definition reads beside the steps.

Times are UTC stamps (compared as strings); days are ISO dates. Portable SQL: `?` parameters, no summed booleans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlite_utils

from bot.storage import insert, query, query_one
from bot.timestamps import parse_stamp, stamp

STEP, TOUCH, CONCERN = "step", "touch", "concern"  # after a step's Done; logged outside the plan; flagged
POSITIVE, NEUTRAL, WORRIED = "positive", "neutral", "worried"
SENTIMENTS = {POSITIVE: "Positive", NEUTRAL: "Neutral", WORRIED: "Worried"}
CANCEL = "cancel"
CONCERNS = {
    "budget": "Budget",
    "champion_left": "Champion left",
    "implementation": "Implementation slipping",
    CANCEL: "Asked to cancel",
}
MEDIA = {"call": "Call", "meeting": "Meeting", "email": "Email", "other": "Other"}


@dataclass(frozen=True)
class Signal:
    id: int
    deal_id: int
    kind: str
    by_user: str
    happened_on: date
    created_at: str
    nudge_id: int | None = None
    sentiment: str | None = None
    concern: str | None = None
    medium: str | None = None
    note: str | None = None


def signal_from_row(r: dict) -> Signal:
    return Signal(
        id=r["id"],
        deal_id=r["deal_id"],
        kind=r["kind"],
        by_user=r["by_user"],
        happened_on=date.fromisoformat(r["happened_on"]),
        created_at=r["created_at"],
        nudge_id=r.get("nudge_id"),
        sentiment=r.get("sentiment"),
        concern=r.get("concern"),
        medium=r.get("medium"),
        note=r.get("note"),
    )


def record(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    deal_id: int,
    kind: str,
    by_user: str,
    happened_on: date,
    now: datetime,
    request_key: str,
    sentiment: str | None = None,
    concern: str | None = None,
    medium: str | None = None,
    note: str | None = None,
) -> bool:
    """A touch or a concern, once per request: False when this request was stored already (a replay)."""
    # One writer at a time: the key read here is still free when the row is written. With concurrent writers the
    # UNIQUE request_key still holds; catch its violation (or INSERT ... ON CONFLICT DO NOTHING) instead.
    if query_one(db, "SELECT id FROM signals WHERE request_key = ?", [request_key]):
        return False
    insert(
        db,
        "signals",
        {
            "team_id": team_id,
            "deal_id": deal_id,
            "kind": kind,
            "sentiment": sentiment,
            "concern": concern,
            "medium": medium,
            "note": note,
            "happened_on": happened_on.isoformat(),
            "by_user": by_user,
            "request_key": request_key,
            "created_at": stamp(now),
        },
    )
    return True


def record_step(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    deal_id: int,
    nudge_id: int,
    by_user: str,
    happened_on: date,
    now: datetime,
    sentiment: str | None,
    note: str | None = None,
    keep_note: bool = False,
) -> None:
    """How the buyer sounded on a step: one row per step, the latest answer wins (a rep may correct a tap).
    `keep_note` keeps a note written earlier when only the sentiment is tapped again."""
    note_sql = "COALESCE(excluded.note, signals.note)" if keep_note else "excluded.note"
    db.execute(
        "INSERT INTO signals (team_id, deal_id, nudge_id, kind, sentiment, note, happened_on, by_user, created_at) "
        "VALUES (?, ?, ?, 'step', ?, ?, ?, ?, ?) "
        "ON CONFLICT (nudge_id) WHERE kind = 'step' DO UPDATE SET sentiment = COALESCE(excluded.sentiment, "
        f"signals.sentiment), note = {note_sql}, by_user = excluded.by_user, created_at = excluded.created_at",
        [team_id, deal_id, nudge_id, sentiment, note, happened_on.isoformat(), by_user, stamp(now)],
    )


def step_signal(db: sqlite_utils.Database, nudge_id: int) -> Signal | None:
    row = query_one(db, "SELECT * FROM signals WHERE nudge_id = ? AND kind = 'step'", [nudge_id])
    return signal_from_row(row) if row else None


@dataclass(frozen=True)
class BuyerFacts:
    """What the buyer's side says about one open deal, as of `today`: the facts health reads.

    worried: the latest sentiment heard (after a step or on a logged touch) was worried, that signal.
    concerns: concerns flagged with nothing positive heard since, oldest first.
    unsigned_days: days since a verbal yes still unsigned, when over the signature days; else None.
    reverted_on: the day the deal left closed-won in its CRM (its steps paused), while it stays out; else None."""

    deal_id: int
    worried: Signal | None = None
    concerns: tuple[Signal, ...] = ()
    unsigned_days: int | None = None
    reverted_on: date | None = None

    @property
    def cancel_asked(self) -> Signal | None:
        return next((c for c in reversed(self.concerns) if c.concern == CANCEL), None)

    @property
    def flagged(self) -> bool:
        """On the manager's *Buyer signals* list."""
        return bool(self.worried or self.concerns or self.unsigned_days is not None or self.reverted_on)


def signals_of(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    today: date,
    signature_days: int,
    deal_ids: Iterable[int] | None = None,
) -> dict[int, BuyerFacts]:
    """The buyer's side of the team's open deals (or of `deal_ids` among them) that have something to say: the
    latest sentiment heard was worried, a concern stands (nothing positive heard after it), or a verbal yes has
    waited more than `signature_days` since its close. A deal with none of these has no entry.

    Three indexed queries, so a team of any size is read in one pass each (row values are standard SQL:
    PostgreSQL runs them as they are)."""
    params = {"team": team_id}
    latest, standing = _worries(db, "d.team_id = :team", params)
    waiting = query(
        db,
        "SELECT id, close_date FROM deals WHERE team_id = :team AND status = 'open' AND signed = 0 "
        "AND close_date < :since",
        {**params, "since": (today - timedelta(days=signature_days)).isoformat()},
    )
    reverted = {r["id"]: _day_of(r["paused_at"]) for r in _reverted(db, "d.team_id = :team", params)}
    wanted = set(deal_ids) if deal_ids is not None else None
    worried = {r["deal_id"]: signal_from_row(r) for r in latest}
    concerns: dict[int, list[Signal]] = {}
    for r in standing:
        concerns.setdefault(r["deal_id"], []).append(signal_from_row(r))
    unsigned = {r["id"]: (today - date.fromisoformat(r["close_date"])).days for r in waiting}
    return {
        deal_id: BuyerFacts(
            deal_id,
            worried=worried.get(deal_id),
            concerns=tuple(concerns.get(deal_id, ())),
            unsigned_days=unsigned.get(deal_id),
            reverted_on=reverted.get(deal_id),
        )
        for deal_id in worried.keys() | concerns.keys() | unsigned.keys() | reverted.keys()
        if wanted is None or deal_id in wanted
    }


def _worries(db: sqlite_utils.Database, where: str, params: dict) -> tuple[list[dict], list[dict]]:
    """The worried latest sentiments and the standing concerns of the open deals `where` selects (over deals `d`)."""
    latest = query(
        db,
        f"""
        SELECT s.* FROM signals s JOIN deals d ON d.id = s.deal_id
        WHERE {where} AND d.status = 'open' AND s.sentiment = 'worried'
          AND NOT EXISTS (
            SELECT 1 FROM signals later WHERE later.deal_id = s.deal_id AND later.sentiment IS NOT NULL
              AND (later.happened_on, later.created_at, later.id) > (s.happened_on, s.created_at, s.id))
        """,
        params,
    )
    standing = query(
        db,
        f"""
        SELECT c.* FROM signals c JOIN deals d ON d.id = c.deal_id
        WHERE {where} AND d.status = 'open' AND c.kind = 'concern'
          AND NOT EXISTS (
            SELECT 1 FROM signals p WHERE p.deal_id = c.deal_id AND p.sentiment = 'positive'
              AND (p.happened_on, p.created_at, p.id) > (c.happened_on, c.created_at, c.id))
        ORDER BY c.happened_on, c.created_at, c.id
        """,
        params,
    )
    return latest, standing


def worries(
    db: sqlite_utils.Database, *, team_id: str | None = None, deal_ids: Iterable[int] | None = None
) -> dict[int, BuyerFacts]:
    """What the buyer's side says against a deal's health (bot.health.rules): the latest sentiment heard was
    worried, or a concern stands. The same two queries as `signals_of`, for a workspace or for some deals."""
    where, params = "1 = 1", {}
    if team_id is not None:
        where += " AND d.team_id = :team"
        params["team"] = team_id
    if deal_ids is not None:
        ids = sorted({int(i) for i in deal_ids})
        if not ids:
            return {}
        where += f" AND d.id IN ({','.join(str(i) for i in ids)})"
    latest, standing = _worries(db, where, params)
    reverted = {r["id"]: _day_of(r["paused_at"]) for r in _reverted(db, where, params)}
    worried = {r["deal_id"]: signal_from_row(r) for r in latest}
    concerns: dict[int, list[Signal]] = {}
    for r in standing:
        concerns.setdefault(r["deal_id"], []).append(signal_from_row(r))
    return {
        deal_id: BuyerFacts(
            deal_id,
            worried=worried.get(deal_id),
            concerns=tuple(concerns.get(deal_id, ())),
            reverted_on=reverted.get(deal_id),
        )
        for deal_id in worried.keys() | concerns.keys() | reverted.keys()
    }


def _reverted(db: sqlite_utils.Database, where: str, params: dict) -> list[dict]:
    """Open deals that left closed-won in their CRM and have not come back (bot.crm pauses their steps)."""
    return query(
        db,
        f"SELECT d.id, d.paused_at FROM deals d WHERE {where} AND d.status = 'open' AND d.paused_at IS NOT NULL",
        params,
    )


def _day_of(stamp_text: str) -> date:
    return parse_stamp(stamp_text).date()


def last_heard(db: sqlite_utils.Database, *, team_id: str) -> dict[int, date]:
    """Each open deal's latest touch with the buyer recorded outside the plan or after a step (the day it happened):
    work done outside the playbook counts, so a deal with a logged call is not a quiet one."""
    rows = query(
        db,
        "SELECT s.deal_id, MAX(s.happened_on) AS last FROM signals s JOIN deals d ON d.id = s.deal_id "
        "WHERE d.team_id = ? AND d.status = 'open' AND s.kind IN ('touch', 'step') GROUP BY s.deal_id",
        [team_id],
    )
    return {r["deal_id"]: date.fromisoformat(r["last"]) for r in rows}
