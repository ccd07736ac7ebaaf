"""A deal after capture: verbal yes then signed, live, cancelled; who may change it; `/closed-deal list`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlite_utils

from bot.deals.blocks import LOST_TRACK
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests.bot.nudges.test_blocks import rendered_lines
from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP
from tests.slackapp import body_json

MONDAY_10_BERLIN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def deal_row(settings) -> dict:
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db["deals"].rows)[-1]


def nudge_rows(settings) -> dict[str, dict]:
    with sqlite_utils.Database(settings.db_path) as db:
        return {r["step_id"]: r for r in db["nudges"].rows_where(order_by="id")}


def shown(call) -> str:
    return json.dumps(call.params.get("blocks", []), ensure_ascii=False)


def buttons(call) -> list[str]:
    return [e["action_id"] for b in call.params["blocks"] if b["type"] == "actions" for e in b["elements"]]


@pytest.fixture
def tick(coach, fake):
    client = posting_client(coach.settings)

    def run(now):
        return dispatch_nudges(coach, client, now, Pacer(sleep=lambda s: None))

    return run


def submit_modal(slack, fake, values: dict, *, user=REP):
    view = fake.last("views.open").params["view"]
    return slack.submit(view, values, user=user)


def test_a_verbal_yes_starts_affirming_and_asks_for_the_signature(slack, fake, settings):
    slack.command("Acme Rockets $120k verbal")
    deal = deal_row(settings)
    assert deal["account"] == "Acme Rockets" and deal["signed"] == 0
    steps = nudge_rows(settings)
    assert "get-signature" in steps and steps["get-signature"]["due_date"] == "2026-11-25"
    assert steps["congratulate"]["due_date"] == "2026-11-23"  # affirmation starts at once
    post = fake.last("chat.postMessage")
    assert "Verbal yes" in shown(post) and "verbal yes" in post.params["text"]
    assert buttons(post) == [
        "deal_see_plan",
        "open_deal_details",
        "deal_mark_signed",
        "deal_readiness",
        "deal_mark_live",
        "signal_log_touch",
        "signal_flag_concern",
        "deal_cancel",
        "deal_delete",
    ]
    assert fake.violations == []


def test_the_form_can_capture_a_verbal_yes(slack, fake, settings):
    from tests.slackapp import form

    slack.command("")
    values = form("Initech", "$30k")
    values["signed"] = {"value": {"type": "checkboxes", "selected_options": [{"value": "verbal"}]}}
    submit_modal(slack, fake, values)
    assert deal_row(settings)["signed"] == 0
    assert "get-signature" in nudge_rows(settings)


def test_marking_it_signed_ends_the_signature_step_and_updates_the_message(slack, fake, settings):
    slack.command("Acme Rockets $120k verbal")
    deal = deal_row(settings)
    slack.click("deal_mark_signed", str(deal["id"]))
    after = deal_row(settings)
    assert after["signed"] == 1 and after["signed_at"]
    assert "get-signature" not in nudge_rows(settings)
    update = fake.last("chat.update")
    assert update.params["ts"] == deal["message_ts"]
    assert "deal_mark_signed" not in buttons(update) and "Closed: Acme Rockets" in shown(update)
    slack.click("deal_mark_signed", str(deal["id"]))  # again: nothing to do
    assert "already signed" in fake.last("response_url").params["text"]
    assert len(fake.calls_to("chat.update")) == 1


def test_done_on_the_posted_signature_step_marks_the_deal_signed(slack, fake, settings, tick, clock):
    clock.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    slack.command("Acme Rockets $120k verbal")
    tick(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))  # Wednesday: the signature step is due
    signature = nudge_rows(settings)["get-signature"]
    assert signature["status"] == "posted"
    slack.click("nudge_done", str(signature["id"]))
    assert deal_row(settings)["signed"] == 1
    assert nudge_rows(settings)["get-signature"]["status"] == "done"


def test_marking_it_live_moves_the_steps_timed_from_go_live(slack, fake, settings):
    slack.command("Acme Rockets $120k")
    deal = deal_row(settings)
    before = nudge_rows(settings)
    assert "activation-check-in" not in before  # no go-live date: nothing timed from a guess
    assert before["go-live-question"]["due_date"] == "2026-12-23"  # asked instead, when go-live was expected
    slack.click("deal_mark_live", str(deal["id"]))
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "deal_live"
    slack.submit(view, {"go_live_date": {"value": {"type": "datepicker", "selected_date": "2026-11-20"}}})
    after = deal_row(settings)
    assert after["go_live_date"] == "2026-11-20" and after["live_at"]
    steps = nudge_rows(settings)
    assert steps["activation-check-in"]["due_date"] == "2026-11-20"
    assert steps["acclimation-check"]["due_date"] == "2026-12-04"
    assert steps["thank-you-note"]["due_date"] == "2026-11-26"  # timed from close: unchanged
    assert "go-live-question" not in steps  # answered: nothing left to ask
    update = fake.last("chat.update")
    assert "Live" in shown(update) and "deal_mark_live" not in buttons(update)
    assert fake.violations == []


def test_cancelling_stops_pending_steps_and_says_why(slack, fake, settings, tick, clock):
    clock.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    slack.command("Acme Rockets $120k")
    tick(MONDAY_10_BERLIN)  # the day-0 step is posted
    deal = deal_row(settings)
    slack.click("deal_cancel", str(deal["id"]))
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "deal_cancel"
    empty = slack.submit(view, {"reason": {"value": {"type": "plain_text_input", "value": "  "}}})
    assert body_json(empty)["response_action"] == "errors" and deal_row(settings)["status"] == "open"

    slack.submit(view, {"reason": {"value": {"type": "plain_text_input", "value": "Budget frozen <!channel>"}}})
    after = deal_row(settings)
    assert (after["status"], after["cancelled_by"], after["cancel_reason"]) == (
        "cancelled",
        REP,
        "Budget frozen <!channel>",
    )
    assert {n["status"] for n in nudge_rows(settings).values()} == {"cancelled"}
    messages = {c.params["ts"]: c for c in fake.calls_to("chat.update")}
    announcement = messages[deal["message_ts"]]
    assert "Cancelled" in shown(announcement) and "Budget frozen &lt;!channel&gt;" in shown(announcement)
    assert "<!channel>" not in shown(announcement) and buttons(announcement) == ["deal_see_plan"]
    # no celebration left for a deal the buyer backed out of, and no promise of buttons that are gone
    assert "Congratulations" not in shown(announcement) and "Congratulations" not in announcement.params["text"]
    assert announcement.params["blocks"][0]["text"]["text"] == "✖️ Cancelled: Acme Rockets"
    assert "can change it" not in shown(announcement)
    # the day, as each reader's own Slack shows it (a UTC date is tomorrow in Los Angeles by the evening)
    assert f"<!date^{int(clock.now.timestamp())}^{{date_short_pretty}}|" in shown(announcement)
    nudge_message = next(c for ts, c in messages.items() if ts != deal["message_ts"])
    assert "deal was cancelled" in shown(nudge_message) and "nudge_done" not in buttons(nudge_message)
    before = len(fake.calls_to("chat.postMessage"))
    tick(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert len(fake.calls_to("chat.postMessage")) == before  # nothing more for a cancelled deal
    assert fake.violations == []


def test_only_the_owner_or_a_manager_can_change_a_deal(slack, fake, settings):
    slack.command("Acme Rockets $120k verbal")
    deal = deal_row(settings)
    for action in ("deal_mark_signed", "deal_mark_live", "deal_cancel"):
        slack.click(action, str(deal["id"]), user=OTHER_REP)
        assert f"Only <@{REP}>" in fake.last("response_url").params["text"]
    assert fake.calls_to("views.open") == [] and deal_row(settings)["signed"] == 0
    slack.click("deal_cancel", str(deal["id"]), user=MANAGER)
    view = fake.last("views.open").params["view"]
    forged = slack.submit(view, {"reason": {"value": {"type": "plain_text_input", "value": "x"}}}, user=OTHER_REP)
    assert body_json(forged)["response_action"] == "errors"
    assert deal_row(settings)["status"] == "open"
    slack.submit(
        view, {"reason": {"value": {"type": "plain_text_input", "value": "Lost to a competitor"}}}, user=MANAGER
    )
    assert deal_row(settings)["cancelled_by"] == MANAGER


def test_a_cancelled_deal_cannot_be_cancelled_again_or_marked_live(slack, fake, settings, coach):
    slack.command("Acme $5k")
    deal = deal_row(settings)
    coach.change_deal(deal["id"], "cancel", team_id="T0FAKE", user_id=REP, reason="Changed their mind")
    again = coach.change_deal(deal["id"], "cancel", team_id="T0FAKE", user_id=REP, reason="twice")
    assert not again.changed and "already cancelled" in again.explanation
    assert deal_row(settings)["cancel_reason"] == "Changed their mind"
    slack.click("deal_mark_live", str(deal["id"]))
    assert fake.calls_to("views.open") == []
    assert "already cancelled" in fake.last("response_url").params["text"]


def test_list_shows_the_reps_open_deals_privately(slack, fake, settings, coach):
    slack.command("Acme Rockets $120k")
    slack.command("Globex EUR 50,000 verbal")
    slack.command("Initech $9k", user=OTHER_REP)
    response = slack.command("list")
    body = body_json(response)
    assert body.get("response_type", "ephemeral") == "ephemeral"
    text = json.dumps(body["blocks"], ensure_ascii=False)
    assert "Your open deals (2)" in text and "Acme Rockets" in text and "Globex" in text and "Initech" not in text
    assert "Verbal yes" in text and "Next:" in text
    empty = body_json(slack.command("list", user="U0NEW"))
    assert "no open deals" in empty["text"]


def updates_of(fake, ts: str) -> list:
    return [c for c in fake.calls_to("chat.update") if c.params["ts"] == ts]


def test_done_on_the_signature_step_redraws_the_deal_message_as_signed(slack, fake, settings, tick, clock):
    """The step signs the deal, so its channel message must stop saying "not signed yet" and drop Mark signed."""
    clock.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    slack.command("Acme Rockets $120k verbal")
    announcement = deal_row(settings)["message_ts"]
    tick(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))  # Wednesday: the signature step is posted
    slack.click("nudge_done", str(nudge_rows(settings)["get-signature"]["id"]))
    [redrawn] = updates_of(fake, announcement)
    assert "Closed: Acme Rockets" in shown(redrawn) and "closing Acme Rockets" in redrawn.params["text"]
    assert "Verbal yes" not in shown(redrawn) and "not signed yet" not in shown(redrawn)
    assert "deal_mark_signed" not in buttons(redrawn)
    assert fake.violations == []


def test_every_change_to_a_deal_redraws_its_message_from_the_channel_or_home(slack, fake, settings, tick, clock):
    from tests.handlers.test_home import home_click, home_snooze, open_home

    clock.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    slack.command("Acme Rockets $120k")
    announcement = deal_row(settings)["message_ts"]
    tick(MONDAY_10_BERLIN)  # the day-0 step is posted
    steps = nudge_rows(settings)

    def redrawn() -> str:
        """The deal's message as last redrawn; exactly one redraw per change."""
        updates = updates_of(fake, announcement)
        assert len(updates) == redrawn.count + 1, [u.params["text"] for u in updates]
        redrawn.count += 1
        return shown(updates[-1])

    redrawn.count = 0

    def plan() -> str:
        """Every step, as See the plan shows it (anyone in the channel may look)."""
        slack.click("deal_see_plan", str(steps["congratulate"]["deal_id"]), user=OTHER_REP)
        return json.dumps(fake.last("views.open").params["view"]["blocks"], ensure_ascii=False)

    slack.click("nudge_done", str(steps["congratulate"]["id"]))  # Done in the channel
    assert "✅ 1 done" in redrawn() and "✅ *Mon Nov 23*" in plan()

    open_home(slack)
    home_click(slack, "nudge_done", str(steps["thank-you-note"]["id"]))  # done early, from Home
    assert "✅ 2 done" in redrawn() and plan().count("✅") == 2 + 1  # and the key under the plan

    home_snooze(slack, steps["next-steps"]["id"], 7)  # snoozed a week from its own date, from Home
    assert "Send your main contact the next steps" not in redrawn()  # no longer next
    assert "*Tue Dec 1* (day 8) · Affirm · Send your main contact the next steps" in plan()  # was Tue Nov 24

    slack.click("nudge_skip", str(steps["welcome-kit"]["id"]))
    skip = fake.last("views.open").params["view"]
    slack.submit(skip, {"reason": {"value": {"type": "plain_text_input", "value": "They have one"}}})
    assert "⏭️ 1 skipped" in redrawn() and "⏭️" in plan()
    assert all(rendered_lines(u.params["blocks"]) <= 12 for u in updates_of(fake, announcement))  # short throughout

    slack.click("open_deal_details", str(steps["congratulate"]["deal_id"]))
    from tests.slackapp import form

    slack.submit(fake.last("views.open").params["view"], form("Acme Rockets Inc", "$150k", closed="2026-11-23"))
    assert "Acme Rockets Inc" in redrawn() and "$150,000" in shown(updates_of(fake, announcement)[-1])
    # the announcement, the day-0 nudge and, for Done from Home, "How did they sound?" by DM: nothing posted anew
    assert [c.params["channel"] for c in fake.calls_to("chat.postMessage")] == [CHANNEL, CHANNEL, REP]
    assert fake.violations == []


def test_a_message_slack_wont_redraw_is_logged_and_the_rest_still_redraw(slack, fake, settings, tick, clock, caplog):
    clock.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    slack.command("Acme Rockets $120k")
    tick(MONDAY_10_BERLIN)
    congratulate = nudge_rows(settings)["congratulate"]
    fake.fail("chat.update", error="message_not_found")  # the deal's message was deleted by someone
    answers = len(fake.calls_to("response_url"))  # the capture's own private prompt came before
    slack.click("nudge_done", str(congratulate["id"]))
    first, second = fake.calls_to("chat.update")
    assert first.params["ts"] == deal_row(settings)["message_ts"] and first.failed
    assert "Done by" in shown(second) and not second.failed  # the nudge's own message still says who did it
    assert "Could not redraw deal" in caplog.text and "message_not_found" in caplog.text
    # the click itself worked: nothing to apologise for, only the optional "How did they sound?"
    assert ["How did they sound" in c.params["text"] for c in fake.calls_to("response_url")[answers:]] == [True]


@pytest.mark.parametrize("metadata", ["", "not json", "[1]", "{}", '{"deal": "1"}', '{"deal": true}'])
@pytest.mark.parametrize(
    ("button", "values"),
    [
        ("deal_mark_live", {"go_live_date": {"value": {"type": "datepicker", "selected_date": "2026-11-20"}}}),
        ("deal_cancel", {"reason": {"value": {"type": "plain_text_input", "value": "Budget frozen"}}}),
    ],
)
def test_a_deal_form_whose_metadata_is_garbled_is_refused_inline(slack, fake, settings, metadata, button, values):
    slack.command("Acme Rockets $120k")
    before = deal_row(settings)
    slack.click(button, str(before["id"]))
    view = {**fake.last("views.open").params["view"], "private_metadata": metadata}
    response = slack.submit(view, values)
    assert response.status == 200
    assert body_json(response) == {"response_action": "errors", "errors": {next(iter(values)): LOST_TRACK}}
    assert deal_row(settings) == before
    assert fake.calls_to("chat.update") == []


@pytest.mark.parametrize(
    "action", ["deal_mark_signed", "deal_mark_live", "deal_cancel", "deal_delete", "open_deal_details"]
)
@pytest.mark.parametrize("value", ["abc", "", "1:2", "١", "9" * 40, "-1"])
def test_a_deal_button_naming_no_deal_is_answered_privately_and_changes_nothing(slack, fake, settings, action, value):
    """A signed click whose value is not a deal id (a forged or garbled payload) gets an answer, not a crash."""
    slack.command("Acme Rockets $120k verbal")
    before = deal_row(settings)
    fake.reset()
    response = slack.click(action, value)
    assert response.status == 200
    assert fake.last("response_url").params["text"] == "I can't find that deal any more."
    assert deal_row(settings) == before
    assert fake.calls_to("chat.update") == [] and fake.calls_to("views.open") == []
