"""The log filter: whatever a library logs, in the message, its arguments or a traceback, no secret gets through."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logs import FORMAT, REDACTED, RedactSecrets, configure, redact
from bot.settings import Settings, secret_values

SIGNING = "8f14e45fceea167a5a36dedd4bea2543"
CLIENT = "3c59dc048e8850243be8079a5c74d079"


@pytest.fixture
def log():
    """A logger writing through a handler that carries the filter, as `dealcoach` sets it up; returns the text."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets([SIGNING, CLIENT, "short"]))
    logger = logging.getLogger("tests.logs.any_library")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream.getvalue
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    "token",
    [
        "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
        "xoxp-1-abc-def",
        "xoxa-2-legacy",
        "xoxe-1-My0xLTE1MjM0NTY3ODkw",
        "xoxe.xoxb-1-refreshed",
        "xoxe.xoxp-1-refreshed",
        "xapp-1-A0FAKE-123-abcdef",
    ],
)
def test_slack_tokens_of_every_kind_are_redacted_wherever_they_stand(token):
    for text in (f"token {token} here", f"({token})", f"'{token}'", f"x={token}&y=1", f'"{token}"'):
        cleaned = redact(text)
        assert token not in cleaned and REDACTED in cleaned, text
    assert redact(f"using {token}").startswith("using " + token.split("-")[0] + "-")  # the kind stays readable


@pytest.mark.parametrize(
    "text",
    [
        '{"ok": true, "access_token": "opaque-AAA", "refresh_token": "opaque-BBB"}',  # a Web API response body
        "{'client_secret': 'opaque-AAA', 'signing_secret': 'opaque-BBB'}",  # a dict's repr
        "grant_type=refresh_token&refresh_token=opaque-AAA&client_secret=opaque-BBB",  # a form body
        '{\\"access_token\\": \\"opaque-AAA\\", \\"bot_token\\": \\"opaque-BBB\\"}',  # JSON inside a JSON string
        "headers: {'Authorization': 'Bearer opaque-AAA', 'X-Other': 'opaque-BBB'}",
        "Authorization: Basic opaque-AAA\r\nX: opaque-BBB",
        "wss://wss-primary.slack.com/link/?ticket=opaque-AAA&app_id=A1 SLACK_CLIENT_SECRET=opaque-BBB",
        "hook https://hooks.slack.com/services/T000/B000/opaque-AAA and token: opaque-BBB",
        "{'x-api-token': 'opaque-AAA', 'password': 'opaque-BBB'}",  # a CRM request's headers; a Basic password
        "GET /api/v1/deals?api_token=opaque-AAA&password=opaque-BBB",  # a token where Pipedrive's v1 allowed it
    ],
)
def test_keyed_secrets_lose_their_values_whatever_the_syntax(text):
    cleaned = redact(text)
    assert "opaque-AAA" not in cleaned, cleaned
    if "X-Other" not in text and "X: " not in text:
        assert "opaque-BBB" not in cleaned, cleaned
    assert redact(cleaned) == cleaned  # a record cleaned by two handlers reads the same


def test_ordinary_words_are_left_alone():
    text = (
        "token_type: bot; 3 tokens revoked; Basic Information > App Credentials; access_token: null; "
        "Bearer of good news; the signing secret is not set; workspace T0NEW uninstalled"
    )
    assert redact(text, ["short"]) == text


def test_configured_secret_values_are_redacted_but_short_ones_are_not_hunted(log):
    logger, text = log
    logger.info("verifying with %s and %s, and the short value", SIGNING, CLIENT)
    assert SIGNING not in text() and CLIENT not in text() and "short value" in text()


def test_arguments_are_merged_and_cleaned_and_a_bad_format_still_logs_without_the_secret(log):
    logger, text = log
    logger.debug("Received - body: %s", json.dumps({"ok": True, "access_token": "xoxb-1-2-3"}))
    logger.warning("two placeholders %s %s", f"refresh_token={SIGNING}")  # one argument missing
    out = text()
    assert "xoxb-1-2-3" not in out and SIGNING not in out
    assert '"access_token": "[REDACTED]"' in out and "two placeholders" in out
    assert "Logging error" not in out


def test_exception_tracebacks_and_stacks_are_cleaned(log):
    logger, text = log
    try:
        raise RuntimeError(f"The server responded with: {{'access_token': 'xoxp-9-8-7', 'secret': '{CLIENT}'}}")
    except RuntimeError:
        logger.exception("Install failed")
    logger.error("called with xoxb-1-2", stack_info=True)
    out = text()
    assert "Traceback (most recent call last)" in out and "RuntimeError" in out and "Install failed" in out
    assert "Stack (most recent call last)" in out
    assert "xoxp-9-8-7" not in out and CLIENT not in out and "xoxb-1-2" not in out


def test_a_record_seen_by_two_handlers_is_written_the_same_by_both():
    streams = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("tests.logs.two_handlers")
    guard = RedactSecrets([SIGNING])
    for stream in streams:
        handler = logging.StreamHandler(stream)
        handler.addFilter(guard)
        logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError(f"bad {SIGNING}")
    except ValueError:
        logger.exception("access_token=%s", "xoxb-1-1")
    first, second = (s.getvalue() for s in streams)
    assert first == second and "xoxb-1-1" not in first and SIGNING not in first and "ValueError" in first


def test_configure_puts_one_filter_on_every_root_handler_with_the_settings_secrets():
    root = logging.getLogger()
    extra = logging.StreamHandler(io.StringIO())
    root.addHandler(extra)
    try:
        configure("INFO", secrets=[SIGNING])
        guard = configure("INFO", secrets=[CLIENT])  # configured twice: still one filter per handler
        for handler in root.handlers:
            assert [f for f in handler.filters if isinstance(f, RedactSecrets)] == [guard]
        assert guard.secrets == (CLIENT,)
    finally:
        for handler in root.handlers:
            for f in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
                handler.removeFilter(f)
        root.removeHandler(extra)


def test_the_secrets_read_from_the_environment_are_the_settings_secrets():
    env = {
        "SLACK_CLIENT_ID": "1.2",
        "SLACK_CLIENT_SECRET": f" {CLIENT} ",
        "SLACK_SIGNING_SECRET": SIGNING,
        "SLACK_APP_TOKEN": "",
        "DEALCOACH_CURRENCY": "EUR",
    }
    settings = Settings.from_env(env)
    assert set(secret_values(env)) == set(settings.secrets) == {CLIENT, SIGNING}
