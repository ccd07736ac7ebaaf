"""Proves FakeSlack and the signing helpers behave like Slack for the real slack_sdk / Bolt clients."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.client import RemoteDisconnected
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.fakeslack import Call, FakeSlack
from tests.signing import (
    FORM,
    JSON,
    block_action_payload,
    bolt_request,
    command_body,
    event_body,
    interaction_body,
    post,
    sign,
    view_submission_payload,
)

SECRET = "test-signing-secret"


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.base_url)


# -- recording & canned answers ----------------------------------------------------------------------------


def test_post_message_is_recorded_with_parsed_blocks(fake: FakeSlack, client: WebClient) -> None:
    """WebClient sends blocks as JSON; the fake must expose them as structure, plus the bearer token."""
    first = client.chat_postMessage(channel="C1", text="Deal closed", blocks=[section("*Acme*")])
    second = client.chat_postMessage(channel="C1", text="again")

    call = fake.last("chat.postMessage")
    assert fake.calls_to("chat.postMessage")[0].params["blocks"] == [section("*Acme*")]
    assert call.token == "xoxb-test" and "xoxb-test" not in repr(call)
    assert first["channel"] == "C1" and first["message"]["blocks"] == [section("*Acme*")]
    assert float(second["ts"]) > float(first["ts"])
    assert fake.violations == []


def test_form_encoded_json_fields_are_decoded(fake: FakeSlack, client: WebClient) -> None:
    """Form posts carry blocks as a JSON string; tests should still see lists and dicts."""
    client.api_call("chat.postMessage", params={"channel": "C1", "text": "t", "blocks": json.dumps([section("x")])})

    assert fake.last("chat.postMessage").params["blocks"] == [section("x")]
    assert fake.last("chat.postMessage").headers["content-type"] == FORM


def test_canned_answers_look_like_slack(fake: FakeSlack, client: WebClient) -> None:
    """Handlers read these fields, so their shape must match the real API."""
    fake.users["U2"] = {"tz": "Europe/Paris", "tz_offset": 3600}

    assert client.auth_test()["user_id"] == "U0BOT"
    assert client.users_info(user="U1")["user"]["tz"] == "America/New_York"
    assert client.users_info(user="U2")["user"] == {
        "id": "U2",
        "name": "user-U2",
        "real_name": "User U2",
        "tz": "Europe/Paris",
        "tz_offset": 3600,
    }
    assert client.conversations_open(users="U1")["channel"]["id"] == "DU1"
    assert client.chat_getPermalink(channel="C1", message_ts="1.000200")["permalink"].endswith("/C1/p1000200")
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]
    assert client.chat_update(channel="C1", ts="1.2", text="edited")["text"] == "edited"
    assert client.reactions_add(channel="C1", timestamp="1.2", name="tada")["ok"]
    assert [c.method for c in fake.calls][-1] == "reactions.add"


def test_views_open_echoes_view_with_id_and_hash(fake: FakeSlack, client: WebClient) -> None:
    """views.* answers carry the view back with a fresh id/hash, which handlers use for views.update."""
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Log a deal"}, "blocks": [section("hi")]}

    opened = client.views_open(trigger_id="t1", view=view)["view"]
    updated = client.views_update(view_id=opened["id"], view=view)["view"]

    assert opened["id"].startswith("V") and opened["hash"] and updated["id"] == opened["id"]
    assert fake.last("views.open").params["view"] == view
    assert fake.violations == []


# -- Block Kit validation ----------------------------------------------------------------------------------

BAD_BLOCKS = {
    "51 blocks": [section("x")] * 51,
    "3001-char section": [section("x" * 3001)],
    "2001-char field": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}],
    "151-char header": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
    "unknown type": [{"type": "sparkles"}],
    "section without text": [{"type": "section"}],
}


@pytest.mark.parametrize("blocks", BAD_BLOCKS.values(), ids=BAD_BLOCKS.keys())
def test_invalid_blocks_are_refused(fake: FakeSlack, client: WebClient, blocks: list) -> None:
    """Layouts Slack rejects must fail loudly here, not in production."""
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="fallback", blocks=blocks)

    assert info.value.response["error"] == "invalid_blocks"
    assert len(fake.violations) == 1 and fake.violations[0].startswith("chat.postMessage: ")


def test_blocks_without_text_fallback_are_refused(fake: FakeSlack, client: WebClient) -> None:
    """House rule: every message with blocks has a `text` fallback (slack_sdk itself only warns)."""
    with pytest.warns(UserWarning, match="top-level `text`"), pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", blocks=[section("x")])

    assert info.value.response["error"] == "no_text"
    assert fake.violations == ["chat.postMessage: message has blocks but no top-level text fallback"]


@pytest.mark.parametrize(
    "change",
    [
        {"title": {"type": "plain_text", "text": "x" * 25}},
        {"submit": {"type": "plain_text", "text": "x" * 25}},
        {"private_metadata": "x" * 3001},
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]},
        {"type": "sheet"},
    ],
    ids=["title", "submit", "private_metadata", "header", "type"],
)
def test_invalid_views_are_refused(fake: FakeSlack, client: WebClient, change: dict) -> None:
    """Modals that Slack would refuse answer invalid_arguments and are listed as violations."""
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Deal"},
        "blocks": [section("x")],
    } | change

    with pytest.raises(SlackApiError) as info:
        client.views_open(trigger_id="t1", view=view)

    assert info.value.response["error"] == "invalid_arguments"
    assert len(fake.violations) == 1 and fake.violations[0].startswith("views.open: ")


# -- failure injection -------------------------------------------------------------------------------------


def test_not_in_channel_error(fake: FakeSlack, client: WebClient) -> None:
    """Slack-level errors arrive as HTTP 200 with ok:false, and only for the queued number of calls."""
    fake.fail("chat.postMessage", error="not_in_channel")

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="hi")
    assert info.value.response.status_code == 200 and info.value.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]
    assert [c.failed for c in fake.calls_to("chat.postMessage")] == [True, False]


def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """RateLimitErrorRetryHandler sleeps Retry-After + random() s; zero the jitter to keep the test fast."""
    monkeypatch.setattr("slack_sdk.http_retry.builtin_handlers.random.random", lambda: 0.0)
    client = WebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=[RateLimitErrorRetryHandler()])
    fake.fail("chat.postMessage", status=429, retry_after=0)

    started = time.monotonic()
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]

    assert time.monotonic() - started < 1
    assert [c.failed for c in fake.calls_to("chat.postMessage")] == [True, False]


def test_rate_limit_without_retry_handler_raises(fake: FakeSlack, client: WebClient) -> None:
    """Without a handler the 429 surfaces with its Retry-After header for the caller to honour."""
    fake.fail("chat.postMessage", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="hi")

    assert info.value.response.status_code == 429 and info.value.response["error"] == "ratelimited"
    assert info.value.response.headers["Retry-After"] == "7"


def test_server_error_raises_with_status(fake: FakeSlack, client: WebClient) -> None:
    """A 500 is not retried by WebClient's default handlers; it raises with the status attached."""
    fake.fail("chat.postMessage", status=500)

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="hi")

    assert info.value.response.status_code == 500
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_delay_makes_the_client_time_out(fake: FakeSlack) -> None:
    """A slow Slack must surface as a timeout; the call is still recorded (stop() wakes the sleeper)."""
    client = WebClient(token="xoxb-test", base_url=fake.base_url, timeout=0.5)
    fake.fail("chat.postMessage", delay=5)

    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel="C1", text="hi")

    assert fake.last("chat.postMessage").failed
    assert len(fake.calls_to("chat.postMessage")) == 1  # default handlers do not retry read timeouts


def test_last_names_the_methods_seen(fake: FakeSlack, client: WebClient) -> None:
    """A missing call should say what did happen."""
    client.auth_test()

    with pytest.raises(AssertionError, match=r"no call to 'chat.update'; methods seen: \['auth.test'\]"):
        fake.last("chat.update")
    fake.reset()
    assert fake.calls == []


# -- files & response_url ----------------------------------------------------------------------------------


def test_files_upload_v2_round_trips(fake: FakeSlack, client: WebClient) -> None:
    """files_upload_v2 makes three requests; the bytes land on our upload URL."""
    result = client.files_upload_v2(channel="C1", filename="deal.csv", content="a,b\n1,2\n", title="Deal")

    assert [c.method for c in fake.calls] == [
        "files.getUploadURLExternal",
        "upload_url",
        "files.completeUploadExternal",
    ]
    assert fake.last("upload_url").body == b"a,b\n1,2\n"
    assert result["file"]["title"] == "Deal" and result["file"]["size"] == 8
    assert fake.last("files.completeUploadExternal").params["channel_id"] == "C1"


def test_response_url_posts_are_recorded_and_validated(fake: FakeSlack) -> None:
    """Bolt's respond() is a WebhookClient JSON POST to response_url; the same Block Kit rules apply."""
    respond = Respond(response_url=fake.response_url("cmd"))

    assert respond(text="Logged", blocks=[section("ok")], response_type="ephemeral").status_code == 200
    bad = respond(blocks=[section("no fallback")])

    call = fake.calls_to("response_url")[0]
    assert call.params == {"text": "Logged", "blocks": [section("ok")], "response_type": "ephemeral"}
    assert json.loads(bad.body)["error"] == "no_text"
    assert fake.violations == ["response_url: message has blocks but no top-level text fallback"]
    assert WebhookClient(fake.response_url()).send(text="plain").status_code == 200


# -- message store & conversations.history -----------------------------------------------------------------

META = {"event_type": "deal_checkin", "event_payload": {"deal_id": 7, "day": 30}}


def history(client: WebClient, channel: str = "C1", **kwargs) -> list[str]:
    """Texts of a history page, newest first."""
    return [m["text"] for m in client.conversations_history(channel=channel, **kwargs)["messages"]]


def test_post_stores_text_blocks_and_metadata(fake: FakeSlack, client: WebClient) -> None:
    """The stored message is what history and later updates work on; metadata comes back as a dict."""
    posted = client.chat_postMessage(channel="C1", text="Day 30", blocks=[section("*Day 30*")], metadata=META)

    stored = fake.messages[("C1", posted["ts"])]
    assert stored["text"] == "Day 30" and stored["blocks"] == [section("*Day 30*")] and stored["metadata"] == META
    assert posted["message"]["metadata"] == META
    form = client.api_call(
        "chat.postMessage", params={"channel": "C1", "text": "form", "metadata": json.dumps(META)}
    )  # form-encoded: metadata travels as a JSON string
    assert fake.messages[("C1", form["ts"])]["metadata"] == META


def test_invalid_metadata_is_refused(fake: FakeSlack, client: WebClient) -> None:
    """Slack refuses metadata without event_type / event_payload; so does the fake, loudly."""
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x", metadata={"event_payload": {}})

    assert info.value.response["error"] == "invalid_metadata_format"
    assert fake.violations == ["chat.postMessage: metadata.event_type must be a non-empty string"]
    assert fake.messages == {}


def test_update_replaces_given_fields_and_delete_removes(fake: FakeSlack, client: WebClient) -> None:
    """chat.update keeps fields it is not given (like Slack); unknown messages still answer ok, and stay unknown."""
    ts = client.chat_postMessage(channel="C1", text="v1", blocks=[section("v1")], metadata=META)["ts"]

    updated = client.chat_update(channel="C1", ts=ts, text="v2", blocks=[section("v2")])
    assert updated["message"]["metadata"] == META and updated["text"] == "v2"
    assert (fake.messages[("C1", ts)]["text"], fake.messages[("C1", ts)]["blocks"]) == ("v2", [section("v2")])
    client.chat_update(channel="C1", ts=ts, text="v3")
    assert fake.messages[("C1", ts)]["blocks"] == [section("v2")] and fake.messages[("C1", ts)]["text"] == "v3"

    assert client.chat_update(channel="C1", ts="1.000001", text="ghost")["ok"]
    assert ("C1", "1.000001") not in fake.messages
    assert client.chat_delete(channel="C1", ts=ts).data == {"ok": True, "channel": "C1", "ts": ts}
    assert fake.messages == {} and history(client) == []
    assert client.chat_delete(channel="C1", ts=ts)["ok"]


def test_ts_follows_posting_order_and_epoch(fake: FakeSlack, client: WebClient) -> None:
    """ts = int(epoch).seq: strictly increasing, and a test can move the fake's clock forward."""
    fake.epoch = 1_800_000_000.9
    first = client.chat_postMessage(channel="C1", text="a")["ts"]
    fake.epoch += 86_400
    second = client.chat_postMessage(channel="C2", text="b")["ts"]

    assert first.startswith("1800000000.") and second.startswith("1800086400.")
    assert len(first.partition(".")[2]) == 6 and Decimal(second) > Decimal(first)
    assert history(client, oldest="1800086400") == [] and history(client, "C2", oldest="1800086400") == ["b"]


def test_history_is_newest_first_and_scoped_to_the_channel(fake: FakeSlack, client: WebClient) -> None:
    """Only top-level messages of the asked channel, in Slack's shape; replies stay in their thread."""
    fake.add_message("C1", "human says hi", user="U0REP")
    parent = client.chat_postMessage(channel="C1", text="parent", blocks=[section("p")])["ts"]
    client.chat_postMessage(channel="C1", text="reply", thread_ts=parent)
    client.chat_postMessage(channel="C1", text="broadcast", thread_ts=parent, reply_broadcast=True)
    client.chat_postMessage(channel="C2", text="elsewhere")

    answer = client.conversations_history(channel="C1")
    assert answer["ok"] and answer["has_more"] is False and "response_metadata" not in answer.data
    assert [m["text"] for m in answer["messages"]] == ["broadcast", "parent", "human says hi"]
    assert answer["messages"][1] == {
        "type": "message",
        "ts": parent,
        "text": "parent",
        "blocks": [section("p")],
        "user": "U0BOT",
        "bot_id": "B0BOT",
    }
    assert answer["messages"][2]["user"] == "U0REP" and "bot_id" not in answer["messages"][2]
    assert fake.last("conversations.history").params["channel"] == "C1"
    assert history(client, "C9") == []


def test_history_honours_oldest_latest_and_inclusive(fake: FakeSlack, client: WebClient) -> None:
    """Bounds are exclusive unless inclusive; ts compare as decimals (".000100" > ".0001" is not a string test)."""
    ts = [client.chat_postMessage(channel="C1", text=f"m{i}")["ts"] for i in range(4)]

    assert history(client, oldest=ts[1]) == ["m3", "m2"]
    assert history(client, oldest=ts[1], inclusive=True) == ["m3", "m2", "m1"]
    assert history(client, latest=ts[2]) == ["m1", "m0"]
    assert history(client, oldest=ts[0], latest=ts[3]) == ["m2", "m1"]
    assert history(client, oldest=ts[0], latest=ts[3], inclusive=True) == ["m3", "m2", "m1", "m0"]
    assert history(client, oldest=str(int(fake.epoch))) == ["m3", "m2", "m1", "m0"]
    assert history(client, oldest=str(int(fake.epoch) + 1)) == []
    assert history(client, oldest=ts[3].rstrip("0")) == []  # "E.0001xx" trimmed is the same decimal
    with pytest.raises(SlackApiError, match="invalid_ts_oldest"):
        client.conversations_history(channel="C1", oldest="yesterday")
    with pytest.raises(SlackApiError, match="invalid_ts_latest"):
        client.conversations_history(channel="C1", latest="NaN")


def test_history_metadata_only_when_asked(fake: FakeSlack, client: WebClient) -> None:
    """include_all_metadata is what lets the bot find its own posts again after a crash."""
    client.chat_postMessage(channel="C1", text="tagged", metadata=META)
    client.chat_postMessage(channel="C1", text="plain")

    assert all("metadata" not in m for m in client.conversations_history(channel="C1")["messages"])
    tagged, plain = client.conversations_history(channel="C1", include_all_metadata=True)["messages"][::-1]
    assert tagged["metadata"] == META and "metadata" not in plain
    as_form = client.api_call("conversations.history", params={"channel": "C1", "include_all_metadata": "true"})
    assert as_form["messages"][1]["metadata"] == META


def test_history_limit_and_cursor_pagination(fake: FakeSlack, client: WebClient) -> None:
    """Pages of `limit`, linked by response_metadata.next_cursor; slack_sdk's iterator follows them."""
    for i in range(5):
        client.chat_postMessage(channel="C1", text=f"m{i}")

    first = client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"] and first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    assert history(client, limit=2, cursor=cursor) == ["m2", "m1"]
    pages = [[m["text"] for m in page["messages"]] for page in client.conversations_history(channel="C1", limit=2)]
    assert pages == [["m4", "m3"], ["m2", "m1"], ["m0"]]
    assert len(history(client)) == 5  # default limit 100
    with pytest.raises(SlackApiError, match="invalid_cursor"):
        client.conversations_history(channel="C1", cursor="not-a-cursor")


def test_history_can_be_limited_as_slack_limits_apps_outside_the_marketplace(
    fake: FakeSlack, client: WebClient
) -> None:
    """A few messages a call, and a few calls a minute: then 429 with Retry-After until the test lets time pass."""
    for i in range(20):
        client.chat_postMessage(channel="C1", text=f"m{i}")
    fake.history_page_max, fake.history_calls_left = 15, 1
    page = client.conversations_history(channel="C1", limit=200)
    assert len(page["messages"]) == 15 and page["has_more"] is True
    with pytest.raises(SlackApiError) as err:
        client.conversations_history(channel="C1", cursor=page["response_metadata"]["next_cursor"])
    assert err.value.response.status_code == 429 and err.value.response.headers["Retry-After"] == "60"
    fake.history_calls_left = 1  # a minute later
    rest = client.conversations_history(channel="C1", cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == [f"m{i}" for i in range(4, -1, -1)]


def test_replies_read_one_thread_oldest_first_with_paging_limits_and_failures(
    fake: FakeSlack, client: WebClient
) -> None:
    """conversations.replies: the parent, then its replies oldest first, in pages; the history leaves replies out;
    the same read limits as the history; a missing thread and injected failures answer like Slack."""
    parent = client.chat_postMessage(channel="C1", text="deal")["ts"]
    other = client.chat_postMessage(channel="C1", text="other deal")["ts"]
    for i in range(5):
        client.chat_postMessage(channel="C1", text=f"r{i}", thread_ts=parent)
    client.chat_postMessage(channel="C1", text="elsewhere", thread_ts=other)
    client.chat_postMessage(channel="C1", text="shared", thread_ts=parent, reply_broadcast=True)

    assert history(client) == ["shared", "other deal", "deal"]  # replies stay in their thread unless broadcast
    first = client.conversations_replies(channel="C1", ts=parent, limit=2)
    assert [m["text"] for m in first["messages"]] == ["deal", "r0", "r1"] and first["has_more"] is True
    pages = [
        [m["text"] for m in page["messages"]] for page in client.conversations_replies(channel="C1", ts=parent, limit=2)
    ]
    assert pages == [["deal", "r0", "r1"], ["deal", "r2", "r3"], ["deal", "r4", "shared"]]
    later = client.conversations_replies(channel="C1", ts=parent, oldest=first["messages"][2]["ts"])
    assert [m["text"] for m in later["messages"]] == ["deal", "r2", "r3", "r4", "shared"]  # oldest is exclusive

    fake.history_page_max, fake.history_calls_left = 2, 1
    assert len(client.conversations_replies(channel="C1", ts=parent)["messages"]) == 3
    with pytest.raises(SlackApiError) as err:
        client.conversations_replies(channel="C1", ts=parent)
    assert err.value.response.status_code == 429 and err.value.response.headers["Retry-After"] == "60"
    fake.history_calls_left = None
    with pytest.raises(SlackApiError, match="thread_not_found"):
        client.conversations_replies(channel="C1", ts="1.000001")
    fake.fail("conversations.replies", status=503)
    with pytest.raises(SlackApiError) as err:
        client.conversations_replies(channel="C1", ts=parent)
    assert err.value.response.status_code == 503


def test_a_workspace_rate_limit_refuses_posts_over_its_budget_in_any_channel(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.workspace_rate_limit, fake.workspace_window = 2, 60.0
    client.chat_postMessage(channel="C1", text="a")
    client.chat_postMessage(channel="C2", text="b")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C3", text="c")
    assert err.value.response.status_code == 429 and int(err.value.response.headers["Retry-After"]) >= 1


def test_posts_to_a_user_land_in_the_dm(fake: FakeSlack, client: WebClient) -> None:
    """Slack answers a post to a user id with the DM's id; history must be read from that id."""
    posted = client.chat_postMessage(channel="U0REP", text="psst")

    dm = client.conversations_open(users="U0REP")["channel"]["id"]
    assert posted["channel"] == dm == "DU0REP" and (dm, posted["ts"]) in fake.messages
    assert history(client, dm) == ["psst"]
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.conversations_history(channel="U0REP")


# -- channel reachability ----------------------------------------------------------------------------------


def test_unreachable_channels_fail_every_time(fake: FakeSlack, client: WebClient) -> None:
    """Unlike fail(), these errors are not consumed: the channel stays gone or archived."""
    fake.unreachable_channels.update({"C0GONE": "channel_not_found", "C0ARCH": "is_archived"})

    for _ in range(2):
        for channel, error in fake.unreachable_channels.items():
            with pytest.raises(SlackApiError) as info:
                client.chat_postMessage(channel=channel, text="hi")
            assert info.value.response.status_code == 200 and info.value.response["error"] == error
    assert all(c.failed for c in fake.calls_to("chat.postMessage")) and fake.messages == {}
    with pytest.raises(SlackApiError, match="is_archived"):
        client.conversations_join(channel="C0ARCH")
    assert client.chat_postMessage(channel="C1", text="fine")["ok"]


def test_not_joined_until_conversations_join(fake: FakeSlack, client: WebClient) -> None:
    """not_in_channel repeats until the bot joins; then posting works and the channel leaves the set."""
    fake.not_joined.add("C0NEW")

    for _ in range(2):
        with pytest.raises(SlackApiError, match="not_in_channel"):
            client.chat_postMessage(channel="C0NEW", text="hi")
    with pytest.raises(SlackApiError, match="not_in_channel"):
        client.conversations_history(channel="C0NEW")
    assert client.conversations_join(channel="C0NEW")["channel"]["is_member"]
    assert fake.not_joined == set()
    assert client.chat_postMessage(channel="C0NEW", text="hi")["ok"]
    assert [c.failed for c in fake.calls_to("chat.postMessage")] == [True, True, False]


def test_join_private_channel_is_not_supported(fake: FakeSlack, client: WebClient) -> None:
    """Bots must be invited to private channels; join answers method_not_supported_for_channel_type."""
    fake.not_joined.add("G0PRIV")

    with pytest.raises(SlackApiError) as info:
        client.conversations_join(channel="G0PRIV")

    assert info.value.response["error"] == "method_not_supported_for_channel_type"
    assert fake.not_joined == {"G0PRIV"}


# -- hooks -------------------------------------------------------------------------------------------------


def test_hooks_run_in_order_after_storing_and_before_the_answer(fake: FakeSlack, client: WebClient) -> None:
    """At hook time the message is stored and the answer decided, but the client has not returned yet."""
    seen: list[tuple[str, str, bool]] = []
    returned = threading.Event()

    def first(call: Call) -> None:
        ts = call.response["ts"]
        seen.append(("first", ts, ("C1", ts) in fake.messages and not returned.is_set()))

    def second(call: Call) -> None:
        seen.append(("second", call.response["ts"], call.failed))

    fake.on("chat.postMessage", first)
    fake.on("chat.postMessage", second)
    ts = client.chat_postMessage(channel="C1", text="hi")["ts"]
    returned.set()

    assert seen == [("first", ts, True), ("second", ts, False)]
    fake.off("chat.postMessage")
    client.chat_postMessage(channel="C1", text="again")
    assert len(seen) == 2


def test_hook_drop_closes_the_connection_after_storing(fake: FakeSlack) -> None:
    """The post happened in Slack, the client never hears of it; a retrying client then posts twice."""
    fake.on("chat.postMessage", lambda call: "drop")
    bare = WebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=[])

    with pytest.raises(RemoteDisconnected):
        bare.chat_postMessage(channel="C1", text="lost answer")
    assert fake.last("chat.postMessage").dropped and len(fake.messages) == 1

    fake.reset()
    retry = ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0))
    retrying = WebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=[retry])
    drops = iter(["drop", None])
    fake.off("chat.postMessage")
    fake.on("chat.postMessage", lambda call: next(drops))

    assert retrying.chat_postMessage(channel="C1", text="dup")["ok"]
    assert [m["text"] for m in fake.messages.values()] == ["dup", "dup"]  # why idempotency matters


def test_hook_that_raises_is_a_violation_and_the_answer_still_goes_out(fake: FakeSlack, client: WebClient) -> None:
    def broken(call: Call) -> None:
        raise RuntimeError("boom")

    fake.on("auth.test", broken)

    assert client.auth_test()["ok"]
    assert fake.violations == ["auth.test: hook 'broken' raised RuntimeError: boom"]


def test_hook_can_kill_the_caller_between_accept_and_answer(fake: FakeSlack) -> None:
    """The crash window a restart must survive: Slack stored the message, the process never learned its ts."""
    script = (
        "import sys; from slack_sdk import WebClient; "
        "WebClient(token='xoxb-test', base_url=sys.argv[1]).chat_postMessage(channel='C1', text='hi', "
        "metadata={'event_type': 'deal_checkin', 'event_payload': {'deal_id': 7}}); print('learned ts')"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, fake.base_url], stdout=subprocess.PIPE)
    fake.on("chat.postMessage", lambda call: os.kill(proc.pid, signal.SIGKILL))

    out, _ = proc.communicate(timeout=10)

    assert proc.returncode == -signal.SIGKILL and out == b""
    (message,) = WebClient(token="xoxb-test", base_url=fake.base_url).conversations_history(
        channel="C1", include_all_metadata=True
    )["messages"]
    assert message["metadata"]["event_payload"] == {"deal_id": 7}


# -- concurrency & rate limits -----------------------------------------------------------------------------


def test_concurrent_posts_get_unique_ordered_ts(fake: FakeSlack) -> None:
    """Several clients at once: every post stored with a distinct ts, and wait_for can wait for the answers."""
    clients = [WebClient(token="xoxb-test", base_url=fake.base_url) for _ in range(4)]

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(clients[i % 4].chat_postMessage, channel="C1", text=f"m{i}") for i in range(20)]
        calls = fake.wait_for("chat.postMessage", 20, timeout=5, answered=True)
        results = [f.result() for f in futures]

    assert all(c.response is not None for c in calls) and len(fake.messages) == 20
    ts = [r["ts"] for r in results]
    assert len(set(ts)) == 20
    listed = [
        m["ts"] for m in WebClient(token="x", base_url=fake.base_url).conversations_history(channel="C1")["messages"]
    ]
    assert listed == sorted(ts, key=Decimal, reverse=True)


def test_channel_rate_limit_answers_429_per_channel(fake: FakeSlack, client: WebClient) -> None:
    """Off by default; when set, a quick second post to the same channel is refused with Retry-After: 1."""
    assert client.chat_postMessage(channel="C1", text="a")["ok"] and client.chat_postMessage(channel="C1", text="b")
    fake.channel_rate_limit = 10.0

    assert client.chat_postMessage(channel="C2", text="first in C2")["ok"]
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C2", text="too soon")
    assert info.value.response.status_code == 429 and info.value.response["error"] == "ratelimited"
    assert info.value.response.headers["Retry-After"] == "1"
    assert fake.last("chat.postMessage").failed
    assert client.chat_postMessage(channel="C3", text="other channel")["ok"]

    fake.channel_rate_limit = 0.005
    time.sleep(0.01)
    assert client.chat_postMessage(channel="C2", text="later")["ok"]
    assert [m["text"] for m in fake.messages.values() if m["text"] in ("too soon", "later")] == ["later"]


# -- signing helpers ---------------------------------------------------------------------------------------


def test_sign_matches_slack_sdk_verifier() -> None:
    """Our independent HMAC must agree with slack_sdk, and fail on tampering or stale timestamps."""
    body = command_body(text="Acme 50000")
    verifier = SignatureVerifier(SECRET)

    assert verifier.is_valid_request(body, sign(body, SECRET))
    assert not verifier.is_valid_request(body + "x", sign(body, SECRET))
    assert not verifier.is_valid_request(body, sign(body, "other-secret"))
    assert not verifier.is_valid_request(body, sign(body, SECRET, timestamp=int(time.time()) - 600))


def test_trigger_ids_are_unique() -> None:
    """Handlers may de-duplicate on trigger_id, so each generated body needs its own."""
    assert command_body() != command_body()


@pytest.fixture
def app(fake: FakeSlack) -> App:
    """A Bolt app whose Web API client points at the fake (its auth.test goes there too)."""
    client = WebClient(token="xoxb-test", base_url=fake.base_url)
    return App(client=client, signing_secret=SECRET, process_before_response=True)


def test_bolt_dispatches_signed_command_and_respond_hits_fake(app: App, fake: FakeSlack) -> None:
    """End to end: signed slash command -> Bolt listener -> respond() recorded by the fake."""

    @app.command("/closed-deal")
    def handle(ack, respond, command):
        ack()
        respond(text=f"got {command['text']}")

    body = command_body(text="Acme", response_url=fake.response_url("cmd"))
    assert app.dispatch(bolt_request(body, SECRET, content_type=FORM)).status == 200
    assert fake.last("response_url").params["text"] == "got Acme"
    assert app.dispatch(bolt_request(body, "wrong-secret", content_type=FORM)).status == 401


def test_bolt_routes_interaction_payloads(app: App) -> None:
    """block_actions and view_submission payloads must match Bolt's action_id/callback_id routing."""
    seen = {}

    @app.action("log_deal")
    def on_click(ack, body):
        ack()
        seen["value"] = body["actions"][0]["value"]

    @app.view("deal_modal")
    def on_submit(ack, view):
        ack()
        seen["state"] = view["state"]["values"]
        seen["meta"] = view["private_metadata"]

    click = interaction_body(block_action_payload("log_deal", value="deal-7"))
    values = {
        "amount": {"amount_input": "50000"},
        "when": {"date": {"type": "datepicker", "selected_date": "2024-01-02"}},
    }
    submit = interaction_body(view_submission_payload("deal_modal", values, private_metadata="C0TEAM"))

    assert app.dispatch(bolt_request(click, SECRET, content_type=FORM)).status == 200
    assert app.dispatch(bolt_request(submit, SECRET, content_type=FORM)).status == 200
    assert seen == {
        "value": "deal-7",
        "state": {
            "amount": {"amount_input": {"type": "plain_text_input", "value": "50000"}},
            "when": {"date": {"type": "datepicker", "selected_date": "2024-01-02"}},
        },
        "meta": "C0TEAM",
    }


def test_bolt_receives_signed_events(app: App) -> None:
    """event_body() must be an envelope Bolt accepts and routes by event type."""
    seen = []

    @app.event("app_mention")
    def on_mention(event):
        seen.append(event["text"])

    event = {"type": "app_mention", "user": "U0REP", "text": "<@U0BOT> hi", "channel": "C0TEAM", "ts": "1.2"}
    body = event_body(event)

    assert app.dispatch(bolt_request(body, SECRET, content_type=JSON)).status == 200
    assert seen == ["<@U0BOT> hi"]
    assert json.loads(body)["event_id"] != json.loads(event_body(event))["event_id"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # keep test output clean
        pass


def test_post_goes_through_real_http(app: App) -> None:
    """post() signs and sends over a socket; Bolt's WSGI adapter verifies and answers."""

    @app.command("/closed-deal")
    def handle(ack):
        ack("noted")

    server = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/slack/events"
        status, _, text = post(url, command_body(), SECRET, content_type=FORM)
        bad_status, _, _ = post(
            url, command_body(), SECRET, content_type=FORM, headers_override={"X-Slack-Signature": "v0=00"}
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert (status, text, bad_status) == (200, "noted", 401)


def test_a_failure_after_storing_keeps_the_message_like_slack_would(fake):
    """A 5xx that Slack answered after posting: the message is there, the client hears an error."""
    client = WebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=[])
    fake.fail("chat.postMessage", status=500, stored=True)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="U0REP", text="hi", metadata={"event_type": "t", "event_payload": {"n": 1}})
    assert err.value.response.status_code == 500
    [(channel, _)] = list(fake.messages)
    assert channel == "DU0REP" and fake.last("chat.postMessage").failed


def test_a_failure_can_be_an_html_error_page_as_a_proxy_in_front_of_slack_sends(fake):
    """Not Slack's JSON: slack_sdk reports the status and a non-JSON body, and the message may still be stored."""
    client = WebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=[])
    fake.fail("chat.postMessage", status=503, stored=True, page=True)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 503
    assert "non-JSON" in err.value.response["error"]
    assert len(fake.messages) == 1


def test_a_file_shared_into_a_thread_is_a_reply_read_back_page_by_page_and_not_in_the_channels_history(fake):
    from slack_sdk import WebClient

    from bot.slack.posting import upload_file

    client = WebClient(token="xoxb-test", base_url=fake.base_url)
    parent = client.chat_postMessage(channel="C1", text="the deal")["ts"]
    for n in range(3):
        client.chat_postMessage(channel="C1", text=f"reply {n}", thread_ts=parent)
    file_id = upload_file(client, b"%PDF", filename="kit.pdf", timeout=5)  # getUploadURLExternal, then the bytes
    client.files_completeUploadExternal(
        files=[{"id": file_id, "title": "Kit"}], channel_id="C1", thread_ts=parent, initial_comment="here"
    )
    [shared] = [m for m in fake.thread("C1", parent) if m.get("files")]
    assert shared["text"] == "here" and shared["files"][0]["id"] == file_id
    assert fake.files[file_id]["content"] == b"%PDF"
    seen, cursor = [], None
    while True:
        page = client.conversations_replies(channel="C1", ts=parent, limit=2, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page["has_more"]:
            break
    # the parent heads every page (as Slack does), then the 4 replies, in order
    assert list(dict.fromkeys(seen)) == [parent, *(m["ts"] for m in fake.thread("C1", parent))]
    assert [m["ts"] for m in client.conversations_history(channel="C1")["messages"]] == [parent]
