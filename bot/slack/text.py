"""Showing user-typed text in Slack safely: no pings, no spoofed links, no broken formatting, no reversed text.

One text policy for every field a user types: capture.check_text refuses the characters `hidden()` names when
they are typed, and every function here strips them when stored text is shown, so a row stored before the
policy (or by any other path) can't turn the bot's own words after it around either.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from bot.slack.ids import is_channel_id, is_user_id

# Invisible but wanted: joiners inside emoji sequences (👩‍💻) and in Persian and Indic scripts. They reorder nothing.
JOINERS = frozenset("\u200c\u200d")
# Letters that draw nothing (Hangul and halfwidth fillers, the blank Braille pattern): a name made of them looks
# empty, so they count as hidden too.
BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_FORMATTING = set("*_~`")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
ZWSP = "\u200b"


def unescape_slack(text: str) -> str:
    """Slack sends `&`, `<`, `>` in command text HTML-escaped; turn them back into what the rep typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def hidden(ch: str) -> bool:
    """A character that changes how text shows without showing itself: format characters (category Cf: the bidi
    controls that reverse what follows them, zero-width spaces, invisible tags), lone surrogates, and letters that
    draw nothing (BLANK_LOOKING)."""
    return (unicodedata.category(ch) in ("Cf", "Cs") and ch not in JOINERS) or ch in BLANK_LOOKING


def inert(text: str | None) -> str:
    """Stored text with the hidden characters removed: what it says, without what it would do to the text after it."""
    if not text or text.isascii():  # the common case, with nothing to look up
        return text or ""
    return "".join(ch for ch in text if not hidden(ch)) if any(map(hidden, text)) else text


def escape(text: str | None) -> str:
    """Escape `&`, `<`, `>` (Slack's control characters), drop hidden characters and defuse @channel/@here."""
    text = inert(text)
    if not text:
        return ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)


def plain(text: str | None) -> str:
    """For plain_text fields (headers): angle brackets become look-alikes so no raw `<!channel>` ever leaves us."""
    text = inert(text)
    if not text:
        return ""
    text = text.replace("<", "\u2039").replace(">", "\u203a")
    return _BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)


def plain_from_mrkdwn(text: str | None) -> str:
    """mrkdwn we wrote, for a plain_text field (a modal's inline error): mentions show as @U1, Slack's escapes as
    the characters they stand for, and then the plain() policy."""
    text = _MENTION.sub(lambda m: f"@{m.group(1)}", text or "")
    return plain(unescape_slack(text))


def bold(text: str | None) -> str:
    """`*text*`, unless the text holds formatting characters that would unbalance the asterisks."""
    safe = escape(text)
    if not safe or _FORMATTING & set(safe):
        return safe
    return f"*{safe}*"


def mention(user_id: str | None) -> str:
    """`<@U…>` for a well-formed member id; anything else (a row stored before ids were checked) shown as text."""
    if is_user_id(user_id):
        return f"<@{user_id}>"
    return escape(user_id) or "someone"


def channel_link(channel_id: str | None) -> str:
    """`<#C…>` for a well-formed channel id; anything else shown as text."""
    if is_channel_id(channel_id):
        return f"<#{channel_id}>"
    return escape(channel_id) or "a channel"


def local_date(moment: datetime) -> str:
    """A moment as a date each reader sees in their own time zone (Slack's date token), with a UTC fallback for
    clients that can't render it: a stored UTC stamp's first ten characters are tomorrow in Los Angeles."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}}|{moment.astimezone(UTC):%b %-d, %Y}>"


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters with an ellipsis, for Slack's per-field limits."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
