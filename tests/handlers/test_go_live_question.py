"""A plan that never invents (issue 10 §4): with no go-live date the rep is asked "Has <account> gone live?" (Live
today / Set a date / Not yet), never told, and the answer re-times the steps timed from go-live."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.conftest import MANAGER, OTHER_REP, REP

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set

CLOSED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
DAY_30 = datetime(2026, 12, 23, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Berlin: when go-live was expected


@pytest.fixture
def tick(coach):
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))


def steps(settings) -> dict[str, dict]:
    return {r["step_id"]: r for r in engines.rows(settings, "SELECT * FROM nudges ORDER BY id")}


def deal(settings) -> dict:
    return engines.rows(settings, "SELECT * FROM deals ORDER BY id")[-1]


def shown(call) -> str:
    return call.params.get("text", "") + json.dumps(call.params.get("blocks", []), ensure_ascii=False)


def buttons(call) -> list[str]:
    return [e["action_id"] for b in call.params.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def ask(slack, fake, settings, clock, tick):
    """Capture a deal without a go-live date and let the dispatcher reach the day go-live was expected, every
    earlier step done so the question comes alone. Returns the question's nudge id and the message that asks."""
    clock.now = CLOSED
    slack.command("Acme Rockets $120k contact: Jane Doe, VP Operations")
    engines.execute(
        settings, "UPDATE nudges SET status = 'done', resolved_by = ? WHERE step_id != 'go-live-question'", [REP]
    )
    clock.now = DAY_30
    assert len(tick(DAY_30).posted) == 1
    question = steps(settings)["go-live-question"]
    [post] = [c for c in fake.calls_to("chat.postMessage") if "go_live_today" in buttons(c)]
    return question["id"], post


def test_a_deal_without_a_go_live_date_is_asked_never_told(slack, fake, settings, clock, tick):
    clock.now = CLOSED
    slack.command("Acme Rockets $120k contact: Jane Doe, VP Operations")
    planned = steps(settings)
    assert not {"activation-check-in", "acclimation-check", "testimonial", "referrals"} & planned.keys()
    assert planned["go-live-question"]["due_date"] == "2026-12-23"
    announcement = fake.last("chat.postMessage")
    assert "goes live" not in shown(announcement)
    [deal] = engines.rows(settings, "SELECT id FROM deals")
    slack.click("deal_see_plan", str(deal["id"]))  # the plan asks when it went live, never assumes it
    plan = json.dumps(fake.last("views.open").params["view"]["blocks"], ensure_ascii=False)
    assert "Has Acme Rockets gone live?" in plan and "goes live" not in plan

    question_id, post = ask(slack, fake, settings, clock, tick)
    text = shown(post)
    assert "Has Acme Rockets gone live?" in text
    assert buttons(post) == ["go_live_today", "go_live_set", "go_live_not_yet", "nudge_more"]  # More: why and how
    assert "goes live" not in text and "Since go-live" not in text  # nothing asserted that nobody said
    assert fake.violations == []


def test_live_today_records_the_date_and_times_the_go_live_steps_from_it(slack, fake, settings, clock, tick):
    question_id, post = ask(slack, fake, settings, clock, tick)
    slack.click("go_live_today", str(question_id))
    after = deal(settings)
    assert after["go_live_date"] == "2026-12-23" and after["live_at"]
    planned = steps(settings)
    assert planned["go-live-question"]["status"] == "done" and planned["go-live-question"]["resolved_by"] == REP
    assert planned["activation-check-in"]["due_date"] == "2026-12-23"
    assert planned["acclimation-check"]["due_date"] == "2027-01-06"
    assert planned["testimonial"]["due_date"] == "2027-02-03"
    redrawn = [c for c in fake.calls_to("chat.update") if c.params["ts"] == post.response["ts"]]
    assert redrawn and "live since Wed Dec 23, 2026" in shown(redrawn[-1])
    assert "go_live_today" not in buttons(redrawn[-1])
    deal_message = [c for c in fake.calls_to("chat.update") if c.params["ts"] == after["message_ts"]][-1]
    assert "Live" in shown(deal_message) and "Dec 23" in shown(deal_message)

    slack.click("go_live_today", str(question_id))  # a second click changes nothing, and says so
    assert "Already answered" in fake.last("response_url").params["text"]
    assert deal(settings)["live_at"] == after["live_at"]


def test_set_a_date_in_the_future_plans_from_the_expected_date(slack, fake, settings, clock, tick):
    question_id, _ = ask(slack, fake, settings, clock, tick)
    slack.click("go_live_set", str(question_id))
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "nudge_go_live"

    too_early = slack.submit(view, {"go_live_date": {"value": {"type": "datepicker", "selected_date": "2026-11-01"}}})
    error = json.loads(too_early.body)["errors"]["go_live_date"]
    assert "before the deal closed" in error and "For example" in error
    assert deal(settings)["go_live_date"] is None  # nothing stored
    assert steps(settings)["go-live-question"]["status"] == "posted"

    slack.submit(view, {"go_live_date": {"value": {"type": "datepicker", "selected_date": "2027-01-15"}}})
    after = deal(settings)
    assert after["go_live_date"] == "2027-01-15" and after["live_at"] is None  # expected, not live yet
    planned = steps(settings)
    assert planned["activation-check-in"]["due_date"] == "2027-01-15"
    assert planned["testimonial"]["due_date"] == "2027-02-26"
    assert "go-live expected" in (planned["go-live-question"]["note"] or "")


def test_not_yet_asks_again_a_week_later(slack, fake, settings, clock, tick):
    question_id, post = ask(slack, fake, settings, clock, tick)
    slack.click("go_live_not_yet", str(question_id))
    question = steps(settings)["go-live-question"]
    assert (question["status"], question["due_date"]) == ("planned", "2026-12-30")
    assert deal(settings)["go_live_date"] is None
    assert "activation-check-in" not in steps(settings)
    redrawn = [c for c in fake.calls_to("chat.update") if c.params["ts"] == post.response["ts"]][-1]
    assert "I'll ask again on Wed Dec 30" in shown(redrawn) and "go_live_today" not in buttons(redrawn)
    asked_again = datetime(2026, 12, 30, 9, 0, tzinfo=UTC)
    clock.now = asked_again
    assert len(tick(asked_again).posted) == 1
    again = fake.last("chat.postMessage")
    assert "Has Acme Rockets gone live?" in shown(again) and "go_live_not_yet" in buttons(again)


def test_only_the_owner_or_a_manager_answers(slack, fake, settings, clock, tick):
    question_id, _ = ask(slack, fake, settings, clock, tick)
    slack.click("go_live_today", str(question_id), user=OTHER_REP)
    assert "Only" in fake.last("response_url").params["text"]
    assert deal(settings)["go_live_date"] is None and steps(settings)["go-live-question"]["status"] == "posted"
    slack.click("go_live_set", str(question_id), user=OTHER_REP)
    assert not fake.calls_to("views.open")
    slack.click("go_live_today", str(question_id), user=MANAGER)
    assert deal(settings)["go_live_date"] == "2026-12-23"


def test_a_garbled_answer_is_refused_privately(slack, fake, settings, clock, tick):
    ask(slack, fake, settings, clock, tick)
    slack.click("go_live_today", "12abc")
    assert "can't find that follow-up" in fake.last("response_url").params["text"]
    assert deal(settings)["go_live_date"] is None


def test_the_celebration_never_says_since_go_live_when_nobody_said_when(slack, fake, settings, clock, tick):
    """Day 98 with go-live still unknown (answered "not yet"): the celebration's draft is the variant that doesn't
    claim a go-live."""
    clock.now = CLOSED
    slack.command("Acme Rockets $120k contact: Jane Doe, VP Operations")
    engines.execute(
        settings, "UPDATE nudges SET status = 'done', resolved_by = ? WHERE step_id != 'celebrate-milestone'", [REP]
    )
    day_98 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    clock.now = day_98
    assert len(tick(day_98).posted) == 1
    text = shown(fake.last("chat.postMessage"))
    assert "three-month milestone" in text
    assert "Since go-live" not in text and "since go-live" not in text


def test_home_shows_the_go_live_date_once_answered_and_never_a_guess(slack, fake, settings, clock, tick):
    from tests.handlers.test_home import latest, open_home
    from tests.handlers.test_home import shown as home_shown

    question_id, _ = ask(slack, fake, settings, clock, tick)
    open_home(slack)
    assert "Go-live: not known yet" in home_shown(latest(fake))
    slack.click("go_live_today", str(question_id))
    assert "Go-live: Wed Dec 23" in home_shown(latest(fake))  # republished after the answer


def test_done_on_the_question_from_home_asks_for_the_date(slack, fake, settings, clock, tick):
    """Home lists the question with the usual buttons: Done there means "it's live", so it asks when."""
    question_id, _ = ask(slack, fake, settings, clock, tick)
    slack.click("nudge_done", str(question_id))
    assert fake.last("views.open").params["view"]["callback_id"] == "nudge_go_live"
    assert steps(settings)["go-live-question"]["status"] == "posted"  # nothing stored until a date is given
