"""The database file removed or replaced under a running `dealcoach serve`: no capture is acknowledged as saved
unless it is in the file DEALCOACH_DB names, and the process never creates an empty database in its place."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlite_utils

from tests import signing
from tests.conftest import REP, SECRET, TOKEN
from tests.processes import cli_env, free_port, start_serve

GONE = "the database file was removed or replaced"


class Server:
    """A real `dealcoach serve` on a loopback port, its answers to signed captures, and its log once stopped."""

    def __init__(self, tmp_path: Path, fake, db_path: Path):
        self.fake, self.port = fake, free_port()
        env = cli_env(
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.base_url,
            PORT=str(self.port),
            DEALCOACH_DB=str(db_path),
        )
        self.proc, _ = start_serve(env, tmp_path)
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.published = 0

    def capture(self, account: str) -> str:
        """The ack's answer to `/closed-deal <account> $5k`: "" when the deal was saved, else the text the rep sees."""
        body = signing.command_body(text=f"{account} $5k", response_url=self.fake.response_url())
        status, _, answer = signing.post(self.url, body, SECRET, content_type=signing.FORM)
        assert status == 200
        return json.loads(answer)["text"] if answer else ""

    def open_home(self) -> None:
        """The rep opens Home: from then on, each capture's lazy work ends by republishing it (views.publish)."""
        event = {"type": "app_home_opened", "user": REP, "channel": "D0REP", "tab": "home", "event_ts": "1.2"}
        status, _, _ = signing.post(self.url, signing.event_body(event), SECRET, content_type=signing.JSON)
        assert status == 200
        self.published += 1
        self.fake.wait_for("views.publish", self.published)

    def capture_and_settle(self, accounts: list[str]) -> None:
        """Saved captures whose lazy work (announcement posted and recorded, Home redrawn) is over, on several of
        the server's threads at once, so they hold their own connections to the file."""
        with ThreadPoolExecutor(len(accounts)) as pool:
            assert list(pool.map(self.capture, accounts)) == [""] * len(accounts)
        self.published += len(accounts)
        self.fake.wait_for("views.publish", self.published)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        log = self.proc.stderr.read()
        self.proc.wait(timeout=30)
        self.proc.stderr.close()
        return log


def remove_database(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def stored_accounts(db_path: Path) -> set[str]:
    with sqlite_utils.Database(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row["account"] for row in db["deals"].rows}


def gone_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR " in line and "removed or replaced" in line]


def test_captures_after_the_database_file_is_deleted_are_refused_and_no_empty_database_appears(tmp_path, fake):
    db_path = tmp_path / "deals.db"
    server = Server(tmp_path, fake, db_path)
    try:
        server.open_home()
        server.capture_and_settle([f"Before {n}" for n in range(4)])
        announced = len(fake.calls_to("chat.postMessage"))

        remove_database(db_path)  # the file and its -wal and -shm, under the running server
        accounts = [f"After {n}" for n in range(8)]
        with ThreadPoolExecutor(4) as pool:
            answers = dict(zip(accounts, pool.map(server.capture, accounts), strict=True))
        assert not db_path.exists()  # no fresh, empty database took its place
    finally:
        log = server.stop()

    claimed = [account for account, answer in answers.items() if answer == ""]
    assert claimed == []
    for answer in answers.values():
        assert GONE in answer and "Nothing was saved" in answer and "an admin has been told" in answer
    assert len(fake.calls_to("chat.postMessage")) == announced  # none of them announced either
    [error] = gone_lines(log)  # one ERROR line for the admin, not one per request
    assert str(db_path) in error and "Restart Deal Coach" in error
    assert "Traceback" not in log

    restarted = Server(tmp_path, fake, db_path)  # a restart starts a new database, and says nothing was lost
    try:
        assert restarted.capture("After restart") == ""
    finally:
        restarted.stop()
    assert set(claimed) | {"After restart"} <= stored_accounts(db_path)


def test_captures_after_the_database_file_is_replaced_are_refused_and_a_restart_opens_the_replacement(tmp_path, fake):
    db_path, backup = tmp_path / "deals.db", tmp_path / "backup.db"
    server = Server(tmp_path, fake, db_path)
    try:
        server.open_home()
        server.capture_and_settle(["Kept 1", "Kept 2"])
        with contextlib.closing(sqlite3.connect(db_path)) as live, contextlib.closing(sqlite3.connect(backup)) as copy:
            live.backup(copy)  # a consistent backup, taken while the server runs

        remove_database(db_path)  # an admin restores the backup: the old files out, the backup in
        os.replace(backup, db_path)
        restored = db_path.read_bytes()
        answers = [server.capture(f"After restore {n}") for n in range(4)]
        assert db_path.read_bytes() == restored  # the running server never wrote to the file it did not open
    finally:
        log = server.stop()

    for answer in answers:
        assert GONE in answer and "Nothing was saved" in answer
    [error] = gone_lines(log)
    assert str(db_path) in error
    assert "Traceback" not in log

    restarted = Server(tmp_path, fake, db_path)  # a restart opens the replacement as it is
    try:
        assert restarted.capture("After restart") == ""
    finally:
        restarted.stop()
    assert stored_accounts(db_path) == {"Kept 1", "Kept 2", "After restart"}
