"""Step 4's one paged search, against the fake Slack: a post by its metadata in a channel's history or a thread's
replies, the welcome kit's file by its id. Only a fully read window is Missing; anything less stays Unsure and
says how far it read, so a later run reads on and nothing is posted again on a guess."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from slack_sdk import WebClient

from bot.slack.posting import HISTORY_PAGES, Found, Missing, Patience, Unsure, find_posted, find_shared, metadata
from bot.timestamps import stamp

CLAIMED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CHANNEL = "C0TEAM"
EVENT = "dealcoach_nudge"


@dataclass
class Claim:
    id: int
    claimed_at: str = stamp(CLAIMED)
    searched_to: str | None = None
    thread_ts: str | None = None


@pytest.fixture
def client(fake):
    fake.epoch = CLAIMED.timestamp()
    return WebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=[])


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def patience(slept):
    return Patience(sleep=slept.append)


def post(client: WebClient, post_id: int, **extra) -> str:
    return client.chat_postMessage(channel=CHANNEL, text="nudge", metadata=metadata(EVENT, post_id=post_id), **extra)[
        "ts"
    ]


def test_a_channel_read_cut_short_by_a_429_keeps_the_oldest_ts_read_and_the_next_run_goes_on_from_there(
    client, fake, patience
):
    post(client, 7)
    chatter = [fake.add_message(CHANNEL, f"chatter {n}") for n in range(20)]  # newer than the post: read first
    fake.history_page_max, fake.history_calls_left = 15, 1
    first = find_posted(client, CHANNEL, Claim(7), event_type=EVENT, key="post_id", patience=patience)
    assert first == Unsure("history rate limited", chatter[5])  # 15 newest read, newest first
    fake.history_calls_left = 1
    second = find_posted(
        client, CHANNEL, Claim(7, searched_to=first.searched_to), event_type=EVENT, key="post_id", patience=patience
    )
    assert isinstance(second, Found)
    assert Decimal(fake.calls_to("conversations.history")[-1].params["latest"]) == Decimal(chatter[5])


def test_a_thread_read_cut_short_keeps_the_newest_ts_read_and_the_next_run_goes_on_from_there(client, fake, patience):
    parent = fake.add_message(CHANNEL, "Acme closed")
    chatter = [fake.add_message(CHANNEL, f"chatter {n}", thread_ts=parent) for n in range(20)]  # older: read first
    reply = post(client, 7, thread_ts=parent)
    fake.history_page_max, fake.history_calls_left = 15, 1
    claim = Claim(7, thread_ts=parent)
    first = find_posted(client, CHANNEL, claim, event_type=EVENT, key="post_id", patience=patience)
    assert first == Unsure("replies rate limited", chatter[14])
    fake.history_calls_left = 1
    claim.searched_to = first.searched_to
    assert find_posted(client, CHANNEL, claim, event_type=EVENT, key="post_id", patience=patience) == Found(
        CHANNEL, reply
    )


def test_a_short_429_is_waited_out_and_the_same_page_read_again(client, fake, patience, slept):
    ts = post(client, 7)
    fake.fail("conversations.history", status=429, retry_after=1)
    found = find_posted(client, CHANNEL, Claim(7), event_type=EVENT, key="post_id", patience=patience)
    assert found == Found(CHANNEL, ts) and slept == [1]
    assert len(fake.calls_to("conversations.history")) == 2


def test_only_a_whole_window_read_is_missing_and_a_gone_thread_or_channel_says_which(client, fake, patience):
    post(client, 8)  # another post: not the one looked for
    assert find_posted(client, CHANNEL, Claim(7), event_type=EVENT, key="post_id", patience=patience) == Missing()
    gone_thread = Claim(7, thread_ts="1700000000.000001")
    assert find_posted(client, CHANNEL, gone_thread, event_type=EVENT, key="post_id", patience=patience) == Missing()
    fake.unreachable_channels = {CHANNEL: "channel_not_found"}
    assert find_posted(client, CHANNEL, Claim(7), event_type=EVENT, key="post_id", patience=patience) == Missing(
        gone=True
    )
    fake.fail("conversations.history", status=503)
    fake.unreachable_channels = {}
    unsure = find_posted(client, CHANNEL, Claim(7), event_type=EVENT, key="post_id", patience=patience)
    assert isinstance(unsure, Unsure)


def test_the_kits_file_is_found_by_its_id_on_a_later_page_and_a_limited_read_stays_unsure(client, fake, patience):
    parent = fake.add_message(CHANNEL, "Acme closed")
    for n in range(20):
        fake.add_message(CHANNEL, f"chatter {n}", thread_ts=parent)
    shared = fake.add_message(CHANNEL, "", thread_ts=parent, files=[{"id": "F0KIT"}])
    fake.history_page_max = 15
    assert find_shared(client, "F0KIT", channel=CHANNEL, thread_ts=parent, patience=patience) == Found(CHANNEL, shared)
    assert find_shared(client, "F0OTHER", channel=CHANNEL, thread_ts=parent, patience=patience) == Missing()

    fake.fail("conversations.replies", status=429, retry_after=60)
    limited = find_shared(client, "F0KIT", channel=CHANNEL, thread_ts=parent, patience=patience)
    assert isinstance(limited, Unsure)  # never Missing: that would share the kit a second time

    for n in range(15 * HISTORY_PAGES):  # longer than one run reads
        fake.add_message(CHANNEL, f"more {n}", thread_ts=parent)
    long = find_shared(client, "F0NONE", channel=CHANNEL, thread_ts=parent, patience=patience)
    assert isinstance(long, Unsure)
    fake.unreachable_channels = {CHANNEL: "channel_not_found"}
    gone = find_shared(client, "F0KIT", channel=CHANNEL, thread_ts=parent, patience=patience)
    assert gone == Missing(gone=True)
