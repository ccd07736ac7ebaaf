"""Moving over: an SQLite database copied into an empty PostgreSQL one (`dealcoach migrate-store`), every table the
migrations made (deals, plans, posts, digests, team profiles, ...) and slack_sdk's installations, ids kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.storage.postgres import PostgresStore
from bot.storage.store import Store, query

SKIPPED = ("schema_migrations",)  # the target's own migrations wrote it
BATCH = 1000


class TargetNotEmpty(Exception):
    """The PostgreSQL database already holds data: copying into it could mix two deployments' deals."""


@dataclass
class Copied:
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows, in the order they were copied

    def summary(self) -> str:
        held = [f"{n} {table}" for table, n in self.counts.items() if n]
        empty = len(self.counts) - len(held)
        return (
            ", ".join(held) + (f" ({empty} other tables were empty)" if empty else "")
            if held
            else "nothing (the database is empty)"
        )


def _tables(source) -> list[str]:
    """The source's tables, each after those its foreign keys point to."""
    names = [
        r["name"]
        for r in query(source, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        if r["name"] not in SKIPPED
    ]
    parents = {t: {r["table"] for r in query(source, f"PRAGMA foreign_key_list('{t}')")} - {t} for t in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = sorted(t for t in names if t not in ordered and parents[t] <= set(ordered))
        if not ready:  # a cycle: impossible with our schema, said plainly if it ever happens
            raise RuntimeError(f"tables whose foreign keys form a cycle: {sorted(set(names) - set(ordered))}")
        ordered += ready
    return ordered


def _columns(target, table: str) -> list[str]:
    rows = query(
        target,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? ORDER BY ordinal_position",
        [table],
    )
    return [r["column_name"] for r in rows]


def copy_store(source: Store, target: PostgresStore) -> Copied:
    """Migrate the target, refuse it if any table holds a row, then copy every table in one transaction: the target
    ends with all of it or none of it. Identity counters go on after the copied ids."""
    target.migrate()
    copied = Copied()
    with source.session() as src, target.write() as dst:
        dst.execute("SELECT set_config('statement_timeout', '0', true)")  # a big copy is not a request
        tables = _tables(src)
        missing = [t for t in tables if not _columns(dst, t)]
        if missing:
            raise RuntimeError(f"tables the PostgreSQL schema lacks: {', '.join(missing)} (is this Deal Coach's file?)")
        held = {t: dst.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        held = {t: n for t, n in held.items() if n}
        if held:
            raise TargetNotEmpty(", ".join(f"{n} {t}" for t, n in held.items()))
        for table in tables:
            wanted = set(_columns(dst, table))
            columns = [r["name"] for r in query(src, f"PRAGMA table_info('{table}')") if r["name"] in wanted]
            names = ", ".join(f'"{c}"' for c in columns)
            sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
            cursor = src.execute(f'SELECT {names} FROM "{table}"')
            count = 0
            while rows := cursor.fetchmany(BATCH):
                dst.executemany(sql, [list(r) for r in rows])
                count += len(rows)
            copied.counts[table] = count
            if "id" in columns and count:
                dst.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT MAX(id) FROM \"{table}\"))"
                )
    return copied
