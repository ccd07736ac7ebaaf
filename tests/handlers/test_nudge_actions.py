"""Nudge buttons through the real Bolt app: Done (with outcomes), Snooze, Skip, Reassign, who may, and only once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import Pacer
from bot.nudges.forms import LOST_TRACK
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP, TEAM
from tests.slackapp import body_json

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, the deal's close day
MONDAY_1030 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
LEAD = "U0LEAD"
LATER = "2027-06-01"  # where every step but the one under test waits, so each message carries one step


pytestmark = pytest.mark.both_engines


@pytest.fixture
def tick(coach):
    """Run the real dispatcher at `now`; the pacer's sleep is a no-op so ticks never wait."""
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))


@pytest.fixture
def post_step(coach, settings, clock, tick):
    """Capture a deal and post just one of its steps on Monday 10:00 Berlin; returns the nudge id."""

    def post(step_id: str = "congratulate") -> int:
        clock.now = MONDAY_10
        deal = store_deal(
            coach,
            "Acme Rockets $120k contact: Jane Doe persona: economic live: 2026-12-21",  # go-live steps too
            team_id=TEAM,
            channel_id=CHANNEL,
            user_id=REP,
            capture_key=f"k-{step_id}",
        )
        coach.announce(deal.id)  # as /closed-deal does: the deal's nudges follow its announcement
        with coach.store.write() as db:
            db.execute("UPDATE nudges SET due_date = ? WHERE deal_id = ?", [LATER, deal.id])
            db.execute(
                "UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id = ?",
                [coach.today().isoformat(), deal.id, step_id],
            )
        assert len(tick(MONDAY_10).posted) == 1
        [nudge] = [n for n in nudges(settings) if n["step_id"] == step_id]
        assert nudge["status"] == "posted"
        return nudge["id"]

    return post


def nudges(settings) -> list[dict]:
    return engines.rows(settings, "SELECT * FROM nudges ORDER BY id")


def nudge(settings, nudge_id: int) -> dict:
    [row] = engines.rows(settings, "SELECT * FROM nudges WHERE id = ?", [nudge_id])
    return row


def select(slack, fake, action_id: str, nudge_id: int, picked: dict, *, user: str = REP, team: str = TEAM):
    """Pick from a select menu in the nudge's actions block (snooze or reassign), as Slack sends it."""
    return slack.pick(action_id, f"nudge_{nudge_id}", picked, user=user, team=team)


def snooze(slack, fake, nudge_id: int, days: int, **who):
    option = {"text": {"type": "plain_text", "text": "Snooze"}, "value": f"{nudge_id}:{days}"}
    return select(slack, fake, "nudge_snooze", nudge_id, {"type": "static_select", "selected_option": option}, **who)


def reassign(slack, fake, nudge_id: int, assignee: str, **who):
    return select(slack, fake, "nudge_reassign", nudge_id, {"type": "users_select", "selected_user": assignee}, **who)


def updated(fake) -> tuple[dict, str]:
    """The last chat.update's params and its blocks as one string, to assert on what the team now sees."""
    params = fake.last("chat.update").params
    return params, json.dumps(params["blocks"], ensure_ascii=False)


def has_buttons(blocks: list[dict]) -> bool:
    return any(b["type"] == "actions" for b in blocks)


def answered_at_once(response) -> bool:
    """Slack gets an empty 200 straight away; the lazy listener does the rest."""
    return response.status == 200 and response.body == ""


def ephemeral(fake) -> str:
    """The private reply sent through the response_url; it must never replace the shared message."""
    params = fake.last("response_url").params
    assert params["response_type"] == "ephemeral" and params["replace_original"] is False
    return params["text"]


def radio(value: str) -> dict:
    return {"type": "radio_buttons", "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


# -- the message and Done --------------------------------------------------------------------------------


def test_the_posted_message_offers_done_snooze_skip_reassign_and_add_details(post_step, fake):
    nudge_id = post_step()
    [actions] = [b for b in fake.last("chat.postMessage").params["blocks"] if b["type"] == "actions"]
    assert actions["block_id"] == f"nudge_{nudge_id}"
    done, snooze_menu, skip, reassign_menu, _add_details, more = actions["elements"]
    assert (more["action_id"], more["text"]["text"], more["value"]) == ("nudge_more", "More", str(nudge_id))
    assert (done["type"], done["action_id"], done["text"]["text"], done["value"]) == (
        "button",
        "nudge_done",
        "Done",
        str(nudge_id),
    )
    assert (snooze_menu["type"], snooze_menu["action_id"]) == ("static_select", "nudge_snooze")
    assert [(o["text"]["text"], o["value"]) for o in snooze_menu["options"]] == [
        ("1 day", f"{nudge_id}:1"),
        ("1 week", f"{nudge_id}:7"),
    ]
    assert (skip["action_id"], skip["value"]) == ("nudge_skip", str(nudge_id))
    assert (reassign_menu["type"], reassign_menu["action_id"]) == ("users_select", "nudge_reassign")
    assert fake.violations == []


def test_more_opens_the_whole_coaching_in_a_modal_how_talking_points_and_the_whole_draft(post_step, slack, fake, coach):
    """The short message leaves how and the rest of the draft one click away; anyone on the team may read it."""
    nudge_id = post_step("next-steps")
    short = json.dumps(fake.last("chat.postMessage").params["blocks"], ensure_ascii=False)
    assert "*How:*" not in short and "More" in short
    response = slack.click("nudge_more", str(nudge_id), user=OTHER_REP)
    assert answered_at_once(response)
    view = fake.last("views.open").params["view"]
    shown = json.dumps(view["blocks"], ensure_ascii=False)
    step = coach.steps_by_id()["next-steps"]
    assert "*How:*" in shown and "List the next three or four steps" in shown
    assert "it gets lighter after that" in shown and "it gets lighter after that" not in short  # the draft's end
    assert "submit" not in view and fake.violations == []
    assert step.how


def test_more_on_a_step_that_is_not_there_is_answered_privately(post_step, slack, fake):
    post_step()
    slack.click("nudge_more", "999999")
    assert "can't find that follow-up" in ephemeral(fake)
    assert fake.calls_to("views.open") == []


def test_done_records_who_and_when_and_updates_the_message_in_place(post_step, slack, fake, settings, clock):
    nudge_id = post_step()
    posted = fake.last("chat.postMessage")
    clock.now = MONDAY_1030
    response = slack.click("nudge_done", str(nudge_id))
    assert answered_at_once(response)
    row = nudge(settings, nudge_id)
    assert (row["status"], row["resolved_by"], row["resolved_at"]) == ("done", REP, "2026-11-23T09:30:00+00:00")
    assert row["outcome"] is None
    params, shown = updated(fake)
    assert (params["channel"], params["ts"]) == (CHANNEL, posted.response["ts"])
    assert f"Done by <@{REP}> · Mon Nov 23, 10:30" in shown  # Berlin time
    assert not has_buttons(params["blocks"]) and params["text"]
    # one click: nothing opens; the only private word is the optional "How did they sound?" beside the message
    [question] = fake.calls_to("response_url")
    assert question.params["replace_original"] is False and "How did they sound" in question.params["text"]
    assert fake.calls_to("views.open") == []
    assert fake.violations == []


def test_a_manager_may_mark_someone_elses_step_done(post_step, slack, fake, settings):
    nudge_id = post_step()
    slack.click("nudge_done", str(nudge_id), user=MANAGER)
    assert (nudge(settings, nudge_id)["status"], nudge(settings, nudge_id)["resolved_by"]) == ("done", MANAGER)
    assert f"Done by <@{MANAGER}>" in updated(fake)[1]
    assert fake.violations == []


def test_a_double_click_on_done_changes_nothing_the_second_time(post_step, slack, fake, settings, clock):
    nudge_id = post_step()
    clock.now = MONDAY_1030
    slack.click("nudge_done", str(nudge_id))
    first = nudge(settings, nudge_id)
    clock.now = datetime(2026, 11, 23, 9, 31, tzinfo=UTC)
    response = slack.click("nudge_done", str(nudge_id), user=MANAGER)
    assert answered_at_once(response)
    assert ephemeral(fake) == f"Already done by <@{REP}>. Nothing changed."
    assert nudge(settings, nudge_id) == first
    assert set(fake.redraws().values()) == {1}  # the nudge's message and the deal's, each redrawn once
    assert fake.violations == []


# -- Done with an outcome ----------------------------------------------------------------------------------


def test_done_on_a_win_analysis_asks_for_the_buyers_biggest_reason(post_step, slack, fake, settings):
    nudge_id = post_step("win-analysis")
    response = slack.click("nudge_done", str(nudge_id))
    assert answered_at_once(response)
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "nudge_outcome"
    assert json.loads(view["private_metadata"]) == {"nudge": nudge_id, "kind": "win_reason"}
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["reason"]["optional"] is False and inputs["detail"]["optional"] is True
    assert nudge(settings, nudge_id)["status"] == "posted"  # nothing recorded until the modal is saved
    assert fake.calls_to("chat.update") == []
    assert fake.violations == []


def test_an_empty_win_reason_is_refused_inline_and_changes_nothing(post_step, slack, fake, settings):
    nudge_id = post_step("win-analysis")
    slack.click("nudge_done", str(nudge_id))
    view = fake.last("views.open").params["view"]
    before = nudge(settings, nudge_id)
    response = slack.submit(view, {"reason": {"value": "   "}, "detail": {"value": None}})
    body = body_json(response)
    assert body["response_action"] == "errors" and set(body["errors"]) == {"reason"}
    assert nudge(settings, nudge_id) == before
    assert fake.calls_to("chat.update") == []
    assert fake.violations == []


def test_a_win_reason_marks_the_step_done_and_shows_it_escaped(post_step, slack, fake, settings):
    nudge_id = post_step("win-analysis")
    slack.click("nudge_done", str(nudge_id))
    view = fake.last("views.open").params["view"]
    response = slack.submit(
        view, {"reason": {"value": "Setup took days,\n not months <really> & cheap"}, "detail": {"value": "Price"}}
    )
    assert response.status == 200 and body_json(response) == {}
    row = nudge(settings, nudge_id)
    assert (row["status"], row["resolved_by"]) == ("done", REP)
    assert json.loads(row["outcome"]) == {
        "kind": "win_reason",
        "reason": "Setup took days, not months <really> & cheap",
        "almost": "Price",
    }
    params, shown = updated(fake)
    assert "Biggest reason: “Setup took days, not months &lt;really&gt; &amp; cheap”" in shown
    assert "Almost stopped them: “Price”" in shown
    assert not has_buttons(params["blocks"])
    assert fake.violations == []


def test_a_repeated_outcome_submission_changes_nothing(post_step, slack, fake, settings, clock):
    nudge_id = post_step("win-analysis")
    slack.click("nudge_done", str(nudge_id))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"reason": {"value": "Speed"}})
    first = nudge(settings, nudge_id)
    clock.now = MONDAY_1030
    again = slack.submit(view, {"reason": {"value": "Something else"}})
    body = body_json(again)
    assert body["response_action"] == "errors" and "Already done by @U0REP" in body["errors"]["reason"]
    assert nudge(settings, nudge_id) == first
    assert set(fake.redraws().values()) == {1}  # the nudge's message and the deal's, each redrawn once
    slack.click("nudge_done", str(nudge_id))  # the button on a stale copy of the message: no second modal
    assert ephemeral(fake) == f"Already done by <@{REP}>. Nothing changed."
    assert len(fake.calls_to("views.open")) == 1 and set(fake.redraws().values()) == {1}
    assert fake.violations == []


@pytest.mark.parametrize(
    ("step_id", "kind", "results", "result", "detail", "summary"),
    [
        (
            "testimonial",
            "testimonial",
            ["received", "promised", "declined"],
            "received",
            "Onboarding took days, not weeks.",
            "Testimonial: Received: “Onboarding took days, not weeks.”",
        ),
        (
            "referrals",
            "referral",
            ["received", "later", "declined"],
            "received",
            "Ann Lee (Globex), Bo Chan (Initech)",
            "Referrals: Got referrals: “Ann Lee (Globex), Bo Chan (Initech)”",
        ),
        ("referrals", "referral", ["received", "later", "declined"], "later", None, "Referrals: Not yet, ask again"),
    ],
)
def test_done_on_a_testimonial_or_referral_records_how_it_went(
    post_step, slack, fake, settings, step_id, kind, results, result, detail, summary
):
    nudge_id = post_step(step_id)
    slack.click("nudge_done", str(nudge_id))
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "nudge_outcome"
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert [o["value"] for o in inputs["result"]["element"]["options"]] == results
    assert inputs["detail"]["optional"] is True

    refused = slack.submit(view, {"result": {"value": {"type": "radio_buttons", "selected_option": None}}})
    assert set(body_json(refused)["errors"]) == {"result"}
    assert nudge(settings, nudge_id)["status"] == "posted"

    response = slack.submit(view, {"result": {"value": radio(result)}, "detail": {"value": detail}})
    assert body_json(response) == {}
    row = nudge(settings, nudge_id)
    expected = {"kind": kind, "result": result} | ({"detail": detail} if detail else {})
    assert (row["status"], json.loads(row["outcome"])) == ("done", expected)
    assert summary in updated(fake)[1]
    assert set(fake.redraws().values()) == {1}  # the nudge's message and the deal's, each redrawn once
    assert fake.violations == []


# -- Snooze ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clicked_at", "days", "due"),
    [
        (MONDAY_1030, 1, "2026-11-24"),
        (MONDAY_1030, 7, "2026-11-30"),
        (datetime(2026, 11, 27, 9, 0, tzinfo=UTC), 1, "2026-11-30"),  # Friday + 1 day is Saturday: Monday
    ],
)
def test_snooze_plans_the_step_again_on_a_business_day(post_step, slack, fake, settings, clock, clicked_at, days, due):
    nudge_id = post_step()
    clock.now = clicked_at
    response = snooze(slack, fake, nudge_id, days)
    assert answered_at_once(response)
    row = nudge(settings, nudge_id)
    assert (row["status"], row["due_date"], row["snoozed_until"], row["snoozed_by"]) == ("planned", due, due, REP)
    assert row["post_id"] is None
    params, shown = updated(fake)
    day = datetime.fromisoformat(due)
    assert f"Snoozed by <@{REP}> until {day:%a %b %-d}" in shown
    assert not has_buttons(params["blocks"])
    assert fake.violations == []


def test_a_snoozed_step_is_posted_again_on_its_new_date_not_before(post_step, slack, fake, settings, clock, tick):
    nudge_id = post_step()
    clock.now = MONDAY_1030
    snooze(slack, fake, nudge_id, 1)
    assert tick(datetime(2026, 11, 23, 15, 0, tzinfo=UTC)).posted == []  # still Monday
    assert len(fake.posts_of(NUDGE)) == 1
    tuesday = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert len(tick(tuesday).posted) == 1
    [first, again] = fake.posts_of(NUDGE)
    assert again.response["ts"] != first.response["ts"]
    [actions] = [b for b in again.params["blocks"] if b["type"] == "actions"]
    assert actions["block_id"] == f"nudge_{nudge_id}"
    row = nudge(settings, nudge_id)
    assert row["status"] == "posted" and row["post_id"] is not None
    clock.now = tuesday
    slack.click("nudge_done", str(nudge_id))  # the fresh message works like the first
    assert nudge(settings, nudge_id)["status"] == "done"
    assert updated(fake)[0]["ts"] == again.response["ts"]
    assert fake.violations == []


# -- Skip --------------------------------------------------------------------------------------------------


def test_skip_asks_for_an_optional_reason_then_records_it(post_step, slack, fake, settings, clock):
    nudge_id = post_step()
    response = slack.click("nudge_skip", str(nudge_id))
    assert answered_at_once(response)
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "nudge_skip"
    [reason] = [b for b in view["blocks"] if b["type"] == "input"]
    assert (reason["block_id"], reason["optional"]) == ("reason", True)
    assert nudge(settings, nudge_id)["status"] == "posted"

    clock.now = MONDAY_1030
    submitted = slack.submit(view, {"reason": {"value": "Covered in the kickoff <call>"}})
    assert submitted.status == 200 and body_json(submitted) == {}
    row = nudge(settings, nudge_id)
    assert (row["status"], row["resolved_by"], row["note"]) == ("skipped", REP, "Covered in the kickoff <call>")
    assert row["resolved_at"] == "2026-11-23T09:30:00+00:00"
    params, shown = updated(fake)
    assert f"Skipped by <@{REP}> · Mon Nov 23, 10:30 · “Covered in the kickoff &lt;call&gt;”" in shown
    assert not has_buttons(params["blocks"])
    assert fake.violations == []


def test_skip_without_a_reason_and_a_repeated_submission_changes_nothing(post_step, slack, fake, settings):
    nudge_id = post_step()
    slack.click("nudge_skip", str(nudge_id))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"reason": {"value": None}})
    first = nudge(settings, nudge_id)
    assert (first["status"], first["note"]) == ("skipped", None)
    again = slack.submit(view, {"reason": {"value": "Changed my mind"}}, user=MANAGER)
    assert body_json(again)["errors"] == {"reason": "Already skipped by @U0REP. Nothing changed."}
    assert nudge(settings, nudge_id) == first
    assert set(fake.redraws().values()) == {1}  # the nudge's message and the deal's, each redrawn once
    slack.click("nudge_skip", str(nudge_id))
    assert ephemeral(fake) == f"Already skipped by <@{REP}>. Nothing changed."
    assert len(fake.calls_to("views.open")) == 1
    assert fake.violations == []


# -- Reassign ----------------------------------------------------------------------------------------------


def test_reassign_stores_the_assignee_mentions_them_and_tells_them_by_dm(post_step, slack, fake, settings):
    nudge_id = post_step()
    response = reassign(slack, fake, nudge_id, LEAD)
    assert answered_at_once(response)
    row = nudge(settings, nudge_id)
    assert (row["assignee_id"], row["status"]) == (LEAD, "posted")
    params, shown = updated(fake)
    assert f"<@{LEAD}>" in shown and f"reassigned from <@{REP}>" in shown
    assert has_buttons(params["blocks"])  # still waiting for someone to do it
    dm = fake.last("chat.postMessage")
    assert dm.params["channel"] == LEAD
    assert f"<@{REP}> handed you a follow-up for *Acme Rockets*" in dm.params["text"]

    slack.click("nudge_done", str(nudge_id), user=LEAD)
    row = nudge(settings, nudge_id)
    assert (row["status"], row["resolved_by"]) == ("done", LEAD)
    assert f"Done by <@{LEAD}>" in updated(fake)[1]
    assert ["How did they sound" in c.params["text"] for c in fake.calls_to("response_url")] == [True]  # no refusal
    assert fake.violations == []


def test_reassigning_to_the_same_person_twice_changes_nothing(post_step, slack, fake, settings):
    nudge_id = post_step()
    reassign(slack, fake, nudge_id, LEAD)
    first = nudge(settings, nudge_id)
    reassign(slack, fake, nudge_id, LEAD, user=MANAGER)
    assert ephemeral(fake) == f"It's already with <@{LEAD}>."
    assert nudge(settings, nudge_id) == first
    assert set(fake.redraws().values()) == {1}  # the nudge's message and the deal's, each redrawn once
    assert [c.params["channel"] for c in fake.calls_to("chat.postMessage")] == [CHANNEL, CHANNEL, LEAD]  # the
    # deal's announcement, the nudge, and one DM to the new assignee
    assert fake.violations == []


# -- who may act -------------------------------------------------------------------------------------------


def _done(slack, fake, nudge_id, **who):
    return slack.click("nudge_done", str(nudge_id), **who)


def _skip(slack, fake, nudge_id, **who):
    return slack.click("nudge_skip", str(nudge_id), **who)


def _snooze(slack, fake, nudge_id, **who):
    return snooze(slack, fake, nudge_id, 1, **who)


def _reassign(slack, fake, nudge_id, **who):
    return reassign(slack, fake, nudge_id, OTHER_REP, **who)


@pytest.mark.parametrize("act", [_done, _skip, _snooze, _reassign], ids=["done", "skip", "snooze", "reassign"])
@pytest.mark.parametrize(
    ("who", "explanation"),
    [
        ({"user": OTHER_REP}, f"Only <@{REP}>, or a manager, can act on this follow-up."),
        ({"user": REP, "team": "T0OTHER"}, "I can't find that follow-up any more."),
    ],
    ids=["another-rep", "another-workspace"],
)
@pytest.mark.parametrize("step_id", ["congratulate", "win-analysis"])
def test_nobody_else_can_act_and_nothing_changes(post_step, slack, fake, settings, act, who, explanation, step_id):
    nudge_id = post_step(step_id)
    before = nudges(settings)
    response = act(slack, fake, nudge_id, **who)
    assert answered_at_once(response)
    assert ephemeral(fake) == explanation
    assert nudges(settings) == before
    assert fake.calls_to("chat.update") == [] and fake.calls_to("views.open") == []
    assert len(fake.calls_to("chat.postMessage")) == 2  # the deal's announcement and the nudge itself; no DM
    assert fake.violations == []


def test_after_a_reassign_the_owner_still_may_act_but_others_still_may_not(post_step, slack, fake, settings):
    nudge_id = post_step()
    reassign(slack, fake, nudge_id, LEAD)
    slack.click("nudge_done", str(nudge_id), user=OTHER_REP)
    assert ephemeral(fake) == f"Only <@{REP}> or <@{LEAD}>, or a manager, can act on this follow-up."
    assert nudge(settings, nudge_id)["status"] == "posted"
    slack.click("nudge_done", str(nudge_id))
    assert nudge(settings, nudge_id)["resolved_by"] == REP
    assert fake.violations == []


def test_a_modal_submitted_by_someone_without_rights_changes_nothing(post_step, slack, fake, settings):
    nudge_id = post_step("win-analysis")
    slack.click("nudge_done", str(nudge_id))
    view = fake.last("views.open").params["view"]
    before = nudge(settings, nudge_id)
    response = slack.submit(view, {"reason": {"value": "Speed"}}, user=OTHER_REP)
    assert body_json(response)["response_action"] == "errors"
    assert nudge(settings, nudge_id) == before
    assert fake.calls_to("chat.update") == []
    assert fake.violations == []


# -- garbled requests: refused with an answer, never a crash, nothing changed ---------------------------------

GARBLED_METADATA = ["", "not json", "[1]", "{}", '{"nudge": "1"}', '{"nudge": true}', '{"nudge": null}']


@pytest.mark.parametrize("metadata", GARBLED_METADATA)
def test_a_skip_form_whose_metadata_is_garbled_is_refused_inline(post_step, slack, fake, settings, metadata):
    nudge_id = post_step()
    slack.click("nudge_skip", str(nudge_id))
    view = {**fake.last("views.open").params["view"], "private_metadata": metadata}
    before = nudge(settings, nudge_id)
    response = slack.submit(view, {"reason": {"value": "Covered"}})
    assert response.status == 200
    assert body_json(response) == {"response_action": "errors", "errors": {"reason": LOST_TRACK}}
    assert nudge(settings, nudge_id) == before
    assert fake.calls_to("chat.update") == []
    assert fake.violations == []


@pytest.mark.parametrize("kind", ["bogus", None, 7])
def test_an_outcome_form_whose_metadata_is_garbled_is_refused_inline(post_step, slack, fake, settings, kind):
    nudge_id = post_step("win-analysis")
    slack.click("nudge_done", str(nudge_id))
    opened = fake.last("views.open").params["view"]
    for metadata in [json.dumps({"nudge": nudge_id, "kind": kind}), json.dumps({"nudge": str(nudge_id)}), "{"]:
        view = {**opened, "private_metadata": metadata}
        response = slack.submit(view, {"reason": {"value": "Speed"}})
        assert body_json(response) == {"response_action": "errors", "errors": {"reason": LOST_TRACK}}, metadata
    assert nudge(settings, nudge_id)["status"] == "posted"
    assert fake.calls_to("chat.update") == []


@pytest.mark.parametrize(
    ("act", "garbled"),
    [
        (lambda slack, fake, garbled: slack.click("nudge_done", garbled), "12abc"),
        (lambda slack, fake, garbled: slack.click("nudge_skip", garbled), ""),
        (
            lambda slack, fake, garbled: slack.pick(
                "nudge_snooze",
                "nudge_1",
                {
                    "type": "static_select",
                    "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": garbled},
                },
            ),
            "1:week",
        ),
        (
            lambda slack, fake, garbled: slack.pick(
                "nudge_reassign", garbled, {"type": "users_select", "selected_user": LEAD}
            ),
            "nudge_x",
        ),
        (
            lambda slack, fake, garbled: slack.pick(
                "nudge_reassign", garbled, {"type": "users_select", "selected_user": LEAD}
            ),
            "deal_1",
        ),
    ],
)
def test_a_click_naming_no_follow_up_is_answered_privately_and_changes_nothing(
    post_step, slack, fake, settings, act, garbled
):
    nudge_id = post_step()
    before = nudge(settings, nudge_id)
    response = act(slack, fake, garbled)
    assert answered_at_once(response)
    assert ephemeral(fake) == "I can't find that follow-up any more."
    assert nudge(settings, nudge_id) == before
    assert fake.calls_to("chat.update") == [] and fake.calls_to("views.open") == []


def test_a_testimonial_received_is_shared_with_the_channel_once_as_a_broadcast_reply(
    post_step, slack, fake, settings, tick, clock
):
    """Wins are what the team sees: a reply in the deal's thread, broadcast to the channel, once however often
    the dispatcher runs. A testimonial only promised is no win yet."""
    nudge_id = post_step("testimonial")
    slack.click("nudge_done", str(nudge_id))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"result": {"value": radio("received")}, "detail": {"value": "They <3 it @channel"}})
    tick(MONDAY_1030)
    tick(MONDAY_1030 + timedelta(minutes=1))
    [win] = fake.posts_of("dealcoach_win")
    [deal] = engines.rows(settings, "SELECT message_ts FROM deals")
    assert win.params["channel"] == CHANNEL and win.params["thread_ts"] == deal["message_ts"]
    assert win.params["reply_broadcast"] in (True, "true", "1", 1)
    shown = json.dumps(win.params["blocks"], ensure_ascii=False)
    assert "Acme Rockets* gave us a testimonial" in shown and "&lt;3" in shown and "<!channel>" not in shown
    assert fake.violations == []


def test_a_testimonial_only_promised_shares_nothing(post_step, slack, fake, tick):
    nudge_id = post_step("testimonial")
    slack.click("nudge_done", str(nudge_id))
    slack.submit(fake.last("views.open").params["view"], {"result": {"value": radio("promised")}})
    tick(MONDAY_1030)
    assert fake.posts_of("dealcoach_win") == []
