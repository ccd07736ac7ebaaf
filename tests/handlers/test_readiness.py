"""A reason-to-believe check for a verbal yes (issue 10 §7): the primer's six readiness questions as a checklist
on the deal, answered in Slack; each one left unticked becomes a step with a sendable draft, before the signature."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlite_utils

from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests.conftest import MANAGER, OTHER_REP

CLOSED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin


@pytest.fixture
def tick(coach):
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))


def steps(settings) -> dict[str, dict]:
    with sqlite_utils.Database(settings.db_path) as db:
        return {r["step_id"]: r for r in db["nudges"].rows_where(order_by="id")}


def deal(settings) -> dict:
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db["deals"].rows)[-1]


def buttons(call) -> list[str]:
    return [e["action_id"] for b in call.params.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def shown(call) -> str:
    return call.params.get("text", "") + json.dumps(call.params.get("blocks", []), ensure_ascii=False)


def ticked(*items: str) -> dict:
    return {"readiness": {"value": {"type": "checkboxes", "selected_options": [{"value": i} for i in items]}}}


def open_checklist(slack, fake, settings, clock, *, user=None):
    clock.now = CLOSED
    slack.command("Initech $30k contact: Bill Lumbergh verbal")
    announcement = fake.last("chat.postMessage")
    assert "deal_readiness" in buttons(announcement)
    slack.click("deal_readiness", str(deal(settings)["id"]), **({"user": user} if user else {}))
    return fake.last("views.open").params["view"] if fake.calls_to("views.open") else None


def test_the_checklist_asks_the_six_readiness_questions(slack, fake, settings, clock):
    view = open_checklist(slack, fake, settings, clock)
    assert view["callback_id"] == "deal_readiness"
    [checkboxes] = [b for b in view["blocks"] if b["type"] == "input"]
    assert [o["value"] for o in checkboxes["element"]["options"]] == [
        "solves",
        "peers",
        "belief",
        "implementation",
        "onboarding",
        "assurances",
    ]
    assert fake.violations == []


def test_each_gap_becomes_a_step_with_a_draft_before_the_signature(slack, fake, settings, clock, tick):
    view = open_checklist(slack, fake, settings, clock)
    response = slack.submit(view, ticked("solves", "peers", "belief", "onboarding"))
    assert response.status == 200 and not response.body
    planned = steps(settings)
    gaps = {k: v for k, v in planned.items() if v["purpose"] == "readiness"}
    assert set(gaps) == {"readiness-implementation", "readiness-assurances"}
    assert all(g["due_date"] == "2026-11-23" for g in gaps.values())
    assert all(g["due_date"] < planned["get-signature"]["due_date"] for g in gaps.values())
    stored = json.loads(deal(settings)["readiness"])
    assert stored["ticked"] == ["solves", "peers", "belief", "onboarding"]
    redrawn = fake.last("chat.update")  # the deal's plan shows the new steps
    assert "implementation takes" in shown(redrawn)

    later = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    clock.now = later
    tick(later)
    posted = "".join(shown(c) for c in fake.calls_to("chat.postMessage"))
    assert "They don't know what implementation takes: send Bill Lumbergh the expectations now" in posted
    assert "here's what the rollout will ask of Initech" in posted  # a draft to send
    assert fake.violations == []


def test_saving_again_adds_no_step_twice_and_drops_a_gap_now_closed(slack, fake, settings, clock):
    view = open_checklist(slack, fake, settings, clock)
    slack.submit(view, ticked("solves", "peers", "belief", "onboarding"))
    slack.click("deal_readiness", str(deal(settings)["id"]))
    again = fake.last("views.open").params["view"]
    [checkboxes] = [b for b in again["blocks"] if b["type"] == "input"]
    assert {o["value"] for o in checkboxes["element"]["initial_options"]} == {"solves", "peers", "belief", "onboarding"}
    slack.submit(again, ticked("solves", "peers", "belief", "onboarding", "implementation"))
    gaps = {k for k, v in steps(settings).items() if v["purpose"] == "readiness"}
    assert gaps == {"readiness-assurances"}


def test_a_signature_step_already_due_moves_after_the_gaps(slack, fake, settings, clock):
    view = open_checklist(slack, fake, settings, clock)
    with sqlite_utils.Database(settings.db_path) as db:
        db.execute("UPDATE nudges SET due_date = '2026-11-23' WHERE step_id = 'get-signature'")
        db.conn.commit()
    slack.submit(view, ticked())
    planned = steps(settings)
    gaps = [v["due_date"] for v in planned.values() if v["purpose"] == "readiness"]
    # six gaps: two a business day, so the buyer isn't sent six emails at once, and the signature after the last
    assert sorted(gaps) == ["2026-11-23"] * 2 + ["2026-11-24"] * 2 + ["2026-11-25"] * 2
    assert planned["get-signature"]["due_date"] == "2026-11-26"


def test_gaps_saved_on_a_friday_spread_over_the_next_business_days(slack, fake, settings, clock):
    view = open_checklist(slack, fake, settings, clock)
    clock.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # Friday
    slack.submit(view, ticked("solves"))
    planned = steps(settings)
    gaps = sorted(v["due_date"] for v in planned.values() if v["purpose"] == "readiness")
    assert gaps == ["2026-11-27"] * 2 + ["2026-11-30"] * 2 + ["2026-12-01"]  # Friday, Monday, Tuesday
    assert planned["get-signature"]["due_date"] == "2026-12-02"  # still planned: after the last gap


def test_only_the_owner_or_a_manager_answers_and_only_for_a_verbal_yes(slack, fake, settings, clock):
    assert open_checklist(slack, fake, settings, clock, user=OTHER_REP) is None
    assert "Only" in fake.last("response_url").params["text"]
    slack.click("deal_readiness", str(deal(settings)["id"]), user=MANAGER)
    view = fake.last("views.open").params["view"]
    forged = slack.submit(view, ticked(), user=OTHER_REP)
    assert "Only" in json.loads(forged.body)["errors"]["readiness"]
    assert not [v for v in steps(settings).values() if v["purpose"] == "readiness"]

    slack.click("deal_mark_signed", str(deal(settings)["id"]))
    late = slack.submit(view, ticked(), user=MANAGER)
    assert "verbal yes" in json.loads(late.body)["errors"]["readiness"]
    assert not [v for v in steps(settings).values() if v["purpose"] == "readiness"]


def test_the_signature_nudge_offers_the_check_too(slack, fake, settings, clock, tick):
    clock.now = CLOSED
    slack.command("Initech $30k contact: Bill Lumbergh verbal")
    with sqlite_utils.Database(settings.db_path) as db:
        db.execute("UPDATE nudges SET status = 'done' WHERE step_id != 'get-signature'")
        db.conn.commit()
    signature_day = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    clock.now = signature_day
    assert len(tick(signature_day).posted) == 1
    nudge = fake.last("chat.postMessage")
    assert "Get the signed contract back" in shown(nudge) and "deal_readiness" in buttons(nudge)
    slack.click("deal_readiness", str(deal(settings)["id"]))
    assert fake.last("views.open").params["view"]["callback_id"] == "deal_readiness"
