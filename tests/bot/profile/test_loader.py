"""The team file: the example ships valid, and every mistake names the file, the entry (and its line) and what
is wrong, like the playbook's."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.profile.loader import TeamFileError, load, parse
from bot.profile.model import Sponsor, TeamProfile

ROOT = Path(__file__).resolve().parents[3]
GOOD = """\
[company]
name = "Rocket Software"

[[implementation_team]]
user = "U045EF6GH"
role = "Implementation lead"

[[references]]
name = "Globex"
result = "Live in six weeks"
"""


def test_the_shipped_example_is_a_valid_team_file_and_survives_storage():
    profile = load(ROOT / "team.example.toml")
    assert profile.company == "Rocket Software"
    assert profile.exec_sponsor == Sponsor(user="U012AB3CD")
    assert [m.role for m in profile.implementation_team] == ["Implementation lead", "Customer success manager"]
    globex = profile.references[0]
    assert (globex.min_amount, globex.max_amount, globex.personas, globex.may_name) == (
        Decimal("20000"),
        Decimal("250000"),
        ("economic", "technical"),
        True,
    )
    assert profile.references[1].may_name is False and profile.references[1].max_amount is None
    assert profile.links.thank_you_video == "https://example.com/thank-you"
    assert TeamProfile.from_json(profile.to_json()) == profile


def test_a_sponsor_outside_slack_has_a_name_and_a_title():
    profile = parse('[company]\nname = "X"\n[exec_sponsor]\nname = "Dana Whitfield"\ntitle = "CEO"\n')
    assert profile.exec_sponsor == Sponsor(name="Dana Whitfield", title="CEO")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[company\n", "team.toml: not valid TOML"),
        ('[company]\nname = "X"\n[team]\nname = "Y"\n', "team.toml: unknown key or table 'team'"),
        ("[links]\n", "team.toml, [company]: The company name is missing ('name')"),
        ('[company]\nname = "X"\ncolour = "red"\n', "team.toml, line 1, [company]: unknown key 'colour'"),
        (
            GOOD + '\n[[references]]\nname = "Initech"\nresult = "Fast"\nmay_name = "yes"\n',
            "team.toml, line 12, reference 2 ('Initech'): 'may_name' must be true or false",
        ),
        (
            GOOD + '\n[[references]]\nname = "Initech"\nresult = "Fast"\npersonas = ["cfo"]\n',
            "team.toml, line 12, reference 2 ('Initech'): 'cfo' is not a persona; use economic, technical, "
            "champion, other.",
        ),
        (
            GOOD + '\n[[references]]\nname = "Initech"\nresult = "Fast"\nmin_amount = 500\nmax_amount = 5\n',
            "team.toml, line 12, reference 2 ('Initech'): The smallest amount (500) is larger than the largest (5)",
        ),
        (
            GOOD + '\n[[references]]\nname = "Initech"\n',
            "team.toml, line 12, reference 2 ('Initech'): The result is missing ('result')",
        ),
        (
            GOOD + '\n[[references]]\nname = "Initech"\nresult = "Fast"\nquote = "Great"\n',
            "team.toml, line 12, reference 2 ('Initech'): unknown key 'quote'",
        ),
        (
            GOOD + '\n[[references]]\nname = "Initech"\nresult = "Fast | cheap"\n',
            "team.toml, line 12, reference 2 ('Initech'): 'result' can't contain |",
        ),
        (
            GOOD + '\n[[implementation_team]]\nuser = "@sam"\nrole = "Lead"\n',
            "team.toml, line 12, implementation_team 2: 'user' must be a Slack member ID such as U012AB3CD",
        ),
        (
            GOOD + '\n[[implementation_team]]\nuser = "U0SAM"\n',
            "team.toml, line 12, implementation_team 2: The role is missing ('role')",
        ),
        (
            GOOD + '\n[exec_sponsor]\nuser = "U0DANA"\nname = "Dana"\n',
            "team.toml, line 12, [exec_sponsor]: give either user, or name and title, not both",
        ),
        (
            GOOD + '\n[links]\nwelcome_kit = "http://example.com/kit"\n',
            "team.toml, line 12, [links]: The welcome_kit link must be an https:// link",
        ),
        (
            GOOD + '\n[links]\nwelcome_kit = "https://example.com/kit"\nvideo = "https://example.com/v"\n',
            "team.toml, line 12, [links]: unknown key 'video'. Known: welcome_kit, thank_you_video.",
        ),
        (
            'sticking_points = ["fine", "bad\\u202eone"]\n' + GOOD,
            "team.toml, line 1, sticking_points: The sticking point contains an invisible character (U+202E",
        ),
        (
            GOOD + '\n[[references]]\nname = "Ini\\ntech"\nresult = "Fast"\n',
            "team.toml, line 12, reference 2 ('Ini\\ntech'): The reference's name contains a line break",
        ),
    ],
)
def test_a_bad_team_file_names_the_file_the_entry_and_what_is_wrong(text, expected):
    with pytest.raises(TeamFileError) as caught:
        parse(text, "team.toml")
    assert expected in str(caught.value)


def test_a_missing_file_is_a_team_file_error(tmp_path):
    with pytest.raises(TeamFileError, match="cannot read the team file"):
        load(tmp_path / "nope.toml")
