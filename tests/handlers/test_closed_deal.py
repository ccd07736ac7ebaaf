"""`/closed-deal` through the real Bolt app: what the rep sees, what Slack receives, what is stored."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import timedelta

import pytest
import sqlite_utils

from bot.deals.announcements import EVENT_TYPE as ANNOUNCED
from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import Pacer
from bot.slack.client import TIMEOUT_SECONDS
from schedules.jobs import dispatch_nudges
from tests.conftest import CHANNEL, OTHER_REP, REP, TEAM
from tests.slack_faults import UNKNOWN_OUTCOMES
from tests.slackapp import body_json


def rows(settings, table, where: str | None = None):
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db[table].rows_where(where))


def all_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_help_is_ephemeral_usage_with_examples(slack, fake, settings):
    response = slack.command("help")
    assert response.status == 200
    body = body_json(response)
    assert body.get("response_type", "ephemeral") == "ephemeral"
    assert "/closed-deal" in body["text"]
    shown = all_text(body["blocks"])
    for example in ("/closed-deal Acme Rockets $120k", "contact:", "persona:", "live:", "EUR 50,000"):
        assert example in shown
    assert rows(settings, "deals") == []
    assert fake.calls_to("chat.postMessage") == []


def test_no_text_opens_the_deal_form(slack, fake, settings):
    response = slack.command("")
    assert response.status == 200
    assert body_json(response) == {}
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "deal_details"
    assert len(view["title"]["text"]) <= 24
    ids = [b["block_id"] for b in view["blocks"]]
    assert ids == [
        "account",
        "amount",
        "contact_name",
        "contact_title",
        "persona",
        "close_date",
        "signed",
        "go_live_date",
        "impl_lead",
        "why_bought",
    ]
    required = {b["block_id"] for b in view["blocks"] if not b["optional"]}
    assert required == {"account", "amount", "close_date"}
    close = next(b for b in view["blocks"] if b["block_id"] == "close_date")
    assert close["element"]["initial_date"] == "2026-11-23"  # today in the team's time zone
    persona = next(b for b in view["blocks"] if b["block_id"] == "persona")
    assert [o["value"] for o in persona["element"]["options"]] == ["economic", "technical", "champion", "other"]
    assert json.loads(view["private_metadata"]) == {"channel": CHANNEL}
    assert fake.violations == []
    assert rows(settings, "deals") == []


def test_quick_capture_stores_the_deal_and_announces_the_plan(slack, fake, settings, coach):
    response = slack.command("Acme Rockets $120k contact: Jane Doe, VP Operations persona: economic")
    assert response.status == 200
    assert body_json(response) == {}

    [deal] = rows(settings, "deals")
    assert deal["account"] == "Acme Rockets"
    assert (deal["amount"], deal["currency"]) == ("120000.00", "USD")
    assert (deal["contact_name"], deal["contact_title"], deal["persona"]) == ("Jane Doe", "VP Operations", "economic")
    assert deal["owner_id"] == REP and deal["channel_id"] == CHANNEL and deal["team_id"] == "T0FAKE"
    assert deal["close_date"] == "2026-11-23"
    nudges = rows(settings, "nudges")
    plan = coach.playbook.plan(close_date=coach.today(), persona="economic", amount=deal_amount(deal))
    plan = [p for p in plan if p.step.after != "go_live"]  # no go-live date: asked, not assumed
    assert "go-live-question" in {p.step.id for p in plan}
    assert sorted(n["step_id"] for n in nudges) == sorted(p.step.id for p in plan)
    assert all(n["status"] == "planned" for n in nudges)

    post = fake.last("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    assert f"<@{REP}>" in post.params["text"] and "Acme Rockets" in post.params["text"]
    assert "$120,000" in post.params["text"]
    shown = all_text(post.params["blocks"])
    assert f"Congratulations <@{REP}>" in shown
    assert "Jane Doe, VP Operations (economic buyer)" in shown
    assert "*Next:* Mon Nov 23 · Call Jane Doe to congratulate Acme Rockets" in shown  # the plan: what's next
    see_plan, details = post.params["blocks"][-2]["elements"][:2]  # and the whole of it one click away
    assert see_plan["action_id"] == "deal_see_plan" and see_plan["value"] == str(deal["id"])
    assert details["action_id"] == "open_deal_details" and details["value"] == str(deal["id"])
    slack.click("deal_see_plan", see_plan["value"])
    plan = all_text(fake.last("views.open").params["view"]["blocks"])
    assert "*Thu Nov 26* (day 3) · Affirm · Send a handwritten thank-you note to Jane Doe" in plan  # 3 business days
    assert rows(settings, "deals")[0]["message_ts"] == post.response["ts"]
    assert fake.violations == []


def deal_amount(deal):
    from decimal import Decimal

    return Decimal(deal["amount"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Acme Rockets", "couldn't find the amount"),
        ("$120k", "Add the account name"),
        ("Acme $120k $5k", "two amounts"),
        ("Acme $0", "zero"),
        ("Acme -$5k", "negative"),
        ("Acme $-5k", "negative"),
        ("Acme $inf", "isn't an amount"),
        ("Acme $nan", "isn't an amount"),
        ("Acme $1e999", "isn't an amount"),
        ("Acme $999999999999", "100 billion"),
        ("A" * 201 + " $5k", "201 characters"),
        ("Acme\x07Corp $5k", "control character"),
        ("Acme\tCorp $5k", "tab"),
        ("Acme\nCorp $5k", "line break"),
        ("Acme \u202egnp.exe $5k", "invisible character (U+202E RIGHT-TO-LEFT OVERRIDE) after “Acme”"),
        ("Acme 66 5000", "two numbers"),
        ("Acme $5k persona: wizard", "isn't a buyer persona"),
        ("Acme $5k live: next week", "isn't a date"),
    ],
)
def test_bad_input_gets_a_clear_private_answer_and_nothing_is_stored(slack, fake, settings, text, problem):
    response = slack.command(text)
    assert response.status == 200
    body = body_json(response)
    assert body.get("response_type", "ephemeral") == "ephemeral"
    assert problem in body["text"]
    shown = all_text(body["blocks"])
    assert "Try it like this" in shown and "/closed-deal " in shown
    assert rows(settings, "deals") == [] and rows(settings, "nudges") == []
    assert fake.calls_to("chat.postMessage") == []


def test_user_text_cannot_ping_everyone_or_spoof_links(slack, fake, settings):
    # Slack sends <, > and & HTML-escaped in command text; this is what a rep typing
    # "<!channel> <https://evil.example|Click> @here & Co $5k" delivers.
    slack.command("&lt;!channel&gt; &lt;https://evil.example|Click&gt; @here &amp; Co $5k contact: &lt;@U999&gt;")
    [deal] = rows(settings, "deals")
    assert deal["account"] == "<!channel> <https://evil.example|Click> @here & Co"
    post = fake.last("chat.postMessage")
    for text in (post.params["text"], all_text(post.params["blocks"])):
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U999>" not in text
        assert "@here" not in text
        assert "&lt;!channel&gt;" in text
    assert fake.violations == []


def test_an_account_with_formatting_characters_stays_readable(slack, fake):
    slack.command("*Bold_Corp~ $5k")
    post = fake.last("chat.postMessage")
    assert "*Bold_Corp~ · $5,000" in all_text(post.params["blocks"])


def test_bot_joins_a_public_channel_it_was_not_invited_to(slack, fake, settings):
    fake.fail("chat.postMessage", error="not_in_channel")
    slack.command("Acme $5k")
    assert fake.last("conversations.join").params["channel"] == CHANNEL
    assert [c.failed for c in fake.calls_to("chat.postMessage")] == [True, False]
    assert rows(settings, "deals")[0]["message_ts"]


def test_a_channel_the_bot_cannot_reach_keeps_the_deal_and_tells_the_rep(slack, fake, settings):
    fake.fail("chat.postMessage", error="channel_not_found")
    slack.command("Acme $5k")
    [deal] = rows(settings, "deals")
    assert deal["message_ts"] is None
    [reply] = [c.params for c in fake.calls_to("response_url") if "/invite" in c.params["text"]]
    assert reply["response_type"] == "ephemeral"
    assert "/invite @Deal Coach" in reply["text"] and "Acme" in reply["text"]


def test_a_short_rate_limit_is_waited_out_and_the_announcement_lands_at_once(slack, fake, settings, coach, pace):
    coach.sleep = pace.sleep  # Retry-After is waited on the test's clock: nothing really waits
    fake.fail("chat.postMessage", status=429, retry_after=2)
    slack.command("Acme $5k")
    posts = fake.calls_to("chat.postMessage")
    assert [c.failed for c in posts] == [True, False]
    assert pace.slept == [2]
    assert rows(settings, "deals")[0]["message_ts"] == posts[-1].response["ts"]


def test_a_long_rate_limit_leaves_the_announcement_to_the_dispatcher_which_posts_it_once(
    slack, fake, settings, coach, clock, pace
):
    fake.fail("chat.postMessage", status=429, retry_after=120)
    slack.command("Acme $5k")
    assert [c.failed for c in fake.calls_to("chat.postMessage")] == [True]
    [deal] = rows(settings, "deals")
    assert deal["message_ts"] is None
    assert (announcement(settings)["status"], announcement(settings)["error"]) == ("retry", "ratelimited")

    assert tick(coach, clock.now + timedelta(seconds=119), pace).announced == []  # not before Retry-After
    report = tick(coach, clock.now + timedelta(seconds=120), pace)
    [held] = held_announcements(fake)
    assert report.announced == [announcement(settings)["id"]]
    assert rows(settings, "deals")[0]["message_ts"] == held["ts"]
    assert len(fake.posts_of(ANNOUNCED)) == 2 and fake.posts_of(ANNOUNCED)[0].failed


@pytest.mark.parametrize("arrange", UNKNOWN_OUTCOMES, ids=lambda arrange: arrange.__name__)
def test_an_announcement_of_unknown_fate_is_settled_from_the_history_never_posted_twice(
    slack, fake, settings, coach, clock, pace, arrange
):
    """A 5xx (JSON or an error page), a timeout or a dropped connection after Slack did or didn't store it: the
    listener makes no second attempt; the next tick reads the channel and posts it only if it isn't there."""
    fake.epoch = clock.now.timestamp()  # Slack's clock and ours agree
    client = coach.workspaces.posting_client(TEAM)
    slack_kept_it = arrange(fake, client)
    slack.command("Acme $5k")
    fake.wait_for("chat.postMessage", answered=True)  # a slow Slack finishes storing (or not)
    fake.off("chat.postMessage")
    client.timeout = TIMEOUT_SECONDS
    assert len(fake.posts_of(ANNOUNCED)) == 1  # no retry by the client or the listener
    assert len(held_announcements(fake)) == (1 if slack_kept_it else 0)
    assert rows(settings, "deals")[0]["message_ts"] is None
    assert announcement(settings)["status"] == "unconfirmed"

    report = tick(coach, clock.now + timedelta(minutes=1), pace)
    assert len(fake.calls_to("conversations.history")) == 1
    assert len(fake.posts_of(ANNOUNCED)) == (1 if slack_kept_it else 2)
    assert report.announced == ([] if slack_kept_it else [announcement(settings)["id"]])
    [held] = held_announcements(fake)
    assert rows(settings, "deals")[0]["message_ts"] == held["ts"]
    calls = fake.calls_to("chat.postMessage")
    [nudge] = fake.posts_of(NUDGE)  # the deal's first step, due today, follows its announcement
    assert calls.index(nudge) > max(calls.index(c) for c in fake.posts_of(ANNOUNCED))
    tick(coach, clock.now + timedelta(minutes=2), pace)
    assert len(fake.posts_of(ANNOUNCED)) == (1 if slack_kept_it else 2) and len(held_announcements(fake)) == 1


def announcement(settings) -> dict:
    [row] = rows(settings, "posts", "kind = 'announcement'")
    return row


def held_announcements(fake) -> list[dict]:
    """The deal messages Slack holds, with their ts."""
    return [
        {**m, "ts": ts}
        for (_, ts), m in fake.messages.items()
        if (m.get("metadata") or {}).get("event_type") == ANNOUNCED
    ]


def tick(coach, now, pace):
    return dispatch_nudges(coach, coach.workspaces, now, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))


def test_busy_database_answers_try_again_and_stores_nothing(slack, fake, settings, coach):
    coach.settings = dataclasses.replace(settings, request_db_wait_ms=10)
    blocker = sqlite3.connect(settings.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = slack.command("Acme $5k")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    body = body_json(response)
    assert "database is busy" in body["text"] and "Nothing was saved" in body["text"]
    assert rows(settings, "deals") == []
    assert fake.calls_to("chat.postMessage") == []


def test_the_help_example_and_date_errors_use_dates_from_today(slack, fake, settings, clock):
    """An example copied as it stands must be accepted, however long after the code was written it is read."""
    from datetime import UTC, datetime

    clock.now = datetime(2027, 5, 10, 9, 0, tzinfo=UTC)
    shown = all_text(body_json(slack.command("help"))["blocks"])
    [example] = [line.strip("`•\\n ") for line in shown.split("\\n") if "live: " in line and "`" in line]
    assert example.endswith("live: 2027-07-09")  # 60 days on from today
    assert body_json(slack.command(example.removeprefix("/closed-deal "))) == {}  # accepted: stored and announced
    [deal] = rows(settings, "deals")
    assert deal["go_live_date"] == "2027-07-09"

    answer = body_json(slack.command("Globex $5k live: 31/12"))
    assert "like 2027-07-09" in answer["text"] and "2026-03" not in answer["text"]
    retyped = all_text(answer["blocks"]).split("Try it like this:\\n`", 1)[1].split("`", 1)[0]
    copied = slack.command(retyped.removeprefix("/closed-deal "), user=OTHER_REP)  # the error's example works too
    assert body_json(copied) == {}
    assert len(rows(settings, "deals")) == 2


@pytest.mark.parametrize(
    ("failure", "why"),
    [
        ({"error": "expired_trigger_id"}, "three seconds"),
        ({"status": 503, "times": 3}, "HTTP 503"),  # the client's retries get the same error page
    ],
)
def test_when_the_form_cannot_open_the_rep_is_told_privately_what_to_do(slack, fake, settings, failure, why):
    fake.fail("views.open", **failure)
    response = slack.command("")
    assert response.status == 200 and body_json(response) == {}
    [told] = fake.calls_to("response_url")
    text = told.params["text"]
    assert told.params["response_type"] == "ephemeral"
    assert "couldn't open the form" in text and why in text and "Nothing was saved" in text
    assert "Type `/closed-deal` again" in text and "`/closed-deal Acme Rockets $120k`" in text
    assert rows(settings, "deals") == [] and fake.calls_to("chat.postMessage") == []


def test_when_a_buttons_form_cannot_open_the_clicker_is_told_under_the_message(slack, fake, settings):
    slack.command("Acme Rockets $120k")
    [deal] = rows(settings, "deals")
    fake.fail("views.open", error="expired_trigger_id")
    slack.click("open_deal_details", str(deal["id"]))
    told = fake.last("response_url")
    assert "couldn't open the form" in told.params["text"] and "Click the button again" in told.params["text"]
    assert told.params["response_type"] == "ephemeral" and told.params.get("replace_original") is False
