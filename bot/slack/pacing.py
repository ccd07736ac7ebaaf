"""Posting paces every process honours: Slack's about one message a second per channel, and a per-workspace budget
(DEALCOACH_POSTS_PER_MINUTE), kept in the database so `serve` and any `tick` share them.

Each post first reserves its moment in one short write transaction: the earliest instant at or after now when both
its channel and its workspace may post again, and moves both on by their interval. Then it sleeps until that
moment and posts. Different channels share only the workspace's pace, so they can post in parallel.

Every message that must appear once waits here, inside bot.slack.posting.post_once (and share_once): a deal's
announcement from the capture's lazy listener as much as the dispatcher's nudges, so `serve` and a `tick` never post
to one channel in the same second. A DM is paced like a channel, keyed by the user id it is sent to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from bot.storage import Store, for_update, query

CHANNEL_INTERVAL = 1.0  # seconds between two posts to one channel (Slack: about one a second)
AFTER_ACK_WAIT = 2.0  # the longest a lazy listener's post waits for its turn (BoundedPace)
MARGIN = 1.05  # pace 5% under the limits: a post can reach Slack a little sooner or later than it was sent


class Pace(Protocol):
    """What every post that must appear once waits on before each chat.postMessage (bot.slack.posting.post_once):
    `wait` returns when a post to `channel` (a user id for a DM) of workspace `team` keeps to the paces, or raises
    Later when that is further off than the caller waits (BoundedPace)."""

    sleep: Callable[[float], None]

    def wait(self, channel: str, team: str = "") -> None: ...


class SharedPacer:
    """`wait(channel, team)` returns once a post there keeps to both paces, for every process on the database.
    `clock` is wall time (shared across processes) and `sleep` injectable, for tests and the benchmark."""

    def __init__(
        self,
        store: Store,
        *,
        per_minute: int,
        channel_interval: float = CHANNEL_INTERVAL,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = MARGIN,
    ):
        self.store = store
        self.channel_interval = channel_interval * margin
        self.workspace_interval = 60.0 / per_minute * margin
        self.clock = clock
        self.sleep = sleep

    def reserve(self, channel: str, team: str = "", *, within: float | None = None) -> float:
        """The instant this post may go out; the slot is taken, for this process only. `within`: the longest the
        caller will wait; a slot further off raises Later and nothing is taken."""
        now = self.clock()
        keys = (f"channel:{team}:{channel}", f"workspace:{team}")
        with self.store.write() as db:
            # Both buckets exist and are locked (waited for, in bucket order) before they are read: on SQLite the
            # write transaction is the lock; on PostgreSQL two instances reserving at once take turns here.
            db.execute(
                "INSERT INTO pacing (bucket, next_at) VALUES (?, 0), (?, 0) ON CONFLICT (bucket) DO NOTHING", list(keys)
            )
            rows = query(
                db,
                f"SELECT bucket, next_at FROM pacing WHERE bucket IN (?, ?) ORDER BY bucket{for_update(db, skip_locked=False)}",
                list(keys),
            )
            known = {r["bucket"]: r["next_at"] for r in rows}
            at = max([now, *known.values()])
            if within is not None and at - now > within:
                raise Later(at - now)  # the transaction ends with nothing taken
            for key, interval in zip(keys, (self.channel_interval, self.workspace_interval), strict=True):
                db.execute(
                    "INSERT INTO pacing (bucket, next_at) VALUES (?, ?) "
                    "ON CONFLICT (bucket) DO UPDATE SET next_at = excluded.next_at",
                    [key, at + interval],
                )
        return at

    def wait(self, channel: str, team: str = "") -> None:
        gap = self.reserve(channel, team) - self.clock()
        if gap > 0:
            self.sleep(gap)

    def at_most(self, seconds: float) -> BoundedPace:
        """This pace for a post that may wait only `seconds` for its turn (see BoundedPace)."""
        return BoundedPace(self, seconds)


class Later(Exception):
    """The next moment to post there is further off than the caller will wait; no slot was taken."""

    def __init__(self, seconds: float):
        super().__init__(f"the next slot is {seconds:.1f} s away")
        self.seconds = seconds


class BoundedPace:
    """The shared pace for a post made from a lazy listener, after the ack: its thread pool also opens forms within
    Slack's 3 seconds, so a post waits there at most `seconds` for its turn. Further off (a busy channel, or a tick's
    batch holding the workspace's budget), `wait` raises Later and the post is left to the dispatcher."""

    def __init__(self, pacer: SharedPacer, seconds: float):
        self.pacer = pacer
        self.seconds = seconds
        self.sleep = pacer.sleep

    def wait(self, channel: str, team: str = "") -> None:
        gap = self.pacer.reserve(channel, team, within=self.seconds) - self.pacer.clock()
        if gap > 0:
            self.sleep(gap)
