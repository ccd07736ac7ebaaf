"""Where a step's message is, as a link and in words: its reply in the deal's thread, its message in the channel, or
the owner's DM (DEALCOACH_NUDGES_IN), for Home, the digest and the DMs that point a rep at a step.

A step not posted yet points at the deal's message instead (in thread mode, with its thread open: that thread holds
the plan as it unfolds). A DM opens only for the person it was sent to, so nobody else gets a link into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sqlite_utils

from bot.deals.model import Deal, Nudge
from bot.slack.links import message_link
from bot.slack.text import channel_link, mention
from bot.storage import query

THREAD, CHANNEL, DM = "thread", "channel", "dm"
THREAD_WORDS = "in the deal's thread"


@dataclass(frozen=True)
class Place:
    """A posted nudge message: its conversation (a channel, or the DM it went to), ts, and thread if a reply."""

    channel_id: str
    ts: str
    thread_ts: str | None = None
    sent_to: str | None = None  # a DM: whose (None: posted before this was recorded, to the deal's owner)

    @property
    def in_dm(self) -> bool:
        return self.channel_id.startswith("D")


def places(db: sqlite_utils.Database, post_ids: Iterable[int | None]) -> dict[int, Place]:
    """Post id -> where Slack has that message, for the posts among `post_ids` that are posted."""
    ids = sorted({i for i in post_ids if i is not None})
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = query(
        db,
        "SELECT id, channel_id, ts, thread_ts, sent_to FROM posts "
        f"WHERE status = 'posted' AND ts IS NOT NULL AND id IN ({marks})",
        ids,
    )
    return {r["id"]: Place(r["channel_id"], r["ts"], r["thread_ts"], r["sent_to"]) for r in rows}


def labelled(url: str | None, label: str) -> str:
    """`<url|label>`, or the label alone without a url. The label is mrkdwn already escaped; a `|` in it would end
    Slack's link syntax early, so it becomes a look-alike."""
    return f"<{url}|{label.replace('|', '¦')}>" if url else label


@dataclass(frozen=True)
class Links:
    """How one reader's message links to deals and steps. `team_url` (auth.test's): None leaves links out and keeps
    the words; `viewer`: who reads it (a DM link is theirs only if the DM is); `places`: from places()."""

    team_url: str | None = None
    nudges_in: str = CHANNEL
    viewer: str | None = None
    places: Mapping[int, Place] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        db: sqlite_utils.Database,
        steps: Iterable[Nudge],
        *,
        team_url: str | None,
        nudges_in: str,
        viewer: str | None,
    ) -> Links:
        return cls(team_url, nudges_in, viewer, places(db, (n.post_id for n in steps)))

    # -- the deal's own message ---------------------------------------------------------------------------------

    def deal(self, deal: Deal) -> str | None:
        """The deal's message; in thread mode with its thread open."""
        ts = deal.posted_ts
        return message_link(self.team_url, deal.channel_id, ts, ts if self.nudges_in == THREAD else None)

    def deal_words(self, deal: Deal) -> str:
        """`the deal's thread in #sales`, linked: where its plan is."""
        what = "the deal's thread" if self.nudges_in == THREAD else "the deal's message"
        if not deal.posted_ts:
            return channel_link(deal.channel_id)
        return f"{labelled(self.deal(deal), what)} in {channel_link(deal.channel_id)}"

    # -- a step's message ---------------------------------------------------------------------------------------

    def place(self, nudge: Nudge) -> Place | None:
        return self.places.get(nudge.post_id) if nudge.post_id is not None else None

    @staticmethod
    def _dm_of(place: Place, deal: Deal) -> str:
        """Whose DM it is: whom it was sent to (the deal's owner then, who may have handed the deal over since)."""
        return place.sent_to or deal.owner_id

    def _theirs(self, place: Place, deal: Deal) -> bool:
        """A DM's messages open only for its person."""
        return not place.in_dm or (self.viewer is not None and self.viewer == self._dm_of(place, deal))

    def step(self, nudge: Nudge, deal: Deal) -> str | None:
        """The step's message if the reader can open it; else the deal's message."""
        place = self.place(nudge)
        if place is not None and self._theirs(place, deal):
            return message_link(self.team_url, place.channel_id, place.ts, place.thread_ts)
        return self.deal(deal)

    def someone_elses_dm(self, nudge: Nudge, deal: Deal) -> str | None:
        """Whose DM the step's message is in, when it is not the reader's."""
        place = self.place(nudge)
        return self._dm_of(place, deal) if place is not None and not self._theirs(place, deal) else None

    def step_words(self, nudge: Nudge, deal: Deal) -> str | None:
        """Where the step's message is, linked where the reader can open it: `in the deal's thread in #sales`,
        `posted in #sales`, `in your DMs with me`, `sent to @rep by DM`. None while it isn't posted."""
        place = self.place(nudge)
        if place is None:
            return None
        if not self._theirs(place, deal):
            return f"sent to {mention(self._dm_of(place, deal))} by DM"
        link = message_link(self.team_url, place.channel_id, place.ts, place.thread_ts)
        if place.in_dm:
            return labelled(link, "in your DMs with me")
        if place.thread_ts:
            return f"{labelled(link, THREAD_WORDS)} in {channel_link(place.channel_id)}"
        return f"{labelled(link, 'posted')} in {channel_link(place.channel_id)}"

    def mode_words(self, deal: Deal) -> str:
        """Where this deal's nudges go, for a sentence about several of them: `in the deal's thread in #sales`."""
        if self.nudges_in == DM:
            return "in your DMs with me" if self.viewer == deal.owner_id else f"in {mention(deal.owner_id)}'s DMs"
        if self.nudges_in == THREAD and deal.posted_ts:
            return f"{labelled(self.deal(deal), THREAD_WORDS)} in {channel_link(deal.channel_id)}"
        return f"in {channel_link(deal.channel_id)}"
