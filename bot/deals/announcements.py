"""A deal's channel message (its announcement), posted exactly once like every message that must appear once.

The claim is written with the deal, in the capture's transaction: the lazy listener after the ack posts it
through the shared protocol (bot/slack/posting.py). If that post fails for now, its outcome is unknown, or the process
dies, the dispatcher settles it on its next tick: a waiting announcement is posted, an unknown or orphaned one is
looked for in the channel's history first. Until it is posted (or its channel is found unreachable), the
deal's nudges wait.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils
from slack_sdk import WebClient

from bot.deals import blocks, model
from bot.deals.model import Deal
from bot.nudges import ledger
from bot.nudges.ledger import ANNOUNCEMENT, Post
from bot.slack.pacing import Pace
from bot.slack.posting import (
    LEASE,
    UNREACHABLE,
    Outcome,
    Patience,
    Posted,
    Unknown,
    metadata,
    post_once,
    retry_delay,
)
from bot.storage import Store, query_one
from bot.timestamps import stamp

EVENT_TYPE = "dealcoach_deal"


def claim_with_capture(db: sqlite_utils.Database, *, deal_id: int, channel_id: str, now: datetime) -> None:
    """Inside the capture's transaction: the new deal's announcement is claimed, for the capture's lazy listener."""
    _insert(db, deal_id=deal_id, channel_id=channel_id, now=now, attempts=0)


def _insert(db: sqlite_utils.Database, *, deal_id: int, channel_id: str, now: datetime, attempts: int) -> bool:
    """The deal's one announcement row; False if another worker wrote it first (its UNIQUE index decides, on any
    engine: of two workers inserting at once, the second waits for the first's transaction, then does nothing)."""
    at = stamp(now)
    added = db.execute(
        "INSERT INTO posts (deal_id, channel_id, status, late, claimed_at, lease_at, kind, attempts) "
        "VALUES (?, ?, 'sending', 0, ?, ?, ?, ?) ON CONFLICT (deal_id) WHERE kind = 'announcement' DO NOTHING "
        "RETURNING id",
        [deal_id, channel_id, at, at, ANNOUNCEMENT, attempts],
    ).fetchall()
    return bool(added)


def get(db: sqlite_utils.Database, deal_id: int) -> Post | None:
    row = query_one(db, "SELECT * FROM posts WHERE deal_id = ? AND kind = 'announcement'", [deal_id])
    return ledger.post_from_row(row) if row else None


def take(db: sqlite_utils.Database, deal_id: int, *, now: datetime) -> Post | None:
    """Inside a write transaction: the right to post the deal's announcement now, or None (posted, or another
    worker holds it). The capture's own claim is taken once, while fresh; one not posted for good (an unreachable
    channel, or a deal from before announcements had claims) is claimed afresh; one waiting for a retry, once
    its time has come.

    The claim is carried by the UNIQUE index on the announcement (a second INSERT does nothing) and by the
    conditional UPDATEs' row counts (a row another instance changed since it was read is re-checked and left), so
    it holds with several instances writing at once, not only with SQLite's one writer at a time."""
    post = get(db, deal_id)
    if post is None:
        deal = model.get_deal(db, deal_id)
        if deal is None or deal.posted_ts:
            return None
        if not _insert(db, deal_id=deal_id, channel_id=deal.channel_id, now=now, attempts=1):
            return None
        return get(db, deal_id)
    if post.status == "sending" and post.attempts == 0:
        cursor = db.execute(
            "UPDATE posts SET attempts = 1 WHERE id = ? AND status = 'sending' AND attempts = 0 "
            "AND lease_at = claimed_at AND lease_at > ?",  # never taken by a reconcile, and fresh: the dispatcher
            [post.id, stamp(now - LEASE / 2)],  # leaves a claim alone for LEASE, time enough to post it
        )
    elif post.status == "failed" or (post.status == "retry" and post.lease_at <= stamp(now)):
        cursor = _claim_again(db, post, now)
    else:
        return None
    return get(db, deal_id) if cursor.rowcount == 1 else None


def _claim_again(db: sqlite_utils.Database, post: Post, now: datetime):
    """A fresh attempt: a new window for any history search, and one more attempt counted."""
    at = stamp(now)
    return db.execute(
        "UPDATE posts SET status = 'sending', claimed_at = ?, lease_at = ?, attempts = attempts + 1, "
        "searched_to = NULL, error = NULL WHERE id = ? AND status = ? AND lease_at = ?",
        [at, at, post.id, post.status, post.lease_at],
    )


def claim_again(db: sqlite_utils.Database, post: Post, *, now: datetime) -> Post | None:
    """For the dispatcher: a waiting announcement, or one it found missing from the history, is claimed afresh."""
    return get(db, post.deal_id) if _claim_again(db, post, now).rowcount == 1 else None


def post_afresh(db: sqlite_utils.Database, post: Post, *, now: datetime) -> Post | None:
    """For the dispatcher, holding the claim for a reconcile that found nothing: a fresh attempt, now."""
    at = stamp(now)
    # One writer at a time: the conditional UPDATE's row count is the claim on a fresh attempt (a second reconcile
    # changes nothing), exact because SQLite lets one writer in at a time. With concurrent writers it must stay one
    # UPDATE ... WHERE, so the row lock re-checks the status.
    cursor = db.execute(
        "UPDATE posts SET claimed_at = ?, lease_at = ?, attempts = attempts + 1, searched_to = NULL, error = NULL "
        "WHERE id = ? AND status = 'sending'",
        [at, at, post.id],
    )
    return get(db, post.deal_id) if cursor.rowcount == 1 else None


def confirm(db: sqlite_utils.Database, post: Post, *, channel_id: str, ts: str, now: datetime) -> bool:
    """Slack has it: the post is recorded, and the deal knows its message (Add details, Mark live, permalinks)."""
    if not ledger.confirm(db, post.id, channel_id=channel_id, ts=ts, now=now):
        return False
    model.set_message(db, post.deal_id, ts)
    return True


def wait_for_retry(db: sqlite_utils.Database, post: Post, *, error: str, retry_at: datetime) -> None:
    """Slack surely did not post it: the dispatcher posts it from `retry_at` on."""
    db.execute(
        "UPDATE posts SET status = 'retry', lease_at = ?, error = ? WHERE id = ? AND status IN ('sending', 'unconfirmed')",
        [stamp(retry_at), error, post.id],
    )


def give_up_for_now(db: sqlite_utils.Database, post: Post, *, error: str) -> None:
    """The channel can't be reached: not tried again on its own (the deal's nudges go to its owner by DM);
    the next change to the deal tries again, after someone may have invited the bot."""
    db.execute(
        "UPDATE posts SET status = 'failed', error = ? WHERE id = ? AND status IN ('sending', 'unconfirmed')",
        [error, post.id],
    )


def message(store: Store, deal: Deal, post: Post) -> tuple[str, list[dict], dict]:
    """(text, blocks, metadata) of the announcement as the deal stands now."""
    with store.session() as db:
        steps = model.deal_nudges(db, deal.id)
    text, message_blocks = blocks.deal_announcement(deal, steps)
    return text, message_blocks, metadata(EVENT_TYPE, post_id=post.id, deal_id=deal.id)


def deliver(
    store: Store, client: WebClient, post: Post, deal: Deal, *, now: datetime, patience: Patience, pace: Pace
) -> Outcome:
    """Steps 2 and 3 of the protocol for a claimed announcement: post it (in its turn in the channel's and the
    workspace's pace, shared with the dispatcher's nudges), then record what became of it."""
    text, message_blocks, marker = message(store, deal, post)
    outcome = post_once(
        client,
        deal.channel_id,
        text=text,
        blocks=message_blocks,
        metadata=marker,
        patience=patience,
        pace=pace,
        team_id=deal.team_id,
        join=True,
    )
    record(store, post, outcome, now=now)
    return outcome


def record(store: Store, post: Post, outcome: Outcome, *, now: datetime) -> None:
    with store.write() as db:
        if isinstance(outcome, Posted):
            confirm(db, post, channel_id=outcome.channel, ts=outcome.ts, now=now)
        elif isinstance(outcome, Unknown):
            ledger.mark_unconfirmed(db, post.id, error=outcome.error)
        elif outcome.kind == UNREACHABLE:
            give_up_for_now(db, post, error=outcome.error)
        else:
            wait_for_retry(db, post, error=outcome.error, retry_at=now + retry_delay(outcome, post.attempts))
