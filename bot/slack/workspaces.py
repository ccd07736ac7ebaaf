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
from bot.storage import PostgresStore, query
from bot.timestamps import stamp

logger = logging.getLogger(__name__)
STATE_SECONDS = 600
ClientFor = Callable[[str], WebClient | None]


def installation_store(settings: Settings) -> SQLite3InstallationStore:
    """slack_sdk's own store, in the bot's database (its tables: slack_installations, slack_bots): the SQLite file,
    or PostgreSQL, where every instance finds every workspace's installation."""
    if settings.database_url:
        return PgInstallationStore(_pg(settings), client_id=settings.slack_client_id)
    return SQLite3InstallationStore(database=str(settings.db_path), client_id=settings.slack_client_id)


def state_store(settings: Settings) -> SQLite3OAuthStateStore:
    """The OAuth flow's state, in the bot's database: an install started on one instance may finish on another."""
    if settings.database_url:
        return PgOAuthStateStore(_pg(settings), expiration_seconds=STATE_SECONDS)
    return SQLite3OAuthStateStore(database=str(settings.db_path), expiration_seconds=STATE_SECONDS)


_PG_STORES: dict[str, PostgresStore] = {}


def _pg(settings: Settings) -> PostgresStore:
    """One small pool per database for slack_sdk's stores, beside the bot's own."""
    if settings.database_url not in _PG_STORES:
        _PG_STORES[settings.database_url] = PostgresStore(settings.database_url, pool_size=2)
    return _PG_STORES[settings.database_url]


class _PgConnection:
    """What slack_sdk's SQLite stores ask of sqlite3's connection (`with`, execute with `?`, commit), over a
    pooled PostgreSQL connection in autocommit: each statement stands alone, as their SQL expects. Their tables are
    created by migration (bot/storage/migrations.py) with the same columns, in PostgreSQL's types."""

    def __init__(self, store: PostgresStore):
        self._store = store

    def __enter__(self):
        self._session = self._store.session()
        self._db = self._session.__enter__()
        return self

    def __exit__(self, *exc):
        return self._session.__exit__(*exc)

    def execute(self, sql: str, params=()):
        # sqlite3 stores True as 1: slack_sdk passes its flags either way, into INTEGER columns
        return self._db.execute(sql, [int(p) if isinstance(p, bool) else p for p in params])

    def commit(self) -> None:
        pass


class PgInstallationStore(SQLite3InstallationStore):
    def __init__(self, store: PostgresStore, *, client_id: str):
        super().__init__(database=store.path, client_id=client_id)
        self.init_called = True  # the tables come from the migrations
        self._pg = store

    def connect(self):
        return _PgConnection(self._pg)


class PgOAuthStateStore(SQLite3OAuthStateStore):
    def __init__(self, store: PostgresStore, *, expiration_seconds: int):
        super().__init__(database=store.path, expiration_seconds=expiration_seconds)
        self.init_called = True
        self._pg = store

    def connect(self):
        return _PgConnection(self._pg)


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
