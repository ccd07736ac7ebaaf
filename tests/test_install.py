"""What a newcomer sees on the first install and the first start: nothing that reads as something broken."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import zipfile
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


def source_packages() -> set[str]:
    """Every package of the source tree that ships: each folder under bot/, handlers/, schedules/ with an __init__."""
    return {
        str(init.parent.relative_to(ROOT)).replace(os.sep, "/")
        for top in SHIPPED
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


SHIPPED = ("bot", "handlers", "schedules")
COPY_IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "*.db*", ".env")


def test_a_built_wheel_ships_every_package_and_the_playbook_and_nothing_of_the_tests(tmp_path):
    """A real wheel, built offline from a copy of the tree (pip as a user runs it): every package, the built-in
    playbook file, no tests/ or bench/. Installed apart from the repository, `dealcoach preview` runs from it."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORED)
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    result = subprocess.run(
        [*build, "-w", str(wheels), str(source)], env=cli_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [wheel] = wheels.glob("dealcoach-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    shipped = {name.rsplit("/", 1)[0] for name in names if name.endswith("/__init__.py")}
    assert shipped == source_packages()
    assert {"bot/deals", "bot/storage", "handlers/deals", "schedules"} <= shipped  # the tree really was read
    assert "bot/playbook/default_playbook.toml" in names
    assert [n for n in names if n.startswith(("tests/", "bench/")) or "/tests/" in n] == []

    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site)]
    result = subprocess.run([*install, str(wheel)], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    preview = "import bot, sys; from bot.__main__ import main; print(bot.__file__); sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", preview, "preview", "--closed", "2026-11-20"],
        cwd=outside,
        env=cli_env(PYTHONPATH=str(site)),  # the installed copy first, ahead of the editable one
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[0] == str(site / "bot" / "__init__.py")
    assert "(built-in default_playbook.toml): 15 steps" in result.stdout.splitlines()[1]  # read from the wheel
    assert "congratulate {account} on the decision" in result.stdout
