"""Storage: the one seam a second database engine plugs into.

Features, listeners and jobs import from here, never from `store` or `postgres`: `open_store` (SQLite at
DEALCOACH_DB, or PostgreSQL at DEALCOACH_DATABASE_URL), the stores' units of work (`session()` for reads,
`write()` for one transaction), the query helpers every feature's SQL goes through (`?` and `:name` parameters on
both engines; `for_update` for the rows a claim must lock), and the errors a unit of work can end with
(`StorageError`), whether they are an outage (`is_outage`) and whether retrying can help (`retry_helps`), and
how to word and log them. `migrations` holds the schema, version by version, for both engines."""

import sqlite3

import psycopg

from bot.storage.postgres import DatabaseUnavailable, PostgresStore
from bot.storage.postgres import is_url as is_database_url
from bot.storage.store import (
    BUSY_TIMEOUT_MS,
    DatabaseBusy,
    DatabaseGone,
    Store,
    for_update,
    insert,
    insert_many,
    is_postgres,
    log_storage_failure,
    query,
    query_one,
    retry_helps,
    storage_problem,
    transaction,
)
from bot.storage.store import is_outage as _is_sqlite_outage

# What a unit of work can end with, on either engine: busy, unreachable, gone, full (and our own SQL's mistakes).
StorageError = (sqlite3.Error, psycopg.Error)


def is_outage(exc: BaseException) -> bool:
    """The database can't be used just now (busy, unreachable, full, its file removed): the jobs wait it out and
    say so once."""
    from bot.storage.postgres import is_pg_outage

    return _is_sqlite_outage(exc) or is_pg_outage(exc)


def open_store(settings, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, trace=None) -> Store | PostgresStore:
    """The store the settings name: PostgreSQL at DEALCOACH_DATABASE_URL, else SQLite at DEALCOACH_DB."""
    if settings.database_url:
        return PostgresStore(settings.database_url, busy_timeout_ms=busy_timeout_ms, trace=trace)
    return Store(settings.db_path, busy_timeout_ms=busy_timeout_ms, trace=trace)


__all__ = [
    "BUSY_TIMEOUT_MS",
    "DatabaseBusy",
    "DatabaseGone",
    "DatabaseUnavailable",
    "PostgresStore",
    "Store",
    "StorageError",
    "for_update",
    "insert",
    "insert_many",
    "is_database_url",
    "is_outage",
    "is_postgres",
    "log_storage_failure",
    "open_store",
    "query",
    "query_one",
    "retry_helps",
    "storage_problem",
    "transaction",
]
