"""`dealcoach migrate-store --to postgresql://...`: an SQLite database copied into an empty PostgreSQL one, every
table and installation, ids kept; a database that already holds data is refused and nothing is copied."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from slack_sdk.oauth.installation_store import Installation

from bot.slack.workspaces import installation_store
from bot.storage import open_store
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP, TEAM
from tests.processes import cli_env

pytestmark = pytest.mark.skipif(not engines.PG_URL, reason=engines.SKIP_POSTGRES)


@pytest.fixture
def target():
    url = engines.fresh_schema()
    yield url
    engines.drop_schema(url)


def migrate_store(settings, url: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate-store", "--to", url],
        env=cli_env(DEALCOACH_DB=str(settings.db_path)),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_sqlite_database_is_copied_whole_into_an_empty_postgresql_one(coach, settings, target, tmp_path):
    for account in ("Acme", "Globex", "Initech"):
        deal = store_deal(coach, f"{account} $5k", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key=account)
        coach.announce(deal.id)
    oauth = dataclasses.replace(settings, slack_client_id="111.222", slack_client_secret="s")
    installation_store(oauth).save(
        Installation(app_id="A0", team_id="T0NEWCO", bot_token="xoxb-newco", bot_id="B0", bot_user_id="U0BOT",
                     bot_scopes="chat:write", user_id="U0ADMIN", installed_at=1700000000.0)
    )  # fmt: skip

    done = migrate_store(settings, target, tmp_path)
    assert done.returncode == 0, done.stderr
    first, then = done.stdout.splitlines()
    assert first.startswith(f"Copied {settings.db_path} into postgresql://")
    [nudges] = engines.rows(settings, "SELECT COUNT(*) AS n FROM nudges")
    for copied in ("3 deals", f"{nudges['n']} nudges", "3 posts", "1 slack_bots", "1 slack_installations"):
        assert copied in first, first
    assert then.startswith("Next: set DEALCOACH_DATABASE_URL")

    moved = dataclasses.replace(settings, database_url=target)
    for table in ("deals", "nudges", "posts"):
        sql = f"SELECT * FROM {table} ORDER BY id"
        assert engines.rows(moved, sql) == engines.rows(settings, sql)
    bot = installation_store(dataclasses.replace(oauth, database_url=target)).find_bot(
        enterprise_id=None, team_id="T0NEWCO"
    )
    assert bot is not None and bot.bot_token == "xoxb-newco"

    store = open_store(moved)  # the copy goes on where the file stopped: the next deal is #4
    try:
        from bot.coach import Coach

        after = store_deal(
            Coach(moved, store, coach.playbook, coach.clock), "Umbrella $5k", team_id=TEAM, channel_id=CHANNEL,
            user_id=REP, capture_key="Umbrella",
        )  # fmt: skip
        assert after.id == 4
    finally:
        store.close()

    again = migrate_store(settings, target, tmp_path)
    assert again.returncode == 1
    assert "already holds data (4 deals, " in again.stderr and again.stderr.strip().endswith("Nothing was copied.")
    assert "secret" not in again.stderr


def test_only_a_postgresql_url_is_a_target(settings, tmp_path):
    done = migrate_store(settings, "sqlite:///elsewhere.db", tmp_path)
    assert done.returncode == 2 and "--to must be a PostgreSQL URL, such as postgresql://" in done.stderr
