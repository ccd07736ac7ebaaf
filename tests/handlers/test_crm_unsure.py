# ruff: noqa: F811 - the fixtures imported from test_crm_salesforce are used by name, as pytest passes them
"""A deal won in Salesforce that only may be one a rep already captured with /closed-deal: the rep (and the CRM owner)
asked "same deal?" once, privately, nothing announced until then; Same deal links, Different deal announces once;
nobody answering in a business day announces it as its own deal. Real SOAP messages to the running server, signed
clicks, the fake Slack's record asserted on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.crm import unsure
from tests import soap
from tests.conftest import MANAGER, OTHER_REP, REP
from tests.handlers.test_crm_salesforce import (  # noqa: F401 - the fixtures, shared
    JANE,
    announcements,
    crm_app_,
    crm_coach,
    crm_server,
    crm_settings,
    crm_slack,
    deal_message,
    deals,
    dms_to,
    rows,
    tick,
    webhooks,
)
from tests.soap import Opportunity

STRANGER = "U0STRANGER"
DM = "D0BOTDM"  # the clicker's DM with the bot, where the question is


def questions_to(fake, user):
    return [c for c in dms_to(fake, user) if unsure.SAME_DEAL in str(c.params.get("blocks"))]


def won_in_salesforce(crm_server, note="04l5g0000001AAA", **opportunity):
    status, _, _ = soap.post(crm_server, soap.message((note, Opportunity(**opportunity))))
    assert status == 200


def question_id(crm_settings) -> str:
    [question] = rows(crm_settings, "SELECT id FROM crm_questions")
    return str(question["id"])


def test_a_crm_deal_that_may_repeat_a_capture_asks_its_rep_once_and_announces_nothing(
    crm_server, crm_settings, crm_slack, fake, tick
):
    fake.emails[JANE] = REP
    crm_slack.command("Acme Rockets $100k")  # the same rep and account, another amount: maybe the same deal
    tick()
    assert len(announcements(fake)) == 1
    won_in_salesforce(crm_server)
    tick()
    won_in_salesforce(crm_server, note="04l5g0000001BBB")  # Salesforce sends it again: asked once all the same
    tick()

    assert len(deals(crm_settings)) == 1 and rows(crm_settings, "SELECT * FROM crm_deals") == []
    assert len(announcements(fake)) == 1  # only the capture's
    [question] = questions_to(fake, REP)
    text = question.params["text"]
    assert "Is this the same deal as #1 Acme Rockets $100,000?" in text
    rendered = str(question.params["blocks"])
    assert "$120,000" in rendered and f"<{soap.INSTANCE}/0065g00000AbCdEAAV|Salesforce>" in rendered
    assert unsure.DIFFERENT_DEAL in rendered
    assert [e["outcome"] for e in rows(crm_settings, "SELECT outcome FROM crm_inbox ORDER BY id")] == [
        "asked whether it is deal #1",
        "waiting for an answer about deal #1",
    ]


def test_same_deal_links_the_crm_record_to_the_capture_and_keeps_what_the_rep_typed(
    crm_server, crm_settings, crm_slack, fake, tick
):
    fake.emails[JANE] = REP
    crm_slack.command("Acme Rockets $100k")
    tick()
    won_in_salesforce(crm_server)
    tick()

    crm_slack.click(unsure.SAME_DEAL, question_id(crm_settings), user=REP, channel=DM)
    [deal] = deals(crm_settings)
    assert deal["source"] == "salesforce" and Decimal(deal["amount"]) == 100000  # the typed amount stands
    [link] = rows(crm_settings, "SELECT * FROM crm_deals")
    assert (link["deal_id"], link["linked"]) == (deal["id"], 1)
    answer = fake.last("response_url").params
    assert answer["replace_original"] is True and "Same deal" in answer["text"]
    assert "Salesforce" in str(deal_message(fake)["blocks"])  # the deal's message shows where it came from

    crm_slack.click(unsure.DIFFERENT_DEAL, question_id(crm_settings), user=REP, channel=DM)  # a second click
    assert "Already answered by <@U0REP>: the same deal. Nothing changed." in fake.last("response_url").params["text"]
    won_in_salesforce(crm_server, note="04l5g0000001CCC")  # and Salesforce again: the link stands
    tick()
    assert len(deals(crm_settings)) == 1 and len(announcements(fake)) == 1


def test_different_deal_from_the_crm_owner_announces_it_once_and_a_later_click_changes_nothing(
    crm_server, crm_settings, crm_slack, fake, tick
):
    fake.emails[JANE] = REP  # the CRM deal is REP's; OTHER_REP captured the same account and amount
    crm_slack.command("ACME Rockets, Inc. $120k", user=OTHER_REP)
    tick()
    won_in_salesforce(crm_server)
    tick()
    assert len(questions_to(fake, OTHER_REP)) == 1 and len(questions_to(fake, REP)) == 1  # both asked, once each
    assert len(announcements(fake)) == 1

    crm_slack.click(unsure.DIFFERENT_DEAL, question_id(crm_settings), user=REP, channel=DM)
    tick()
    first, second = deals(crm_settings)
    assert (second["owner_id"], second["source"], Decimal(second["amount"])) == (REP, "salesforce", 120000)
    assert first["source"] is None
    assert len(announcements(fake)) == 2
    assert "Different deal" in fake.last("response_url").params["text"]

    crm_slack.click(unsure.SAME_DEAL, question_id(crm_settings), user=OTHER_REP, channel=DM)
    assert "a different deal. Nothing changed." in fake.last("response_url").params["text"]
    tick()
    assert len(deals(crm_settings)) == 2 and len(announcements(fake)) == 2
    assert deals(crm_settings)[0]["source"] is None


def test_only_the_people_asked_or_a_manager_may_answer(crm_server, crm_settings, crm_slack, fake, tick):
    fake.emails[JANE] = REP
    crm_slack.command("Acme Rockets $100k")
    tick()
    won_in_salesforce(crm_server)
    tick()

    crm_slack.click(unsure.SAME_DEAL, question_id(crm_settings), user=STRANGER, channel=DM)
    assert (
        "Only <@U0REP> or a manager can answer whether these are the same deal."
        in fake.last("response_url").params["text"]
    )
    assert deals(crm_settings)[0]["source"] is None
    assert rows(crm_settings, "SELECT answer FROM crm_questions") == [{"answer": None}]

    crm_slack.click(unsure.DIFFERENT_DEAL, question_id(crm_settings), user=MANAGER, channel=DM)
    tick()
    assert len(deals(crm_settings)) == 2 and len(announcements(fake)) == 2
    assert rows(crm_settings, "SELECT answer, answered_by FROM crm_questions") == [
        {"answer": "different", "answered_by": MANAGER}
    ]


def test_nobody_answering_in_a_business_day_announces_it_as_its_own_deal_once(
    crm_server, crm_settings, crm_slack, fake, tick, crm_coach
):
    fake.emails[JANE] = REP
    crm_slack.command("Acme Rockets $100k")
    tick()
    won_in_salesforce(crm_server)
    tick()
    asked_at = crm_coach.now()

    tick(asked_at + timedelta(hours=23, minutes=59))  # not yet
    assert len(deals(crm_settings)) == 1 and len(announcements(fake)) == 1

    tick(asked_at + timedelta(days=1))
    tick(asked_at + timedelta(days=1, minutes=1))  # the next run: decided once
    first, second = deals(crm_settings)
    assert second["source"] == "salesforce" and second["owner_id"] == REP
    assert len(announcements(fake)) == 2
    notes = [c.params["text"] for c in dms_to(fake, REP) if "Nobody answered" in c.params["text"]]
    assert len(notes) == 1
    assert "as its own deal #2" in notes[0] and "It may repeat #1 *Acme Rockets* $100,000" in notes[0]

    crm_slack.click(unsure.SAME_DEAL, question_id(crm_settings), user=REP, channel=DM)  # too late
    assert "Nobody answered in time" in fake.last("response_url").params["text"]
    assert deals(crm_settings)[0]["source"] is None and len(announcements(fake)) == 2


def test_a_certain_repeat_is_linked_without_asking(crm_server, crm_settings, crm_slack, fake, tick):
    fake.emails[JANE] = REP
    crm_slack.command("acme  rockets $120k")  # the repeat rule: same rep, account and amount
    tick()
    won_in_salesforce(crm_server)
    tick()
    assert questions_to(fake, REP) == [] and rows(crm_settings, "SELECT * FROM crm_questions") == []
    assert len(deals(crm_settings)) == 1 and deals(crm_settings)[0]["source"] == "salesforce"


def test_another_account_is_announced_without_asking(crm_server, crm_settings, crm_slack, fake, tick):
    fake.emails[JANE] = REP
    crm_slack.command("Globex $120k")
    tick()
    won_in_salesforce(crm_server)  # Acme Rockets: nothing like Globex
    tick()
    assert questions_to(fake, REP) == [] and len(announcements(fake)) == 2


def test_account_names_match_loosely_and_unanswered_questions_wait_past_a_weekend():
    assert unsure.loose_account("ACME Rockets, Inc.") == unsure.loose_account("acme  rockets") == "acme rockets"
    assert unsure.loose_account("Müller GmbH") == "muller"
    assert unsure.loose_account("Acme Rocket Co") != unsure.loose_account("Acme Rockets")
    berlin = ZoneInfo("Europe/Berlin")
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert unsure.one_business_day(friday, berlin) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    monday = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert unsure.one_business_day(monday, berlin) == monday + timedelta(days=1)


def test_a_deal_that_leaves_closed_won_before_anyone_answers_is_not_created_when_the_day_is_up(
    crm_server, crm_settings, crm_slack, fake, tick, crm_coach
):
    fake.emails[JANE] = REP
    crm_slack.command("Acme Rockets $100k")
    tick()
    won_in_salesforce(crm_server)
    tick()
    asked = question_id(crm_settings)
    won_in_salesforce(crm_server, note="04l5g0000001BBB", won=False)  # moved back a stage meanwhile
    tick()
    assert rows(crm_settings, "SELECT * FROM crm_questions") == []

    tick(crm_coach.now() + timedelta(days=2))
    assert len(deals(crm_settings)) == 1 and len(announcements(fake)) == 1
    crm_slack.click(unsure.SAME_DEAL, asked, user=REP, channel=DM)
    assert "I can't find that question any more." in fake.last("response_url").params["text"]
    assert deals(crm_settings)[0]["source"] is None

    won_in_salesforce(crm_server, note="04l5g0000001CCC")  # won again: asked afresh
    tick(crm_coach.now() + timedelta(days=2))
    assert len(questions_to(fake, REP)) == 2 and len(announcements(fake)) == 1
