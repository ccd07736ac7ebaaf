"""Slack retries and people double-click: a replayed request, a retried event or a second submit changes nothing."""

from __future__ import annotations

import pytest

from tests import engines, signing
from tests.conftest import CHANNEL, REP, SECRET
from tests.slackapp import form

pytestmark = pytest.mark.both_engines


def count(settings, table: str) -> int:
    return engines.rows(settings, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]


def test_a_replayed_slash_command_stores_and_announces_once(slack, fake, settings):
    body = signing.command_body(text="Acme Rockets $120k", response_url=fake.response_url())
    for retry in (None, "1"):  # the same signed request, as a proxy or Slack resending it would deliver it
        headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        response = slack.app.dispatch(
            signing.bolt_request(body, SECRET, content_type=signing.FORM, extra_headers=headers)
        )
        slack.executor.drain()
        assert response.status == 200
    assert count(settings, "deals") == 1
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_a_retried_event_is_harmless(slack, fake, settings):
    event = signing.event_body({"type": "app_home_opened", "user": REP, "tab": "home"})
    for retry in (None, "1", "2"):
        headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_error"} if retry else None
        response = slack.app.dispatch(
            signing.bolt_request(event, SECRET, content_type=signing.JSON, extra_headers=headers)
        )
        slack.executor.drain()
        assert response.status == 200
    assert [r["user_id"] for r in engines.rows(settings, "SELECT user_id FROM home_views")] == [REP]
    assert {c.params["user_id"] for c in fake.calls_to("views.publish")} == {REP}
    assert fake.violations == []

    uninstalled = signing.event_body({"type": "app_uninstalled"})
    for retry in (None, "1"):
        headers = {"X-Slack-Retry-Num": retry} if retry else None
        slack.app.dispatch(signing.bolt_request(uninstalled, SECRET, content_type=signing.JSON, extra_headers=headers))
    assert engines.rows(settings, "SELECT team_id, active FROM workspaces") == [{"team_id": "T0FAKE", "active": 0}]


def test_double_clicks_and_double_submits_change_nothing_the_second_time(slack, fake, settings):
    slack.command("")
    view = fake.last("views.open").params["view"]
    for _ in range(2):
        slack.submit(view, form("Acme", "$5k", persona="economic"), view_id="V0ONCE")
    assert count(settings, "deals") == 1 and len(fake.calls_to("chat.postMessage")) == 1
    deal_id = engines.rows(settings, "SELECT id FROM deals ORDER BY id")[0]["id"]
    slack.command("Globex $9k verbal")
    verbal = engines.rows(settings, "SELECT id FROM deals WHERE account = 'Globex'")[0]["id"]
    for _ in range(2):
        slack.click("deal_mark_signed", str(verbal), channel=CHANNEL)
    assert len([c for c in fake.calls_to("chat.update")]) == 1  # the second click found it signed already
    assert "already signed" in fake.last("response_url").params["text"]
    assert deal_id
