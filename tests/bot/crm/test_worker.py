"""The CRM worker against a CRM whose API fails: a small adapter implementing the Adapter protocol (the real API
adapters live beside it), driven through the real webhook route and the scheduler's own job."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlite_utils

from bot.coach import Coach
from bot.crm import worker
from bot.crm.types import Adapter, BadPayload, CrmDeal, CrmUnavailable, Event, Unauthorized
from bot.crm.webhooks import crm_app
from bot.nudges.dispatch import Pacer
from bot.playbook.loader import load
from bot.slack import workspaces
from schedules.jobs import dispatch_nudges
from tests.conftest import REP

SECRET = "test-crm-shared-secret"


class ApiCrm:
    """A CRM that says which deal changed (JSON, a bearer secret) and whose API is read for the deal itself.
    `outage` makes the next resolves fail as an API outage would; `state` is what the API answers."""

    name = "testcrm"

    def __init__(self):
        self.outage: list[Exception] = []
        self.state: dict[str, bool] = {}
        self.resolved = 0

    def authenticate(self, *, method, path_and_query, headers: Mapping[str, str], body, now) -> None:
        if headers.get("Authorization") != f"Bearer {SECRET}":
            raise Unauthorized("no bearer secret")

    def parse(self, body: bytes, headers) -> list[Event]:
        try:
            items = json.loads(body)
            return [
                Event("testcrm", i["event"], "acct-1", i["deal"], datetime.fromisoformat(i["at"]), {"deal": i["deal"]})
                for i in items
            ]
        except (ValueError, KeyError, TypeError):
            raise BadPayload("a JSON array of {event, deal, at}") from None

    def resolve(self, event: Event) -> CrmDeal:
        self.resolved += 1
        if self.outage:
            raise self.outage.pop(0)
        return CrmDeal(
            crm="testcrm",
            crm_account="acct-1",
            crm_deal_id=event.crm_deal_id,
            won=self.state.get(event.crm_deal_id, True),
            name=f"Account {event.crm_deal_id}\u202e",  # an override character: dropped, never shown
            amount=Decimal("50000"),
            currency="EUR",
            close_date=date(2026, 11, 20),
            owner_email="jane@example.com",
            contact_name="Hank Scorpio",
            contact_title="CEO",
            pipeline="Enterprise",
            record_url="https://crm.example.com/deals/" + event.crm_deal_id,
        )

    def backfill(self, since: date) -> Iterable[CrmDeal]:
        return [self.resolve(Event("testcrm", "b", "acct-1", d, None, {})) for d in ("d1", "d2")]


def test_the_test_adapter_is_an_adapter():
    adapter: Adapter = ApiCrm()  # what the type checker sees; the worker needs only these names
    assert all(callable(getattr(adapter, n)) for n in ("authenticate", "parse", "resolve", "backfill"))


@pytest.fixture
def api():
    return ApiCrm()


@pytest.fixture
def coach_with(settings, store, clock, pace, api):
    crm_settings = replace(settings, crm_channel="C0CRMWINS", crm_team="T0FAKE")
    return Coach(crm_settings, store, load(), clock, sleep=pace.sleep, crm={"testcrm": api})


@pytest.fixture
def base(coach_with, server_for):
    return server_for(None, crm=crm_app(coach_with.crm, coach_with.store.for_requests(200), coach_with.now))


def send(base: str, items: list[dict], secret: str = SECRET) -> int:
    request = urllib.request.Request(
        f"{base}/crm/testcrm",
        data=json.dumps(items).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        e.close()
        return e.code


@pytest.fixture
def tick(coach_with, pace):
    def run():
        return dispatch_nudges(
            coach_with, coach_with.workspaces, None, Pacer(sleep=pace.sleep, monotonic=pace.monotonic)
        )

    return run


def table(settings, name):
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db[name].rows)


def won(deal: str, event: str = "e1", at: str = "2026-11-23T14:00:00+00:00") -> dict:
    return {"event": event, "deal": deal, "at": at}


def test_an_api_outage_delays_the_deal_honouring_retry_after_and_never_drops_it(
    base, coach_with, api, fake, tick, clock
):
    fake.emails["jane@example.com"] = REP
    api.outage = [CrmUnavailable("HTTP 429", retry_after=300), CrmUnavailable("HTTP 503")]
    assert send(base, [won("d1")]) == 200
    tick()
    [event] = table(coach_with.settings, "crm_inbox")
    assert event["status"] == "pending" and "HTTP 429" in event["error"]
    assert table(coach_with.settings, "deals") == []

    clock.now += timedelta(seconds=299)  # Retry-After not over: not asked again
    tick()
    assert api.resolved == 1
    clock.now += timedelta(seconds=2)
    tick()  # asked again: a 503 this time, so a backoff
    assert api.resolved == 2 and table(coach_with.settings, "deals") == []
    clock.now += timedelta(minutes=2)
    tick()
    [deal] = table(coach_with.settings, "deals")
    assert (deal["account"], deal["contact_name"], deal["currency"]) == ("Account d1", "Hank Scorpio", "EUR")
    assert deal["owner_id"] == REP and deal["source"] == "testcrm"
    assert len(fake.posts_of("dealcoach_deal")) == 1
    assert table(coach_with.settings, "crm_inbox")[0]["status"] == "done"


def test_a_resolve_that_breaks_is_logged_and_kept_for_later(base, coach_with, api, fake, tick, clock, caplog):
    api.outage = [KeyError("dealname")]
    send(base, [won("d1")])
    with caplog.at_level(logging.ERROR, logger="bot.crm.worker"):
        tick()
    assert "could not turn the event into a deal" in caplog.text
    assert table(coach_with.settings, "crm_inbox")[0]["status"] == "pending"
    clock.now += timedelta(minutes=1)
    tick()
    assert len(table(coach_with.settings, "deals")) == 1


def test_events_out_of_order_create_one_deal_and_an_older_revert_changes_nothing(base, coach_with, api, fake, tick):
    fake.emails["jane@example.com"] = REP
    send(base, [won("d1", "e2", "2026-11-23T14:05:00+00:00")])
    tick()
    api.state["d1"] = False  # an older event arrives late; the API says lost, but the event predates the win applied
    send(base, [won("d1", "e1", "2026-11-23T14:00:00+00:00")])
    tick()
    [deal] = table(coach_with.settings, "deals")
    assert deal["paused_at"] is None
    assert [e["outcome"] for e in table(coach_with.settings, "crm_inbox")][1].startswith("stale")


def test_forged_and_malformed_requests_store_nothing(base, coach_with):
    assert send(base, [won("d1")], secret="wrong") == 401
    request = urllib.request.Request(
        f"{base}/crm/testcrm", data=b"{", method="POST", headers={"Authorization": f"Bearer {SECRET}"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10)
    assert err.value.code == 400 and b"a JSON array" in err.value.read()
    err.value.close()
    assert table(coach_with.settings, "crm_inbox") == []


def test_an_event_for_a_crm_turned_off_waits_in_the_inbox(base, coach_with, api, tick, settings, store, clock, pace):
    send(base, [won("d1")])
    off = Coach(coach_with.settings, store, load(), clock, sleep=pace.sleep, crm={})
    report = worker.drain(off, {}, workspaces.clients(off.workspaces), now=clock.now)
    assert report.delayed == 1
    [event] = table(settings, "crm_inbox")
    assert event["status"] == "pending" and "off" in event["error"]


def test_backfill_creates_what_is_missing_with_the_webhooks_key(base, coach_with, api, fake, tick, clock):
    fake.emails["jane@example.com"] = REP
    send(base, [won("d1")])
    tick()
    report = worker.backfill(
        coach_with, api.backfill(date(2026, 11, 1)), workspaces.clients(coach_with.workspaces), now=clock.now
    )
    assert report.created == [2]  # d1 came by webhook already; only d2 is new
    assert sorted(d["account"] for d in table(coach_with.settings, "deals")) == ["Account d1", "Account d2"]
    tick()
    assert len(fake.posts_of("dealcoach_deal")) == 2
