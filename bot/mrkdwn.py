"""Showing user-typed text in Slack safely: no pings, no spoofed links, no broken formatting."""

from __future__ import annotations

import re

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_FORMATTING = set("*_~`")
ZWSP = "\u200b"


def unescape_slack(text: str) -> str:
    """Slack sends `&`, `<`, `>` in command text HTML-escaped; turn them back into what the rep typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str | None) -> str:
    """Escape `&`, `<`, `>` (Slack's control characters) and defuse @channel/@here/@everyone."""
    if not text:
        return ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)


def plain(text: str | None) -> str:
    """For plain_text fields (headers): angle brackets become look-alikes so no raw `<!channel>` ever leaves us."""
    if not text:
        return ""
    text = text.replace("<", "\u2039").replace(">", "\u203a")
    return _BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)


def bold(text: str | None) -> str:
    """`*text*`, unless the text holds formatting characters that would unbalance the asterisks."""
    safe = escape(text)
    if not safe or _FORMATTING & set(safe):
        return safe
    return f"*{safe}*"


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters with an ellipsis, for Slack's per-field limits."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
