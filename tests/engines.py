"""Both engines for the tests: SQLite by default, and PostgreSQL when DEALCOACH_TEST_DATABASE_URL names a server
(`.ci/run` starts a throw-away one). Each PostgreSQL test gets a schema of its own, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import sqlite_utils

from bot.storage.postgres import translate

PG_URL = os.environ.get("DEALCOACH_TEST_DATABASE_URL", "")  # read once: the tests' clean_env removes DEALCOACH_*
SKIP_POSTGRES = (
    "the PostgreSQL half of the storage and exactly-once tests (marked both_engines). To run it, set "
    "DEALCOACH_TEST_DATABASE_URL=postgresql://user@host:port/db (a server where the tests may create schemas), "
    "or run .ci/run, which starts a throw-away server"
)


# A test of PostgreSQL only (several writers at once): skipped, with why, when no test server is set.
ON_POSTGRES = [
    pytest.mark.skipif(not PG_URL, reason=SKIP_POSTGRES),
    pytest.mark.parametrize("engine", ["postgresql"], indirect=True),
]


def wait_for_lock_wait(thread, query_like: str) -> None:
    """Until `thread` ends or its statement (matching `query_like`) waits for a lock another transaction holds: a
    state, not a clock."""
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        while (
            thread.is_alive()
            and not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s", [query_like]
            ).fetchall()
        ):
            pass


def fresh_schema() -> str:
    """A new, empty schema on the test server, as a URL whose connections use it."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{joiner}options={quote(f'-csearch_path={schema}')}"


def drop_schema(url: str) -> None:
    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def rows(settings, sql: str, params: tuple | list | dict = ()) -> list[dict]:
    """What the database behind `settings` holds, read directly (not through the code under test)."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            cur = conn.execute(translate(sql), params)
            names = [c.name for c in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    with sqlite_utils.Database(Path(settings.db_path)) as db:
        return list(db.query(sql, params))


def database_env(settings) -> dict[str, str]:
    """The variable a `dealcoach` process needs to open the same database."""
    if settings.database_url:
        return {"DEALCOACH_DATABASE_URL": settings.database_url}
    return {"DEALCOACH_DB": str(settings.db_path)}


def execute(settings, sql: str, params: tuple | list | dict = ()) -> None:
    """Test set-up written directly into the database behind `settings` (not through the code under test)."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(translate(sql), params)
        return
    with sqlite_utils.Database(Path(settings.db_path)) as db:
        db.execute(sql, list(params) if not isinstance(params, dict) else params)
        db.conn.commit()
