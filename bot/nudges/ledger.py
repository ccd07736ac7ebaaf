"""Nudge lifecycle in SQL: claim, confirm, release, reconcile, and the rep's Done/Snooze/Skip/Reassign.

Every change is a conditional UPDATE on the current status, so two dispatchers or a double click can
never both win: the loser changes nothing and learns what happened instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlite_utils

from bot.deals.model import Deal, Nudge, get_deal, nudge_from_row, row_to_deal
from bot.playbook.loader import Step
from bot.slack.ids import is_user_id
from bot.storage import for_update, insert, insert_many, query, query_one
from bot.timestamps import stamp

MAX_PER_MESSAGE = 8  # steps gathered into one message for one deal; the rest follow on the next tick
# Steps a click (Done, Skip, Reassign) may still resolve: posted, or not yet (a rep who did it early). Narrower than
# bot.stats.ACTIONABLE, which also counts a step being posted right now as on the rep's list.
RESOLVABLE = ("planned", "posted")


NUDGES, ANNOUNCEMENT, WIN = "nudges", "announcement", "win"
MISSED = "missed"  # a step whose window passed before it could be posted: listed in the catch-up, counted


def is_ask(step: Step | None) -> bool:
    """A step that asks the buyer for something (the playbook's `ask = true`: a testimonial, referrals): never two
    at once. The one place that says so."""
    return step is not None and step.ask


def is_stale(step: Step | None, due: date, today: date) -> bool:
    """Its moment has passed: more than its playbook `window` of days since it fell due."""
    return step is not None and step.window is not None and (today - due).days > step.window


# For the managers (bot.signals.watch, the reps' overdue counts): a late step without a window is missed this many
# days after it fell due; one with a window, once its window passes (is_stale's rule).
MISSED_AFTER = 14


def within_window(windows: dict[str, int], step_id: str, due: date, today: date) -> bool:
    """Still worth doing on `today`: no more than its window (or MISSED_AFTER) days since it fell due. Past it, the
    step is missed (bot.signals.watch counts it once), not owed."""
    return (today - due).days <= windows.get(step_id, MISSED_AFTER)


def windows(steps: Iterable[Step]) -> dict[str, int]:
    """Each playbook step's window (days after it falls due that it is still worth doing), for those that have one."""
    return {step.id: step.window for step in steps if step.window is not None}


def first_due_within_window(windows: dict[str, int] | None, day: date, name: str) -> tuple[str, dict]:
    """SQL for the earliest due date a step `n` may have and still be within its window on `day` (its window from
    `windows`, by step id, else MISSED_AFTER), with its parameters named after `name`: is_stale's rule as one CASE
    over the playbook's steps, so the database compares. `:{name}_floor`, the earliest of them all, is a constant
    bound a query may add so the due-date index reads only the dates that can qualify."""
    longest = max([MISSED_AFTER, *(windows or {}).values()])
    params = {
        f"{name}_default": (day - timedelta(days=MISSED_AFTER)).isoformat(),
        f"{name}_floor": (day - timedelta(days=longest)).isoformat(),
    }
    cases = []
    for i, (step_id, days) in enumerate(sorted((windows or {}).items())):
        params[f"{name}_step{i}"] = step_id
        params[f"{name}_due{i}"] = (day - timedelta(days=days)).isoformat()
        cases.append(f"WHEN :{name}_step{i} THEN CAST(:{name}_due{i} AS TEXT)")
    default = f"CAST(:{name}_default AS TEXT)"
    return (f"CASE n.step_id {' '.join(cases)} ELSE {default} END" if cases else default), params


# The deal's announcement isn't settled (being posted, unknown, or waiting for a retry): its nudges wait.
# `{deal}` is the SQL naming the deal: a parameter, or a column of the outer query.
UNSETTLED_ANNOUNCEMENT = (
    "SELECT 1 FROM posts a WHERE a.deal_id = {deal} AND a.kind = 'announcement' "
    "AND a.status IN ('sending', 'unconfirmed', 'retry')"
)
ANNOUNCING = UNSETTLED_ANNOUNCEMENT.format(deal="?")


@dataclass(frozen=True)
class Post:
    """One Slack message that must appear once: a deal's due nudges (kind NUDGES, one row per attempt), or the
    deal's announcement (kind ANNOUNCEMENT, one row per deal, tried again until it is posted). Its id travels in
    the message metadata.

    status: sending (claimed; lease_at is when), unconfirmed (a timeout or 5xx: the history decides), posted,
    failed (not posted: a nudge attempt whose steps went back to planned, or an announcement whose channel
    can't be reached), retry (an announcement waiting to be posted again from lease_at)."""

    id: int
    deal_id: int
    channel_id: str
    status: str
    ts: str | None
    late: bool
    claimed_at: str
    lease_at: str
    kind: str = NUDGES
    attempts: int = 0
    searched_to: str | None = None  # how far down its window a history search has read
    thread_ts: str | None = None  # a reply in this thread (the deal's message): its reconcile reads the replies
    win: str | None = None  # kind WIN: what the team celebrates (testimonial, referral, live)
    sent_to: str | None = None  # a post sent by DM: to whom (the deal's owner then); its links are theirs only


def post_from_row(row: dict) -> Post:
    return Post(
        id=row["id"],
        deal_id=row["deal_id"],
        channel_id=row["channel_id"],
        status=row["status"],
        ts=row["ts"],
        late=bool(row["late"]),
        claimed_at=row["claimed_at"],
        lease_at=row["lease_at"],
        kind=row.get("kind") or NUDGES,
        attempts=row.get("attempts") or 0,
        searched_to=row.get("searched_to"),
        thread_ts=row.get("thread_ts"),
        win=row.get("win"),
        sent_to=row.get("sent_to"),
    )


DUE_DEALS = f"""
WITH due AS MATERIALIZED (  -- apart, so the planner reads only the due steps, however many nudges there are
  SELECT deal_id, due_date FROM nudges
  WHERE status = 'planned' AND due_date <= :today
    AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
)
SELECT due.deal_id, MIN(due.due_date) AS oldest
FROM due JOIN deals d ON d.id = due.deal_id
WHERE d.status = 'open'
  AND NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.team_id = d.team_id AND w.active = 0)
  AND NOT EXISTS ({UNSETTLED_ANNOUNCEMENT.format(deal="d.id")})  -- a deal's nudges wait for its announcement
GROUP BY due.deal_id
ORDER BY oldest, due.deal_id
LIMIT :limit
"""


def due_deal_ids(db: sqlite_utils.Database, *, today: date, now: datetime, limit: int = 500) -> list[int]:
    """Deals with steps due by today and ready to try, the longest-waiting first."""
    rows = db.execute(DUE_DEALS, {"today": today.isoformat(), "now": stamp(now), "limit": limit}).fetchall()
    return [r[0] for r in rows]


Where = Callable[[Deal], tuple[str, str | None]]  # a deal -> (channel or user id, thread ts or None)


def claim(
    db: sqlite_utils.Database,
    deal_id: int,
    *,
    today: date,
    now: datetime,
    is_late: Callable[[date, str], bool],
    where: Where | None = None,
    steps: dict[str, Step] | None = None,
) -> tuple[Post, Deal, list[Nudge]] | None:
    """Inside a write transaction: take this deal's due steps for one message, or None if another took them.
    `where`: the message's destination (default: the deal's channel, top level). With the playbook's `steps`, a
    step past its window is recorded as missed (and listed in the message), and only one ask goes out at a time:
    a later one waits until the deal has no ask open."""
    # The steps read here are still 'planned' when the post and its post_nudges rows are written: on SQLite because
    # one write transaction is let in at a time; on PostgreSQL because the SELECT locks them (FOR UPDATE SKIP
    # LOCKED: another instance's claim skips them, and a row it claimed meanwhile is re-read as 'sending' and left).
    deal = get_deal(db, deal_id)
    if deal is None or deal.status != "open":
        return None
    due = query(
        db,
        "SELECT * FROM nudges WHERE deal_id = ? AND status = 'planned' AND due_date <= ? "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
        f"AND NOT EXISTS ({ANNOUNCING}) ORDER BY due_date, id{for_update(db)}",
        [deal_id, today.isoformat(), stamp(now), deal_id],
    )
    steps = steps or {}
    open_steps = query(
        db, "SELECT step_id FROM nudges WHERE deal_id = ? AND status IN ('sending', 'posted')", [deal_id]
    )
    asking = any(is_ask(steps.get(r["step_id"])) for r in open_steps)
    rows, missed = [], []
    for r in due:
        step = steps.get(r["step_id"])
        if is_stale(step, date.fromisoformat(r["due_date"]), today):
            missed.append(r)
        elif is_ask(step) and asking:
            continue  # one ask at a time: this one waits its own turn
        elif len(rows) < MAX_PER_MESSAGE:
            asking = asking or is_ask(step)
            rows.append(r)
    # missed steps a failed catch-up could not tell about yet: told in this one
    missed += query(
        db,
        "SELECT * FROM nudges n WHERE n.deal_id = ? AND n.status = 'missed' AND NOT EXISTS (SELECT 1 FROM posts p "
        "WHERE p.id = n.post_id AND p.status IN ('sending', 'unconfirmed', 'posted'))",
        [deal_id],
    )
    if not rows and not missed:
        return None
    late = any(is_late(date.fromisoformat(r["due_date"]), r["created_at"]) for r in rows + missed)
    channel_id, thread_ts = where(deal) if where else (deal.channel_id, None)
    post_row = {
        "deal_id": deal_id,
        "channel_id": channel_id,
        "thread_ts": thread_ts,
        "sent_to": channel_id if is_user_id(channel_id) else None,  # DEALCOACH_NUDGES_IN=dm: the owner
        "status": "sending",
        "ts": None,
        "late": int(late),
        "claimed_at": stamp(now),
        "lease_at": stamp(now),
    }
    post_id = insert(db, "posts", post_row)
    ids = [r["id"] for r in rows]
    insert_many(db, "post_nudges", [{"post_id": post_id, "nudge_id": r["id"]} for r in rows + missed])
    if ids:
        marks = ",".join("?" * len(ids))
        cur = db.execute(
            f"UPDATE nudges SET status = 'sending', post_id = ?, updated_at = ? WHERE id IN ({marks}) "
            "AND status = 'planned'",
            [post_id, stamp(now), *ids],
        )
        if cur.rowcount != len(ids):  # never with the lock above; if it ever were, nothing of this claim is kept
            raise RuntimeError(
                f"claim of deal #{deal_id}'s steps lost a race: {cur.rowcount} of {len(ids)} still planned"
            )
    if missed:
        marks = ",".join("?" * len(missed))
        db.execute(
            f"UPDATE nudges SET status = 'missed', post_id = ?, resolved_at = COALESCE(resolved_at, ?), updated_at = ? "
            f"WHERE id IN ({marks}) AND status IN ('planned', 'missed')",
            [post_id, stamp(now), stamp(now), *(r["id"] for r in missed)],
        )
    post = post_from_row({"id": post_id, **post_row})
    return post, deal, post_nudges(db, post_id)


def post_nudges(db: sqlite_utils.Database, post_id: int) -> list[Nudge]:
    return [
        nudge_from_row(r) for r in query(db, "SELECT * FROM nudges WHERE post_id = ? ORDER BY due_date, id", [post_id])
    ]


def get_post(db: sqlite_utils.Database, post_id: int) -> Post | None:
    row = query_one(db, "SELECT * FROM posts WHERE id = ?", [post_id])
    return post_from_row(row) if row else None


def confirm(
    db: sqlite_utils.Database, post_id: int, *, channel_id: str, ts: str, now: datetime, sent_to: str | None = None
) -> bool:
    """Record that Slack accepted the message; False if the post was no longer ours to confirm. `sent_to`: the
    person whose DM it went to, when it was claimed for a channel (the owner's DM when the channel failed)."""
    # One writer at a time: the conditional UPDATE's row count is the claim (a confirm racing a reconcile records
    # once), and the steps stay 'sending' until updated below, because SQLite lets one writer in at a time. With
    # concurrent writers, keep it one conditional UPDATE and lock the post's nudges (SELECT ... FOR UPDATE).
    cur = db.execute(
        "UPDATE posts SET status = 'posted', ts = ?, channel_id = ?, posted_at = ?, error = NULL, "
        "sent_to = COALESCE(?, sent_to) WHERE id = ? AND status IN ('sending', 'unconfirmed')",
        [ts, channel_id, stamp(now), sent_to, post_id],
    )
    if cur.rowcount != 1:
        return False
    db.execute(
        "UPDATE nudges SET status = 'posted', last_error = NULL, updated_at = ? WHERE post_id = ? AND status = 'sending'",
        [stamp(now), post_id],
    )
    return True


def release(db: sqlite_utils.Database, post_id: int, *, now: datetime, error: str, retry_at: datetime) -> None:
    """Slack surely did not post it: the steps go back to planned, to be tried again at `retry_at`."""
    db.execute(
        "UPDATE posts SET status = 'failed', error = ? WHERE id = ? AND status IN ('sending', 'unconfirmed')",
        [error, post_id],
    )
    db.execute(
        "UPDATE nudges SET status = 'planned', post_id = NULL, attempts = attempts + 1, next_attempt_at = ?, "
        "last_error = ?, updated_at = ? WHERE post_id = ? AND status = 'sending'",
        [stamp(retry_at), error, stamp(now), post_id],
    )


def mark_unconfirmed(
    db: sqlite_utils.Database,
    post_id: int,
    *,
    error: str,
    channel_id: str | None = None,
    searched_to: str | None = None,
) -> None:
    """We can't tell whether Slack posted it (a timeout, a 5xx): check the channel before trying again.
    `channel_id`: where it went, when not where it was claimed for (the owner's DM, never a thread); `searched_to`:
    how far a history search got, so the next one reads on from there."""
    db.execute(
        "UPDATE posts SET status = 'unconfirmed', error = ?, channel_id = COALESCE(?, channel_id), "
        "thread_ts = CASE WHEN CAST(? AS TEXT) IS NULL THEN thread_ts ELSE NULL END, "
        "sent_to = COALESCE(?, sent_to), searched_to = COALESCE(?, searched_to) WHERE id = ? AND status = 'sending'",
        [error, channel_id, channel_id, channel_id if is_user_id(channel_id) else None, searched_to, post_id],
    )


def mark_undeliverable(db: sqlite_utils.Database, post_id: int, *, now: datetime, error: str) -> None:
    db.execute("UPDATE posts SET status = 'failed', error = ? WHERE id = ?", [error, post_id])
    db.execute(
        "UPDATE nudges SET status = 'undeliverable', last_error = ?, updated_at = ? WHERE post_id = ? AND status = 'sending'",
        [error, stamp(now), post_id],
    )


def posts_to_settle(db: sqlite_utils.Database, *, now: datetime, lease: timedelta) -> list[Post]:
    """Posts whose outcome we never learned (marked unconfirmed, or still 'sending' long after a crash), and
    announcements waiting for another try whose time has come."""
    rows = query(
        db,
        # indexed lookups, sorted here: an OR, or ORDER BY in SQL, makes SQLite scan every post
        "SELECT * FROM posts WHERE status = 'unconfirmed' UNION ALL SELECT * FROM posts WHERE status = 'sending' "
        "AND lease_at < ? UNION ALL SELECT * FROM posts WHERE status = 'retry' AND lease_at <= ?",
        [stamp(now - lease), stamp(now)],
    )
    rows.sort(key=lambda r: r["id"])
    return [post_from_row(r) for r in rows]


def take_for_reconcile(db: sqlite_utils.Database, post: Post, *, now: datetime) -> bool:
    """Renew the claim only if nobody else did since we looked, so one dispatcher reconciles each post. The
    conditional UPDATE is the claim; its row count is exact because one writer at a time changes the row."""
    cur = db.execute(
        "UPDATE posts SET lease_at = ?, status = 'sending' WHERE id = ? AND status = ? AND lease_at = ?",
        [stamp(now), post.id, post.status, post.lease_at],
    )
    return cur.rowcount == 1


# -- what reps do with a posted nudge ---------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """The result of a click: whether it changed anything, and the nudge as it now stands."""

    changed: bool
    nudge: Nudge | None


def get_nudge(db: sqlite_utils.Database, nudge_id: int) -> Nudge | None:
    row = query_one(db, "SELECT * FROM nudges WHERE id = ?", [nudge_id])
    return nudge_from_row(row) if row else None


def _resolve(db, nudge_id: int, sets: str, params: list, *, allowed: tuple[str, ...]) -> Change:
    # A click counts once: the UPDATE's WHERE re-checks the status, and with one writer at a time the row count
    # says whether this click changed it, and get_nudge reads what it did.
    marks = ",".join("?" * len(allowed))
    cur = db.execute(f"UPDATE nudges SET {sets} WHERE id = ? AND status IN ({marks})", [*params, nudge_id, *allowed])
    return Change(cur.rowcount == 1, get_nudge(db, nudge_id))


def mark_done(
    db: sqlite_utils.Database, nudge_id: int, *, actor: str, now: datetime, outcome: dict | None = None
) -> Change:
    at = stamp(now)
    return _resolve(
        db,
        nudge_id,
        "status = 'done', resolved_by = ?, resolved_at = ?, outcome = ?, updated_at = ?",
        [actor, at, json.dumps(outcome) if outcome else None, at],
        allowed=RESOLVABLE,
    )


def answer(db: sqlite_utils.Database, nudge_id: int, *, actor: str, now: datetime, note: str) -> Change:
    """A question step answered (the go-live question): done, with the answer as its note."""
    at = stamp(now)
    return _resolve(
        db,
        nudge_id,
        "status = 'done', resolved_by = ?, resolved_at = ?, note = ?, updated_at = ?",
        [actor, at, note, at],
        allowed=RESOLVABLE,
    )


def mark_skipped(db: sqlite_utils.Database, nudge_id: int, *, actor: str, now: datetime, reason: str | None) -> Change:
    at = stamp(now)
    return _resolve(
        db,
        nudge_id,
        "status = 'skipped', resolved_by = ?, resolved_at = ?, note = ?, updated_at = ?",
        [actor, at, reason, at],
        allowed=RESOLVABLE,
    )


def snooze(db: sqlite_utils.Database, nudge_id: int, *, actor: str, now: datetime, until: date, today: date) -> Change:
    """Back to planned with a later due date; a fresh message follows then. The old message says so.
    A step not yet posted may be snoozed too, unless an earlier snooze still holds: a double click moves it once."""
    at = stamp(now)
    # One writer at a time: the conditional UPDATE's row count is the claim (a double click snoozes once), exact
    # because SQLite lets one writer in at a time. With concurrent writers it must stay one UPDATE ... WHERE, so
    # the row lock re-checks the status.
    cur = db.execute(
        "UPDATE nudges SET status = 'planned', due_date = ?, snoozed_until = ?, snoozed_by = ?, post_id = NULL, "
        "next_attempt_at = NULL, updated_at = ? WHERE id = ? AND (status = 'posted' OR (status = 'planned' "
        "AND (snoozed_until IS NULL OR snoozed_until <= ?)))",
        [until.isoformat(), until.isoformat(), actor, at, nudge_id, today.isoformat()],
    )
    return Change(cur.rowcount == 1, get_nudge(db, nudge_id))


def reassign(db: sqlite_utils.Database, nudge_id: int, *, actor: str, assignee: str, now: datetime) -> Change:
    at = stamp(now)
    # One writer at a time: the conditional UPDATE's row count is the claim (a double submit reassigns once), exact
    # because SQLite lets one writer in at a time. With concurrent writers it must stay one UPDATE ... WHERE, so
    # the row lock re-checks the status and assignee.
    cur = db.execute(
        "UPDATE nudges SET assignee_id = ?, updated_at = ? WHERE id = ? AND status IN ('planned', 'posted') "
        "AND (assignee_id IS NULL OR assignee_id != ?)",
        [assignee, at, nudge_id, assignee],
    )
    return Change(cur.rowcount == 1, get_nudge(db, nudge_id))


def nudges_shown_in(db: sqlite_utils.Database, post_id: int) -> list[Nudge]:
    """The steps a message carried, including any snoozed out of it since."""
    rows = query(
        db,
        "SELECT n.* FROM nudges n JOIN post_nudges p ON p.nudge_id = n.id WHERE p.post_id = ? ORDER BY n.due_date, n.id",
        [post_id],
    )
    return [nudge_from_row(r) for r in rows]


def testimonials(db: sqlite_utils.Database, team_id: str, step_ids: Iterable[str]) -> list[tuple[Deal, dict]]:
    """The workspace's open deals whose testimonial step (one of `step_ids`) was done with a testimonial received,
    newest first. The steps with an outcome are read first (a partial index holds only those), then their deals."""
    ids = sorted(set(step_ids))
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    rows = query(
        db,
        "WITH given AS MATERIALIZED ("
        f"  SELECT deal_id, outcome, resolved_at FROM nudges WHERE outcome IS NOT NULL AND step_id IN ({marks})"
        "  AND status = 'done'"
        ") "
        "SELECT d.*, g.outcome AS testimonial FROM given g JOIN deals d ON d.id = g.deal_id "
        "WHERE d.team_id = ? AND d.status = 'open' ORDER BY g.resolved_at DESC",
        [*ids, team_id],
    )
    found = []
    for row in rows:
        outcome = json.loads(row["testimonial"])
        if outcome.get("kind") == "testimonial" and outcome.get("result") == "received":
            found.append((row_to_deal(row), outcome))
    return found
