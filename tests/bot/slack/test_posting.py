"""When a post Slack surely did not make is tried again: the one policy nudges, announcements and digests share."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.slack.posting import (
    OFFLINE,
    OFFLINE_RETRY,
    RATE_LIMIT_RETRY,
    RATELIMITED,
    REFUSED,
    NotPosted,
    backoff,
    metadata,
    retry_delay,
)


@pytest.mark.parametrize(
    ("wait", "expected"),
    [(None, RATE_LIMIT_RETRY), (timedelta(seconds=3), RATE_LIMIT_RETRY), (timedelta(minutes=7), timedelta(minutes=7))],
)
def test_a_429_waits_for_retry_after_and_at_least_a_minute(wait, expected):
    assert retry_delay(NotPosted("ratelimited", RATELIMITED, wait), attempts=9) == expected


@pytest.mark.parametrize("attempts", [0, 1, 2, 3, 10])
def test_no_connection_is_tried_again_soon_a_refusal_backs_off_up_to_an_hour(attempts):
    offline = retry_delay(NotPosted("URLError", OFFLINE), attempts)
    refused = retry_delay(NotPosted("invalid_blocks", REFUSED), attempts)
    assert offline == min(backoff(attempts), OFFLINE_RETRY) <= timedelta(minutes=5)
    assert refused == backoff(attempts) == timedelta(minutes=min(2**attempts, 60))


def test_the_marker_a_post_carries_is_slacks_metadata_shape():
    assert metadata("dealcoach_digest", digest_id=7) == {
        "event_type": "dealcoach_digest",
        "event_payload": {"digest_id": 7},
    }
