"""The docs and the manifest stay true to the code: every setting, command and Slack surface is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.__main__ import build_parser
from bot.slack.client import BOT_SCOPES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
SETTINGS_SOURCE = (ROOT / "bot" / "settings.py").read_text()


def settings_read_by_the_code() -> set[str]:
    return set(re.findall(r'(?:get|optional_file)\(\s*"([A-Z_]+)"', SETTINGS_SOURCE))


def test_every_setting_is_in_the_readme_table_and_env_example():
    names = settings_read_by_the_code()
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DEALCOACH_DB"} <= names
    for name in names | {"LOG_LEVEL"}:
        assert f"| `{name}` |" in README, f"{name} missing from the README configuration table"
        assert re.search(rf"^{name}=", ENV_EXAMPLE, re.MULTILINE), f"{name} missing from .env.example"


def test_every_cli_command_is_documented():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:
        assert f"`dealcoach {name}" in README, f"dealcoach {name} is not in the README"


def test_quick_start_is_two_commands_that_exist_in_the_makefile():
    section = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_manifest_declares_what_the_app_listens_to():
    commands = MANIFEST["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/closed-deal"]
    assert commands[0]["should_escape"] is False  # the parser expects plain text, not <@U…> links
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    for url in (commands[0]["url"], MANIFEST["settings"]["interactivity"]["request_url"]):
        assert url.endswith("/slack/events")
    assert "app_home" in MANIFEST["features"]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    events = MANIFEST["settings"]["event_subscriptions"]
    assert events["request_url"].endswith("/slack/events")
    # the Home tab, and a workspace leaving (its nudges stop); none of them needs a scope
    assert events["bot_events"] == ["app_home_opened", "app_uninstalled", "tokens_revoked"]
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)  # what an OAuth install asks for
    assert MANIFEST["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "channels:join",
        "channels:history",
        "groups:history",
        "users:read",  # the managers' digest: each manager's time zone
        "users:read.email",  # deals from a CRM: the owner's e-mail to a Slack member (users.lookupByEmail)
        "im:write",  # the digest: conversations.open, to find a manager's DM
        "im:history",  # the digest: reconciling an unconfirmed digest from the DM's history
        "files:write",  # the digest's weekly completion chart
        "usergroups:read",  # a manager's team chosen as a Slack user group, read again before each digest
    }
    for scope in MANIFEST["oauth_config"]["scopes"]["bot"]:
        assert f"`{scope}`" in README


def test_the_http_setup_asks_for_the_urls_only_once_the_bot_can_answer_slacks_check():
    """Slack verifies the events URL by sending it a request: the install (for the token) and the start come first."""
    section = README.split("## Create the Slack app", 1)[1].split("\n##", 1)[0]
    steps = re.findall(r"^(\d)\. (.*?)(?=^\d\. |\Z)", section, re.MULTILINE | re.DOTALL)
    assert [int(n) for n, _ in steps] == list(range(1, len(steps) + 1))

    def first(words: str) -> int:
        return next(int(n) for n, text in steps if words in text)

    install, start, urls = first("Install to Workspace"), first("make run"), first("Event Subscriptions")
    assert first("From a manifest") < install < start < urls
    assert first("SLACK_SIGNING_SECRET") < start
    assert "Verified" in steps[urls - 1][1] and "running" in steps[urls - 1][1]


def _named_paths(text: str) -> set[str]:
    """Every repository path a document names: `bot/slack/posting.py`, [links](bot/…), `tests/fakeslack.py`."""
    return set(re.findall(r"\b((?:bot|handlers|schedules|tests|bench)/[\w/.-]*\w)", text))


def test_every_path_the_docs_name_exists():
    """After code moves, a README that still points at bot/db.py sends a newcomer to a file that isn't there."""
    for name, text in (("README.md", README), (".env.example", ENV_EXAMPLE)):
        missing = sorted(p for p in _named_paths(text) if not (ROOT / p).exists())
        assert missing == [], f"{name} names paths that don't exist: {missing}"


def test_every_dotted_module_the_docs_name_exists():
    for dotted in set(re.findall(r"`(bot(?:\.\w+)+)`", README)):
        parts = dotted.split(".")
        found = any(
            (ROOT / Path(*parts[:n])).with_suffix(".py").exists() or (ROOT / Path(*parts[:n]) / "__init__.py").exists()
            for n in range(len(parts), 1, -1)
        )
        assert found, f"README names {dotted}, which is not a module"


def _structure_paths() -> set[str]:
    """The paths the README's Project structure tree names, from its indentation (two spaces a level)."""
    section = README.split("## Project structure", 1)[1].split("```", 2)[1]
    paths, stack = set(), []
    for line in section.splitlines():
        name = line.strip().split(" ", 1)[0]
        if not name or name.startswith("#"):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        stack[depth:] = [name.rstrip("/")]
        paths.add("/".join(stack))
    return paths


def test_the_project_structure_names_every_module_where_it_is():
    listed = _structure_paths()
    code = {
        str(p.relative_to(ROOT))
        for top in ("bot", "handlers", "schedules")
        for p in (ROOT / top).rglob("*.py")
        if p.name != "__init__.py"
    }
    assert sorted(code - listed) == [], "modules missing from the README's Project structure"
    assert sorted(p for p in listed if p.endswith(".py") and not (ROOT / p).exists()) == [], "listed but gone"
