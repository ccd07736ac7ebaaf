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
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEALCOACH_"))}
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


def keep_reading(proc: subprocess.Popen, log: list[str]) -> threading.Thread:
    """Drain the process's stderr into `log` on a thread: at DEBUG a full pipe would block the server mid-request."""
    thread = threading.Thread(target=lambda: log.extend(proc.stderr), name="stderr-reader", daemon=True)
    thread.start()
    return thread
