"""Buyer signals through the real Bolt app: "How did they sound?" after Done, Log a touch, Flag a concern; who may,
nothing half-stored, nothing stored twice."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from bot.manage.model import set_team
from bot.nudges.dispatch import Pacer
from bot.signals import watch
from bot.slack.blocks import VALUE
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP, TEAM

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
LATER = "2027-06-01"


@pytest.fixture
def posted(coach, settings, clock):
    """A deal whose one step (`step_id`) is posted in the channel on Monday 10:00 Berlin: (deal id, nudge id)."""
    client = posting_client(coach.settings)

    def post(step_id: str = "congratulate") -> tuple[int, int]:
        clock.now = MONDAY_10
        deal = store_deal(
            coach,
            "Acme Rockets $120k contact: Jane Doe persona: economic",
            team_id=TEAM,
            channel_id=CHANNEL,
            user_id=REP,
            capture_key=f"k-{step_id}",
        )
        coach.announce(deal.id)
        with coach.store.write() as db:
            db.execute("UPDATE nudges SET due_date = ? WHERE deal_id = ?", [LATER, deal.id])
            db.execute(
                "UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id = ?",
                [coach.today().isoformat(), deal.id, step_id],
            )
        dispatch_nudges(coach, client, MONDAY_10, Pacer(sleep=lambda _: None))
        [row] = engines.rows(settings, "SELECT id FROM nudges WHERE deal_id = ? AND step_id = ?", [deal.id, step_id])
        return deal.id, row["id"]

    return post


def signals(settings) -> list[dict]:
    return engines.rows(settings, "SELECT * FROM signals ORDER BY id")


def responses(fake) -> list[dict]:
    return [c.params for c in fake.calls_to("response_url")]


def radio(value: str) -> dict:
    return {VALUE: {"type": "radio_buttons", "selected_option": {"value": value, "text": {"type": "plain_text"}}}}


def text(value: str | None) -> dict:
    return {VALUE: {"type": "plain_text_input", "value": value}}


def date_value(value: str) -> dict:
    return {VALUE: {"type": "datepicker", "selected_date": value}}


# -- after Done: how did they sound? --------------------------------------------------------------------------


def test_done_stays_one_click_then_one_tap_records_how_the_buyer_sounded(posted, slack, fake, settings):
    _, nudge_id = posted()
    slack.click("nudge_done", str(nudge_id))
    [step] = engines.rows(settings, "SELECT status FROM nudges WHERE id = ?", [nudge_id])
    assert step["status"] == "done"  # done with the one click, before any question
    [question] = responses(fake)
    assert question["response_type"] == "ephemeral" and question["replace_original"] is False
    assert "How did they sound at Acme Rockets?" in question["text"]
    [actions] = [b for b in question["blocks"] if b["type"] == "actions"]
    values = [e["value"] for e in actions["elements"]]
    assert values == [f"{nudge_id}:positive", f"{nudge_id}:neutral", f"{nudge_id}:worried", str(nudge_id)]

    slack.click("signal_sounded", f"{nudge_id}:worried")
    [row] = signals(settings)
    assert (row["kind"], row["nudge_id"], row["sentiment"], row["by_user"]) == ("step", nudge_id, "worried", REP)
    answer = responses(fake)[-1]
    assert answer["replace_original"] is True and "they sounded worried" in answer["text"]

    slack.click("signal_sounded", f"{nudge_id}:neutral")  # a corrected tap replaces the first, never adds
    assert [(r["sentiment"], r["kind"]) for r in signals(settings)] == [("neutral", "step")]
    assert fake.violations == []


def test_a_worry_is_said_to_reach_a_managers_digest_only_when_one_covers_the_deal(posted, slack, fake, settings, coach):
    """After "Worried", the rep hears the digest will show it only when it will: a manager is set and follows them."""
    deal_id, nudge_id = posted()
    slack.click("nudge_done", str(nudge_id))

    def worried() -> str:
        slack.click("signal_sounded", f"{nudge_id}:worried")
        return responses(fake)[-1]["text"]

    assert "It's on your manager's digest under *Buyer signals*" in worried()  # MANAGER follows everyone
    with coach.store.session() as db:  # and the digest's own list does show it
        assert [f.deal.id for f in watch.buyer_signals(db, team_id=TEAM, today=coach.today(), signature_days=7)] == [
            deal_id
        ]

    with coach.store.write() as db:  # the one manager now follows another rep only
        set_team(db, team_id=TEAM, manager_id=MANAGER, members=[OTHER_REP], now=coach.now())
    answer = worried()
    assert "manager's digest under" not in answer and "No manager's digest covers this deal" in answer
    assert "tell your manager yourself" in answer and "What did they doubt?" in answer

    with coach.store.write() as db:  # everyone again, but no DEALCOACH_MANAGERS at all
        set_team(db, team_id=TEAM, manager_id=MANAGER, members=[], now=coach.now())
    assert "It's on your manager's digest" in worried()
    coach.settings = dataclasses.replace(coach.settings, managers=())
    assert "No manager's digest covers this deal" in worried()
    assert fake.violations == []


def test_a_steps_doubt_is_noted_in_a_form_and_kept_when_the_tap_is_corrected(posted, slack, fake, settings):
    _, nudge_id = posted()
    slack.click("nudge_done", str(nudge_id))
    slack.click("signal_note_doubt", str(nudge_id))
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "signal_step_note"
    response = slack.submit(view, {"sentiment": radio("bogus"), "note": text("  ")})
    assert json.loads(response.body)["response_action"] == "errors" and signals(settings) == []
    slack.submit(view, {"sentiment": radio("worried"), "note": text("Unsure <!channel> IT will have time")})
    [row] = signals(settings)
    assert (row["sentiment"], row["note"]) == ("worried", "Unsure <!channel> IT will have time")
    slack.click("signal_sounded", f"{nudge_id}:worried")
    assert signals(settings)[0]["note"] == "Unsure <!channel> IT will have time"
    assert fake.violations == []


def test_a_step_that_does_not_talk_to_the_buyer_asks_nothing(posted, slack, fake, coach):
    _, nudge_id = posted("handover")  # inside the team: the playbook says buyer = false
    slack.click("nudge_done", str(nudge_id))
    assert responses(fake) == []


def test_only_the_owner_assignee_or_a_manager_may_say_how_the_buyer_sounded(posted, slack, fake, settings):
    _, nudge_id = posted()
    slack.click("signal_sounded", f"{nudge_id}:worried")
    assert signals(settings) == [] and "isn't done" in responses(fake)[-1]["text"]
    slack.click("nudge_done", str(nudge_id))
    slack.click("signal_sounded", f"{nudge_id}:worried", user=OTHER_REP)
    assert signals(settings) == [] and "or a manager" in responses(fake)[-1]["text"]
    slack.click("signal_sounded", f"{nudge_id}:worried", user=MANAGER)
    assert [r["by_user"] for r in signals(settings)] == [MANAGER]
    slack.click("signal_sounded", f"{nudge_id}:furious")  # a forged value: answered, nothing stored
    assert len(signals(settings)) == 1 and "can't find" in responses(fake)[-1]["text"]


# -- on every deal: Log a touch, Flag a concern ---------------------------------------------------------------


def test_every_deal_message_offers_log_a_touch_and_flag_a_concern(slack, fake):
    slack.command("Acme Rockets $120k")
    [actions] = [b for b in fake.last("chat.postMessage").params["blocks"] if b["type"] == "actions"]
    ids = [e["action_id"] for e in actions["elements"]]
    assert {"signal_log_touch", "signal_flag_concern"} <= set(ids)


def test_a_touch_outside_the_plan_is_logged_once_with_when_and_how_it_went(posted, slack, fake, settings):
    deal_id, _ = posted()
    slack.click("signal_log_touch", str(deal_id))
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "signal_touch"
    future = slack.submit(view, {"when": date_value("2026-12-01"), "medium": radio("call"), "sentiment": {}})
    errors = json.loads(future.body)["errors"]
    assert set(errors) == {"when", "sentiment"} and "2026-11-23" in errors["when"]
    assert signals(settings) == []  # nothing half-stored
    values = {
        "when": date_value("2026-11-20"),
        "medium": radio("meeting"),
        "sentiment": radio("positive"),
        "note": text("Walked their admins through SSO"),
    }
    done = slack.submit(view, values, view_id="V0TOUCH")
    assert json.loads(done.body)["response_action"] == "update"
    slack.submit(view, values, view_id="V0TOUCH")  # Slack's retry of the same submission
    [row] = signals(settings)
    assert (row["kind"], row["happened_on"], row["medium"], row["sentiment"]) == (
        "touch",
        "2026-11-20",
        "meeting",
        "positive",
    )
    assert fake.violations == []


def test_a_concern_is_flagged_by_the_owner_or_a_manager_only(posted, slack, fake, settings):
    deal_id, _ = posted()
    slack.click("signal_flag_concern", str(deal_id), user=OTHER_REP)
    assert fake.calls_to("views.open") == [] and "or a manager" in responses(fake)[-1]["text"]
    slack.click("signal_flag_concern", str(deal_id), user=MANAGER)
    view = fake.last("views.open").params["view"]
    missing = slack.submit(view, {"concern": {}, "note": text("x")}, user=MANAGER)
    assert "Choose the concern" in json.loads(missing.body)["errors"]["concern"] and signals(settings) == []
    slack.submit(view, {"concern": radio("cancel"), "note": text("CFO asked to cancel")}, user=MANAGER)
    slack.submit(view, {"concern": radio("budget")}, user=OTHER_REP)  # a forged submission by someone else
    [row] = signals(settings)
    assert (row["kind"], row["concern"], row["note"], row["by_user"]) == (
        "concern",
        "cancel",
        "CFO asked to cancel",
        MANAGER,
    )
    assert fake.violations == []


def test_done_with_an_outcome_asks_how_they_sounded_by_dm_once(posted, slack, fake, settings):
    _, nudge_id = posted("win-analysis")
    slack.click("nudge_done", str(nudge_id))
    view = fake.last("views.open").params["view"]
    values = {"reason": text("Setup took days, not months")}
    slack.submit(view, values)
    slack.submit(view, values)  # a second submit changes nothing, and asks nothing again
    asked = [c.params for c in fake.calls_to("chat.postMessage") if c.params["channel"] == REP]
    assert len(asked) == 1 and "How did they sound" in asked[0]["text"]
    [actions] = [b for b in asked[0]["blocks"] if b["type"] == "actions"]
    assert actions["elements"][2]["value"] == f"{nudge_id}:worried"
    assert fake.violations == []
