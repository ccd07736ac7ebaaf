"""The Web API clients, against the fake Slack: only posting_client posts what must appear once, and the
listeners' client repeats only calls that are safe to repeat."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.client import listener_client, posting_client
from bot.slack.posting import Patience, post_once
from tests.conftest import CHANNEL, REP, TEAM

METADATA = {"event_type": "dealcoach_test", "event_payload": {"post_id": 1}}
HOME = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}]}


def test_the_listeners_client_never_repeats_a_post_slack_may_have_stored(fake, settings):
    fake.fail("chat.postMessage", status=500, stored=True)
    with pytest.raises(SlackApiError):
        listener_client(settings, backoff_seconds=0).chat_postMessage(channel=CHANNEL, text="Note")
    assert len(fake.calls_to("chat.postMessage")) == 1 and len(fake.messages) == 1


def test_the_listeners_client_still_waits_out_a_5xx_on_a_call_safe_to_repeat(fake, settings):
    fake.fail("views.publish", status=503)
    listener_client(settings, backoff_seconds=0).views_publish(user_id=REP, view=HOME)
    assert [c.failed for c in fake.calls_to("views.publish")] == [True, False]


def test_a_client_that_retries_is_refused_before_anything_is_posted(fake, settings, coach):
    with pytest.raises(ValueError, match="posting_client"):
        post_once(
            listener_client(settings),
            CHANNEL,
            text="Hi",
            blocks=None,
            metadata=METADATA,
            patience=Patience(),
            pace=coach.pacer,
            team_id=TEAM,
        )
    assert fake.calls_to("chat.postMessage") == []


def test_the_posting_client_makes_one_attempt_and_says_the_outcome_is_unknown(fake, settings, pace, coach):
    fake.fail("chat.postMessage", status=503, stored=True, page=True)
    outcome = post_once(
        posting_client(settings),
        CHANNEL,
        text="Hi",
        blocks=None,
        metadata=METADATA,
        patience=Patience(pace.sleep),
        pace=coach.pacer,
        team_id=TEAM,
    )
    assert type(outcome).__name__ == "Unknown" and outcome.error == "http 503"
    assert len(fake.calls_to("chat.postMessage")) == 1 and len(fake.messages) == 1
