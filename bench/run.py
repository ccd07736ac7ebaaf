"""Deal Coach benchmarks: `make bench` (or `python -m bench.run [--quick]`). Prints a Markdown report.

Everything runs on this machine against the loopback fake Slack, so Slack's own latency is out of the
numbers; where a peer exists (bare Bolt for the ack latency) both run in the same process and are
reported as a ratio, since machines are noisy.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from slack_bolt import App
from slack_sdk import WebClient

from bench.seed import seed, seed_store
from bench.welcome_kit import bench_welcome_kit
from bench.welcome_kit import report as welcome_kit_report
from bot.coach import Coach
from bot.nudges.dispatch import Dispatcher, Pacer
from bot.playbook.loader import load
from bot.settings import Settings
from bot.slack.client import listener_client
from bot.slack.server import http_server
from bot.storage import Store
from handlers import create_app
from tests import signing
from tests.processes import WriteLockHolder, cli_env, free_port, start_serve

ROOT = Path(__file__).resolve().parent.parent
SECRET, TOKEN = "bench-secret", "xoxb-bench"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, inside business hours in UTC
DIGEST_TARGET = "< 1 s (issue 12; aim ≤ 500 ms so a busier machine still passes)"  # 50 reps, 10,000 deals


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- /closed-deal ack latency through the real HTTP stack ----------------------------------------------------


class Timed:
    """WSGI middleware measuring server-side time per request (what Slack's 3-second clock sees)."""

    def __init__(self, app):
        self.app = app
        self.samples: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        start = time.perf_counter()
        body = list(self.app(environ, start_response))
        elapsed = (time.perf_counter() - start) * 1000
        with self.lock:
            self.samples.append(elapsed)
        return body


def _serve(bolt_app: App) -> tuple[object, Timed, threading.Thread]:
    server = http_server(bolt_app, signing_secret=SECRET, port=0, host="127.0.0.1")
    timed = Timed(server.application)
    server.application = timed
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, timed, thread


def _hammer(port: int, requests: int, clients: int) -> None:
    """Signed quick captures from another process (bench/load.py), as Slack's requests come from elsewhere."""
    subprocess.run(
        [sys.executable, "-m", "bench.load", str(port), str(requests), str(clients), SECRET],
        cwd=ROOT,
        check=True,
        timeout=600,
    )


class RemoteFake:
    """bench/fake_slack.py in its own process: the server under test shouldn't share its CPU with Slack."""

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_slack"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def bench_ack_latency(fake, workdir: Path, requests: int, clients: int) -> dict:
    settings = Settings(
        slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=fake.base_url, db_path=workdir / "ack.db"
    )
    store = Store(settings.db_path)
    store.migrate()
    ours = create_app(Coach(settings, store, load()), client=listener_client(settings))

    bare = App(
        signing_secret=SECRET,
        client=WebClient(token=TOKEN, base_url=fake.base_url),
        token_verification_enabled=False,
        process_before_response=True,
    )
    bare.command("/closed-deal")(lambda ack: ack())

    results = {}
    for name, app in (("bare Bolt (ack only)", bare), ("Deal Coach quick capture", ours)):
        server, timed, thread = _serve(app)
        _hammer(server.effective_port, requests // 10, clients)  # warm up
        timed.samples.clear()
        _hammer(server.effective_port, requests, clients)
        server.close()
        thread.join(timeout=10)
        results[name] = (pct(timed.samples, 50), pct(timed.samples, 99))
    return results


# -- /closed-deal while another process holds the write lock --------------------------------------------------


def bench_busy_ack(fake, workdir: Path, bursts: tuple[int, ...] = (1, 4, 8, 16)) -> dict:
    """What Slack waits for captures while another process holds SQLite's write lock: a real `dealcoach serve`
    (default DEALCOACH_REQUEST_DB_WAIT_MS, 4 server threads), timed from the client. Each burst meets a lock
    just taken; then one more capture while it is still held; then, released, a capture saves (and the server
    waits in full again next time)."""
    path, port = workdir / "busy.db", free_port()
    env = cli_env(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.base_url,
        PORT=str(port),
        DEALCOACH_DB=str(path),
    )
    proc, _ = start_serve(env, workdir)
    url = f"http://127.0.0.1:{port}/slack/events"

    def capture(n: int, *, busy: bool = True) -> float:
        body = signing.command_body(text=f"Busy Account {n} $5k")
        start = time.perf_counter()
        status, _, answer = signing.post(url, body, SECRET, content_type=signing.FORM)
        elapsed = (time.perf_counter() - start) * 1000
        assert status == 200 and ("database is busy" in answer) == busy, answer
        return elapsed

    results = {}
    try:
        for burst in bursts:
            with WriteLockHolder(path, at_most=600), ThreadPoolExecutor(burst) as pool:
                times = list(pool.map(capture, range(burst)))
                results[burst] = (min(times), max(times), capture(burst))
            capture(0, busy=False)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    return results


# -- CRM webhooks: the answer under a burst ----------------------------------------------------------------------


def bench_crm_burst(fake, workdir: Path, events: int = 100, clients: int = 16) -> dict:
    """A burst of `events` Salesforce Outbound Messages (one notification each) from `clients` connections at
    once, timed server side (authenticate, parse, store in the inbox, acknowledge); then one message carrying
    100 notifications. The worker's later drain is not part of the answer."""
    from bot.crm.webhooks import crm_app
    from tests import soap

    settings = Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.base_url,
        db_path=workdir / "crm.db",
        crm_channel="C0CRMWINS",
        salesforce_webhook_token=soap.TOKEN,
        salesforce_org_id=soap.ORG,
    )
    store = Store(settings.db_path)
    store.migrate()
    coach = Coach(settings, store, load())
    app = create_app(coach, client=listener_client(settings))
    server = http_server(
        app,
        signing_secret=SECRET,
        port=0,
        host="127.0.0.1",
        crm=crm_app(coach.crm, store.for_requests(settings.request_db_wait_ms), coach.now),
    )
    timed = Timed(server.application)
    server.application = timed
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bench.crm_load", str(server.effective_port), str(events), str(clients)],
            cwd=ROOT,
            check=True,
            timeout=600,
        )
        wall = (time.perf_counter() - start) * 1000
        burst = list(timed.samples)
        timed.samples.clear()
        notes = [(f"04l5h{i:010d}", soap.Opportunity(id=f"0065h{i:010d}")) for i in range(100)]
        status, _, _ = soap.post(f"http://127.0.0.1:{server.effective_port}", soap.message(*notes))
        assert status == 200
        hundred = timed.samples[0]
    finally:
        server.close()
        thread.join(timeout=10)
    with store.session() as db:
        stored = db.execute("SELECT COUNT(*) FROM crm_inbox").fetchone()[0]
    assert stored == events + 100, stored
    return {
        "p50": pct(burst, 50),
        "p99": pct(burst, 99),
        "max": max(burst),
        "wall": wall,
        "hundred": hundred,
        "events": events,
        "clients": clients,
    }


def bench_file_check(workdir: Path, runs: int = 100_000) -> dict:
    """What checking that DEALCOACH_DB still names the opened file costs: one os.stat per unit of work."""
    path = workdir / "check.db"
    store = Store(path)
    store.migrate()
    with store.session():
        pass

    def per_call_us(fn) -> float:
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        return (time.perf_counter() - start) / runs * 1e6

    def session() -> None:
        with store.session():
            pass

    return {"stat_us": per_call_us(lambda: os.stat(path)), "session_us": per_call_us(session)}


# -- the dispatcher at scale ----------------------------------------------------------------------------------


class TimedClient(WebClient):
    """Counts the time spent waiting on (fake) Slack, to report the dispatcher's own time without it."""

    slack_seconds = 0.0

    def api_call(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super().api_call(*args, **kwargs)
        finally:
            TimedClient.slack_seconds += time.perf_counter() - start


def _coach(path: Path, fake, queries: list[str]) -> Coach:
    settings = Settings(slack_bot_token=TOKEN, slack_api_url=fake.base_url, db_path=path, timezone="UTC")
    return Coach(settings, Store(path, trace=queries.append), load(), lambda: NOW)


def bench_dispatch(fake, workdir: Path, deals: int, due: int, runs: int) -> dict:
    idle_path = workdir / f"idle-{deals}.db"
    seed(idle_path, deals=deals, now=NOW, due_now=0)
    queries: list[str] = []
    coach = _coach(idle_path, fake, queries)
    client = TimedClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[])
    idle = []
    for _ in range(runs):
        queries.clear()
        start = time.perf_counter()
        report = Dispatcher(coach, client, Pacer(sleep=lambda s: None)).tick(NOW)
        idle.append((time.perf_counter() - start) * 1000)
        assert report.posted == []
    idle_queries = len(queries)

    busy_path = workdir / f"busy-{deals}.db"
    seed(busy_path, deals=deals, now=NOW, due_now=due)
    queries.clear()
    coach = _coach(busy_path, fake, queries)
    TimedClient.slack_seconds = 0.0
    start = time.perf_counter()
    report = Dispatcher(coach, client, Pacer(sleep=lambda s: None)).tick(NOW)
    total = time.perf_counter() - start
    assert len(report.posted) == due, report.summary()
    return {
        "idle_ms": statistics.median(idle),
        "idle_queries": idle_queries,
        "busy_ms": (total - TimedClient.slack_seconds) * 1000,
        "busy_queries": len(queries),
        "busy_slack_ms": TimedClient.slack_seconds * 1000,
    }


# -- the managers' digest -------------------------------------------------------------------------------------


def bench_digest(workdir: Path, deals: int, runs: int = 5) -> dict:
    """Gathering one digest and building its Block Kit, for 50 reps and `deals` deals (no Slack involved)."""
    queries: list[str] = []
    store = Store(workdir / f"digest-{deals}.db", trace=queries.append)
    seed_store(store, deals=deals, reps=50, now=NOW, due_now=0)
    return digest_timings(store, queries, runs)


def digest_timings(store, queries: list[str], runs: int) -> dict:
    """The median time of `runs` digests on a seeded store of either engine, and the queries one takes."""
    from decimal import Decimal

    from bot.digest import blocks as digest_blocks
    from bot.digest import build as digest
    from bot.playbook.loader import load
    from bot.signals.watch import windows

    steps = windows(load().steps)
    times = []
    for _ in range(runs):
        queries.clear()
        start = time.perf_counter()
        with store.session() as db:
            data = digest.gather(
                db,
                team_id="T0BENCH",
                now=NOW,
                today=NOW.date(),
                since=None,
                large_deal=Decimal(100_000),
                quiet_days=14,
                signature_days=7,
                tz=UTC,
                windows=steps,
            )
        text, blocks = digest_blocks.digest_message(data, team_url="https://bench.slack.com/", tz=UTC)
        times.append((time.perf_counter() - start) * 1000)
        assert len(blocks) <= 50
    return {"ms": statistics.median(times), "queries": len(queries), "reps": len(data.reps)}


# -- memory of `dealcoach serve` ------------------------------------------------------------------------------


def bench_serve_rss(fake, workdir: Path, deals: int) -> float:
    """Peak RSS (VmHWM) of a real `dealcoach serve` on a big database, after a burst of 400 captures."""
    path = workdir / "serve.db"
    seed(path, deals=deals, now=NOW, due_now=0)
    port = free_port()
    env = cli_env(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.base_url,
        PORT=str(port),
        DEALCOACH_DB=str(path),
    )
    proc, _ = start_serve(env, workdir)
    try:
        _hammer(port, 400, 8)  # captures, each announced through the lazy listeners
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    return peak_kb / 1024


# -- the report -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    sizes = [100, 1_000] if args.quick else [100, 1_000, 10_000]  # deals; ten nudges each
    requests = 400 if args.quick else 4_000

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" is the point of a load test
    with RemoteFake() as fake, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"# Deal Coach benchmarks ({os.cpu_count()} cores, Python {sys.version.split()[0]})\n")

        ack = bench_ack_latency(fake, workdir, requests, clients=16)
        print(f"## /closed-deal ack latency, server side ({requests} requests, 16 concurrent clients)\n")
        print("| app | p50 ms | p99 ms |\n|---|---|---|")
        for name, (p50, p99) in ack.items():
            print(f"| {name} | {p50:.1f} | {p99:.1f} |")
        (bare50, bare99), (ours50, ours99) = ack.values()
        print(f"\nRatio to bare Bolt: p50 {ours50 / bare50:.2f}x, p99 {ours99 / bare99:.2f}x\n")

        busy = bench_busy_ack(fake, workdir)
        print("## /closed-deal while another process holds the write lock, client side (`serve`, defaults)\n")
        print("| captures at once | fastest answer ms | slowest answer ms | one more, lock still held, ms |")
        print("|---|---|---|---|")
        for burst, (fastest, slowest, then) in busy.items():
            print(f"| {burst} | {fastest:.0f} | {slowest:.0f} | {then:.0f} |")
        crm = bench_crm_burst(fake, workdir)
        print(
            f"## CRM webhook answer under a burst ({crm['events']} Salesforce messages, {crm['clients']} at once)\n\n"
            f"Server side: p50 {crm['p50']:.1f} ms, p99 {crm['p99']:.1f} ms, slowest {crm['max']:.1f} ms; the whole "
            f"burst answered in {crm['wall']:.0f} ms (client side, process start included). One message of 100 "
            f"notifications: {crm['hundred']:.1f} ms.\n"
        )
        check = bench_file_check(workdir)
        print(
            f"\nChecking the database file: os.stat {check['stat_us']:.1f} µs; a whole read unit of work "
            f"(`Store.session()`, check included) {check['session_us']:.1f} µs\n"
        )

        print("## Dispatcher tick (one run every minute)\n")
        print("| deals / nudges | idle tick ms | queries | 500 due: ms without Slack | queries | Slack ms (loopback) |")
        print("|---|---|---|---|---|---|")
        for deals in sizes:
            due = min(500, deals)
            d = bench_dispatch(fake, workdir, deals, due, runs=20)
            print(
                f"| {deals:,} / {deals * 10:,} | {d['idle_ms']:.2f} | {d['idle_queries']} | "
                f"{d['busy_ms']:.0f} ({due} due) | {d['busy_queries']} | {d['busy_slack_ms']:.0f} |"
            )
        print()
        print("## Managers' digest: gather and build one (50 reps)\n")
        print("| deals / nudges | ms | queries | target |\n|---|---|---|---|")
        for deals in sizes:
            d = bench_digest(workdir, deals)
            target = DIGEST_TARGET if deals == 10_000 else "—"
            print(f"| {deals:,} / {deals * 10:,} | {d['ms']:.0f} | {d['queries']} | {target} |")
        print()
        print(welcome_kit_report(bench_welcome_kit(runs=5 if args.quick else 20)))
        rss = bench_serve_rss(fake, workdir, deals=sizes[-1])
        print(f"## Memory\n\nPeak RSS of `dealcoach serve` with {sizes[-1] * 10:,} nudges: {rss:.0f} MB\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
