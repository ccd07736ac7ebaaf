"""What a manager's daily digest says, read from the database as of `now`: pure queries, no Slack.

Times are stored as UTC stamps, so comparing the strings compares the instants. The team's deals at risk,
per-rep stats and what counts as overdue come from `bot.stats`, which the Home tab reads too.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal

import sqlite_utils

from bot.deals.model import Deal, row_to_deal, sql_list
from bot.digest.numbers import Numbers
from bot.digest.numbers import numbers as team_numbers
from bot.nudges.reminders import reps_first
from bot.report.model import Comparison, compare
from bot.signals.watch import Flagged, Slipping, buyer_signals, missed_between, slipping
from bot.stats import AT_RISK_KEPT, COUNTED, RATE_DAYS, AtRisk, RepStats, at_risk, is_overdue, rep_stats
from bot.storage import query
from bot.timestamps import parse_stamp, stamp

CHART_WEEKS = 8


@dataclass(frozen=True)
class Reason:
    text: str  # the most common spelling, as a rep typed it
    count: int


@dataclass(frozen=True)
class Outcome:
    deal: Deal
    kind: str  # testimonial or referral
    detail: str | None
    by: str | None
    at: datetime


@dataclass(frozen=True)
class WeekRate:
    start: date  # the Monday
    done: int
    total: int

    @property
    def rate(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class Digest:
    today: date
    now: datetime
    since: datetime
    first: bool  # no digest before: "since" is the last 24 hours
    at_risk: list[AtRisk]
    closed: list[Deal]
    reps: list[RepStats]
    reasons: list[Reason]
    reasons_total: int
    outcomes: list[Outcome]
    cancelled: list[Deal]
    weeks: list[WeekRate]
    buyer_signals: list[Flagged] = field(default_factory=list)
    slipping: list[Slipping] = field(default_factory=list)
    missed: int = 0  # steps whose window passed since the last digest (or the catch-up recorded missed): once, here
    signature_days: int = 7
    numbers: Numbers | None = None
    reps_followed: frozenset[str] | None = None  # the reps the manager follows; None: everyone
    coaching: Comparison | None = None  # the first digest of a month: last month's `dealcoach report`
    at_risk_total: int | None = None  # deals at risk in all; `at_risk` holds the first AT_RISK_KEPT of them

    @property
    def at_risk_count(self) -> int:
        return len(self.at_risk) if self.at_risk_total is None else self.at_risk_total


def _mine(reps: frozenset[str] | None, *people: str | None) -> bool:
    return reps is None or any(p in reps for p in people)


def gather(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    now: datetime,
    today: date,
    since: datetime | None,
    large_deal: Decimal,
    quiet_days: int,
    signature_days: int = 7,
    tz: tzinfo = UTC,
    reps: frozenset[str] | None = None,
    go_live_days: int = 30,
    windows: Mapping[str, int] | None = None,
) -> Digest:
    """Everything one digest shows, as of `now`; `today` is the reader's local date, `since` their last digest;
    `reps` the reps the manager follows (their deals, their steps), None for everyone; `windows` the playbook steps'
    windows (bot.signals.watch.windows), which decide when a slipping step is missed instead."""
    first = since is None
    start = now - timedelta(hours=24) if since is None else since
    reasons, reasons_total = win_reasons(db, team_id=team_id, reps=reps)
    last_day = start.date() if since is not None else today - timedelta(days=1)
    risky = at_risk(
        db,
        team_id=team_id,
        now=now,
        today=today,
        large_deal=large_deal,
        quiet_days=quiet_days,
        reps=reps,
        limit=AT_RISK_KEPT,
        windows=dict(windows or {}),
    )
    return Digest(
        today=today,
        now=now,
        since=start,
        first=first,
        at_risk=risky.items,
        at_risk_total=risky.total,
        closed=[d for d in closed_since(db, team_id=team_id, since=start, now=now) if _mine(reps, d.owner_id)],
        # about follow-ups: a rep with open deals and nothing due is left to the Home tab's team table
        reps=[
            r
            for r in reps_first(
                db,
                rep_stats(db, team_id=team_id, today=today, now=now, since=start),
                team_id=team_id,
                today=today,
                windows=dict(windows or {}),
            )
            if r.busy and _mine(reps, r.rep_id)
        ],
        reasons=reasons,
        reasons_total=reasons_total,
        outcomes=[o for o in outcomes_received(db, team_id=team_id, now=now) if _mine(reps, o.deal.owner_id)],
        cancelled=[d for d in cancelled_since(db, team_id=team_id, since=start, now=now) if _mine(reps, d.owner_id)],
        weeks=weekly_completion(db, team_id=team_id, today=today, reps=reps),
        buyer_signals=buyer_signals(db, team_id=team_id, today=today, signature_days=signature_days, reps=reps),
        slipping=slipping(db, team_id=team_id, today=today, reps=reps, windows=windows),
        missed=missed_between(
            db,
            team_id=team_id,
            after=min(last_day, today),
            today=today,
            reps=reps,
            windows=windows,
            since=start,
            now=now,
        ),
        signature_days=signature_days,
        numbers=team_numbers(db, team_id=team_id, today=today, tz=tz, reps=reps),
        reps_followed=reps,
        coaching=_last_month(db, team_id, since, today, tz=tz, go_live_days=go_live_days, reps=reps),
    )


def _last_month(
    db, team_id: str, since: datetime | None, today: date, *, tz: tzinfo, go_live_days: int, reps
) -> Comparison | None:
    """The first digest of a month carries last month's coaching report (the same as `dealcoach report`)."""
    if since is None or since.astimezone(tz).date().replace(day=1) == today.replace(day=1):
        return None
    until = today.replace(day=1) - timedelta(days=1)
    return compare(
        db, since=until.replace(day=1), until=until, today=today, tz=tz, go_live_days=go_live_days, team_id=team_id,
        reps=reps,
    )  # fmt: skip


def closed_since(db: sqlite_utils.Database, *, team_id: str, since: datetime, now: datetime) -> list[Deal]:
    """Deals captured after `since`, newest first."""
    rows = query(
        db,
        """
        SELECT * FROM deals
        WHERE team_id = :team AND status != 'deleted'
          AND created_at > :since AND created_at <= :now
        ORDER BY created_at DESC, id DESC
        """,
        {"team": team_id, "since": stamp(since), "now": stamp(now)},
    )
    return [row_to_deal(r) for r in rows]


def cancelled_since(db: sqlite_utils.Database, *, team_id: str, since: datetime, now: datetime) -> list[Deal]:
    """Deals cancelled after `since`, newest first, with who and why on the deal."""
    rows = query(
        db,
        """
        SELECT * FROM deals
        WHERE team_id = :team AND status = 'cancelled'
          AND cancelled_at > :since AND cancelled_at <= :now
        ORDER BY cancelled_at DESC, id DESC
        """,
        {"team": team_id, "since": stamp(since), "now": stamp(now)},
    )
    return [row_to_deal(r) for r in rows]


def normalise_reason(text: str) -> str:
    """Case, punctuation and spacing don't make a different reason: "Price!" and " price " are one."""
    kept = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text.casefold())
    return " ".join(kept.split())


def _outcomes(db: sqlite_utils.Database, team_id: str, extra: str = "", params: dict | None = None) -> list[dict]:
    return query(
        db,
        f"""
        SELECT n.outcome, n.resolved_by, n.resolved_at, d.*
        FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status != 'deleted' AND n.status = 'done' AND n.outcome IS NOT NULL {extra}
        ORDER BY n.resolved_at DESC, n.id DESC
        """,
        {"team": team_id, **(params or {})},
    )


def _load(outcome: str) -> dict:
    try:
        data = json.loads(outcome)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def win_reasons(
    db: sqlite_utils.Database, *, team_id: str, top: int = 5, reps: frozenset[str] | None = None
) -> tuple[list[Reason], int]:
    """The most recurring reasons buyers gave in win analyses (top `top`), and how many were recorded."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for row in _outcomes(db, team_id):
        if not _mine(reps, row["owner_id"]):
            continue
        data = _load(row["outcome"])
        reason = data.get("reason")
        if data.get("kind") != "win_reason" or not isinstance(reason, str):
            continue
        key = normalise_reason(reason)
        if not key:
            continue
        counts[key] += 1
        spellings[key][" ".join(reason.split())] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [Reason(spellings[key].most_common(1)[0][0], n) for key, n in ranked], sum(counts.values())


def outcomes_received(db: sqlite_utils.Database, *, team_id: str, now: datetime) -> list[Outcome]:
    """Testimonials and referrals received in the last 30 days, newest first."""
    found = []
    rows = _outcomes(
        db,
        team_id,
        "AND n.resolved_at > :from AND n.resolved_at <= :now",
        {"from": stamp(now - timedelta(days=RATE_DAYS)), "now": stamp(now)},
    )
    for row in rows:
        data = _load(row["outcome"])
        if data.get("kind") in ("testimonial", "referral") and data.get("result") == "received":
            detail = data.get("detail") if isinstance(data.get("detail"), str) else None
            at = parse_stamp(row["resolved_at"])
            found.append(Outcome(row_to_deal(row), data["kind"], detail, row["resolved_by"], at))
    return found


def weekly_completion(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    today: date,
    weeks: int = CHART_WEEKS,
    reps: frozenset[str] | None = None,
) -> list[WeekRate]:
    """The team's completion rate per week (Monday to Sunday) over the last `weeks`, weeks with steps due only."""
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    params: dict = {"team": team_id, "first": first.isoformat(), "today": today.isoformat()}
    mine = ""
    if reps is not None:  # counted in SQL, so twelve weeks of a big team come back as a few hundred rows
        if not reps:
            return []
        names = sorted(reps)
        mine = f" AND COALESCE(n.assignee_id, d.owner_id) IN ({', '.join(f':rep{i}' for i in range(len(names)))})"
        params |= {f"rep{i}": rep for i, rep in enumerate(names)}
    rows = query(
        db,
        f"""
        SELECT n.due_date, n.status, d.status AS deal_status, COUNT(*) AS steps
        FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status != 'deleted' AND n.status IN ({sql_list(COUNTED)})
          AND n.due_date >= :first AND n.due_date <= :today{mine}
        GROUP BY n.due_date, n.status, d.status
        """,
        params,
    )
    done: Counter[date] = Counter()
    total: Counter[date] = Counter()
    for row in rows:
        due = date.fromisoformat(row["due_date"])
        week = due - timedelta(days=due.weekday())
        if row["status"] in ("done", "skipped") or is_overdue(row["status"], row["deal_status"], due, today):
            total[week] += row["steps"]
        if row["status"] == "done":
            done[week] += row["steps"]
    return [WeekRate(week, done[week], total[week]) for week in sorted(total) if total[week]]
