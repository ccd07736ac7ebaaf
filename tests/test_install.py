"""What a newcomer sees on the first install and the first start: nothing that reads as something broken."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import SECRET, TOKEN
from tests.processes import cli_env, free_port, start_serve

ROOT = Path(__file__).resolve().parent.parent


def test_the_editable_install_builds_without_a_setuptools_warning(tmp_path):
    """`pip install -e .` (what `make` runs) shows every warning setuptools raises while building, as
    BuildBackendWarning blocks; -W error turns each into a failure here, through the same build hook pip calls."""
    build = "import sys, setuptools.build_meta as backend; print(backend.build_editable(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", build, str(tmp_path)],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr and "deprecated" not in result.stderr.lower()
    assert result.stdout.splitlines()[-1].startswith("dealcoach-0.1.0")  # the wheel built


def test_the_first_start_logs_no_warning(tmp_path, fake):
    """A newcomer reads a WARNING on the first start as something broken; a fresh serve has nothing to warn about."""
    env = cli_env(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.base_url,
        PORT=str(free_port()),
        DEALCOACH_DB=str(tmp_path / "first.db"),
    )
    proc, log = start_serve(env, tmp_path)
    try:
        assert "started in HTTP mode" in log[-1]
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        proc.wait(timeout=30)
        proc.stderr.close()
    lines = log + rest.splitlines()
    assert [line for line in lines if " WARNING " in line or " ERROR " in line] == []
    assert proc.returncode == 0
