"""Storage: the one seam a second database engine plugs into.

Features, listeners and jobs import from here, never from `store`: the `Store` (each thread's one long-lived
connection, read sessions, IMMEDIATE write transactions), the query helpers, and the errors a unit of work can
end with (`StorageError`, the engine's error base), whether they are an outage (`is_outage`) and whether
retrying can help (`retry_helps`), and how to word and log them. `store` holds the SQLite engine today;
`migrations` holds the schema, version by version. A PostgreSQL engine implements the same names (a store
whose `session()`/`write()` yield something `query`/`insert` accept, and its own DDL per migration version),
and honours what the comments marked "one writer at a time" rely on."""

import sqlite3

from bot.storage.store import (
    BUSY_TIMEOUT_MS,
    DatabaseBusy,
    DatabaseGone,
    Store,
    insert,
    insert_many,
    is_outage,
    log_storage_failure,
    query,
    query_one,
    retry_helps,
    storage_problem,
    transaction,
)

StorageError = sqlite3.Error  # every failure the engine raises; a second engine names its own base here

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DatabaseBusy",
    "DatabaseGone",
    "Store",
    "StorageError",
    "insert",
    "insert_many",
    "is_outage",
    "log_storage_failure",
    "query",
    "query_one",
    "retry_helps",
    "storage_problem",
    "transaction",
    "retry_helps",
    "StorageError",
]

StorageError = sqlite3.Error  # what a unit of work can end with: busy, gone, full
