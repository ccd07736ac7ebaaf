"""`dealcoach` and the team file as real processes: a bad file stops serve, tick and digest with exit 2; the file
is imported on purpose and shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlite_utils

from tests.conftest import SECRET, TEAM, TOKEN
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
BAD = """\
[company]
name = "Rocket Software"

[[references]]
name = "Globex"
result = "Live in six weeks"

[[references]]
name = "Initech"
result = "Fewer tickets"
personas = ["cfo"]
"""


@pytest.mark.parametrize("command", ["serve", "tick", "digest"])
def test_a_bad_team_file_stops_serve_tick_and_digest_naming_file_entry_and_problem(command, tmp_path, fake):
    bad = tmp_path / "team.toml"
    bad.write_text(BAD)
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        "DEALCOACH_DB": str(tmp_path / "d.db"),
        "DEALCOACH_TEAM_FILE": str(bad),
    }
    result = run_cli(command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}, line 8, reference 2 ('Initech'): 'cfo' is not a persona" in result.stderr
    assert "Traceback" not in result.stderr
    assert fake.calls == []  # stopped before it called Slack


def test_a_team_file_that_is_not_there_is_a_setting_to_fix(tmp_path):
    env = {"DEALCOACH_DB": str(tmp_path / "d.db"), "DEALCOACH_TEAM_FILE": str(tmp_path / "nope.toml")}
    result = run_cli("team-profile", "show", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "DEALCOACH_TEAM_FILE points to" in result.stderr and "team.example.toml" in result.stderr


def stored(db_path: Path) -> dict[str, dict]:
    with sqlite_utils.Database(db_path) as db:
        return {r["team_id"]: r for r in db.query("SELECT * FROM team_profiles")}


def test_import_replaces_the_profile_on_purpose_and_show_prints_it(tmp_path):
    db_path = tmp_path / "d.db"
    team = tmp_path / "team.toml"
    shutil.copy(ROOT / "team.example.toml", team)
    env = {"DEALCOACH_DB": str(db_path)}

    nowhere = run_cli("team-profile", "import", str(team), env=env, cwd=tmp_path)
    assert nowhere.returncode == 1 and "--team" in nowhere.stderr and stored(db_path) == {}

    first = run_cli("team-profile", "import", str(team), "--team", TEAM, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"Imported {team} (Rocket Software): replaced the team profile of 1 workspace ({TEAM})" in first.stdout
    assert json.loads(stored(db_path)[TEAM]["profile"])["company"] == "Rocket Software"

    # a manager's edit in Slack, then the file changed and imported again on purpose: the file wins
    with sqlite_utils.Database(db_path) as db:
        db.execute("UPDATE team_profiles SET profile = ?, source = 'slack U0MGR'", ['{"company": "Edited"}'])
    team.write_text(team.read_text().replace('name = "Rocket Software"', 'name = "Rocket Software Inc"'))
    again = run_cli("team-profile", "import", str(team), env=env, cwd=tmp_path)
    assert again.returncode == 0 and "1 workspace (T0FAKE)" in again.stdout
    assert stored(db_path)[TEAM]["source"] == f"file {team}"

    shown = run_cli("team-profile", "show", env=env, cwd=tmp_path)
    assert shown.returncode == 0
    assert f"Workspace {TEAM} (from file {team}" in shown.stdout
    assert "Company: Rocket Software Inc" in shown.stdout and "Globex | Live in six weeks" in shown.stdout

    team.write_text(BAD)
    broken = run_cli("team-profile", "import", str(team), env=env, cwd=tmp_path)
    assert broken.returncode == 2 and "'cfo' is not a persona" in broken.stderr
    assert json.loads(stored(db_path)[TEAM]["profile"])["company"] == "Rocket Software Inc"  # nothing replaced
