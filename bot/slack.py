"""Talking to Slack's Web API: a client that waits out rate limits and server errors, and posting helpers."""

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

from bot.db import parse_stamp
from bot.settings import Settings

logger = logging.getLogger(__name__)
# What the bot asks Slack for, in the manifest and in the OAuth install; tests keep the two the same.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "channels:join",
    "channels:history",
    "groups:history",
    "users:read",
    "im:write",
    "im:history",
    "files:write",
)
TIMEOUT_SECONDS = 10


def build_client(
    settings: Settings, token: str | None = None, *, backoff_seconds: float = 0.5, retries: bool = True
) -> WebClient:
    """The Web API client for listeners (Bolt copies its base_url and retry handlers per request) and jobs.

    `retries=False` is for the nudge dispatcher: a retried POST after a timeout or 5xx may post twice, so
    the dispatcher records such outcomes as unknown and checks the channel instead.
    """
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
        retry_handlers=handlers if retries else [],
    )


def slack_ts(stored: str) -> Decimal:
    """A stored stamp as Slack's ts (epoch seconds), to bound a conversations.history search."""
    return Decimal(str(parse_stamp(stored).timestamp()))


def error_code(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return data.get("error", "") if isinstance(data, dict) else ""


def post_in_channel(client: WebClient, channel: str, text: str, blocks: list[dict], **extra) -> str:
    """Post a message, joining a public channel first if the bot was never invited; returns its ts."""
    try:
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False, **extra)
    except SlackApiError as exc:
        if error_code(exc) != "not_in_channel":
            raise
        client.conversations_join(channel=channel)
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False, **extra)
    return response["ts"]


def describe(exc: Exception) -> str:
    """A failure in a word for logs: Slack's error code, or the exception's kind (never a token)."""
    return (error_code(exc) if isinstance(exc, SlackApiError) else "") or type(exc).__name__
