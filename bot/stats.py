"""Team stats: how a manager's team is doing, read one way for the daily digest and the Home tab alike.

One definition of each notion, here: a step is on its rep's list by `ACTIONABLE` (still coming or on screen)
and open (still owed) by `OPEN` (both defined with the step model in bot/deals/model.py, re-exported here: the
digest and Home take the step-status groupings they rely on from this module), overdue once its due date has
passed while its deal is open (`OVERDUE`, `is_overdue`), a deal at risk as `at_risk` says (its health is
`bot.health.rules`, the one definition the asks' gate uses too), and completion is
done / (done + skipped + overdue) (`completion`). Which steps a click may still resolve is the nudge ledger's
rule (`bot.nudges.ledger.RESOLVABLE`), not a stat. Pure queries, no Slack. Times are stored as UTC stamps
(migration 9 made the earliest rows so too), so comparing the strings compares the instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple

import sqlite_utils

from bot.deals.model import ACTIONABLE, OPEN, Deal, deals_by_id, sql_list
from bot.health.rules import UNHEALTHY_STEP
from bot.nudges.ledger import MISSED, first_due_within_window
from bot.signals.model import TOUCH
from bot.storage import query
from bot.timestamps import parse_stamp, stamp

__all__ = [
    "ACTIONABLE",
    "COUNTED",
    "OPEN",
    "OVERDUE",
    "RATE_DAYS",
    "AtRisk",
    "RepStats",
    "at_risk",
    "completion",
    "is_overdue",
    "rep_stats",
]
RATE_DAYS = 30  # the completion rate looks back this far
# The only statuses completion counts (done, skipped, or still owed: overdue once past due); a query over a window of
# due dates may read just these, through the (status, due_date) index.
COUNTED = ("done", "skipped", *OPEN)
# A step still owed on an open deal past its due date (SQL over nudges `n` joined to deals `d`, with :today).
OVERDUE = f"d.status = 'open' AND n.status IN ({sql_list(OPEN)}) AND n.due_date < :today"


def is_overdue(step_status: str, deal_status: str, due: date, today: date) -> bool:
    """OVERDUE, for a row already read."""
    return step_status in OPEN and deal_status == "open" and due < today


def completion(done: int, skipped: int, overdue: int) -> float | None:
    """The share of steps due that were done: done / (done + skipped + overdue); None without any."""
    total = done + skipped + overdue
    return done / total if total else None


@dataclass(frozen=True)
class AtRisk:
    """A deal worth a manager's look: a large deal that isn't healthy (early touches overdue), a deal gone quiet,
    or both."""

    deal: Deal
    overdue_early: int = 0  # early steps overdue: why bot.health.rules calls the deal unhealthy (missed included)
    oldest_overdue: date | None = None
    quiet_since: datetime | None = None  # the last touch done, or the capture, when nothing was done since
    missed_early: int = 0  # of overdue_early, those past their window (missed, counted once), not owed
    oldest_owed: date | None = None  # the oldest of those still owed

    @property
    def owed_early(self) -> int:
        return self.overdue_early - self.missed_early

    @property
    def large(self) -> bool:
        return self.overdue_early > 0


@dataclass(frozen=True)
class RepStats:
    """One rep's follow-ups; a step counts for whoever must do it (its assignee, else the deal's owner)."""

    rep_id: str
    done: int  # since the `since` asked about (none without one)
    overdue: int
    due_today: int
    done_30: int
    skipped_30: int
    overdue_30: int
    open_deals: int = 0  # open deals the rep owns

    @property
    def rate(self) -> float | None:
        """completion() of the steps due in the last 30 days."""
        return completion(self.done_30, self.skipped_30, self.overdue_30)

    @property
    def busy(self) -> bool:
        """Anything to say about the rep's follow-ups (open deals aside)."""
        return bool(self.done or self.overdue or self.due_today or self.rate is not None)


AT_RISK_KEPT = 25  # the most deals at risk a list shows (the digest's 10, Home's 25): the rest are only counted


class Risks(NamedTuple):
    """The deals at risk a list shows (`items`, deals built) and how many there are in all (`total`)."""

    items: list[AtRisk]
    total: int


def at_risk(
    db: sqlite_utils.Database,
    *,
    team_id: str,
    now: datetime,
    today: date,
    large_deal: Decimal,
    quiet_days: int,
    reps: frozenset[str] | set[str] | None = None,
    limit: int | None = None,
    windows: dict[str, int] | None = None,
) -> Risks:
    """Large deals that aren't healthy (bot.health.rules: early touches overdue; oldest first), then deals gone quiet
    (longest first): no step done and no touch logged (a call or meeting outside the plan) for `quiet_days`. Of the
    early touches, those past their window (the playbook's `windows`, the reminder's rule) are told apart as missed.
    Only deals owned by `reps` (None: everyone's); the first `limit` are built as deals, the rest only counted."""
    # Narrow rows (ids, owners, amounts, why) are ranked first, so only the deals a list shows are built: a team of
    # 10,000 deals may have thousands gone quiet, and a digest shows a handful.
    first_due, params = first_due_within_window(windows or {}, today, "risk")
    missed = f"(n.status = '{MISSED}' OR n.due_date < {first_due})"
    sick = query(
        db,
        f"""
        SELECT d.id, d.owner_id, d.amount, COUNT(n.id) AS overdue_early, MIN(n.due_date) AS oldest_overdue,
               COUNT(CASE WHEN {missed} THEN 1 END) AS missed_early,
               MIN(CASE WHEN NOT {missed} THEN n.due_date END) AS oldest_owed
        FROM deals d JOIN nudges n ON n.deal_id = d.id
        WHERE d.team_id = :team AND {UNHEALTHY_STEP}
        GROUP BY d.id, d.owner_id, d.amount
        """,
        {"team": team_id, "today": today.isoformat(), **params},
    )
    cutoff = stamp(now - timedelta(days=quiet_days))
    quiet = query(
        db,
        f"""
        SELECT d.id, d.owner_id, d.amount, d.created_at,
               (SELECT MAX(m.resolved_at) FROM nudges m WHERE m.deal_id = d.id AND m.status = 'done') AS last_done,
               (SELECT MAX(s.happened_on) FROM signals s WHERE s.deal_id = d.id AND s.kind = :touch) AS last_touch
        FROM deals d
        WHERE d.team_id = :team AND d.status = 'open' AND d.created_at <= :cutoff
          AND NOT EXISTS (SELECT 1 FROM nudges n WHERE n.deal_id = d.id AND n.status = 'done'
                          AND n.resolved_at > :cutoff)
          AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.deal_id = d.id AND s.kind = :touch
                          AND s.happened_on > :cutoff_day)
          AND EXISTS (SELECT 1 FROM nudges n WHERE n.deal_id = d.id AND n.status IN ({sql_list(OPEN)}))
        """,
        {
            "team": team_id,
            "cutoff": cutoff,
            "touch": TOUCH,
            "cutoff_day": (today - timedelta(days=quiet_days)).isoformat(),
        },
    )
    # deal id -> what AtRisk says of it but the deal, for the deals of the reps asked about
    why: dict[int, dict] = {}
    amounts: dict[int, Decimal] = {}
    for row in sick:
        amount = Decimal(row["amount"])  # as the deal's Money amount: compared exactly
        if amount >= large_deal and (reps is None or row["owner_id"] in reps):
            amounts[row["id"]] = amount
            why[row["id"]] = {
                "overdue_early": row["overdue_early"],
                "oldest_overdue": date.fromisoformat(row["oldest_overdue"]),
                "missed_early": row["missed_early"],
                "oldest_owed": date.fromisoformat(row["oldest_owed"]) if row["oldest_owed"] else None,
            }
    for row in quiet:
        if reps is not None and row["owner_id"] not in reps:
            continue
        since = parse_stamp(row["last_done"] or row["created_at"])
        if row["last_touch"]:  # a call or meeting logged outside the plan is a touch too (Log a touch)
            since = max(since, datetime.combine(date.fromisoformat(row["last_touch"]), time(), tzinfo=since.tzinfo))
        amounts.setdefault(row["id"], Decimal(row["amount"]))
        why.setdefault(row["id"], {})["quiet_since"] = since
    large = sorted(
        (k for k, v in why.items() if v.get("overdue_early")),
        key=lambda k: (why[k]["oldest_overdue"], -amounts[k], k),
    )
    quiet_only = sorted(
        (k for k, v in why.items() if not v.get("overdue_early")), key=lambda k: (why[k]["quiet_since"], k)
    )
    ranked = (large + quiet_only)[:limit] if limit is not None else large + quiet_only
    deals = deals_by_id(db, ranked)
    return Risks([AtRisk(deals[k], **why[k]) for k in ranked if k in deals], len(why))


def _count(condition: str) -> str:
    """How many rows of the group meet `condition`, in SQL any engine reads (no summed booleans)."""
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def rep_stats(
    db: sqlite_utils.Database, *, team_id: str, today: date, now: datetime, since: datetime | None = None
) -> list[RepStats]:
    """Every rep with an open deal or a follow-up to speak of: most overdue, then most due today, lowest rate first.

    `done` counts the steps done after `since` (the last digest); without a `since` it is 0. Only the rows some count
    may take are grouped (owed by today, due in the window, or done since): a rep's history stays out of the sort."""
    window = (today - timedelta(days=RATE_DAYS)).isoformat()
    rows = query(
        db,
        f"""
        SELECT COALESCE(n.assignee_id, d.owner_id) AS rep,
          {_count("n.status = 'done' AND n.resolved_at > :since AND n.resolved_at <= :now")} AS done,
          {_count(OVERDUE)} AS overdue,
          {_count(f"d.status = 'open' AND n.status IN ({sql_list(OPEN)}) AND n.due_date = :today")} AS due_today,
          {_count("n.due_date > :window AND n.due_date <= :today AND n.status = 'done'")} AS done_30,
          {_count("n.due_date > :window AND n.due_date <= :today AND n.status = 'skipped'")} AS skipped_30,
          {_count(f"n.due_date > :window AND {OVERDUE}")} AS overdue_30
        FROM nudges n JOIN deals d ON d.id = n.deal_id
        WHERE d.team_id = :team AND d.status != 'deleted'
          AND ((n.status IN ({sql_list(OPEN)}) AND n.due_date <= :today)
            OR (n.status IN ('done', 'skipped') AND n.due_date > :window AND n.due_date <= :today)
            OR (n.status = 'done' AND n.resolved_at > :since))
        GROUP BY rep
        """,
        {
            "team": team_id,
            "today": today.isoformat(),
            "since": stamp(since if since is not None else now),  # after now and by now: nothing
            "now": stamp(now),
            "window": window,
        },
    )
    owned = query(
        db,
        "SELECT owner_id AS rep, COUNT(*) AS open_deals FROM deals WHERE team_id = ? AND status = 'open' "
        "GROUP BY owner_id",
        [team_id],
    )
    open_deals = {r["rep"]: r["open_deals"] for r in owned}
    counts = ("done", "overdue", "due_today", "done_30", "skipped_30", "overdue_30")
    steps = {r["rep"]: [int(r[k] or 0) for k in counts] for r in rows}
    stats = [
        RepStats(rep, *steps.get(rep, [0] * len(counts)), open_deals=open_deals.get(rep, 0))
        for rep in steps.keys() | open_deals.keys()
    ]
    active = [s for s in stats if s.busy or s.open_deals]
    return sorted(active, key=lambda s: (-s.overdue, -s.due_today, s.rate if s.rate is not None else 2.0, s.rep_id))
