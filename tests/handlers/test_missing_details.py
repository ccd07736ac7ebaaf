"""After a quick capture, one private prompt for what the drafts will need; Add details on every nudge."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlite_utils

from bot.deals.blocks import ADD_DETAILS
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import signing
from tests.conftest import OTHER_REP, REP, SECRET
from tests.slackapp import form

MONDAY_10_BERLIN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ITEMS = {
    "contact": "The contact's name and title",
    "persona": "Who signed",
    "live": "The go-live date",
    "lead": "The implementation lead",
}


@pytest.fixture
def tick(coach, fake):
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda s: None))


def deal_id(settings) -> int:
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db["deals"].rows)[-1]["id"]


def prompts(fake) -> list[dict]:
    """The private replies carrying the Add details button: the missing-details prompts."""
    return [c.params for c in fake.calls_to("response_url") if ADD_DETAILS in json.dumps(c.params.get("blocks", []))]


def add_details_buttons(blocks: list[dict]) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == ADD_DETAILS]


def test_a_quick_capture_gets_one_private_prompt_naming_exactly_what_is_missing(slack, fake, settings):
    slack.command("Acme <Rockets> $120k")
    [prompt] = prompts(fake)
    assert prompt["response_type"] == "ephemeral" and prompt["text"]
    shown = json.dumps(prompt["blocks"], ensure_ascii=False)
    for label in ITEMS.values():
        assert label in shown and label in prompt["text"]
    assert "not “Hi there”" in shown  # each says why
    assert "&lt;Rockets&gt;" in shown and "<Rockets>" not in shown + prompt["text"]  # user text escaped
    [button] = add_details_buttons(prompt["blocks"])
    assert button["value"] == str(deal_id(settings))
    assert len(prompt["blocks"]) <= 5
    assert fake.violations == []


def test_the_prompt_names_only_what_the_capture_left_out(slack, fake, settings):
    slack.command("Acme Rockets $120k contact: Jane Doe, VP Operations persona: economic live: 2027-01-15")
    [prompt] = prompts(fake)
    shown = json.dumps(prompt["blocks"], ensure_ascii=False)
    assert ITEMS["lead"] in shown and "introduces Jane to the right person" in shown
    for missing in ("contact", "persona", "live"):
        assert ITEMS[missing] not in shown and ITEMS[missing] not in prompt["text"]


def test_a_contact_without_a_title_is_asked_for_the_title_only(slack, fake):
    slack.command("Acme Rockets $120k contact: Jane Doe")
    [prompt] = prompts(fake)
    shown = json.dumps(prompt["blocks"], ensure_ascii=False)
    assert "Jane Doe's title" in shown and ITEMS["contact"] not in shown


def test_a_replayed_command_gets_no_second_prompt(slack, fake):
    body = signing.command_body(text="Acme Rockets $120k", response_url=fake.response_url())
    for retry in (None, "1"):
        headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        slack.app.dispatch(signing.bolt_request(body, SECRET, content_type=signing.FORM, extra_headers=headers))
        slack.executor.drain()
    assert len(prompts(fake)) == 1


def test_a_form_capture_gets_no_prompt(slack, fake, settings):
    slack.command("")
    slack.submit(fake.last("views.open").params["view"], form("Acme Rockets", "$120k", closed="2026-11-23"))
    assert deal_id(settings) and len(fake.calls_to("chat.postMessage")) == 1  # stored and announced
    assert prompts(fake) == [] and fake.calls_to("response_url") == []


def test_the_prompts_button_opens_the_prefilled_form_for_the_owner_only(slack, fake, settings):
    slack.command("Acme Rockets $120k contact: Jane Doe")
    [button] = add_details_buttons(prompts(fake)[0]["blocks"])
    slack.click(button["action_id"], button["value"], user=OTHER_REP)
    assert fake.calls_to("views.open") == []
    assert f"Only <@{REP}>" in fake.last("response_url").params["text"]
    slack.click(button["action_id"], button["value"], user=REP)
    view = fake.last("views.open").params["view"]
    contact = next(b for b in view["blocks"] if b["block_id"] == "contact_name")
    assert view["callback_id"] == "deal_details" and contact["element"]["initial_value"] == "Jane Doe"
    assert json.loads(view["private_metadata"])["deal"] == deal_id(settings)


def test_every_posted_nudge_carries_add_details_and_a_resolved_one_does_not(slack, fake, settings, tick):
    slack.command("Acme Rockets $120k contact: Jane Doe")
    tick(MONDAY_10_BERLIN)
    nudges = [
        c
        for c in fake.calls_to("chat.postMessage")
        if c.params.get("metadata", {}).get("event_type") != "dealcoach_deal"
    ]
    assert nudges
    for posted in nudges:
        actions = [b for b in posted.params["blocks"] if b["type"] == "actions"]
        assert all(len(b["elements"]) <= 25 for b in actions)
        buttons = add_details_buttons(posted.params["blocks"])
        assert buttons and {b["value"] for b in buttons} == {str(deal_id(settings))}
    button = add_details_buttons(nudges[0].params["blocks"])[0]
    slack.click(button["action_id"], button["value"], user=REP)
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "deal_details" and json.loads(view["private_metadata"])["deal"] == deal_id(settings)
    done = next(b for b in nudges[0].params["blocks"] if b["type"] == "actions")["elements"][0]
    slack.click(done["action_id"], done["value"], user=REP)
    [resolved] = [c.params for c in fake.calls_to("chat.update") if c.params["ts"] == nudges[0].response["ts"]]
    assert "Done by" in json.dumps(resolved["blocks"]) and add_details_buttons(resolved["blocks"]) == []
    assert fake.violations == []
