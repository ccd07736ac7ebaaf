"""Buyer signals in SQL: how the buyer sounded after a step, a touch outside the plan, a concern flagged; and what
they add up to per deal (`signals_of`), the facts the one health definition reads beside the steps.

Times are UTC stamps (compared as strings); days are ISO dates. Portable SQL: `?` parameters, no summed booleans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlite_utils

from bot.storage import insert, query, query_one
from bot.timestamps import stamp

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


def signals_for(db: sqlite_utils.Database, deal_ids: Iterable[int]) -> dict[int, list[Signal]]:
    """Each deal's signals, oldest first."""
    ids = sorted(set(deal_ids))
    found: dict[int, list[Signal]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):  # within any engine's limit on parameters
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = query(
            db, f"SELECT * FROM signals WHERE deal_id IN ({marks}) ORDER BY happened_on, created_at, id", chunk
        )
        for r in rows:
            found[r["deal_id"]].append(signal_from_row(r))
    return found


@dataclass(frozen=True)
class BuyerFacts:
    """What the buyer's side says about one open deal, as of `today`: the facts health reads.

    worried: the latest sentiment heard (after a step or on a logged touch) was worried, that signal.
    concerns: concerns flagged with nothing positive heard since, oldest first.
    unsigned_days: days since a verbal yes still unsigned, when over the signature days; else None."""

    deal_id: int
    worried: Signal | None = None
    concerns: tuple[Signal, ...] = ()
    unsigned_days: int | None = None
    last_heard: Signal | None = None  # the latest signal of any kind
    heard: tuple[Signal, ...] = field(default=(), repr=False)

    @property
    def cancel_asked(self) -> Signal | None:
        return next((c for c in reversed(self.concerns) if c.concern == CANCEL), None)

    @property
    def flagged(self) -> bool:
        """On the manager's *Buyer signals* list."""
        return bool(self.worried or self.concerns or self.unsigned_days is not None)


def facts_from(deal_id: int, heard: list[Signal], *, unsigned_days: int | None) -> BuyerFacts:
    """Fold a deal's signals (oldest first): the latest sentiment decides worried; a positive word after a concern
    settles it."""
    worried = None
    concerns: list[Signal] = []
    for s in heard:
        if s.sentiment is not None:
            worried = s if s.sentiment == WORRIED else None
            if s.sentiment == POSITIVE:
                concerns = []
        if s.kind == CONCERN:
            concerns.append(s)
    return BuyerFacts(
        deal_id,
        worried=worried,
        concerns=tuple(concerns),
        unsigned_days=unsigned_days,
        last_heard=heard[-1] if heard else None,
        heard=tuple(heard),
    )


def signals_of(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    today: date,
    signature_days: int,
    deal_ids: Iterable[int] | None = None,
) -> dict[int, BuyerFacts]:
    """The buyer's side of each open deal of the team (or of `deal_ids` among them): worried, concerns still
    standing, a verbal yes unsigned for more than `signature_days`. Every open deal asked about gets an entry."""
    rows = query(
        db,
        "SELECT id, signed, close_date FROM deals WHERE team_id = ? AND status = 'open'",
        [team_id],
    )
    wanted = set(deal_ids) if deal_ids is not None else None
    rows = [r for r in rows if wanted is None or r["id"] in wanted]
    heard: dict[int, list[Signal]] = {r["id"]: [] for r in rows}
    if rows:
        signal_rows = query(
            db,
            "SELECT s.* FROM signals s JOIN deals d ON d.id = s.deal_id WHERE d.team_id = ? AND d.status = 'open' "
            "ORDER BY s.happened_on, s.created_at, s.id",
            [team_id],
        )
        for sr in signal_rows:
            if sr["deal_id"] in heard:
                heard[sr["deal_id"]].append(signal_from_row(sr))
    facts = {}
    for r in rows:
        waited = (today - date.fromisoformat(r["close_date"])).days
        unsigned = waited if r["signed"] != 1 and waited > signature_days else None
        facts[r["id"]] = facts_from(r["id"], heard[r["id"]], unsigned_days=unsigned)
    return facts
