"""SQLite against PostgreSQL: `python -m bench.engines [--quick] [--database-url URL]`. Prints a Markdown report.

Capture throughput and latency of real `dealcoach serve` processes (one on SQLite; one and two on PostgreSQL,
the load spread over both), timed by a load generator in its own process; the dispatcher's idle and busy tick
at 100,000 nudges on each engine; and one managers' digest at 10,000 deals on each. Without --database-url (or DEALCOACH_BENCH_DATABASE_URL) a throw-away server is
started with .ci/postgres, as the tests do. Everything, the server included, shares this machine's cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg

from bench.run import DIGEST_TARGET, NOW, SECRET, TOKEN, RemoteFake, TimedClient, digest_timings, pct
from bench.seed import seed_store
from bot.coach import Coach
from bot.nudges.dispatch import Dispatcher, Pacer
from bot.playbook.loader import load
from bot.settings import Settings
from bot.storage import PostgresStore, Store
from tests import signing
from tests.processes import cli_env, free_port, keep_reading, start_serve

ROOT = Path(__file__).resolve().parent.parent


# -- a PostgreSQL server and a fresh schema per measurement -----------------------------------------------------


@contextmanager
def postgres(url: str | None):
    if url:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="dealcoach-bench-pg-")
    script = str(ROOT / ".ci" / "postgres")
    started = subprocess.run([script, "start", folder], capture_output=True, text=True, check=True)
    try:
        yield started.stdout.strip().split("=", 1)[1]
    finally:
        subprocess.run([script, "stop", folder], capture_output=True)
        subprocess.run(["rm", "-rf", folder])


@contextmanager
def schema(server: str):
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{server}{'&' if '?' in server else '?'}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


# -- capture throughput and latency, client side -----------------------------------------------------------------


def load_main(ports: list[int], requests: int, clients: int) -> None:
    """The load generator (its own process): `clients` keep-alive connections, spread over the instances' ports,
    sending signed quick captures as fast as they are answered; prints each latency and the wall time as JSON."""
    latencies: list[float] = []

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", ports[n % len(ports)], timeout=30)
        for i in range(requests // clients):
            body = signing.command_body(text=f"Bench Account {n}-{i} $120k", user_id=f"U{n:04d}")
            headers = {"Content-Type": signing.FORM, **signing.sign(body, SECRET)}
            start = time.perf_counter()
            conn.request("POST", "/slack/events", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")
        conn.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    print(json.dumps({"seconds": time.perf_counter() - start, "latencies": latencies}))


def bench_captures(fake, workdir: Path, database: dict[str, str], instances: int, requests: int, clients: int):
    """Real `serve` processes on one database; (captures per second, p50 ms, p99 ms) as the clients saw them."""
    env = cli_env(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.base_url, **database)
    ports = [free_port() for _ in range(instances)]
    procs = []
    for port in ports:
        proc, log = start_serve({**env, "PORT": str(port)}, workdir)
        keep_reading(proc, log)
        procs.append(proc)
    try:

        def hammer(count: int) -> dict:
            out = subprocess.run(
                [sys.executable, "-m", "bench.engines", "load", ",".join(map(str, ports)), str(count), str(clients)],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
                timeout=900,
            )
            return json.loads(out.stdout)

        hammer(max(clients, requests // 10))  # warm up
        result = hammer(requests)
    finally:  # measured: the announcements still queued in the lazy listeners are of no interest
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)
    lat = result["latencies"]
    return len(lat) / result["seconds"], pct(lat, 50), pct(lat, 99)


# -- the dispatcher's tick at 100,000 nudges ---------------------------------------------------------------------


def bench_tick(fake, make_store, deals: int, due: int, runs: int) -> dict:
    """Idle tick (median of `runs`) and one busy tick posting `due` messages, time without Slack's."""
    client = TimedClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[])
    settings = Settings(slack_bot_token=TOKEN, slack_api_url=fake.base_url, timezone="UTC")
    result = {}
    for kind, due_now in (("idle", 0), ("busy", due)):
        queries: list[str] = []
        store = make_store(kind, queries)
        seed_store(store, deals=deals, now=NOW, due_now=due_now)
        coach = Coach(settings, store, load(), lambda: NOW)
        times = []
        for _ in range(runs if kind == "idle" else 1):
            queries.clear()
            TimedClient.slack_seconds = 0.0
            start = time.perf_counter()
            report = Dispatcher(coach, client, Pacer(sleep=lambda s: None)).tick(NOW)
            times.append((time.perf_counter() - start - TimedClient.slack_seconds) * 1000)
            assert len(report.posted) == due_now, report.summary()
        result[kind] = (statistics.median(times), len(queries))
        if hasattr(store, "close"):
            store.close()
    return result


# -- the managers' digest at 10,000 deals ------------------------------------------------------------------------


def bench_digest_pg(server: str, deals: int, runs: int = 5) -> dict:
    """One digest (gather and Block Kit) for 50 reps and `deals` deals on PostgreSQL, as bench.run does on SQLite."""
    with schema(server) as url:
        queries: list[str] = []
        store = PostgresStore(url, trace=queries.append)
        try:
            seed_store(store, deals=deals, reps=50, now=NOW, due_now=0)
            return digest_timings(store, queries, runs)
        finally:
            store.close()


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["load"]:
        load_main([int(p) for p in argv[1].split(",")], int(argv[2]), int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--database-url", default=os.environ.get("DEALCOACH_BENCH_DATABASE_URL"))
    args = parser.parse_args(argv)
    requests, clients = (400, 8) if args.quick else (4000, 16)
    deals = 1_000 if args.quick else 10_000

    with RemoteFake() as fake, tempfile.TemporaryDirectory() as tmp, postgres(args.database_url) as server:
        workdir = Path(tmp)
        print(f"# SQLite and PostgreSQL ({os.cpu_count()} cores, Python {sys.version.split()[0]})\n")
        print(f"## /closed-deal quick captures, {requests} requests from {clients} clients, timed by the client\n")
        print("| set-up | captures/s | p50 ms | p99 ms |\n|---|---|---|---|")
        rows = [("1 instance, SQLite", 1, {"DEALCOACH_DB": str(workdir / "captures.db")})]
        for instances in (1, 2):
            rows.append((f"{instances} instance{'s' if instances > 1 else ''}, PostgreSQL", instances, None))
        for name, instances, database in rows:
            if database is None:
                with schema(server) as url:
                    found = bench_captures(fake, workdir, {"DEALCOACH_DATABASE_URL": url}, instances, requests, clients)
            else:
                found = bench_captures(fake, workdir, database, instances, requests, clients)
            print(f"| {name} | {found[0]:.0f} | {found[1]:.1f} | {found[2]:.1f} |")

        print(f"\n## Dispatcher tick, {deals:,} deals / {deals * 10:,} nudges (time without Slack's)\n")
        print("| engine | idle tick ms | queries | 500 due: ms | queries |\n|---|---|---|---|---|")
        sqlite = bench_tick(
            fake, lambda kind, q: Store(workdir / f"tick-{kind}.db", trace=q.append), deals, due=500, runs=20
        )
        schemas = []

        def pg_store(kind, q):
            context = schema(server)
            schemas.append(context)
            return PostgresStore(context.__enter__(), trace=q.append)

        try:
            pg = bench_tick(fake, pg_store, deals, due=500, runs=20)
        finally:
            for context in schemas:
                context.__exit__(None, None, None)
        for name, found in (("SQLite", sqlite), ("PostgreSQL", pg)):
            (idle, idle_q), (busy, busy_q) = found["idle"], found["busy"]
            print(f"| {name} | {idle:.2f} | {idle_q} | {busy:.0f} | {busy_q} |")

        print(f"\n## Managers' digest, 50 reps, {deals:,} deals (gather and Block Kit)\n")
        print("| engine | ms | queries | target |\n|---|---|---|---|")
        sqlite_store = Store(workdir / "digest.db", trace=(sqlite_queries := []).append)
        seed_store(sqlite_store, deals=deals, reps=50, now=NOW, due_now=0)
        for name, found in (
            ("SQLite", digest_timings(sqlite_store, sqlite_queries, runs=5)),
            ("PostgreSQL", bench_digest_pg(server, deals)),
        ):
            print(f"| {name} | {found['ms']:.0f} | {found['queries']} | {DIGEST_TARGET} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
