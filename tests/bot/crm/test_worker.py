"""The CRM worker against a CRM whose API fails: a small adapter implementing the Adapter protocol (the real API
adapters live beside it), driven through the real webhook route and the scheduler's own job."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from bot.coach import Coach
from bot.crm import worker
from bot.crm.types import Adapter, BadPayload, CrmDeal, CrmUnavailable, Event, Unauthorized
from bot.crm.webhooks import crm_app
from bot.nudges.dispatch import Pacer
from bot.playbook.loader import load
from bot.slack import workspaces
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.conftest import REP

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set

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
def coach_with(settings, store, clock, pace, pacer, api):
    crm_settings = replace(settings, crm_channel="C0CRMWINS", crm_team="T0FAKE")
    return Coach(crm_settings, store, load(), clock, sleep=pace.sleep, crm={"testcrm": api}, pacer=pacer)


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
    return engines.rows(settings, f"SELECT * FROM {name} ORDER BY 1")


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
    off = Coach(coach_with.settings, store, load(), clock, sleep=pace.sleep, crm={}, pacer=coach_with.pacer)
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


@pytest.mark.usefixtures("base")
@engines.ON_POSTGRES[0]
@engines.ON_POSTGRES[1]
def test_a_crm_deal_linked_by_another_instance_meanwhile_is_not_created_twice(
    base, coach_with, api, fake, tick, settings, store
):
    """Two instances' workers on two events of one CRM deal: both find no link, both write. The second's link waits
    for the first's unique key and then finds it taken: its whole transaction (the deal it made) is rolled back and
    its event settled 'already created', not left failing with a unique key violation until the next run."""
    from tests.bot.dealdata import ACME, capture

    fake.emails["jane@example.com"] = REP
    other_deal, _ = capture(store, ACME)  # what the other instance's worker made of the same CRM deal
    send(base, [won("d1")])
    with psycopg.connect(settings.database_url) as first:  # the other worker, its transaction still open
        first.execute(
            "INSERT INTO crm_deals (crm, crm_account, crm_deal_id, deal_id, won, linked, created_at, updated_at) "
            "VALUES ('testcrm', 'acct-1', 'd1', %s, 1, 0, '2026-11-23T14:00:00Z', '2026-11-23T14:00:00Z')",
            [other_deal],
        )
        working = threading.Thread(target=tick)
        working.start()
        engines.wait_for_lock_wait(working, "INSERT INTO crm_deals%")
    working.join(timeout=30)
    assert [d["id"] for d in table(settings, "deals")] == [other_deal]
    [event] = table(settings, "crm_inbox")
    assert (event["status"], event["outcome"], event["error"]) == ("done", "already created", None)
    assert [link["deal_id"] for link in table(settings, "crm_deals")] == [other_deal]


@pytest.mark.usefixtures("base")
@engines.ON_POSTGRES[0]
@engines.ON_POSTGRES[1]
def test_a_capture_linked_to_another_crm_deal_meanwhile_is_not_linked_twice(
    base, coach_with, api, fake, tick, settings, store, clock
):
    """The rep's own capture looks like two CRM deals at once (two instances' workers): the one whose link lands
    first keeps it; the other, finding the capture taken when its conditional UPDATE re-reads it, creates its own
    deal instead of overwriting the first's source and linking both CRM deals to one deal."""
    from bot.deals import model as deals
    from bot.deals.capture import Money
    from tests.bot.dealdata import ACME, PLAYBOOK

    fake.emails["jane@example.com"] = REP
    with store.write() as db:
        earlier, _ = deals.capture_deal(
            db,
            team_id="T0FAKE",
            channel_id="C0DEALS",
            owner_id=REP,
            fields=replace(ACME, account="Account d1", money=Money(Decimal("50000"), "EUR")),
            playbook=PLAYBOOK,
            now=clock.now,
        )
    send(base, [won("d1")])
    with psycopg.connect(settings.database_url) as first:  # the other worker, linking the capture to its CRM deal
        first.execute(
            "UPDATE deals SET source = 'hubspot', source_url = 'https://hs.example/9' WHERE id = %s", [earlier]
        )
        working = threading.Thread(target=tick)
        working.start()
        engines.wait_for_lock_wait(working, "UPDATE deals SET source%")
    working.join(timeout=30)
    by_id = {d["id"]: d for d in table(settings, "deals")}
    assert by_id[earlier]["source"] == "hubspot"
    [created] = [d for d in by_id.values() if d["id"] != earlier]
    assert (created["account"], created["source"]) == ("Account d1", "testcrm")
    assert [(link["crm_deal_id"], link["deal_id"]) for link in table(settings, "crm_deals")] == [("d1", created["id"])]


@pytest.mark.usefixtures("base")
@engines.ON_POSTGRES[0]
@engines.ON_POSTGRES[1]
def test_a_crm_deal_asked_about_by_another_instance_meanwhile_is_asked_once(
    base, coach_with, api, fake, tick, settings, store, clock
):
    """Two instances' workers on one CRM deal that may repeat a capture: both find no question and both ask. The
    second's question waits for the first's unique key and then finds it taken: its event is settled as waiting
    for that answer, not left failing with a unique key violation, and the rep is asked once."""
    from bot.deals import model as deals
    from bot.deals.capture import Money
    from tests.bot.dealdata import ACME, PLAYBOOK

    fake.emails["jane@example.com"] = REP
    with store.write() as db:
        earlier, _ = deals.capture_deal(
            db,
            team_id="T0FAKE",
            channel_id="C0DEALS",
            owner_id=REP,
            fields=replace(ACME, account="Account D1, Inc.", money=Money(Decimal("50000"), "EUR")),
            playbook=PLAYBOOK,
            now=clock.now,
        )
    send(base, [won("d1")])
    with psycopg.connect(settings.database_url) as first:  # the other worker, its question not committed yet
        first.execute(
            "INSERT INTO crm_questions (crm, crm_account, crm_deal_id, team_id, deal_id, crm_deal, channel_id, "
            "owner_id, asked, due_at, created_at) VALUES ('testcrm', 'acct-1', 'd1', 'T0FAKE', %s, '{}', "
            "'C0CRMWINS', %s, %s, '2026-11-24T14:00:00Z', '2026-11-23T14:00:00Z')",
            [earlier, REP, f'["{REP}"]'],
        )
        working = threading.Thread(target=tick)
        working.start()
        engines.wait_for_lock_wait(working, "INSERT INTO crm_questions%")
    working.join(timeout=30)
    [event] = table(settings, "crm_inbox")
    assert (event["status"], event["outcome"], event["error"]) == (
        "done",
        f"waiting for an answer about deal #{earlier}",
        None,
    )
    assert len(table(settings, "crm_questions")) == 1 and [d["id"] for d in table(settings, "deals")] == [earlier]
