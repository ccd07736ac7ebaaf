"""Does the coaching work? For the deals closed in a period, what happened to those whose early steps (the Affirm
stage) were done on time, against those whose early steps were late or missed. Pure queries, no Slack.

A deal's early steps were on time when every Affirm step due so far was done by the end of its due day (in the
team's zone; skipped steps don't count either way); late or missed when any was done after its day or is still
owed past it (for a cancelled deal: was owed past it when the deal was cancelled); a deal with no Affirm step due
yet is left out (too early to tell). A deleted capture is no deal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

import sqlite_utils

from bot.deals.model import OPEN
from bot.storage import query
from bot.timestamps import parse_stamp, stamp

ON_TIME, LATE = "on time", "late or missed"
OUTCOMES = ("cancelled", "testimonial", "referral", "live_on_time")
SMALL = 10  # fewer deals than this in a group: the numbers can't tell coaching from luck


@dataclass
class Group:
    deals: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    def rate(self, outcome: str) -> float | None:
        return self.outcomes[outcome] / self.deals if self.deals else None


@dataclass(frozen=True)
class Comparison:
    since: date
    until: date
    on_time: Group
    late: Group
    too_early: int  # deals with no early step due yet
    go_live_days: int

    def margin(self, outcome: str) -> float | None:
        """Half-width, in points of share, of a rough 95% interval for the difference between the two groups'
        rates of `outcome` (the normal approximation with a pooled rate); None without deals in both."""
        a, b = self.on_time, self.late
        if not a.deals or not b.deals:
            return None
        pooled = (a.outcomes[outcome] + b.outcomes[outcome]) / (a.deals + b.deals)
        pooled = min(max(pooled, 0.05), 0.95)  # a rate of 0 or 1 in a small sample is no certainty either
        return 1.96 * math.sqrt(pooled * (1 - pooled) * (1 / a.deals + 1 / b.deals))


def compare(
    db: sqlite_utils.Database,
    *,
    since: date,
    until: date,
    today: date,
    tz: tzinfo,
    go_live_days: int,
    team_id: str | None = None,
    reps: frozenset[str] | None = None,
) -> Comparison:
    """The comparison for deals closed from `since` to `until` (both included), in one workspace or all, as of
    `today` (steps due before it count as due)."""
    where = "d.close_date >= :since AND d.close_date <= :until AND d.status IN ('open', 'cancelled')"
    params: dict = {"since": since.isoformat(), "until": until.isoformat()}
    if team_id is not None:
        where += " AND d.team_id = :team"
        params["team"] = team_id
    deals = query(
        db,
        f"SELECT d.id, d.owner_id, d.status, d.close_date, d.live_at, d.cancelled_at FROM deals d WHERE {where}",
        params,
    )
    if reps is not None:
        deals = [d for d in deals if d["owner_id"] in reps]
    steps = query(
        db,
        f"SELECT n.deal_id, n.stage, n.status, n.due_date, n.resolved_at, n.outcome FROM nudges n "
        f"JOIN deals d ON d.id = n.deal_id WHERE {where}",
        params,
    )
    by_deal: dict[int, list[dict]] = {}
    for s in steps:
        by_deal.setdefault(s["deal_id"], []).append(s)
    on_time, late, too_early = Group(), Group(), 0
    for d in deals:
        ended = parse_stamp(d["cancelled_at"]).astimezone(tz).date() if d["cancelled_at"] else today
        verdict = _early_steps(by_deal.get(d["id"], []), today=min(today, ended), tz=tz)
        if verdict is None:
            too_early += 1
            continue
        group = on_time if verdict == ON_TIME else late
        group.deals += 1
        for outcome, happened in _outcomes(d, by_deal.get(d["id"], []), tz=tz, go_live_days=go_live_days).items():
            group.outcomes[outcome] += happened
    return Comparison(since, until, on_time, late, too_early, go_live_days)


def _early_steps(steps: list[dict], *, today: date, tz: tzinfo) -> str | None:
    """ON_TIME, LATE, or None when no early step was due before `today` (for a cancelled deal, its cancel day:
    a step it still owed past its day then was missed, one due later never came)."""
    due = [s for s in steps if s["stage"] == "affirm" and s["status"] != "skipped"]
    due = [s for s in due if s["due_date"] < today.isoformat() or s["status"] == "done"]
    if not due:
        return None
    for s in due:
        if s["status"] in OPEN or s["status"] == "cancelled":
            return LATE
        if s["status"] == "done":
            deadline = stamp(datetime.combine(date.fromisoformat(s["due_date"]) + timedelta(days=1), time(), tzinfo=tz))
            if (s["resolved_at"] or "") >= deadline:
                return LATE
    return ON_TIME


def _outcomes(deal: dict, steps: list[dict], *, tz: tzinfo, go_live_days: int) -> dict[str, bool]:
    received = set()
    for s in steps:
        if s["status"] == "done" and s["outcome"]:
            try:
                data = json.loads(s["outcome"])
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("result") == "received":
                received.add(data.get("kind"))
    live_on_time = False
    if deal["live_at"]:
        live_day = parse_stamp(deal["live_at"]).astimezone(tz).date()
        live_on_time = live_day <= date.fromisoformat(deal["close_date"]) + timedelta(days=go_live_days)
    return {
        "cancelled": deal["status"] == "cancelled",
        "testimonial": "testimonial" in received,
        "referral": "referral" in received,
        "live_on_time": live_on_time,
    }
