"""No token or secret reaches the log at LOG_LEVEL=DEBUG, where slack_sdk writes whole Web API responses.

Real processes (`serve`, `tick`, `digest`) against the fake Slack, through the OAuth install, a capture, clicks,
a tick and a digest; their whole stderr is searched for every token and secret value."""

from __future__ import annotations

import re
import signal
from datetime import UTC, date, datetime, time, timedelta

import sqlite_utils

from tests import signing
from tests.bot.slack.test_workspaces import reinstall
from tests.processes import cli_env, free_port, keep_reading, start_serve
from tests.test_cli import run_cli

SIGNING_SECRET = "signing-secret-3f9a1c"
CLIENT_SECRET = "client-secret-77b2e0"
TEAM, REP, MANAGER, CHANNEL = "T0NEW", "U0REP", "U0MGR", "C0TEAM"
INSTALLED_BOT = f"xoxb-{TEAM}-installed"  # what the fake's oauth.v2.access hands over
REFRESH = "xoxe-1-refresh-4e2a9c7d"
USER_TOKEN = "xoxp-1-user-9d8c7b6a"
ANY_TOKEN = re.compile(r"\b(?:xox[a-z]|xapp)-(?!\[REDACTED\])")


def rotating_install(call) -> None:
    """oauth.v2.access as Slack answers an app with token rotation and a user scope: three tokens in one body."""
    call.response.update(refresh_token=REFRESH, expires_in=43200)
    call.response["authed_user"] = {"id": "U0INSTALLER", "access_token": USER_TOKEN, "token_type": "user"}


def business_morning() -> datetime:
    """A Tuesday over a week ahead at 14:00 UTC (morning in New York, the fake's time zone for managers):
    every step of a deal closed today is due, and the digest is due."""
    day = date.today() + timedelta(days=8)
    day += timedelta(days=(1 - day.weekday()) % 7)
    return datetime.combine(day, time(14, 0), tzinfo=UTC)


def test_serve_tick_and_digest_at_debug_log_no_token_and_no_secret(tmp_path, fake):
    fake.on("oauth.v2.access", rotating_install)
    port, db_path = free_port(), tmp_path / "deals.db"
    env = cli_env(
        SLACK_CLIENT_ID="111.222",
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.base_url,
        PORT=str(port),
        DEALCOACH_DB=str(db_path),
        DEALCOACH_MANAGERS=MANAGER,
        LOG_LEVEL="DEBUG",
    )
    base = f"http://127.0.0.1:{port}"
    proc, serve_log = start_serve(env, tmp_path)
    reader = keep_reading(proc, serve_log)
    try:
        reinstall(base)  # /slack/install, then Slack's redirect to /slack/oauth_redirect: oauth.v2.access
        body = signing.command_body(
            text="Acme Rockets $120k", team_id=TEAM, user_id=REP, channel_id=CHANNEL, response_url=fake.response_url()
        )
        assert signing.post(f"{base}/slack/events", body, SIGNING_SECRET, content_type=signing.FORM)[0] == 200
        [announcement] = fake.wait_for("chat.postMessage")
        assert announcement.token == INSTALLED_BOT

        tick = run_cli("tick", "--now", business_morning().isoformat(), env=env, cwd=tmp_path)
        digest = run_cli("digest", "--now", business_morning().isoformat(), env=env, cwd=tmp_path)
        assert tick.returncode == 0 and "posted" in tick.stdout, tick.stderr[-2000:]
        assert digest.returncode == 0 and "sent 1 digest" in digest.stdout, digest.stderr[-2000:]

        with sqlite_utils.Database(db_path) as db:
            nudge = next(db.query("SELECT id FROM nudges WHERE status = 'posted' ORDER BY id"))
        clicks = len(fake.calls_to("chat.update"))
        for action_id, value in (("nudge_done", str(nudge["id"])), ("open_deal_details", "1")):
            payload = signing.block_action_payload(
                action_id, value, user_id=REP, team_id=TEAM, channel_id=CHANNEL, response_url=fake.response_url()
            )
            status, _, _ = signing.post(
                f"{base}/slack/events", signing.interaction_body(payload), SIGNING_SECRET, content_type=signing.FORM
            )
            assert status == 200
        fake.wait_for("chat.update", clicks + 1)
        fake.wait_for("views.open")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=30)
        proc.stderr.close()

    logs = {"serve": "".join(serve_log), "tick": tick.stderr, "digest": digest.stderr}
    for name, text in logs.items():
        for secret in (INSTALLED_BOT, REFRESH, USER_TOKEN, CLIENT_SECRET, SIGNING_SECRET):
            assert secret not in text, f"{secret} in the {name} log"
        assert ANY_TOKEN.search(text) is None, f"a token in the {name} log: {ANY_TOKEN.search(text)}"
    # DEBUG really was on, and the responses that carry tokens really were logged (redacted)
    assert '"access_token": "[REDACTED]"' in logs["serve"] and "oauth.v2.access" in logs["serve"]
    assert "chat.postMessage" in logs["tick"] and "chat.postMessage" in logs["digest"]
