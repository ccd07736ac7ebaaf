"""Logging set-up, and the filter that keeps tokens and secrets out of every log line at every level.

slack_sdk logs whole Web API responses at DEBUG (`oauth.v2.access` carries the new bot token), and any library
may put a secret in a message, its arguments or an exception. The filter sits on the handlers, so it sees every
record whichever logger emitted it, and rewrites the message, the exception text and the stack before any
formatter writes them.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[REDACTED]"
MIN_SECRET = 8  # shorter configured values are not searched for: they would blank out ordinary words

# Slack tokens by their shape: bot, user, legacy workspace, refresh (xoxe-, xoxe.xoxb-) and app-level tokens.
SLACK_TOKEN = re.compile(r"\b(?:xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+")
_SECRET_KEYS = (
    "access_token|refresh_token|bot_token|user_token|app_token|bot_refresh_token|user_refresh_token"
    "|client_secret|signing_secret|verification_token|token|ticket"
    "|api_token|x-api-token|password"  # Pipedrive's token header and query name; a Basic or webhook password
)
# `"access_token": "…"`, `'client_secret': '…'`, `access_token=…` (forms and URLs), `refresh_token: …`
_NOT_DONE = r"(?!\[REDACTED\])"  # a record seen by two handlers is cleaned twice: the second pass changes nothing
KEYED_SECRET = re.compile(
    rf"""(?P<key>(?<![A-Za-z0-9-])(?:{_SECRET_KEYS})\\?["']?\s*[:=]\s*\\?["']?){_NOT_DONE}(?!null\b|None\b)"""
    r"""[^\s"'\\&,;)}\]]+""",
    re.IGNORECASE,
)
AUTHORIZATION = re.compile(
    rf"(?P<key>authorization\\?[\"']?\s*[:=]\s*\\?[\"']?){_NOT_DONE}[^\s\"'\\,}}][^\"'\\,}}\r\n]*", re.IGNORECASE
)
BEARER = re.compile(rf"\bBearer\s+{_NOT_DONE}[A-Za-z0-9._~+/=-]{{8,}}")  # 8+: not "Bearer of good news"
WEBHOOK = re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every Slack token, keyed secret, Authorization value and configured secret replaced."""
    for value in sorted(secrets, key=len, reverse=True):  # the longest first: one may contain another
        if len(value) >= MIN_SECRET:
            text = text.replace(value, REDACTED)
    text = AUTHORIZATION.sub(rf"\g<key>{REDACTED}", text)
    text = BEARER.sub(f"Bearer {REDACTED}", text)
    text = KEYED_SECRET.sub(rf"\g<key>{REDACTED}", text)
    text = WEBHOOK.sub(f"https://hooks.slack.com/services/{REDACTED}", text)
    return SLACK_TOKEN.sub(lambda m: m.group(0).split("-", 1)[0] + "-" + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Rewrites each record so no handler can write a token: the message with its arguments merged in, the
    exception's traceback and the stack. Never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that don't fit the message: keep both, readable, instead of a crash
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self._clean(message), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_info = None  # only the cleaned text goes on: a handler can't format the raw exception again
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True

    def _clean(self, text: str) -> str:
        return redact(str(text), self.secrets)


def configure(level: str, secrets: Iterable[str] = ()) -> RedactSecrets:
    """Log to stderr at `level`, through the redacting filter on every handler the root logger has."""
    logging.basicConfig(level=level, format=FORMAT)
    guard = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(old)  # configured again (tests call main() more than once): one filter each
        handler.addFilter(guard)
    return guard
