"""The real HTTP stack (waitress + Bolt's WSGI adapter): signatures are always verified."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
import sqlite_utils

from tests import signing
from tests.conftest import SECRET


def deals(settings):
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db["deals"].rows)


def test_a_signed_command_over_http_is_stored_and_announced(server, fake, settings, executor):
    body = signing.command_body(text="Acme $5k", response_url=fake.response_url())
    status, _, _ = signing.post(f"{server}/slack/events", body, SECRET, content_type=signing.FORM)
    executor.drain()
    assert status == 200
    assert [d["account"] for d in deals(settings)] == ["Acme"]
    assert fake.last("chat.postMessage").params["channel"] == "C0TEAM"


@pytest.mark.parametrize(
    ("secret", "timestamp", "headers"),
    [
        ("forged-secret", None, None),  # signed with the wrong secret
        (SECRET, int(time.time()) - 6 * 60, None),  # more than five minutes old: a replay
        (SECRET, None, {"X-Slack-Signature": "", "X-Slack-Request-Timestamp": ""}),  # blank signature headers
        (SECRET, None, {"X-Slack-Request-Timestamp": "soon"}),  # a timestamp that is not a number
        (SECRET, None, {"X-Slack-Signature": "v0=" + "0" * 64}),  # tampered signature
    ],
    ids=["forged", "expired", "blank", "non-numeric", "tampered"],
)
def test_unverified_requests_get_401_and_change_nothing(server, fake, settings, executor, secret, timestamp, headers):
    body = signing.command_body(text="Acme $5k", response_url=fake.response_url())
    status, _, _ = signing.post(
        f"{server}/slack/events",
        body,
        secret,
        content_type=signing.FORM,
        timestamp=timestamp,
        headers_override=headers,
    )
    executor.drain()
    assert status == 401
    assert deals(settings) == []
    assert fake.calls == []


def test_a_request_without_signature_headers_is_rejected(server, fake, settings):
    body = signing.command_body(text="Acme $5k", response_url=fake.response_url())
    request = urllib.request.Request(
        f"{server}/slack/events", data=body.encode(), headers={"Content-Type": signing.FORM}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10)
    assert err.value.code == 401
    err.value.close()
    assert deals(settings) == []
    assert fake.calls == []


def test_a_body_altered_after_signing_is_rejected(server, fake, settings):
    body = signing.command_body(text="Acme $5k", response_url=fake.response_url())
    headers = {"Content-Type": signing.FORM, **signing.sign(body, SECRET)}
    tampered = body.replace("5k", "5m")
    request = urllib.request.Request(f"{server}/slack/events", data=tampered.encode(), headers=headers, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10)
    assert err.value.code == 401
    err.value.close()
    assert deals(settings) == []


def test_health_check_and_unknown_paths(server):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{server}/healthz", timeout=10) as resp:
        assert resp.status == 200 and resp.read() == b"ok\n"
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(f"{server}/nope", timeout=10)
    assert err.value.code == 404
    err.value.close()


def test_url_verification_challenge_is_answered(server):
    body = '{"token": "x", "challenge": "c-123", "type": "url_verification"}'
    status, _, text = signing.post(f"{server}/slack/events", body, SECRET, content_type=signing.JSON)
    assert status == 200 and "c-123" in text
