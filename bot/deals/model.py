"""Deals and their planned nudges: written together in one transaction, so no deal is ever half-stored."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlite_utils

from bot.deals.capture import Money
from bot.playbook.loader import GO_LIVE_UNKNOWN, PlannedStep, Playbook
from bot.storage import for_update, insert, insert_many, query, query_one
from bot.timestamps import stamp

# A deal deleted as a mistake keeps its row with this status, so a replay or a double click finds it. Every
# query that counts deals reads only 'open' or 'cancelled' ones, or says `status != 'deleted'`.
DELETED = "deleted"
DUPLICATE_WINDOW = timedelta(days=3)  # a capture repeating one made this recently is asked about first


@dataclass(frozen=True)
class DealFields:
    """What a rep can tell us about a deal, from a quick capture or the modal."""

    account: str
    money: Money
    close_date: date
    contact_name: str | None = None
    contact_title: str | None = None
    persona: str = "other"
    go_live_date: date | None = None
    impl_lead_id: str | None = None
    why_bought: str | None = None
    signed: bool = True  # False for a verbal yes: the playbook adds "get the signature"


@dataclass(frozen=True)
class Deal:
    id: int
    team_id: str
    channel_id: str
    owner_id: str
    fields: DealFields
    status: str
    message_ts: str | None
    created_at: str
    signed_at: str | None = None
    live_at: str | None = None
    cancelled_at: str | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    delivery_error: str | None = None
    deleted_at: str | None = None
    deleted_by: str | None = None
    source: str | None = None  # the CRM it came from ("salesforce", ...); None for /closed-deal
    source_url: str | None = None  # the deal's record in that CRM
    paused_at: str | None = None  # moved out of closed-won in the CRM: its pending steps wait

    @property
    def unowned(self) -> bool:
        """Came from a CRM whose owner has no Slack account we could find: waiting for someone to claim it."""
        return not self.owner_id

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    readiness: str | None = None  # a verbal yes's readiness checklist as answered (JSON), see bot.health.readiness

    @property
    def account(self) -> str:
        return self.fields.account

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def deleted(self) -> bool:
        return self.status == DELETED

    @property
    def posted_ts(self) -> str | None:
        """The channel message's ts once Slack has it (its post is in bot/deals/announcements.py)."""
        return self.message_ts or None


# A step's statuses, defined once here for every query and property (bot.stats reads them for the team):
ACTIONABLE = ("planned", "sending", "posted")  # still coming or on screen: its rep can act on it
OPEN = (*ACTIONABLE, "undeliverable")  # not done, skipped or cancelled: still owed, overdue once past due
# An ask (testimonial, referral, celebration) waiting for its recovery step (`held_by`): not owed yet, so neither
# on a list nor overdue; the recovery step's Done or Skip plans it again (bot.health.gate).
HELD = "held"
PAUSED = "paused"  # the deal left closed-won in its CRM: its planned steps wait (bot.crm)
PENDING = ("planned", "posted", HELD, PAUSED)  # what a cancelled deal stops
# Why a step is in a deal's plan when the playbook's dates didn't put it there (nudges.purpose):
RECOVERY, READINESS_GAP = "recovery", "readiness"


def sql_list(values: tuple[str, ...]) -> str:
    """Fixed status names as an SQL list for IN (...): our own constants, never user input."""
    return ", ".join(f"'{v}'" for v in values)


@dataclass(frozen=True)
class Nudge:
    """One playbook step for one deal: planned, sending, posted, then done, skipped or undeliverable."""

    id: int
    deal_id: int
    step_id: str
    stage: str
    title: str
    due_date: date
    status: str
    assignee_id: str | None = None
    post_id: int | None = None
    attempts: int = 0
    resolved_by: str | None = None
    resolved_at: str | None = None
    note: str | None = None
    outcome: str | None = None
    last_error: str | None = None
    snoozed_until: date | None = None
    snoozed_by: str | None = None
    purpose: str | None = None  # RECOVERY or READINESS_GAP; None for a step the plan timed
    held_by: int | None = None  # the recovery step a HELD ask waits for

    @property
    def actionable(self) -> bool:
        return self.status in ACTIONABLE


def nudge_from_row(r: dict) -> Nudge:
    return Nudge(
        id=r["id"],
        deal_id=r["deal_id"],
        step_id=r["step_id"],
        stage=r["stage"],
        title=r["title"],
        due_date=date.fromisoformat(r["due_date"]),
        status=r["status"],
        assignee_id=r.get("assignee_id"),
        post_id=r.get("post_id"),
        attempts=r.get("attempts") or 0,
        resolved_by=r.get("resolved_by"),
        resolved_at=r.get("resolved_at"),
        note=r.get("note"),
        outcome=r.get("outcome"),
        last_error=r.get("last_error"),
        snoozed_until=date.fromisoformat(r["snoozed_until"]) if r.get("snoozed_until") else None,
        snoozed_by=r.get("snoozed_by"),
        purpose=r.get("purpose"),
        held_by=r.get("held_by"),
    )


def _deal_columns(fields: DealFields) -> dict:
    return {
        "account": fields.account,
        "amount": str(fields.money.amount),
        "currency": fields.money.currency,
        "contact_name": fields.contact_name,
        "contact_title": fields.contact_title,
        "persona": fields.persona,
        "close_date": fields.close_date.isoformat(),
        "go_live_date": fields.go_live_date.isoformat() if fields.go_live_date else None,
        "impl_lead_id": fields.impl_lead_id,
        "why_bought": fields.why_bought,
        "signed": int(fields.signed),
    }


def _fields_from_columns(row: dict) -> DealFields:
    return DealFields(
        account=row["account"],
        money=Money(Decimal(row["amount"]), row["currency"]),
        close_date=date.fromisoformat(row["close_date"]),
        contact_name=row["contact_name"],
        contact_title=row["contact_title"],
        persona=row["persona"],
        go_live_date=date.fromisoformat(row["go_live_date"]) if row["go_live_date"] else None,
        impl_lead_id=row["impl_lead_id"],
        why_bought=row["why_bought"],
        signed=bool(row.get("signed", 1)),
    )


def row_to_deal(row: dict) -> Deal:
    fields = _fields_from_columns(row)
    return Deal(
        id=row["id"],
        team_id=row["team_id"],
        channel_id=row["channel_id"],
        owner_id=row["owner_id"],
        fields=fields,
        status=row["status"],
        message_ts=row["message_ts"],
        created_at=row["created_at"],
        signed_at=row.get("signed_at"),
        live_at=row.get("live_at"),
        cancelled_at=row.get("cancelled_at"),
        cancelled_by=row.get("cancelled_by"),
        cancel_reason=row.get("cancel_reason"),
        delivery_error=row.get("delivery_error"),
        deleted_at=row.get("deleted_at"),
        deleted_by=row.get("deleted_by"),
        source=row.get("source"),
        source_url=row.get("source_url"),
        paused_at=row.get("paused_at"),
        readiness=row.get("readiness"),
    )


def _plan(playbook: Playbook, fields: DealFields):
    """The deal's dated plan. Without a go-live date, steps timed from go-live are not planned on a guess: the
    playbook's go-live question asks the rep instead, and the answer plans them (update_deal)."""
    planned = playbook.plan(
        close_date=fields.close_date,
        persona=fields.persona,
        amount=fields.money.amount,
        go_live=fields.go_live_date,
        signed=fields.signed,
        currency=fields.money.currency,
    )
    return [p for p in planned if fields.go_live_date is not None or p.step.after != "go_live"]


def _nudge_row(deal_id: int, planned: PlannedStep, at: str) -> dict:
    step = planned.step
    return {
        "deal_id": deal_id,
        "step_id": step.id,
        "stage": step.stage,
        "title": step.title,
        "due_date": planned.due.isoformat(),
        "status": "planned",
        "created_at": at,
        "updated_at": at,
    }


def capture_deal(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    channel_id: str,
    owner_id: str,
    fields: DealFields,
    playbook: Playbook,
    now: datetime,
    capture_key: str | None = None,
) -> tuple[int, bool]:
    """Store a deal and its plan; call inside `Store.write()`. A repeated capture_key returns the first deal."""
    at = stamp(now)
    row = {
        "team_id": team_id,
        "channel_id": channel_id,
        "owner_id": owner_id,
        **_deal_columns(fields),
        "status": "open",
        "capture_key": capture_key,
        "created_at": at,
        "updated_at": at,
    }
    if capture_key:
        # The UNIQUE capture_key decides, on any engine: of two replays writing at once, the second's INSERT waits
        # for the first's transaction and then does nothing, and it returns the first deal.
        columns = ", ".join(row)
        added = db.execute(
            f"INSERT INTO deals ({columns}) VALUES ({', '.join('?' * len(row))}) "
            "ON CONFLICT (capture_key) DO NOTHING RETURNING id",
            list(row.values()),
        ).fetchall()
        if not added:
            [(existing,)] = db.execute("SELECT id FROM deals WHERE capture_key = ?", [capture_key]).fetchall()
            return existing, False
        [(deal_id,)] = added
    else:
        deal_id = insert(db, "deals", row)
    insert_many(db, "nudges", [_nudge_row(deal_id, p, at) for p in _plan(playbook, fields)])
    return deal_id, True


def update_deal(
    db: sqlite_utils.Database, deal_id: int, fields: DealFields, *, playbook: Playbook, now: datetime
) -> None:
    """Save edited details and re-plan the steps not yet acted on; call inside `Store.write()`."""
    at = stamp(now)
    columns = {**_deal_columns(fields), "updated_at": at}
    db.execute(f"UPDATE deals SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?", [*columns.values(), deal_id])
    # Only steps still 'planned' are moved or removed, each by a conditional statement: a dispatcher claiming one
    # at the same moment (another instance) keeps it, and it is posted as planned before.
    planned = {p.step.id: p for p in _plan(playbook, fields)}
    current = {r["step_id"]: r for r in query(db, "SELECT * FROM nudges WHERE deal_id = ?", [deal_id])}
    question = {s.id for s in playbook.steps if s.when == GO_LIVE_UNKNOWN}
    for step_id, row in current.items():
        if row["purpose"] is not None:  # brought in by a gate or the checklist, not by the plan's dates: kept
            continue
        if step_id in question and fields.go_live_date and row["status"] == "posted":  # answered another way
            db.execute(
                "UPDATE nudges SET status = 'done', note = 'go-live date set', updated_at = ? "
                "WHERE id = ? AND status = 'posted'",
                [at, row["id"]],
            )
            continue
        if row["status"] != "planned":
            continue
        if step_id not in planned:
            db.execute("DELETE FROM nudges WHERE id = ? AND status = 'planned'", [row["id"]])
        elif row["due_date"] != planned[step_id].due.isoformat():
            db.execute(
                "UPDATE nudges SET due_date = ?, updated_at = ? WHERE id = ? AND status = 'planned'",
                [planned[step_id].due.isoformat(), at, row["id"]],
            )
    missing = [_nudge_row(deal_id, p, at) for step_id, p in planned.items() if step_id not in current]
    if missing:  # the UNIQUE (deal_id, step_id): an edit racing another edit of the same deal adds each step once
        names = ", ".join(missing[0])
        marks = ", ".join("?" * len(missing[0]))
        for row in missing:
            db.execute(
                f"INSERT INTO nudges ({names}) VALUES ({marks}) ON CONFLICT (deal_id, step_id) DO NOTHING",
                list(row.values()),
            )


def get_deal(db: sqlite_utils.Database, deal_id: int, *, lock: bool = False) -> Deal | None:
    """The deal; with `lock`, inside a write transaction, held until it ends: another instance's change to the same
    deal waits for this one and then reads what it did (a double click on PostgreSQL changes it once)."""
    row = query_one(
        db, f"SELECT * FROM deals WHERE id = ?{for_update(db, skip_locked=False) if lock else ''}", [deal_id]
    )
    return row_to_deal(row) if row else None


def deals_by_id(db: sqlite_utils.Database, ids: Iterable[int]) -> dict[int, Deal]:
    """The deals with these ids, read 500 at a time: lists that ranked narrow rows build only the deals they show."""
    wanted = sorted(set(ids))
    found: dict[int, Deal] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found |= {r["id"]: row_to_deal(r) for r in query(db, f"SELECT * FROM deals WHERE id IN ({marks})", chunk)}
    return found


def get_deal_by_capture_key(db: sqlite_utils.Database, capture_key: str) -> Deal | None:
    row = query_one(db, "SELECT * FROM deals WHERE capture_key = ?", [capture_key])
    return row_to_deal(row) if row else None


def deal_nudges(db: sqlite_utils.Database, deal_id: int) -> list[Nudge]:
    rows = query(db, "SELECT * FROM nudges WHERE deal_id = ? ORDER BY due_date, id", [deal_id])
    return [nudge_from_row(r) for r in rows]


def set_message(db: sqlite_utils.Database, deal_id: int, message_ts: str) -> None:
    db.execute("UPDATE deals SET message_ts = ? WHERE id = ?", [message_ts, deal_id])


def can_edit(deal: Deal, user_id: str, managers: tuple[str, ...]) -> bool:
    """The rep who owns a deal and the managers may change it; nobody else."""
    return user_id == deal.owner_id or user_id in managers


def record_delivery_problem(db: sqlite_utils.Database, deal_id: int, error: str) -> bool:
    """Remember that the deal's channel can't be reached; True the first time, so managers hear once."""
    # One writer at a time: the conditional UPDATE's row count is the claim on telling managers, exact because
    # SQLite lets one writer in at a time. With concurrent writers it must stay one conditional UPDATE (never a
    # SELECT, then an UPDATE) so the row lock re-checks `delivery_error IS NULL`.
    cursor = db.execute("UPDATE deals SET delivery_error = ? WHERE id = ? AND delivery_error IS NULL", [error, deal_id])
    return cursor.rowcount == 1


def clear_delivery_problem(db: sqlite_utils.Database, deal_id: int) -> None:
    db.execute("UPDATE deals SET delivery_error = NULL WHERE id = ? AND delivery_error IS NOT NULL", [deal_id])


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
    """The deals these posts (nudge messages or announcements) belong to."""
    ids = sorted(set(post_ids))
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [r[0] for r in db.execute(f"SELECT DISTINCT deal_id FROM posts WHERE id IN ({marks})", ids).fetchall()]


# -- the deal lifecycle: signed, live, cancelled --------------------------------------------------------


def posts_with_open_steps(db: sqlite_utils.Database, deal_id: int) -> list[int]:
    rows = db.execute(
        "SELECT DISTINCT post_id FROM nudges WHERE deal_id = ? AND status = 'posted' AND post_id IS NOT NULL",
        [deal_id],
    ).fetchall()
    return [r[0] for r in rows]


def mark_signed(
    db: sqlite_utils.Database, deal_id: int, *, actor: str, now: datetime, playbook: Playbook
) -> list[int] | None:
    """A verbal yes is now signed: the signature steps end, the rest of the plan carries on.
    Returns the posts to redraw, or None when it was signed (or cancelled) already."""
    deal = get_deal(db, deal_id, lock=True)  # still unsigned when updated below, so signed once
    if deal is None or deal.status != "open" or deal.fields.signed:
        return None
    posts = posts_with_open_steps(db, deal_id)
    update_deal(db, deal_id, replace(deal.fields, signed=True), playbook=playbook, now=now)
    at = stamp(now)
    db.execute("UPDATE deals SET signed_at = ? WHERE id = ?", [at, deal_id])
    unsigned = [s.id for s in playbook.steps if s.unsigned_only]
    if unsigned:
        marks = ",".join("?" * len(unsigned))
        db.execute(
            f"UPDATE nudges SET status = 'done', resolved_by = ?, resolved_at = ?, updated_at = ? "
            f"WHERE deal_id = ? AND status = 'posted' AND step_id IN ({marks})",
            [actor, at, at, deal_id, *unsigned],
        )
    return posts


def mark_live(
    db: sqlite_utils.Database, deal_id: int, *, go_live: date, now: datetime, playbook: Playbook, live: bool = True
) -> list[int] | None:
    """The customer is live (or, with `live=False`, expects to be on `go_live`): steps timed from go-live are
    planned from that date. Returns the posts to redraw (the go-live question's, now answered), or None if nothing
    changed."""
    deal = get_deal(db, deal_id, lock=True)  # as read, until this transaction ends
    if deal is None or deal.status != "open" or (deal.live_at and deal.fields.go_live_date == go_live):
        return None
    if not live and deal.fields.go_live_date == go_live:
        return None
    question = [s.id for s in playbook.steps if s.when == GO_LIVE_UNKNOWN]
    marks = ",".join("?" * len(question)) or "NULL"
    posts = [
        r[0]
        for r in db.execute(
            f"SELECT DISTINCT post_id FROM nudges WHERE deal_id = ? AND status = 'posted' AND post_id IS NOT NULL "
            f"AND step_id IN ({marks})",
            [deal_id, *question],
        )
    ]
    update_deal(db, deal_id, replace(deal.fields, go_live_date=go_live), playbook=playbook, now=now)
    if live:
        db.execute("UPDATE deals SET live_at = ? WHERE id = ?", [stamp(now), deal_id])
    return posts


def cancel_deal(db: sqlite_utils.Database, deal_id: int, *, actor: str, reason: str, now: datetime) -> list[int] | None:
    """Buyer's remorse happens: pending steps stop. Returns the posts to redraw, or None if already cancelled."""
    at = stamp(now)
    # One writer at a time: the conditional UPDATE's row count is the claim (a double click cancels once), and no
    # dispatcher claims these steps between it and the UPDATE of the nudges, because SQLite lets one writer in at a
    # time. With concurrent writers, lock the deal's nudges first (SELECT ... FOR UPDATE) or run it SERIALIZABLE.
    cursor = db.execute(
        "UPDATE deals SET status = 'cancelled', cancelled_at = ?, cancelled_by = ?, cancel_reason = ?, updated_at = ? "
        "WHERE id = ? AND status = 'open'",
        [at, actor, reason, at, deal_id],
    )
    if cursor.rowcount != 1:
        return None
    posts = posts_with_open_steps(db, deal_id)
    db.execute(
        f"UPDATE nudges SET status = 'cancelled', updated_at = ? WHERE deal_id = ? AND status IN ({sql_list(PENDING)})",
        [at, deal_id],
    )
    return posts


def stage_of(deal: Deal, nudges: list[Nudge]) -> str:
    """Where a deal stands, in the words of the playbook's stages."""
    if deal.cancelled:
        return "Cancelled"
    if deal.deleted:
        return "Deleted"
    if deal.paused:
        return "Paused"
    if not deal.fields.signed:
        return "Verbal yes"
    waiting = [n for n in nudges if n.actionable]
    if not waiting:
        return "Accomplished"
    return min(waiting, key=lambda n: n.due_date).stage.capitalize()


def open_deals_of(db: sqlite_utils.Database, *, team_id: str, owner_id: str) -> list[Deal]:
    rows = query(
        db,
        "SELECT * FROM deals WHERE team_id = ? AND owner_id = ? AND status = 'open' ORDER BY created_at DESC, id DESC",
        [team_id, owner_id],
    )
    return [row_to_deal(r) for r in rows]


# -- captures made by mistake: a repeat is asked about first, a mistake can be deleted --------------------------


def find_duplicate(
    db: sqlite_utils.Database, *, team_id: str, owner_id: str, fields: DealFields, now: datetime
) -> Deal | None:
    """The deal this capture seems to repeat: the same rep's, for the same account (case and spacing aside) and
    the same amount, captured in the last three days and not deleted; the latest if several. The one rule for
    every way a deal comes in."""
    rows = query(
        db,
        "SELECT * FROM deals WHERE team_id = ? AND owner_id = ? AND currency = ? AND status != 'deleted' "
        "AND created_at >= ? ORDER BY created_at DESC, id DESC",
        [team_id, owner_id, fields.money.currency, stamp(now - DUPLICATE_WINDOW)],
    )
    account = _same_account(fields.account)
    for row in rows:
        earlier = row_to_deal(row)
        if earlier.fields.money.amount == fields.money.amount and _same_account(earlier.account) == account:
            return earlier
    return None


def recent_typed_captures(db: sqlite_utils.Database, *, team_id: str, since: datetime) -> list[Deal]:
    """Deals captured in Slack (no CRM record linked yet) since `since` and not deleted, the latest first: what a
    deal arriving from a CRM might repeat (bot.crm.unsure)."""
    rows = query(
        db,
        "SELECT * FROM deals WHERE team_id = ? AND source IS NULL AND status != 'deleted' AND created_at >= ? "
        "ORDER BY created_at DESC, id DESC",
        [team_id, stamp(since)],
    )
    return [row_to_deal(r) for r in rows]


def _same_account(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class HeldCapture:
    """A capture not stored yet because it looks like `duplicate_of`, waiting for its rep to say keep both."""

    capture_key: str
    team_id: str
    channel_id: str
    owner_id: str
    fields: DealFields
    duplicate_of: int


def hold_capture(
    db: sqlite_utils.Database,
    *,
    capture_key: str,
    team_id: str,
    channel_id: str,
    owner_id: str,
    fields: DealFields,
    duplicate_of: int,
    now: datetime,
) -> None:
    """Keep a capture aside under its capture key (a replay keeps the first); questions older than the duplicate
    window are forgotten."""
    db.execute("DELETE FROM held_captures WHERE created_at < ?", [stamp(now - DUPLICATE_WINDOW)])
    db.execute(
        "INSERT INTO held_captures (capture_key, team_id, channel_id, owner_id, fields, duplicate_of, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (capture_key) DO NOTHING",
        [capture_key, team_id, channel_id, owner_id, json.dumps(_deal_columns(fields)), duplicate_of, stamp(now)],
    )


def held_capture(db: sqlite_utils.Database, capture_key: str) -> HeldCapture | None:
    row = query_one(db, "SELECT * FROM held_captures WHERE capture_key = ?", [capture_key])
    if row is None:
        return None
    return HeldCapture(
        capture_key=row["capture_key"],
        team_id=row["team_id"],
        channel_id=row["channel_id"],
        owner_id=row["owner_id"],
        fields=_fields_from_columns(json.loads(row["fields"])),
        duplicate_of=row["duplicate_of"],
    )


def release_held(db: sqlite_utils.Database, capture_key: str) -> bool:
    """The rep answered: the held capture is captured or left. True if it was still held."""
    # One writer at a time: the DELETE's row count is the claim on the held capture (a double click answers once),
    # exact because SQLite lets one writer in at a time. With concurrent writers it must stay one DELETE ... WHERE.
    return db.execute("DELETE FROM held_captures WHERE capture_key = ?", [capture_key]).rowcount == 1


def delete_deal(db: sqlite_utils.Database, deal_id: int, *, actor: str, now: datetime) -> list[int] | None:
    """A capture made by mistake: the deal is marked deleted (counted nowhere from now on) and its pending steps
    are removed; steps done stay as history. Returns its posted nudge messages (to be replaced), or None if it
    was deleted already. Not a cancellation: no reason, no digest line. Steps a dispatcher is posting right now
    are left to it, and their message is replaced once recorded."""
    at = stamp(now)
    # One writer at a time: the conditional UPDATE's row count is the claim (a double click deletes once), and the
    # posts and steps read and removed below stay as they are until this transaction ends, because SQLite lets one
    # writer in at a time. With concurrent writers, lock the deal's nudges first (SELECT ... FOR UPDATE) or run it
    # SERIALIZABLE.
    cursor = db.execute(
        "UPDATE deals SET status = 'deleted', deleted_at = ?, deleted_by = ?, updated_at = ? "
        "WHERE id = ? AND status != 'deleted'",
        [at, actor, at, deal_id],
    )
    if cursor.rowcount != 1:
        return None
    posts = [r[0] for r in db.execute("SELECT id FROM posts WHERE deal_id = ? AND status = 'posted'", [deal_id])]
    db.execute(
        "DELETE FROM nudges WHERE deal_id = ? AND status IN ('planned', 'posted', 'undeliverable', 'paused', 'held')",
        [deal_id],
    )
    return posts


# -- deals from a CRM: where they came from, a revert in the CRM, an owner found in Slack later -------------------


def set_source(db: sqlite_utils.Database, deal_id: int, source: str, url: str | None) -> bool:
    """Where the deal came from, set once: False if it has a source already (two CRM deals linking one capture at
    the same moment, on two instances: the conditional UPDATE's row count gives it to one)."""
    cursor = db.execute(
        "UPDATE deals SET source = ?, source_url = ? WHERE id = ? AND source IS NULL", [source, url, deal_id]
    )
    return cursor.rowcount == 1


def pause_deal(db: sqlite_utils.Database, deal_id: int, *, now: datetime) -> list[int] | None:
    """The deal left closed-won in its CRM: the steps still planned wait (posted ones stay on screen). Returns the
    posts to redraw, or None if it was paused (or not open) already."""
    at = stamp(now)
    # The conditional UPDATE's row count is the claim (a repeated revert pauses once). A dispatcher claiming these
    # steps meanwhile: on SQLite it waits (one writer at a time); on PostgreSQL the UPDATE of the steps below waits
    # for its row locks and re-reads each step's status, so a step it claimed is posted and the rest are paused.
    cursor = db.execute(
        "UPDATE deals SET paused_at = ?, updated_at = ? WHERE id = ? AND status = 'open' AND paused_at IS NULL",
        [at, at, deal_id],
    )
    if cursor.rowcount != 1:
        return None
    db.execute(
        "UPDATE nudges SET status = 'paused', updated_at = ? WHERE deal_id = ? AND status = 'planned'", [at, deal_id]
    )
    return posts_with_open_steps(db, deal_id)


def resume_deal(db: sqlite_utils.Database, deal_id: int, *, now: datetime) -> list[int] | None:
    """Won again: the paused steps are planned again (one already past due goes out at the next tick)."""
    at = stamp(now)
    cursor = db.execute(
        "UPDATE deals SET paused_at = NULL, updated_at = ? WHERE id = ? AND status = 'open' AND paused_at IS NOT NULL",
        [at, deal_id],
    )
    if cursor.rowcount != 1:
        return None
    db.execute(
        "UPDATE nudges SET status = 'planned', updated_at = ? WHERE deal_id = ? AND status = 'paused'", [at, deal_id]
    )
    return posts_with_open_steps(db, deal_id)


def claim_owner(db: sqlite_utils.Database, deal_id: int, user_id: str, *, now: datetime) -> bool:
    """The deal had no owner in Slack: the first to claim it owns it. True for that one click only."""
    # One writer at a time: the conditional UPDATE's row count is the claim (two clicks, one owner); with concurrent
    # writers it must stay one UPDATE ... WHERE owner_id = ''.
    cursor = db.execute(
        "UPDATE deals SET owner_id = ?, updated_at = ? WHERE id = ? AND owner_id = '' AND status = 'open'",
        [user_id, stamp(now), deal_id],
    )
    return cursor.rowcount == 1


def set_owner(db: sqlite_utils.Database, deal_id: int, owner_id: str, *, now: datetime) -> list[int] | None:
    """A manager hands the deal to someone else. Returns the posts to redraw, or None if they own it already."""
    cursor = db.execute(
        "UPDATE deals SET owner_id = ?, updated_at = ? WHERE id = ? AND status = 'open' AND owner_id != ?",
        [owner_id, stamp(now), deal_id, owner_id],
    )
    return posts_with_open_steps(db, deal_id) if cursor.rowcount == 1 else None
