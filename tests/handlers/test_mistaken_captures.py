"""Captures made by mistake: a repeat is asked about first (keep both, or leave it), and a capture can be deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests.conftest import MANAGER, OTHER_REP, REP
from tests.slackapp import body_json, form

AT_10_42 = datetime(2026, 11, 23, 9, 42, tzinfo=UTC)  # Monday 10:42 in Berlin, the team's time zone


def rows(settings, table: str) -> list[dict]:
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db[table].rows)


def shown(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(blocks) -> dict[str, str]:
    """action_id -> value of every button in `blocks`."""
    return {e["action_id"]: e.get("value") for b in blocks if b["type"] == "actions" for e in b["elements"]}


@pytest.fixture
def tick(coach):
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))


@pytest.fixture
def first(slack, settings, clock):
    """Acme Rockets for $120k, captured at 10:42 and announced; the clock then moves on two hours."""
    clock.now = AT_10_42
    slack.command("Acme Rockets $120k")
    clock.now = AT_10_42 + timedelta(hours=2)
    [deal] = rows(settings, "deals")
    return deal


def ask_again(slack, text: str = "ACME  rockets 120,000 contact: Jane Doe", **who) -> dict:
    body = body_json(slack.command(text, **who))
    assert body.get("response_type", "ephemeral") == "ephemeral"
    return body


# -- a repeat is asked about first ------------------------------------------------------------------------------


def test_retyping_a_capture_asks_first_and_leave_it_stores_nothing(slack, fake, settings, first):
    question = ask_again(slack)
    assert question["text"].startswith(
        f"Looks like the deal you captured at 10:42: Acme Rockets · $120,000 (deal #{first['id']})"
    )
    assert "*Acme Rockets*" in shown(question["blocks"]) and "haven't saved it yet" in shown(question["blocks"])
    answers = buttons(question["blocks"])
    assert set(answers) == {"capture_anyway", "capture_leave"}
    assert len(rows(settings, "deals")) == 1 and len(fake.calls_to("chat.postMessage")) == 1  # nothing stored yet

    slack.click("capture_leave", answers["capture_leave"])
    left = fake.last("response_url").params
    assert left["replace_original"] is True and "nothing new was captured" in left["text"]
    assert len(rows(settings, "deals")) == 1 and rows(settings, "held_captures") == []
    slack.click("capture_anyway", answers["capture_anyway"])  # a stale button, after leaving it
    assert "expired" in fake.last("response_url").params["text"] and len(rows(settings, "deals")) == 1
    assert fake.violations == []


def test_capture_it_anyway_captures_the_repeat_once(slack, fake, settings, first):
    answers = buttons(ask_again(slack)["blocks"])
    slack.click("capture_anyway", answers["capture_anyway"])
    slack.click("capture_anyway", answers["capture_anyway"])  # a double click
    deals = rows(settings, "deals")
    assert [(d["account"], d["contact_name"], d["close_date"]) for d in deals] == [
        ("Acme Rockets", None, "2026-11-23"),
        ("ACME rockets", "Jane Doe", "2026-11-23"),  # as typed, not a copy of the first
    ]
    second = deals[1]
    assert len([n for n in rows(settings, "nudges") if n["deal_id"] == second["id"]]) > 0  # with its own plan
    posts = fake.calls_to("chat.postMessage")
    assert len(posts) == 2 and "ACME rockets" in posts[1].params["text"] and second["message_ts"]
    answered, again = fake.calls_to("response_url")[-2:]  # after the first capture's private prompt
    assert answered.params["replace_original"] is True and f"separate deal (#{second['id']})" in answered.params["text"]
    assert f"Already captured as deal #{second['id']}" in again.params["text"]
    assert rows(settings, "held_captures") == []
    assert fake.violations == []


def test_only_the_rep_who_typed_it_can_answer(slack, fake, settings, first):
    answers = buttons(ask_again(slack)["blocks"])
    slack.click("capture_anyway", answers["capture_anyway"], user=OTHER_REP)
    assert f"Only <@{REP}>" in fake.last("response_url").params["text"]
    assert len(rows(settings, "deals")) == 1 and len(rows(settings, "held_captures")) == 1


@pytest.mark.parametrize(
    ("text", "who", "later"),
    [
        ("Acme Rockets $125k", {}, timedelta(0)),  # another amount
        ("Acme Rockets EUR 120,000", {}, timedelta(0)),  # another currency
        ("Acme Rocket $120k", {}, timedelta(0)),  # another account
        ("Acme Rockets $120k", {"user": OTHER_REP}, timedelta(0)),  # another rep's deal
        ("Acme Rockets $120k", {}, timedelta(days=3, minutes=1)),  # more than three days on
    ],
)
def test_what_is_not_a_repeat_is_captured_without_a_question(slack, fake, settings, first, clock, text, who, later):
    clock.now += later
    assert body_json(slack.command(text, **who)) == {}
    assert len(rows(settings, "deals")) == 2 and len(fake.calls_to("chat.postMessage")) == 2


def test_the_question_says_when_in_the_teams_time_zone(slack, settings, first, clock):
    clock.now = AT_10_42 + timedelta(days=1)
    assert ask_again(slack)["text"].startswith("Looks like the deal you captured yesterday at 10:42")
    clock.now = AT_10_42 + timedelta(days=2, hours=12)
    assert ask_again(slack)["text"].startswith("Looks like the deal you captured on Mon Nov 23 at 10:42")


def test_the_form_asks_once_and_saving_it_again_keeps_both(slack, fake, settings, first):
    slack.command("")
    view = fake.last("views.open").params["view"]
    values = form("acme rockets", "120000", contact="Jane Doe")
    asked = body_json(slack.submit(view, values, view_id="VFORM1"))
    assert asked["response_action"] == "errors"
    assert asked["errors"]["account"].startswith("Looks like the deal you captured at 10:42: Acme Rockets")
    assert "Press Save again" in asked["errors"]["account"] and len(rows(settings, "deals")) == 1
    assert body_json(slack.submit(view, values, view_id="VFORM1")) == {}  # saved again: keep both
    assert [d["account"] for d in rows(settings, "deals")] == ["Acme Rockets", "acme rockets"]
    assert len(fake.calls_to("chat.postMessage")) == 2 and rows(settings, "held_captures") == []


# -- deleting a capture made by mistake ---------------------------------------------------------------------------


def test_the_owner_deletes_a_mistaken_capture_and_every_message_says_so(slack, fake, settings, first, tick):
    from tests.handlers.test_home import latest, open_home

    tick(AT_10_42 + timedelta(hours=1))  # the day-0 step is posted in the channel
    nudge = next(n for n in rows(settings, "nudges") if n["status"] == "posted")
    open_home(slack)
    assert f"deal_{first['id']}" in shown(latest(fake)["blocks"])
    delete = next(
        e
        for b in fake.calls_to("chat.postMessage")[0].params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "deal_delete"
    )
    assert delete["confirm"]["style"] == "danger" and "Cancel deal" in delete["confirm"]["text"]["text"]

    slack.click("deal_delete", str(first["id"]), user=OTHER_REP)
    assert f"Only <@{REP}>" in fake.last("response_url").params["text"]
    assert rows(settings, "deals")[0]["status"] == "open"

    slack.click("deal_delete", str(first["id"]))
    [deal] = rows(settings, "deals")
    assert (deal["status"], deal["deleted_by"]) == ("deleted", REP) and deal["deleted_at"]
    assert deal["cancelled_at"] is None  # not a cancellation
    left = rows(settings, "nudges")
    assert left == [] or {n["status"] for n in left} <= {"done", "skipped"}  # pending steps are gone
    updates = {c.params["ts"]: c.params for c in fake.calls_to("chat.update")}
    assert set(fake.redraws().values()) == {1}  # each message once, though the deal's own is also a post
    for ts in (deal["message_ts"], fake.calls_to("chat.postMessage")[1].response["ts"]):
        assert "was deleted by" in shown(updates[ts]["blocks"]) and buttons(updates[ts]["blocks"]) == {}
        assert "Deleted: Acme Rockets" in updates[ts]["text"]
    assert f"deal_{first['id']}" not in shown(latest(fake)["blocks"])  # gone from Home

    slack.click("deal_delete", str(first["id"]))  # a double click
    assert "already deleted" in fake.last("response_url").params["text"]
    slack.click("nudge_done", str(nudge["id"]))  # the old nudge button, on a client not yet redrawn
    assert "can't find that follow-up" in fake.last("response_url").params["text"]
    slack.click("deal_mark_live", str(first["id"]))
    assert "was deleted" in fake.last("response_url").params["text"] and fake.calls_to("views.open") == []
    posted = len(fake.calls_to("chat.postMessage"))
    tick(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))  # its later steps never come
    assert len(fake.calls_to("chat.postMessage")) == posted
    assert body_json(slack.command("list"))["text"].startswith("You have no open deals")
    assert fake.violations == []


def test_a_manager_may_delete_a_reps_capture_and_then_retyping_it_asks_nothing(slack, fake, settings, first):
    slack.click("deal_delete", str(first["id"]), user=MANAGER)
    assert rows(settings, "deals")[0]["deleted_by"] == MANAGER
    assert body_json(slack.command("Acme Rockets $120k")) == {}  # the deleted one is no reason to ask
    assert [d["status"] for d in rows(settings, "deals")] == ["deleted", "open"]


def test_delete_from_the_list_says_it_is_done(slack, fake, settings, first):
    listed = body_json(slack.command("list"))
    assert "deal_delete" in buttons(listed["blocks"])
    from tests import signing

    payload = signing.block_action_payload(
        "deal_delete", str(first["id"]), response_url=fake.response_url("list"), block_id=f"deal_{first['id']}"
    )
    payload["container"]["is_ephemeral"] = True
    slack._dispatch(signing.interaction_body(payload), signing.FORM)
    assert "Deleted: Acme Rockets" in fake.last("response_url").params["text"]
    assert rows(settings, "deals")[0]["status"] == "deleted"
    assert fake.last("chat.update").params["ts"] == rows(settings, "deals")[0]["message_ts"]  # the channel's too
