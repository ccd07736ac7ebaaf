"""Shared fixtures: a fake Slack on loopback, a real SQLite file, a fixed clock and the real Bolt app."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from bot.coach import Coach
from bot.playbook.loader import load
from bot.settings import Settings
from bot.slack.client import listener_client
from bot.slack.pacing import SharedPacer
from bot.storage import open_store
from handlers import create_app
from tests import engines
from tests.fakeslack import FakeSlack

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
REP, OTHER_REP, MANAGER = "U0REP", "U0OTHER", "U0MGR"
TEAM, CHANNEL = "T0FAKE", "C0TEAM"
MONDAY_AFTERNOON = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class Clock:
    """A clock tests set by hand: time is a parameter, never waited for."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class TrackingExecutor(ThreadPoolExecutor):
    """Runs lazy listeners on real threads like production, and lets a test wait until they have finished."""

    def __init__(self):
        super().__init__(max_workers=4, thread_name_prefix="test-lazy")
        self._futures: list[Future] = []
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.append(future)
        return future

    def drain(self) -> None:
        """Wait for every submitted task, re-raising the first failure."""
        while True:
            with self._lock:
                pending, self._futures = self._futures, []
            if not pending:
                return
            for future in pending:
                future.result(timeout=30)


class FakeTime:
    """Monotonic time and sleep for the dispatcher's pacer: sleeping moves the clock on instead of waiting."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


class Wall:
    """Wall time for the paces shared through the database (bot/slack/pacing.py), set by hand and moved on by their
    sleeps: a post never really waits for its turn, and a test can read the moments the paces reserved."""

    def __init__(self):
        self.now = 1000.0  # long ago: a pace another process reserved in real time is waited for, on this clock
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def pytest_configure(config):
    config.addinivalue_line("markers", "both_engines: run on SQLite, and on PostgreSQL when a test server is set")


def pytest_generate_tests(metafunc):
    """Tests marked both_engines run on SQLite, and on PostgreSQL too when DEALCOACH_TEST_DATABASE_URL names a
    server; without one, the run ends with one line saying how to run that half. A test that names its engine
    itself (engines.ON_POSTGRES: a race only PostgreSQL's concurrent writers can run) keeps it."""
    own = any(m.args and m.args[0] == "engine" for m in metafunc.definition.iter_markers("parametrize"))
    if "engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_engines") and not own:
        metafunc.parametrize("engine", ["sqlite", "postgresql"] if engines.PG_URL else ["sqlite"], indirect=True)


def pytest_terminal_summary(terminalreporter):
    if not engines.PG_URL:
        terminalreporter.write_line(f"Not run: {engines.SKIP_POSTGRES}.")


@pytest.fixture
def engine(request):
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(engine):
    """'' for SQLite; for PostgreSQL, a fresh schema of the test server, dropped after the test."""
    if engine != "postgresql":
        yield ""
        return
    url = engines.fresh_schema()
    yield url
    engines.drop_schema(url)


@pytest.fixture
def pace():
    return FakeTime()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Bolt reads SLACK_* variables on its own (SLACK_CLIENT_ID switches it to OAuth): tests start from none, and
    from no CRM settings either."""
    import os

    for name in list(os.environ):
        if name.startswith(("SLACK_", "DEALCOACH_", "HUBSPOT_", "PIPEDRIVE_")):
            monkeypatch.delenv(name)


@pytest.fixture
def fake():
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def clock():
    return Clock(MONDAY_AFTERNOON)


@pytest.fixture
def settings(tmp_path, fake, database_url):
    return Settings(
        database_url=database_url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.base_url,
        db_path=tmp_path / "dealcoach.db",
        timezone="Europe/Berlin",
        managers=(MANAGER,),
    )


@pytest.fixture
def store(settings):
    store = open_store(settings)
    store.migrate()
    yield store
    if settings.database_url:
        store.close()  # its pool's connections, before the schema is dropped


@pytest.fixture
def wall():
    return Wall()


@pytest.fixture
def pacer(settings, store, wall):
    """The posting paces every process shares through the database, on the test's `wall` time."""
    return SharedPacer(store, per_minute=settings.posts_per_minute, clock=wall.time, sleep=wall.sleep)


@pytest.fixture
def coach(settings, store, clock, pace, pacer):
    """Time is a parameter: the clock is set by hand, a short Retry-After is waited on the fake pace clock, and the
    shared posting paces keep wall time of their own (`wall`)."""
    return Coach(settings, store, load(), clock, sleep=pace.sleep, pacer=pacer)


@pytest.fixture
def executor():
    pool = TrackingExecutor()
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
def app(coach, executor):
    return create_app(coach, client=listener_client(coach.settings, backoff_seconds=0), listener_executor=executor)


@pytest.fixture
def server_for():
    """Start the real HTTP stack (waitress + Bolt's WSGI adapter) for an app on a loopback port; returns its URL."""
    from bot.slack.server import http_server

    running = []

    def start(app, crm=None) -> str:
        srv = http_server(app, signing_secret=SECRET, port=0, host="127.0.0.1", threads=4, crm=crm)
        stopping = threading.Event()

        def run():
            try:
                srv.run()
            except OSError:
                if not stopping.is_set():  # closing the sockets under a running loop is how this test server stops
                    raise

        thread = threading.Thread(target=run, name="test-http", daemon=True)
        thread.start()
        running.append((srv, stopping, thread))
        return f"http://127.0.0.1:{srv.effective_port}"

    yield start
    for srv, stopping, thread in running:
        stopping.set()
        srv.close()
        srv.task_dispatcher.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def server(app, server_for):
    return server_for(app)


@pytest.fixture
def slack(app, executor, fake):
    from tests.slackapp import SlackDriver

    return SlackDriver(app, executor, fake)
