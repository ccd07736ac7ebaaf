"""A deal won in a CRM that may be one a rep already captured with /closed-deal, but not certainly: held while the
capturing rep (and the CRM owner, if someone else) are asked privately "Is this the same deal as #12 …?".

Certain repeats (the repeat rule of quick capture, bot.deals.model.find_duplicate) are linked straight away by the
worker. Unsure ones are: the same rep and account (loosely: case, punctuation and company suffixes aside) in the
last 3 days with another amount, or the same account and amount captured by someone else. Same deal links the CRM
record to the capture (what the rep typed stands: the CRM's amount and close date don't overwrite it); Different deal
creates and announces the CRM deal through the normal path; nobody answering within one business day creates it as
its own deal and tells the people asked, with both deal numbers, so no deal is lost. Only the people asked or a
manager may answer, and only the first answer counts."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

import sqlite_utils

from bot.crm.types import CrmDeal
from bot.deals.blocks import crm_name
from bot.deals.capture import Money
from bot.deals.model import DUPLICATE_WINDOW, Deal, DealFields, recent_typed_captures
from bot.slack.blocks import button, context, section
from bot.slack.text import bold, escape, mention
from bot.storage import query, query_one
from bot.timestamps import parse_stamp, stamp

SAME_DEAL = "crm_same_deal"
DIFFERENT_DEAL = "crm_different_deal"
SAME, DIFFERENT, NO_ANSWER = "same", "different", "no answer"
# words a company name ends with that don't tell two accounts apart ("Acme Rockets, Inc." is "acme rockets")
SUFFIXES = frozenset(
    [
        "inc",
        "incorporated",
        "ltd",
        "limited",
        "llc",
        "llp",
        "plc",
        "corp",
        "corporation",
        "co",
        "company",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "bv",
        "nv",
        "oy",
        "ab",
        "pty",
    ]
)


@dataclass(frozen=True)
class Question:
    id: int
    crm: str
    crm_account: str
    crm_deal_id: str
    team_id: str
    deal_id: int  # the /closed-deal capture it may repeat
    fields: DealFields  # the CRM deal as it would be captured
    source_url: str | None
    owner_email: str | None
    channel_id: str
    owner_id: str  # the CRM owner's Slack id, '' if not found
    asked: tuple[str, ...]
    event_at: datetime | None
    due_at: str
    answer: str | None
    answered_by: str | None

    @property
    def capture_key(self) -> str:
        return f"crm:{self.crm}:{self.crm_account}:{self.crm_deal_id}"

    def may_answer(self, user_id: str, managers: tuple[str, ...]) -> bool:
        return user_id in self.asked or user_id in managers


# -- the rule -------------------------------------------------------------------------------------------------------


def loose_account(name: str) -> str:
    """An account name with case, accents, punctuation and company suffixes set aside: "ACME Rockets, Inc." and
    "Acme Rockets" are one account."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    while len(words) > 1 and words[-1] in SUFFIXES:
        words.pop()
    return " ".join(words)


def possible_repeat(
    db: sqlite_utils.Database, *, team_id: str, owner_id: str, fields: DealFields, now: datetime
) -> Deal | None:
    """The latest capture typed in the last 3 days that this CRM deal may repeat, not certainly: the same account
    (loosely) and either the same rep or the same amount. None when nothing looks like it."""
    account = loose_account(fields.account)
    if not account:
        return None
    for deal in recent_typed_captures(db, team_id=team_id, since=now - DUPLICATE_WINDOW):
        if loose_account(deal.account) != account:
            continue
        if (owner_id and deal.owner_id == owner_id) or deal.fields.money == fields.money:
            return deal
    return None


def one_business_day(now: datetime, tz: tzinfo) -> datetime:
    """When an unanswered question is decided: a day later, moved past a weekend in the team's time zone."""
    due = now + timedelta(days=1)
    while due.astimezone(tz).weekday() >= 5:
        due += timedelta(days=1)
    return due


# -- the question's state -------------------------------------------------------------------------------------------


def ask(
    db: sqlite_utils.Database,
    crm_deal: CrmDeal,
    fields: DealFields,
    *,
    team_id: str,
    channel_id: str,
    owner_id: str,
    earlier: Deal,
    event_at: datetime | None,
    due_at: datetime,
    now: datetime,
) -> int | None:
    """Inside a write: hold the CRM deal as a question about `earlier` (one per CRM deal: the UNIQUE key decides).
    None when another worker (another instance, on PostgreSQL) asked about it first."""
    asked = [earlier.owner_id] + ([owner_id] if owner_id and owner_id != earlier.owner_id else [])
    held = {
        "account": fields.account,
        "amount": str(fields.money.amount),
        "currency": fields.money.currency,
        "close_date": fields.close_date.isoformat(),
        "contact_name": fields.contact_name,
        "contact_title": fields.contact_title,
        "source_url": crm_deal.record_url,
        "owner_email": crm_deal.owner_email,
    }
    row = {
        "crm": crm_deal.crm,
        "crm_account": crm_deal.crm_account,
        "crm_deal_id": crm_deal.crm_deal_id,
        "team_id": team_id,
        "deal_id": earlier.id,
        "crm_deal": json.dumps(held),
        "channel_id": channel_id,
        "owner_id": owner_id,
        "asked": json.dumps([a for a in asked if a]),
        "event_at": stamp(event_at) if event_at else None,
        "due_at": stamp(due_at),
        "created_at": stamp(now),
    }
    added = db.execute(
        f"INSERT INTO crm_questions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) "
        "ON CONFLICT (crm, crm_account, crm_deal_id) DO NOTHING RETURNING id",
        list(row.values()),
    ).fetchall()
    return added[0][0] if added else None


def _question(row: dict) -> Question:
    held = json.loads(row["crm_deal"])
    return Question(
        id=row["id"],
        crm=row["crm"],
        crm_account=row["crm_account"],
        crm_deal_id=row["crm_deal_id"],
        team_id=row["team_id"],
        deal_id=row["deal_id"],
        fields=DealFields(
            account=held["account"],
            money=Money(Decimal(held["amount"]), held["currency"]),
            close_date=date.fromisoformat(held["close_date"]),
            contact_name=held.get("contact_name"),
            contact_title=held.get("contact_title"),
        ),
        source_url=held.get("source_url"),
        owner_email=held.get("owner_email"),
        channel_id=row["channel_id"],
        owner_id=row["owner_id"],
        asked=tuple(json.loads(row["asked"])),
        event_at=parse_stamp(row["event_at"]) if row["event_at"] else None,
        due_at=row["due_at"],
        answer=row["answer"],
        answered_by=row["answered_by"],
    )


def question_for(db: sqlite_utils.Database, crm: str, crm_account: str, crm_deal_id: str) -> Question | None:
    row = query_one(
        db,
        "SELECT * FROM crm_questions WHERE crm = ? AND crm_account = ? AND crm_deal_id = ?",
        [crm, crm_account, crm_deal_id],
    )
    return _question(row) if row else None


def get_question(db: sqlite_utils.Database, question_id: int) -> Question | None:
    row = query_one(db, "SELECT * FROM crm_questions WHERE id = ?", [question_id])
    return _question(row) if row else None


def unanswered_due(db: sqlite_utils.Database, *, now: datetime) -> list[int]:
    rows = query(
        db, "SELECT id FROM crm_questions WHERE answer IS NULL AND due_at <= ? ORDER BY due_at, id", [stamp(now)]
    )
    return [r["id"] for r in rows]


def take_to_send(db: sqlite_utils.Database, question_id: int, *, now: datetime) -> bool:
    """The claim on sending the question: True once, so it is posted at most once whatever repeats."""
    # One writer at a time, and one conditional UPDATE: its row count is the claim on any engine.
    cursor = db.execute(
        "UPDATE crm_questions SET sent_at = ? WHERE id = ? AND sent_at IS NULL", [stamp(now), question_id]
    )
    return cursor.rowcount == 1


def withdraw(
    db: sqlite_utils.Database, crm: str, crm_account: str, crm_deal_id: str, *, event_at: datetime | None
) -> int | None:
    """The CRM deal left closed-won before anyone answered: its question goes (a later click finds nothing, and no
    timeout creates a deal that isn't won). Won again, it is asked afresh. An event older than the question's changes
    nothing (CRMs deliver out of order). Returns the question withdrawn, if any."""
    question = question_for(db, crm, crm_account, crm_deal_id)
    if question is None or question.answer is not None:
        return None
    if event_at is not None and question.event_at is not None and event_at < question.event_at:
        return None
    db.execute("DELETE FROM crm_questions WHERE id = ? AND answer IS NULL", [question.id])
    return question.id


def settle(db: sqlite_utils.Database, question_id: int, answer: str, *, by: str | None, now: datetime) -> bool:
    """Record the answer; True only for the first (a second click, or the timeout after a click, changes nothing)."""
    cursor = db.execute(
        "UPDATE crm_questions SET answer = ?, answered_by = ?, answered_at = ? WHERE id = ? AND answer IS NULL",
        [answer, by, stamp(now), question_id],
    )
    return cursor.rowcount == 1


# -- what people read -----------------------------------------------------------------------------------------------


def _deal_words(deal: Deal) -> str:
    return f"#{deal.id} {bold(deal.account)} {deal.fields.money.format()}"


def _crm_words(q: Question) -> str:
    return f"{bold(q.fields.account)} ({q.fields.money.format()}, closed {q.fields.close_date:%b %-d})"


def _crm_link(q: Question) -> str:
    name = crm_name(q.crm)
    url = q.source_url or ""
    if url.startswith("https://") and not any(c in url for c in "<>| \n"):
        return f"<{url}|{name}>"
    return name


def question_message(q: Question, earlier: Deal, *, due_at: str, tz: tzinfo) -> tuple[str, list[dict]]:
    """The private question: Same deal or Different deal, with what each side says."""
    ask_line = f"Is this the same deal as {_deal_words(earlier)}?"
    came = f"{_crm_words(q)} was just marked won in {_crm_link(q)}"
    typed = f"{mention(earlier.owner_id)} captured {_deal_words(earlier)} with `/closed-deal`"
    if earlier.fields.close_date != q.fields.close_date:
        typed += f" (closed {earlier.fields.close_date:%b %-d})"
    due = parse_stamp(due_at).astimezone(tz)
    text = f"{plain_question(q, earlier)} {came}; nothing is announced until someone answers."
    value = str(q.id)
    return text, [
        section(f":mag: {came}. {typed}. {ask_line}"),
        {
            "type": "actions",
            "block_id": f"crm_question_{q.id}",
            "elements": [
                button(SAME_DEAL, "Same deal", value, "primary"),
                button(DIFFERENT_DEAL, "Different deal", value),
            ],
        },
        context(
            f"*Same deal* links the {crm_name(q.crm)} record to #{earlier.id} and keeps the amount and close date "
            f"typed in Slack. *Different deal* announces it as a deal of its own. Nothing is announced until then; "
            f"without an answer by {due:%a %b %-d %H:%M} it is announced as its own deal."
        ),
    ]


def plain_question(q: Question, earlier: Deal) -> str:
    return f"Is this the same deal as #{earlier.id} {escape(earlier.account)} {earlier.fields.money.format()}?"


def linked_text(q: Question, deal: Deal, user_id: str) -> str:
    return (
        f":link: Same deal: {mention(user_id)} linked the {_crm_link(q)} record to {_deal_words(deal)}. "
        "Its amount and close date stay as typed; nothing new was announced."
    )


def separate_text(q: Question, deal: Deal, user_id: str) -> str:
    return (
        f":white_check_mark: Different deal: {mention(user_id)} said so, and {_crm_words(q)} from {_crm_link(q)} "
        f"is announced as deal #{deal.id}."
    )


def no_answer_text(q: Question, deal: Deal, earlier: Deal | None) -> str:
    text = (
        f":hourglass: Nobody answered whether {_crm_words(q)} from {_crm_link(q)} was a deal already captured, so I "
        f"announced it as its own deal #{deal.id}, to lose nothing."
    )
    if earlier is not None and not earlier.deleted:
        text += (
            f" It may repeat {_deal_words(earlier)}: if it is the same deal, delete one of the two with *Delete* on "
            "its message."
        )
    return text


def answered_text(q: Question) -> str:
    what = {SAME: "the same deal", DIFFERENT: "a different deal"}.get(q.answer or "", "")
    if q.answer == NO_ANSWER:
        return "Nobody answered in time, so it was announced as its own deal. Nothing changed."
    return f"Already answered by {mention(q.answered_by)}: {what}. Nothing changed."
