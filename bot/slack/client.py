"""Which Slack client may repeat a call: messages go out through one that never retries, so no retry posts twice."""

from __future__ import annotations

import logging
from decimal import Decimal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler

from bot.settings import Settings
from bot.timestamps import parse_stamp

logger = logging.getLogger(__name__)
# What the bot asks Slack for, in the manifest and in the OAuth install; tests keep the two the same.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "channels:join",
    "channels:history",
    "groups:history",
    "users:read",
    "users:read.email",
    "im:write",
    "im:history",
    "files:write",
    "usergroups:read",
)
TIMEOUT_SECONDS = 10
# Calls that change nothing when repeated (or whose repeat Slack refuses, like a spent trigger_id): the only ones
# the listeners' client retries. chat.postMessage is not among them: a retry after a 5xx can post a second copy.
SAFE_TO_REPEAT = frozenset(
    {
        "auth.test",
        "chat.delete",
        "chat.getPermalink",
        "chat.update",
        "conversations.history",
        "conversations.info",
        "conversations.join",
        "conversations.open",
        "users.info",
        "users.lookupByEmail",
        "views.open",
        "views.publish",
        "views.push",
        "views.update",
    }
)


def posting_client(settings: Settings, token: str | None = None) -> WebClient:
    """The one way to get a client that posts: it never retries on its own, so a timeout or a 5xx after Slack
    stored a message is an unknown outcome for the exactly-once protocol (bot/slack/posting.py), never a second copy."""
    return WebClient(
        token=(token if token is not None else settings.slack_bot_token) or None,
        base_url=settings.slack_api_url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[],
    )


class OnlySafeToRepeat(RetryHandler):
    """Lets `inner` retry a call only when repeating it can't make a second message."""

    def __init__(self, inner: RetryHandler):
        super().__init__(max_retry_count=inner.max_retry_count, interval_calculator=inner.interval_calculator)
        self.inner = inner

    def can_retry(self, *, state, request, response=None, error=None) -> bool:
        method = request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if method not in SAFE_TO_REPEAT:
            return False
        return self.inner.can_retry(state=state, request=request, response=response, error=error)

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        self.inner.prepare_for_next_attempt(state=state, request=request, response=response, error=error)


def listener_client(settings: Settings, token: str | None = None, *, backoff_seconds: float = 0.5) -> WebClient:
    """Bolt's client for listeners (Bolt copies its base_url and retry handlers per request): it waits out rate
    limits, 5xx answers and dropped connections, but only for calls that are safe to repeat (SAFE_TO_REPEAT).
    A message that must appear once is never posted with it: it goes through posting_client."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_seconds)
    handlers = [
        ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
        RateLimitErrorRetryHandler(max_retry_count=2),
        ServerErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
    ]
    return WebClient(
        token=(token if token is not None else settings.slack_bot_token) or None,
        base_url=settings.slack_api_url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[OnlySafeToRepeat(h) for h in handlers],
    )


def slack_ts(stored: str) -> Decimal:
    """A stored stamp as Slack's ts (epoch seconds), to bound a conversations.history search."""
    return Decimal(str(parse_stamp(stored).timestamp()))


def error_code(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return data.get("error", "") if isinstance(data, dict) else ""


def status_of(exc: SlackApiError) -> int:
    return exc.response.status_code if exc.response is not None else 0


def retry_after(exc: SlackApiError, default: int = 60) -> int:
    """Seconds Slack asks us to wait after a 429."""
    headers = exc.response.headers if exc.response is not None else {}
    value = headers.get("Retry-After", headers.get("retry-after", default))
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return default


def describe(exc: Exception) -> str:
    """A failure in a word for logs: Slack's error code, or the exception's kind (never a token)."""
    return (error_code(exc) if isinstance(exc, SlackApiError) else "") or type(exc).__name__
