"""The workspaces Deal Coach serves: one bot token, or many through Slack's OAuth installs, and which are active.

Listeners get the right token from Bolt per request. Whatever posts a message that must appear once (the
dispatcher, the digest, a deal's announcement) asks here for the workspace's posting client, which never retries
by itself; an uninstalled workspace has none, and its deals are left alone until it installs the app again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import sqlite_utils
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from slack_sdk.oauth.state_store.sqlite3 import SQLite3OAuthStateStore

from bot.settings import Settings
from bot.slack.client import posting_client
from bot.storage import query
from bot.timestamps import stamp

logger = logging.getLogger(__name__)
STATE_SECONDS = 600
ClientFor = Callable[[str], WebClient | None]


def installation_store(settings: Settings) -> SQLite3InstallationStore:
    """slack_sdk's own SQLite store, in the bot's database file (its tables: slack_installations, slack_bots)."""
    return SQLite3InstallationStore(database=str(settings.db_path), client_id=settings.slack_client_id)


def state_store(settings: Settings) -> SQLite3OAuthStateStore:
    return SQLite3OAuthStateStore(database=str(settings.db_path), expiration_seconds=STATE_SECONDS)


def set_active(db: sqlite_utils.Database, team_id: str, active: bool, *, now: datetime) -> bool:
    """Record an install (True) or an uninstall (False); returns whether anything changed."""
    # One writer at a time: the upsert's row count says whether this call changed the state (an install event
    # delivered twice counts once), exact because SQLite lets one writer in at a time. With concurrent writers
    # it must stay one INSERT ... ON CONFLICT ... WHERE (PostgreSQL has the same form).
    cursor = db.execute(
        "INSERT INTO workspaces (team_id, active, changed_at) VALUES (?, ?, ?) "
        "ON CONFLICT (team_id) DO UPDATE SET active = excluded.active, changed_at = excluded.changed_at "
        "WHERE workspaces.active != excluded.active",
        [team_id, int(active), stamp(now)],
    )
    return cursor.rowcount == 1


def teams_with_deals(db: sqlite_utils.Database) -> list[str]:
    """Workspaces that have captured a deal and haven't uninstalled the app."""
    rows = query(
        db,
        "SELECT DISTINCT d.team_id FROM deals d LEFT JOIN workspaces w ON w.team_id = d.team_id "
        "WHERE COALESCE(w.active, 1) = 1 AND d.status != 'deleted' ORDER BY d.team_id",
    )
    return [r["team_id"] for r in rows]


class Workspaces:
    """A Web API client per workspace: the one bot token, or each workspace's installed bot token."""

    def __init__(self, settings: Settings, store: InstallationStore | None = None):
        self.settings = settings
        self.store = store  # None: the single SLACK_BOT_TOKEN workspace
        self._single: WebClient | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> Workspaces:
        return cls(settings, installation_store(settings) if settings.oauth else None)

    def posting_client(self, team_id: str) -> WebClient | None:
        """The workspace's client for posting (bot.slack.client.posting_client: no automatic retries); None when the
        workspace has no installation (never installed, or uninstalled since)."""
        if self.store is None:
            if self._single is None:
                self._single = posting_client(self.settings)
            return self._single
        bot = self.store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            return None
        return posting_client(self.settings, token=bot.bot_token)

    def forget(self, team_id: str, *, bot_only: bool = False) -> None:
        """Drop an uninstalled workspace's stored tokens (OAuth installs only)."""
        if self.store is None:
            return
        if bot_only:
            self.store.delete_bot(enterprise_id=None, team_id=team_id)
        else:
            self.store.delete_all(enterprise_id=None, team_id=team_id)


def clients(source: Workspaces | WebClient | ClientFor) -> ClientFor:
    """Jobs take one client (a single workspace, tests), Workspaces, or team -> client: all become the last."""
    if isinstance(source, WebClient):
        return lambda team_id: source
    if isinstance(source, Workspaces):
        return source.posting_client
    return source
