"""The HTTP front door refuses what can't be Slack's with a 4xx and one short log line, never a 500 and a traceback:
anyone on the internet can send these, as often as they like."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request

import pytest
import sqlite_utils

from tests import signing
from tests.conftest import SECRET

GARBAGE = b"payload=\xff\xfe\xfd not UTF-8 \xc3\x28"  # invalid start bytes and a broken two-byte sequence


@pytest.fixture
def info_logging(caplog):
    """INFO on before the app is built (Bolt's loggers copy the root level when they are made), as in production."""
    caplog.set_level(logging.INFO)
    return caplog


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        with err:
            return err.code


def signed_bytes(body: bytes, secret: str) -> dict[str, str]:
    """Slack's signature over raw bytes, for a body no str can hold."""
    import hashlib
    import hmac

    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("bot", "handlers", "slack_bolt", "waitress"))]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}, 400),
        ({"X-Slack-Request-Timestamp": str(int(time.time()))}, 401),
        ({}, 401),
        (None, 400),  # signed by someone who has the secret: still refused, never a 500
    ],
    ids=["forged", "no-signature", "no-headers", "signed"],
)
def test_a_body_that_is_not_utf8_is_refused_with_one_short_log_line(
    info_logging, server, fake, settings, headers, status
):
    sent = headers if headers is not None else signed_bytes(GARBAGE, SECRET)
    code = raw_post(f"{server}/slack/events", GARBAGE, {"Content-Type": signing.FORM, **sent})
    assert code == status
    [line] = refusals(info_logging)
    assert line.levelno == logging.WARNING and not line.exc_info and not line.exc_text
    assert line.getMessage().startswith("Refused a request to /slack/events from 127.0.0.1: ")
    assert len(line.getMessage()) < 160 and "Traceback" not in info_logging.text
    assert fake.calls == []
    with sqlite_utils.Database(settings.db_path) as db:
        assert db["deals"].count == 0


def test_a_forged_request_never_puts_its_body_in_the_log(info_logging, server, fake, settings):
    body = signing.command_body(text="Acme $5k " + "A" * 50_000, response_url=fake.response_url())
    status, _, _ = signing.post(f"{server}/slack/events", body, "forged-secret", content_type=signing.FORM)
    assert status == 401
    [line] = refusals(info_logging)
    assert "signature that doesn't match" in line.getMessage()
    assert "AAAAAAAAAA" not in info_logging.text and len(info_logging.text) < 500
    assert fake.calls == []


def test_a_signed_request_still_goes_through_the_front_door(server, fake, settings, executor, caplog):
    body = signing.command_body(text="Acme Rockets $5k", response_url=fake.response_url())
    status, _, _ = signing.post(f"{server}/slack/events", body, SECRET, content_type=signing.FORM)
    executor.drain()
    assert status == 200 and "Acme Rockets" in fake.last("chat.postMessage").params["text"]
    assert "Refused" not in caplog.text
