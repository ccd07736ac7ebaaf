"""A deal's wins the whole team should see (a testimonial received, referrals, the customer live), shared once.

The channel gets new deals and wins; nudges stay in the deal's thread (DEALCOACH_NUDGES_IN). A win is claimed in
the transaction that records it, as a post of kind 'win' waiting to go out (status 'retry', due at once; one per
deal and kind), and the dispatcher posts it through the shared protocol (bot/slack/posting.py): in thread mode
as a reply in the deal's thread broadcast to the channel (reply_broadcast), otherwise in the channel itself.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlite_utils
from slack_sdk import WebClient

from bot.deals.model import Deal
from bot.nudges import ledger
from bot.nudges.ledger import Post
from bot.slack.blocks import context, section
from bot.slack.pacing import Pace
from bot.slack.posting import UNREACHABLE, Outcome, Patience, Posted, Unknown, metadata, post_once, retry_delay
from bot.slack.text import escape, mention
from bot.storage import Store, query
from bot.timestamps import stamp

EVENT_TYPE = "dealcoach_win"
TESTIMONIAL, REFERRAL, LIVE = "testimonial", "referral", "live"


def win_of_outcome(outcome: dict | None) -> str | None:
    """The win a recorded outcome is, if any: a testimonial received, or referrals received."""
    if not outcome or outcome.get("result") != "received":
        return None
    return {"testimonial": TESTIMONIAL, "referral": REFERRAL}.get(outcome.get("kind"))


def claim(db: sqlite_utils.Database, deal: Deal, win: str, *, thread: bool, now: datetime) -> None:
    """Inside the transaction recording the win: it goes out on the dispatcher's next run, once per deal and kind
    (a second Done or a changed go-live date shares nothing twice). `thread`: a reply under the deal's message,
    broadcast to the channel, rather than a message of its own."""
    at = stamp(now)
    db.execute(
        "INSERT INTO posts (deal_id, channel_id, thread_ts, status, late, claimed_at, lease_at, kind, attempts, win) "
        "VALUES (?, ?, ?, 'retry', 0, ?, ?, 'win', 0, ?) ON CONFLICT DO NOTHING",
        [deal.id, deal.channel_id, deal.posted_ts if thread else None, at, at, win],
    )


def claim_again(db: sqlite_utils.Database, post: Post, *, now: datetime) -> Post | None:
    """For the dispatcher: a win waiting to go out (or found missing from the thread) is claimed, by one process."""
    at = stamp(now)
    cursor = db.execute(
        "UPDATE posts SET status = 'sending', claimed_at = ?, lease_at = ?, attempts = attempts + 1, "
        "searched_to = NULL, error = NULL WHERE id = ? AND status = ? AND lease_at = ?",
        [at, at, post.id, post.status, post.lease_at],
    )
    return ledger.get_post(db, post.id) if cursor.rowcount == 1 else None


def _outcome_detail(db: sqlite_utils.Database, deal_id: int, kind: str) -> str | None:
    for row in query(
        db,
        "SELECT outcome FROM nudges WHERE deal_id = ? AND status = 'done' AND outcome IS NOT NULL ORDER BY id DESC",
        [deal_id],
    ):
        data = json.loads(row["outcome"])
        if data.get("kind") == kind and data.get("result") == "received":
            return data.get("detail")
    return None


def win_message(deal: Deal, win: str, detail: str | None) -> tuple[str, list[dict]]:
    """One short line for the team, and who made it happen."""
    account = escape(deal.account)
    if win == TESTIMONIAL:
        line = f":star2: *{account}* gave us a testimonial" + (f": “{escape(detail)}”" if detail else ".")
    elif win == REFERRAL:
        line = f":handshake: *{account}* referred us to others" + (f": {escape(detail)}" if detail else ".")
    else:
        live = deal.fields.go_live_date
        line = f":rocket: *{account}* is live" + (f" since {live:%a %b %-d}." if live else ".")
    text = line.replace("*", "")
    return text, [section(line), context(f"Deal owner {mention(deal.owner_id)}")]


def deliver(
    store: Store, client: WebClient, post: Post, deal: Deal, *, now: datetime, patience: Patience, pace: Pace
) -> Outcome:
    """Steps 2 and 3 of the protocol for a claimed win (in its turn in the shared pace)."""
    with store.session() as db:
        detail = _outcome_detail(db, deal.id, post.win) if post.win in (TESTIMONIAL, REFERRAL) else None
    text, blocks = win_message(deal, post.win or LIVE, detail)
    extra = {"thread_ts": post.thread_ts, "reply_broadcast": True} if post.thread_ts else {}
    outcome = post_once(
        client,
        post.channel_id,
        text=text,
        blocks=blocks,
        metadata=metadata(EVENT_TYPE, post_id=post.id, deal_id=deal.id),
        patience=patience,
        pace=pace,
        team_id=deal.team_id,
        join=True,
        **extra,
    )
    with store.write() as db:
        if isinstance(outcome, Posted):
            ledger.confirm(db, post.id, channel_id=outcome.channel, ts=outcome.ts, now=now)
        elif isinstance(outcome, Unknown):
            ledger.mark_unconfirmed(db, post.id, error=outcome.error)
        elif outcome.kind == UNREACHABLE:
            db.execute("UPDATE posts SET status = 'failed', error = ? WHERE id = ?", [outcome.error, post.id])
        else:
            at = stamp(now + retry_delay(outcome, post.attempts))
            db.execute(
                "UPDATE posts SET status = 'retry', lease_at = ?, error = ? WHERE id = ? AND status = 'sending'",
                [at, outcome.error, post.id],
            )
    return outcome
