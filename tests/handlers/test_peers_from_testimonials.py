"""With no reference customer in the team profile, a new buyer hears about the team's own customers who gave a
testimonial (recorded with Done on the testimonial step), of the same tier; never the deal itself, never invented.
The referral draft thanks for the kind words only when a testimonial was received."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlite_utils

from bot.coach import Coach
from bot.playbook.loader import load
from bot.profile import loader as team_file
from bot.slack.client import listener_client
from handlers import create_app
from tests.handlers.test_filled_drafts import CLOSED, GO_LIVE, SLACK_PEOPLE, capture_with_form, drafts_posted, run_days
from tests.slackapp import SlackDriver, body_json

NO_REFERENCES = """
[company]
name = "Rocket Software"

[[implementation_team]]
user = "U0SAM"
role = "Implementation lead"
"""


@pytest.fixture
def slack_team(tmp_path, settings, store, clock, pace, pacer, executor, fake):
    path = tmp_path / "team.toml"
    path.write_text(NO_REFERENCES, encoding="utf-8")
    settings = replace(settings, team_file=path)
    coach = Coach(settings, store, load(), clock, sleep=pace.sleep, team_seed=team_file.load(path), pacer=pacer)
    app = create_app(coach, client=listener_client(settings, backoff_seconds=0), listener_executor=executor)
    for user, (name, title) in SLACK_PEOPLE.items():
        fake.users[user] = {"real_name": name, "profile": {"real_name": name, "title": title}}
    return coach, SlackDriver(app, executor, fake)


def radio(value: str) -> dict:
    return {"type": "radio_buttons", "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


def record_testimonial(slack, fake, db_path, account: str, result: str, words: str) -> None:
    with sqlite_utils.Database(db_path) as db:
        [nudge_id] = [
            r["id"]
            for r in db.query(
                "SELECT n.id FROM nudges n JOIN deals d ON d.id = n.deal_id "
                "WHERE d.account = ? AND n.step_id = 'testimonial'",
                [account],
            )
        ]
    slack.click("nudge_done", str(nudge_id))
    view = fake.last("views.open").params["view"]
    assert body_json(slack.submit(view, {"result": {"value": radio(result)}, "detail": {"value": words}})) == {}


def test_a_customer_who_gave_a_testimonial_is_the_peer_of_the_next_deal_of_its_tier(
    slack_team, fake, settings, clock, pace
):
    coach, slack = slack_team
    capture_with_form(slack, fake, "Acme Rockets", "$120k", "economic", None, False)
    record_testimonial(
        slack, fake, settings.db_path, "Acme Rockets", "received", "Live in three weeks, not three months."
    )
    capture_with_form(slack, fake, "Initech", "$90k", "technical", None, False)  # the same tier, another buyer
    capture_with_form(slack, fake, "Soylent", "$5k", "economic", None, False)  # a light deal: not its peer
    capture_with_form(slack, fake, "Umbrella", "$60k", "champion", None, False)
    record_testimonial(slack, fake, settings.db_path, "Umbrella", "declined", "")
    run_days(coach, clock, pace, CLOSED, GO_LIVE + timedelta(days=60), diligent=True)

    drafts = {(account, step): draft for account, step, _, draft in drafts_posted(fake, settings.db_path, slack)}
    assert (
        "You're in good company: Acme Rockets made the same choice. As Acme Rockets put it: “Live in three weeks, "
        "not three months.”" in drafts["Initech", "congratulate"]
    )
    assert "Umbrella made" not in drafts["Initech", "congratulate"]  # declined: no testimonial, not a peer
    for account in ("Acme Rockets", "Soylent"):  # never itself; and a light deal's peers are light deals
        assert (
            "[a customer like" in drafts[account, "congratulate"] and "Still blank" in drafts[account, "congratulate"]
        )
    assert "thank you again for the kind words you shared" in drafts["Acme Rockets", "referrals"]
    assert "thank you again for your time over the past weeks" in drafts["Umbrella", "referrals"]
