"""The team profile through the real Bolt app: seeded from the team file, edited by a manager from Home (signed
clicks and submissions), refused to anyone else, and inline errors that store nothing."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils

from bot.coach import Coach
from bot.playbook.loader import load
from bot.profile import forms
from bot.profile import loader as team_file
from bot.profile.blocks import EDIT_PROFILE
from bot.slack.blocks import VALUE
from bot.slack.client import listener_client
from handlers import create_app
from tests.conftest import MANAGER, REP
from tests.handlers.test_home import home_click, latest, open_home
from tests.slackapp import SlackDriver, body_json

ROOT = Path(__file__).resolve().parents[2]
SAM = "U045EF6GH"


@pytest.fixture
def team_path(tmp_path) -> Path:
    path = tmp_path / "team.toml"
    shutil.copy(ROOT / "team.example.toml", path)
    return path


def driver(settings, store, clock, pace, executor, fake, team_path: Path | None, pacer=None) -> SlackDriver:
    """The app as `serve` builds it: DEALCOACH_TEAM_FILE validated at start and handed to the coach."""
    settings = replace(settings, team_file=team_path)
    seed = team_file.load(team_path) if team_path else None
    coach = Coach(settings, store, load(), clock, sleep=pace.sleep, team_seed=seed, pacer=pacer)
    app = create_app(coach, client=listener_client(settings, backoff_seconds=0), listener_executor=executor)
    return SlackDriver(app, executor, fake)


def text_of(view: dict) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def stored(settings) -> dict | None:
    with sqlite_utils.Database(settings.db_path) as db:
        rows = list(db.query("SELECT * FROM team_profiles"))
    return rows[0] if rows else None


def text(value: str | None) -> dict:
    return {VALUE: {"type": "plain_text_input", "value": value}}


def user(value: str | None) -> dict:
    return {VALUE: {"type": "users_select", "selected_user": value}}


def profile_values(**fields) -> dict:
    """The modal's state as Slack sends it: every block, the ones named filled in."""
    values = {
        forms.COMPANY: text(fields.get("company", "Acme Corp")),
        forms.SPONSOR_USER: user(fields.get("sponsor")),
        forms.SPONSOR_NAME: text(fields.get("sponsor_name")),
        forms.REFERENCES: text(fields.get("references")),
        forms.WELCOME_KIT: text(fields.get("welcome_kit")),
        forms.THANK_YOU_VIDEO: text(fields.get("video")),
        forms.STICKING: text(fields.get("sticking")),
    }
    members = fields.get("members", [])
    for row in range(1, forms.MEMBER_ROWS + 1):
        who, role, fact = members[row - 1] if row <= len(members) else (None, None, None)
        values[forms.member_block(row, "user")] = user(who)
        values[forms.member_block(row, "role")] = text(role)
        values[forms.member_block(row, "fact")] = text(fact)
    return values


def open_modal(slack, fake, who: str = MANAGER) -> dict:
    before = len(fake.calls_to("views.open"))
    home_click(slack, EDIT_PROFILE, "edit", user=who, block_id="team_profile")
    opened = fake.calls_to("views.open")
    assert len(opened) == before + 1, "the profile form did not open"
    return opened[-1].params["view"]


def test_the_team_file_fills_an_empty_profile_and_is_not_reapplied_once_a_manager_edits_it(
    settings, store, clock, pace, executor, fake, team_path
):
    fake.users[SAM] = {
        "profile": {
            "real_name": "Sam Lee",
            "title": "Solutions Engineer",
            "image_48": "https://img.example.com/sam.png",
        }
    }
    slack = driver(settings, store, clock, pace, executor, fake, team_path)
    open_home(slack, MANAGER)
    home = text_of(latest(fake, MANAGER))
    assert "Team profile" in home and "Rocket Software" in home and "Globex" in home
    # name, title and photo come from Slack's profile when the tab is drawn; only the id is stored
    assert "*Sam Lee*, Solutions Engineer · Implementation lead" in home and "sam.png" in home
    assert "Sam Lee" not in stored(settings)["profile"] and stored(settings)["source"] == f"file {team_path}"

    modal = open_modal(slack, fake)
    company = next(b for b in modal["blocks"] if b.get("block_id") == forms.COMPANY)
    assert company["element"]["initial_value"] == "Rocket Software"
    references = next(b for b in modal["blocks"] if b.get("block_id") == forms.REFERENCES)
    assert references["element"]["initial_value"].startswith("Globex | Live in six weeks")

    response = slack.submit(
        modal,
        profile_values(
            company="Acme Corp",
            sponsor_name="Dana Whitfield, CEO",
            members=[(SAM, "Implementation lead", "Bakes bread")],
            references="Initech | Live in 3 weeks | SMB | 5k-50k | champion | may name",
            welcome_kit="https://acme.example.com/welcome",
            sticking="Data migration\nSSO",
        ),
        user=MANAGER,
    )
    assert response.status == 200 and body_json(response) == {}
    home = text_of(latest(fake, MANAGER))  # redrawn after the save
    assert "Acme Corp" in home and "Rocket Software" not in home and "Dana Whitfield, CEO" in home
    assert "Initech" in home and "Globex" not in home
    row = stored(settings)
    assert row["source"] == f"slack {MANAGER}"
    saved = json.loads(row["profile"])
    assert saved["references"][0] == {
        "name": "Initech",
        "result": "Live in 3 weeks",
        "segment": "SMB",
        "min_amount": "5000",
        "max_amount": "50000",
        "personas": ["champion"],
        "may_name": True,
    }
    assert saved["sticking_points"] == ["Data migration", "SSO"]

    # a restart with the team file still set: the edited profile stays
    restarted = driver(settings, store, clock, pace, executor, fake, team_path)
    open_home(restarted, MANAGER)
    home = text_of(latest(fake, MANAGER))
    assert "Acme Corp" in home and "Rocket Software" not in home
    assert stored(settings)["source"] == f"slack {MANAGER}"
    assert fake.violations == []  # every view and modal is Block Kit Slack accepts


def test_without_a_team_file_the_section_says_what_the_profile_is_for(settings, store, clock, pace, executor, fake):
    slack = driver(settings, store, clock, pace, executor, fake, None)
    open_home(slack, MANAGER)
    home = text_of(latest(fake, MANAGER))
    assert "Not set up yet" in home and "set once, in one place" in home and "Set up team profile" in home
    assert "instead of blanks" not in home  # nothing reads it yet: the tab promises no drafts it cannot fill
    assert stored(settings) is None

    modal = open_modal(slack, fake)
    slack.submit(modal, profile_values(company="Acme Corp"), user=MANAGER)
    assert json.loads(stored(settings)["profile"])["company"] == "Acme Corp"
    assert "Edit team profile" in text_of(latest(fake, MANAGER))


def test_a_rep_sees_no_profile_and_a_forged_click_or_submission_is_refused(
    settings, store, clock, pace, executor, fake, team_path
):
    slack = driver(settings, store, clock, pace, executor, fake, team_path)
    open_home(slack, REP)
    home = text_of(latest(fake, REP))
    assert "Team profile" not in home and EDIT_PROFILE not in home

    home_click(slack, EDIT_PROFILE, "edit", user=REP, block_id="team_profile")
    assert fake.calls_to("views.open") == []
    told = [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == REP]
    assert told and "Only managers can edit the team profile" in told[-1].params["text"]
    assert MANAGER in told[-1].params["text"]

    before = stored(settings)
    forged = {"callback_id": forms.PROFILE_MODAL, "blocks": []}
    response = slack.submit(forged, profile_values(company="Hijacked Inc"), user=REP)
    assert "Only managers" in body_json(response)["errors"][forms.COMPANY]
    assert stored(settings) == before and "Hijacked" not in json.dumps(before)


def test_bad_input_gets_inline_errors_with_an_example_and_stores_nothing(
    settings, store, clock, pace, executor, fake, team_path
):
    slack = driver(settings, store, clock, pace, executor, fake, team_path)
    open_home(slack, MANAGER)
    before = stored(settings)
    modal = open_modal(slack, fake)
    response = slack.submit(
        modal,
        profile_values(
            company="Acme\u202eCorp",
            sponsor=MANAGER,
            sponsor_name="Dana Whitfield, CEO",
            members=[(None, "Implementation lead", None), (SAM, None, "Juggles")],
            references="Globex | Live fast\nInitech",
            welcome_kit="http://acme.example.com/welcome",
            video="not a link",
        ),
        user=MANAGER,
    )
    errors = body_json(response)["errors"]
    assert body_json(response)["response_action"] == "errors"
    assert (
        "invisible character (U+202E" in errors[forms.COMPANY]
        and "For example: Rocket Software" in errors[forms.COMPANY]
    )
    assert "not both" in errors[forms.SPONSOR_NAME]
    assert "Pick the person" in errors[forms.member_block(1, "user")]
    assert "Say what this person does" in errors[forms.member_block(2, "role")]
    assert errors[forms.REFERENCES].startswith("Line 2: A reference needs at least its name and a one-line result.")
    assert "For example: Globex | Live in 6 weeks" in errors[forms.REFERENCES]
    assert (
        "https://" in errors[forms.WELCOME_KIT]
        and "For example: https://example.com/welcome" in errors[forms.WELCOME_KIT]
    )
    assert "https://" in errors[forms.THANK_YOU_VIDEO]
    assert stored(settings) == before  # nothing half-stored
    assert "Rocket Software" in text_of(latest(fake, MANAGER))
    assert fake.violations == []
