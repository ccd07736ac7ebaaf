"""What a manager's daily digest says, read from the database as of `now`: pure queries, no Slack.

Timestamps are compared with SQLite's julianday(), which understands any UTC offset, because deals and
nudges stamp their times with the offset of the clock that wrote them.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlite_utils

from bot.deals import Deal, row_to_deal

OPEN = ("planned", "sending", "posted", "undeliverable")  # not done, skipped or cancelled: still owed
RATE_DAYS = 30  # completion rate and testimonials/referrals look back this far
CHART_WEEKS = 8


@dataclass(frozen=True)
class AtRisk:
    """A deal the digest flags: a large deal with early touches overdue, a deal gone quiet, or both."""

    deal: Deal
    overdue_affirm: int = 0
    oldest_overdue: date | None = None
    quiet_since: datetime | None = None  # the last touch done, or the capture, when nothing was done since

    @property
    def large(self) -> bool:
        return self.overdue_affirm > 0


@dataclass(frozen=True)
class RepStats:
    rep_id: str
    done: int  # since the last digest
    overdue: int
    due_today: int
    done_30: int
    skipped_30: int
    overdue_30: int

    @property
    def rate(self) -> float | None:
        """done / (done + skipped + overdue) among the steps due in the last 30 days; None without any."""
        total = self.done_30 + self.skipped_30 + self.overdue_30
        return self.done_30 / total if total else None


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


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _rows(db: sqlite_utils.Database, sql: str, params: dict) -> list[dict]:
    cursor = db.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]


def _open_marks() -> str:
    return ", ".join(f"'{s}'" for s in OPEN)


def gather(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    now: datetime,
    today: date,
    since: datetime | None,
    large_deal: Decimal,
    quiet_days: int,
) -> Digest:
    """Everything one digest shows, as of `now`; `today` is the reader's local date, `since` their last digest."""
    first = since is None
    start = now - timedelta(hours=24) if since is None else since
    reasons, reasons_total = win_reasons(db, team_id=team_id)
    return Digest(
        today=today,
        now=now,
        since=start,
        first=first,
        at_risk=at_risk(db, team_id=team_id, now=now, today=today, large_deal=large_deal, quiet_days=quiet_days),
        closed=closed_since(db, team_id=team_id, since=start, now=now),
        reps=rep_stats(db, team_id=team_id, today=today, since=start, now=now),
        reasons=reasons,
        reasons_total=reasons_total,
        outcomes=outcomes_received(db, team_id=team_id, now=now),
        cancelled=cancelled_since(db, team_id=team_id, since=start, now=now),
        weeks=weekly_completion(db, team_id=team_id, today=today),
    )


def at_risk(
    db: sqlite_utils.Database, *, team_id: str, now: datetime, today: date, large_deal: Decimal, quiet_days: int
) -> list[AtRisk]:
    """Large deals whose affirm-stage touches are overdue (oldest first), then deals gone quiet (longest first)."""
    overdue = _rows(
        db,
        f"""
        SELECT d.*, COUNT(n.id) AS overdue_affirm, MIN(n.due_date) AS oldest_overdue
        FROM deals d JOIN nudges n ON n.deal_id = d.id
        WHERE d.team_id = :team AND d.status = 'open' AND n.stage = 'affirm'
          AND n.status IN ({_open_marks()}) AND n.due_date < :today
        GROUP BY d.id
        """,
        {"team": team_id, "today": today.isoformat()},
    )
    cutoff = _stamp(now - timedelta(days=quiet_days))
    quiet = _rows(
        db,
        f"""
        SELECT d.*, (SELECT MAX(julianday(m.resolved_at)) FROM nudges m
                     WHERE m.deal_id = d.id AND m.status = 'done') AS last_done_jd
        FROM deals d
        WHERE d.team_id = :team AND d.status = 'open' AND julianday(d.created_at) <= julianday(:cutoff)
          AND NOT EXISTS (SELECT 1 FROM nudges n WHERE n.deal_id = d.id AND n.status = 'done'
                          AND julianday(n.resolved_at) > julianday(:cutoff))
          AND EXISTS (SELECT 1 FROM nudges n WHERE n.deal_id = d.id AND n.status IN ({_open_marks()}))
        """,
        {"team": team_id, "cutoff": cutoff},
    )
    flagged: dict[int, AtRisk] = {}
    for row in overdue:
        deal = row_to_deal(row)
        if deal.fields.money.amount >= large_deal:
            flagged[deal.id] = AtRisk(deal, row["overdue_affirm"], date.fromisoformat(row["oldest_overdue"]))
    for row in quiet:
        deal = row_to_deal(row)
        since = _from_julian(row["last_done_jd"]) if row["last_done_jd"] else _aware(deal.created_at)
        earlier = flagged.get(deal.id)
        flagged[deal.id] = AtRisk(
            deal,
            earlier.overdue_affirm if earlier else 0,
            earlier.oldest_overdue if earlier else None,
            quiet_since=since,
        )
    large = sorted(
        (r for r in flagged.values() if r.large),
        key=lambda r: (r.oldest_overdue, -r.deal.fields.money.amount, r.deal.id),
    )
    quiet_only = sorted((r for r in flagged.values() if not r.large), key=lambda r: (r.quiet_since, r.deal.id))
    return large + quiet_only


def _from_julian(jd: float) -> datetime:
    """julianday() back to an aware UTC instant, to the second (stamps are stored to the second)."""
    return datetime.fromtimestamp(round((jd - 2440587.5) * 86400), UTC)


def _aware(stamp: str) -> datetime:
    """A stored stamp as an aware datetime; one written without an offset is UTC, as julianday() reads it."""
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def closed_since(db: sqlite_utils.Database, *, team_id: str, since: datetime, now: datetime) -> list[Deal]:
    """Deals captured after `since`, newest first."""
    rows = _rows(
        db,
        """
        SELECT * FROM deals
        WHERE team_id = :team AND julianday(created_at) > julianday(:since) AND julianday(created_at) <= julianday(:now)
        ORDER BY julianday(created_at) DESC, id DESC
        """,
        {"team": team_id, "since": _stamp(since), "now": _stamp(now)},
    )
    return [row_to_deal(r) for r in rows]


def cancelled_since(db: sqlite_utils.Database, *, team_id: str, since: datetime, now: datetime) -> list[Deal]:
    """Deals cancelled after `since`, newest first, with who and why on the deal."""
    rows = _rows(
        db,
        """
        SELECT * FROM deals
        WHERE team_id = :team AND status = 'cancelled'
          AND julianday(cancelled_at) > julianday(:since) AND julianday(cancelled_at) <= julianday(:now)
        ORDER BY julianday(cancelled_at) DESC, id DESC
        """,
        {"team": team_id, "since": _stamp(since), "now": _stamp(now)},
    )
    return [row_to_deal(r) for r in rows]


def rep_stats(
    db: sqlite_utils.Database, *, team_id: str, today: date, since: datetime, now: datetime
) -> list[RepStats]:
    """Per rep (the step's assignee, else the deal's owner): the most overdue first."""
    window = (today - timedelta(days=RATE_DAYS)).isoformat()
    rows = _rows(
        db,
        f"""
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep,
          SUM(n.status = 'done' AND julianday(n.resolved_at) > julianday(:since)
              AND julianday(n.resolved_at) <= julianday(:now)) AS done,
          SUM(d.status = 'open' AND n.status IN ({_open_marks()}) AND n.due_date < :today) AS overdue,
          SUM(d.status = 'open' AND n.status IN ({_open_marks()}) AND n.due_date = :today) AS due_today,
          SUM(n.due_date > :window AND n.due_date <= :today AND n.status = 'done') AS done_30,
          SUM(n.due_date > :window AND n.due_date <= :today AND n.status = 'skipped') AS skipped_30,
          SUM(n.due_date > :window AND n.due_date < :today AND d.status = 'open'
              AND n.status IN ({_open_marks()})) AS overdue_30
        FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team
        GROUP BY rep
        """,
        {"team": team_id, "today": today.isoformat(), "since": _stamp(since), "now": _stamp(now), "window": window},
    )
    stats = [
        RepStats(
            r["rep"],
            *(int(r[k] or 0) for k in ("done", "overdue", "due_today", "done_30", "skipped_30", "overdue_30")),
        )
        for r in rows
    ]
    active = [s for s in stats if s.done or s.overdue or s.due_today or s.rate is not None]
    return sorted(active, key=lambda s: (-s.overdue, -s.due_today, s.rate if s.rate is not None else 2.0, s.rep_id))


def normalise_reason(text: str) -> str:
    """Case, punctuation and spacing don't make a different reason: "Price!" and " price " are one."""
    kept = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text.casefold())
    return " ".join(kept.split())


def _outcomes(db: sqlite_utils.Database, team_id: str, extra: str = "", params: dict | None = None) -> list[dict]:
    return _rows(
        db,
        f"""
        SELECT n.outcome, n.resolved_by, n.resolved_at, d.*
        FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND n.status = 'done' AND n.outcome IS NOT NULL {extra}
        ORDER BY julianday(n.resolved_at) DESC, n.id DESC
        """,
        {"team": team_id, **(params or {})},
    )


def _load(outcome: str) -> dict:
    try:
        data = json.loads(outcome)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def win_reasons(db: sqlite_utils.Database, *, team_id: str, top: int = 5) -> tuple[list[Reason], int]:
    """The most recurring reasons buyers gave in win analyses (top `top`), and how many were recorded."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for row in _outcomes(db, team_id):
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
        "AND julianday(n.resolved_at) > julianday(:from) AND julianday(n.resolved_at) <= julianday(:now)",
        {"from": _stamp(now - timedelta(days=RATE_DAYS)), "now": _stamp(now)},
    )
    for row in rows:
        data = _load(row["outcome"])
        if data.get("kind") in ("testimonial", "referral") and data.get("result") == "received":
            detail = data.get("detail") if isinstance(data.get("detail"), str) else None
            at = _aware(row["resolved_at"])
            found.append(Outcome(row_to_deal(row), data["kind"], detail, row["resolved_by"], at))
    return found


def weekly_completion(
    db: sqlite_utils.Database, *, team_id: str, today: date, weeks: int = CHART_WEEKS
) -> list[WeekRate]:
    """The team's completion rate per week (Monday to Sunday) over the last `weeks`, weeks with steps due only."""
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    rows = _rows(
        db,
        """
        SELECT n.due_date, n.status, d.status AS deal_status
        FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND n.due_date >= :first AND n.due_date <= :today
        """,
        {"team": team_id, "first": first.isoformat(), "today": today.isoformat()},
    )
    done: Counter[date] = Counter()
    total: Counter[date] = Counter()
    for row in rows:
        due = date.fromisoformat(row["due_date"])
        week = due - timedelta(days=due.weekday())
        overdue = row["status"] in OPEN and row["deal_status"] == "open" and due < today
        if row["status"] in ("done", "skipped") or overdue:
            total[week] += 1
        done[week] += row["status"] == "done"
    return [WeekRate(week, done[week], total[week]) for week in sorted(total) if total[week]]
