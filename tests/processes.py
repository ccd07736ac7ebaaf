"""Running `python -m bot` as a real process: a clean environment, a free port, a server that has started."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli_env(**settings: str) -> dict[str, str]:
    """Nothing from the developer's shell (SLACK_CLIENT_ID would switch Bolt to OAuth), plus `settings`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEALCOACH_", "HUBSPOT_", "PIPEDRIVE_"))}
    return {**base, "PYTHONPATH": str(ROOT), **settings}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, list[str]]:
    """`python -m bot serve`, returned once it has logged its start line (waiting on the log, not a clock).
    cwd must not be tests/, whose bot/ package would shadow the real one."""
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=cwd, stderr=subprocess.PIPE, text=True)
    log = []
    for line in proc.stderr:
        log.append(line)
        if "Deal Coach" in line and "started" in line:
            break
    return proc, log


def start_job(command: str, now: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """`python -m bot tick|digest --now ...` as its own process (cwd is never tests/, whose bot/ would shadow ours)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", command, "--now", now],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    """Its exit code, stdout and stderr; a process still running after `timeout` is killed and fails the test."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{' '.join(proc.args[2:4])} did not finish within {timeout}s:\n{err}") from None
    return proc.returncode, out, err


def keep_reading(proc: subprocess.Popen, log: list[str]) -> threading.Thread:
    """Drain the process's stderr into `log` on a thread: at DEBUG a full pipe would block the server mid-request."""
    thread = threading.Thread(target=lambda: log.extend(proc.stderr), name="stderr-reader", daemon=True)
    thread.start()
    return thread


_HOLD_WRITE_LOCK = """
import select, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
told, _, _ = select.select([sys.stdin], [], [], float(sys.argv[2]))
db.execute("ROLLBACK")
print("released when told" if told else "released at the latest", flush=True)
"""


class WriteLockHolder:
    """Another process holding SQLite's write lock (BEGIN IMMEDIATE) on a database until `release()`, or until
    `at_most` seconds have passed, whichever comes first."""

    def __init__(self, db_path: Path, at_most: float):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD_WRITE_LOCK, str(db_path), str(at_most)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "locked"
        self.released: str | None = None

    def release(self) -> str:
        """Let go (if it hasn't already, at `at_most`); says which: "released when told" or "released at the latest"."""
        if self.released is None:
            self.proc.stdin.close()
            self.released = self.proc.stdout.readline().strip()
            self.proc.stdout.close()
            self.proc.wait(timeout=30)
        return self.released

    def __enter__(self) -> WriteLockHolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
