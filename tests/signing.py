"""Build genuinely signed Slack requests (v0 HMAC scheme) so tests exercise Bolt's real verification path."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlencode

from slack_bolt.request import BoltRequest

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
APP_ID, TEAM_DOMAIN, VERIFICATION_TOKEN = "A0FAKE", "fake", "fake-verification-token"
# Loopback port 9 (discard) refuses connections fast: a forgotten response_url can never reach slack.com.
DEAD_RESPONSE_URL = "http://127.0.0.1:9/response/unset"
DEFAULT_TS = "1700000000.000100"


def _unique(prefix: str = "") -> str:
    """Fresh opaque id, so trigger_ids/event_ids never collide between requests."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def _trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's X-Slack-Signature / X-Slack-Request-Timestamp headers for `body` (content-type is yours)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def command_body(
    command: str = "/closed-deal",
    text: str = "",
    user_id: str = "U0REP",
    channel_id: str = "C0TEAM",
    team_id: str = "T0FAKE",
    response_url: str = DEAD_RESPONSE_URL,
    trigger_id: str | None = None,
) -> str:
    """Form body shaped like Slack's slash-command POST."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": f"channel-{channel_id}",
        "user_id": user_id,
        "user_name": f"user-{user_id}",
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(),
    }
    return urlencode(fields)


def interaction_body(payload: dict[str, Any]) -> str:
    """Form body `payload=<json>`, as Slack sends block_actions and view_submission."""
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], team_id: str = "T0FAKE") -> str:
    """JSON event_callback envelope around `event`, with a fresh event_id."""
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": _unique("Ev"),
        "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": "U0BOT", "is_bot": True}],
        "is_ext_shared_channel": False,
    }
    return json.dumps(envelope)


def _user(user_id: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": f"user-{user_id}", "name": f"user-{user_id}", "team_id": team_id}


def block_action_payload(
    action_id: str,
    value: str = "",
    user_id: str = "U0REP",
    channel_id: str = "C0TEAM",
    message_ts: str = DEFAULT_TS,
    team_id: str = "T0FAKE",
    response_url: str = DEAD_RESPONSE_URL,
    trigger_id: str | None = None,
    message: dict[str, Any] | None = None,
    *,
    block_id: str = "actions",
    action: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """block_actions payload for a button click in a channel message; `action` overrides the action object."""
    clicked = {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": "Button", "emoji": True},
        "value": value,
        "action_ts": f"{time.time():.6f}",
    }
    default_message = {"type": "message", "user": "U0BOT", "bot_id": "B0BOT", "ts": message_ts, "text": ""}
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": f"channel-{channel_id}"},
        "message": message if message is not None else default_message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [clicked | (action or {})],
    }


def _state_value(value: Any) -> dict[str, Any]:
    """Slack-shaped value objects pass through; a bare string/None becomes a plain_text_input value."""
    return value if isinstance(value, dict) else {"type": "plain_text_input", "value": value}


def view_submission_payload(
    callback_id: str,
    values: dict[str, dict[str, Any]],
    private_metadata: str = "",
    user_id: str = "U0REP",
    team_id: str = "T0FAKE",
    view_id: str | None = None,
    opened: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """view_submission payload; `values` is block_id -> action_id -> (Slack value object | plain string). Slack
    sends the view as it was opened: pass that view as `opened` for its submit label and blocks."""
    opened = opened or {}
    view_id = view_id or _unique("V")
    state = {block: {action: _state_value(v) for action, v in actions.items()} for block, actions in values.items()}
    view = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": "Deal Coach"},
        "submit": opened.get("submit") or {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": opened.get("blocks") or [],
        "state": {"values": state},
        "hash": _unique("h"),
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": APP_ID,
        "external_id": "",
        "bot_id": "B0BOT",
        "clear_on_close": False,
        "notify_on_close": False,
    }
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": _trigger_id(),
        "view": view,
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }


def bolt_request(
    body: str,
    secret: str,
    *,
    content_type: str,
    timestamp: int | None = None,
    extra_headers: dict[str, str] | None = None,
) -> BoltRequest:
    """Signed BoltRequest for tests that call App.dispatch() directly."""
    headers = {"Content-Type": content_type, **sign(body, secret, timestamp), **(extra_headers or {})}
    return BoltRequest(body=body, headers=headers)


def post(
    url: str,
    body: str,
    secret: str,
    *,
    content_type: str,
    timestamp: int | None = None,
    headers_override: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """POST a signed request over real HTTP; returns (status, lowercased headers, body) even for 4xx/5xx."""
    headers = {"Content-Type": content_type, **sign(body, secret, timestamp), **(headers_override or {})}
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()
