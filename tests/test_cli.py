"""The `dealcoach` command: preview, clear configuration errors, and `serve` as a real process."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from bot.__main__ import main
from tests import signing
from tests.capturing import store_deal
from tests.conftest import SECRET, TOKEN
from tests.processes import cli_env, free_port, start_serve

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python -m bot` in a clean environment (no SLACK_* from the developer's shell, no stray .env)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=cli_env(**(env or {})),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_preview_prints_the_dated_timeline(capsys):
    code = main(["preview", "--amount", "120000", "--persona", "economic", "--closed", "2026-11-20"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert "Deal Coach default" in lines[0] and "120,000" in lines[0] and "economic buyer" in lines[0]
    assert "Go-live unknown" in out
    header = next(i for i, line in enumerate(lines) if line.split()[:4] == ["day", "date", "stage", "action"])
    rows = [line.split(maxsplit=4) for line in lines[header + 1 :]]
    assert rows[0][:4] == ["0", "Fri", "2026-11-20", "Affirm"]
    assert "standard tier" in lines[0]
    thank_you = next(r for r in rows if "handwritten" in r[4])
    assert thank_you[:3] == ["5", "Wed", "2026-11-25"]  # three business days after a Friday close
    kickoff = next(r for r in rows if r[4].startswith("Run the kickoff"))
    assert kickoff[4].endswith("(buyer) *")  # the economic buyer's own draft
    assert next(r for r in rows if r[4].startswith("Hand {account} over"))[4].endswith("(team)")
    activation = next(r for r in rows if "go-live" in r[4])
    assert activation[:4] == ["30", "Sun", "2026-12-20", "Activate"]


def test_preview_with_a_go_live_date_moves_the_go_live_steps(capsys):
    assert main(["preview", "--closed", "2026-11-20", "--go-live", "2027-01-15"]) == 0
    out = capsys.readouterr().out
    assert "Go-live unknown" not in out
    assert "  56  Fri 2027-01-15  Activate" in out
    # the playbook keeps the rules with go-live where it assumes it; this deal's later go-live leaves a gap
    assert "This deal: no buyer touch from day 21 to day 56 (35 days)." in out
    assert main(["preview", "--closed", "2026-11-20", "--go-live", "2026-12-21"]) == 0
    assert "This deal:" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amount", "lots"], "couldn't find the amount"),
        (["--amount", "-5"], "is negative"),
        (["--closed", "2026-11-20", "--go-live", "2026-11-01"], "before the close date"),
        (["--persona", "wizard"], "not a persona"),
        (["--closed", "yesterday"], "YYYY-MM-DD"),
    ],
)
def test_preview_rejects_bad_arguments_with_a_hint(args, message, capsys):
    try:
        code = main(["preview", *args])
    except SystemExit as exit_info:  # argparse's own errors
        code = exit_info.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_preview_reads_amounts_as_reps_write_them(capsys):
    assert main(["preview", "--amount", "1.2M", "--closed", "2026-11-20"]) == 0
    assert "1,200,000" in capsys.readouterr().out


def test_preview_shows_the_plans_by_tier_and_by_buyer_side_by_side_and_checks_the_pacing(capsys):
    assert main(["preview"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    by_tier = lines.index("By tier, for the same buyer:")
    assert lines[by_tier + 1].split() == ["step", "touch", "light", "standard", "enterprise"]
    by_buyer = lines.index("By buyer, in the standard tier (* = a draft written for that buyer):")
    rows = {line.split()[0]: line.split()[1:] for line in lines[by_tier + 2 : by_buyer] if line.strip()}
    assert rows["thank-you-note"] == ["buyer", "·", "3", "·"]
    assert rows["team-gift"] == ["buyer", "·", "·", "5"]
    assert rows["personal-video"] == ["buyer", "3", "·", "·"]
    assert lines[by_buyer + 1].split() == ["step", "touch", "economic", "technical", "champion", "other"]
    kickoff = next(line for line in lines[by_buyer:] if line.startswith("kickoff "))
    assert kickoff.split() == ["kickoff", "buyer", "7*", "7*", "7*", "7"]
    assert "Pacing: every tier and buyer keeps the rules" in out


def test_preview_lists_each_pacing_breach_and_exits_1(tmp_path):
    crowded = tmp_path / "playbook.toml"
    steps = "".join(
        f'[[steps]]\nid = "s{d}"\nstage = "affirm"\ndays = {d}\nbuyer = true\ntitle = "Touch {d}"\n\n'
        for d in (0, 1, 2, 3, 38)
    )
    crowded.write_text('[playbook]\nname = "Crowded"\n\n' + steps)
    result = run_cli("preview", env={"DEALCOACH_PLAYBOOK": str(crowded)}, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Pacing: 8 breaches" in result.stdout
    assert (
        "  - standard tier (a deal of 0), champion buyer, closed on a Monday: 4 buyer touches within 7 days "
        "(days 0, 1, 2, 3); at most 3 in any 7 days" in result.stdout
    )
    assert "no buyer touch from day 3 to day 38 (35 days)" in result.stdout
    result = run_cli("preview", "--amount", "5000", env={"DEALCOACH_PLAYBOOK": str(crowded)}, cwd=tmp_path)
    assert result.returncode == 1 and "Pacing: 8 breaches" in result.stdout


def test_preview_reads_an_amount_without_currency_in_dealcoach_currency_and_tiers_it_there(tmp_path):
    rates = tmp_path / "playbook.toml"
    shipped = (ROOT / "bot" / "playbook" / "default_playbook.toml").read_text(encoding="utf-8")
    rates.write_text(shipped.replace("# [rates]\n# EUR = 1.08", "[rates]\nUSD = 0.5"), encoding="utf-8")
    env = {"DEALCOACH_CURRENCY": "EUR", "DEALCOACH_PLAYBOOK": str(rates)}
    result = run_cli("preview", "--amount", "30000", "--closed", "2026-11-20", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "for a deal of €30,000, standard tier" in result.stdout.splitlines()[0]
    result = run_cli("preview", "--amount", "$30000", "--closed", "2026-11-20", env=env, cwd=tmp_path)
    assert "for a deal of $30,000, light tier" in result.stdout.splitlines()[0]  # 15,000 EUR at the playbook's rate


def test_preview_refuses_a_broken_playbook(tmp_path):
    bad = tmp_path / "playbook.toml"
    bad.write_text(
        '[[steps]]\nid = "a"\nstage = "affirm"\ndays = 0\ntitle = "ok"\n\n[[steps]]\nid = "b"\nstage = "later"\n'
    )
    result = run_cli("preview", env={"DEALCOACH_PLAYBOOK": str(bad)}, cwd=tmp_path)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "line 7" in result.stderr and "'b'" in result.stderr
    assert "stage" in result.stderr and "Traceback" not in result.stderr


def test_serve_without_credentials_says_what_to_set_and_exits_2(tmp_path):
    result = run_cli("serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr
    assert "api.slack.com/apps" in result.stderr and ".env" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reports_every_bad_setting_at_once(tmp_path):
    env = {
        "SLACK_BOT_TOKEN": "xoxp-user-token",
        "SLACK_SIGNING_SECRET": "s",
        "PORT": "99999",
        "DEALCOACH_TIMEZONE": "Mars/Olympus",
        "DEALCOACH_MANAGERS": "@jane",
    }
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "PORT", "DEALCOACH_TIMEZONE", "DEALCOACH_MANAGERS"):
        assert name in result.stderr
    assert "4 settings" in result.stderr
    assert "xoxp-user-token" not in result.stderr


def test_serve_reads_a_dotenv_file_in_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nPORT=not-a-port\n")
    result = run_cli("serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" not in result.stderr  # found in .env
    assert "PORT must be a number" in result.stderr


def test_serve_with_a_rejected_token_exits_2_with_a_hint(tmp_path, fake):
    fake.fail("auth.test", error="invalid_auth")
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        "DEALCOACH_DB": str(tmp_path / "d.db"),
    }
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid_auth" in result.stderr and "OAuth & Permissions" in result.stderr
    assert TOKEN not in result.stderr


def test_serve_runs_the_bot_over_http_and_stops_cleanly_on_sigterm(tmp_path, fake):
    port = free_port()
    db_path = tmp_path / "deals.db"
    env = cli_env(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.base_url,
        PORT=str(port),
        DEALCOACH_DB=str(db_path),
    )
    proc, log = start_serve(env, tmp_path)
    try:
        start = log[-1]
        assert "HTTP mode" in start and f"port {port}" in start and str(db_path) in start
        assert TOKEN not in "".join(log) and SECRET not in "".join(log)

        body = signing.command_body(text="Acme Rockets $120k", response_url=fake.response_url())
        status, _, _ = signing.post(f"http://127.0.0.1:{port}/slack/events", body, SECRET, content_type=signing.FORM)
        assert status == 200
        [post] = fake.wait_for("chat.postMessage")
        assert "Acme Rockets" in post.params["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == 0
    assert "shutting down" in rest and "Deal Coach stopped" in rest
    assert "Traceback" not in rest
    with sqlite_utils.Database(db_path) as db:
        assert [d["account"] for d in db["deals"].rows] == ["Acme Rockets"]
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_console_script_matches_python_dash_m():
    script = Path(sys.executable).with_name("dealcoach")  # installed by `pip install -e .`, as `make test` does
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "dealcoach 0.1.0"


@pytest.mark.parametrize("command", ["serve", "tick"])
def test_serve_and_tick_refuse_a_broken_playbook(command, tmp_path, fake):
    bad = tmp_path / "playbook.toml"
    bad.write_text('[[steps]]\nid = "note"\nstage = "affirm"\ndays = -2\ntitle = "Write to {contact}"\n')
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        "DEALCOACH_DB": str(tmp_path / "d.db"),
        "DEALCOACH_PLAYBOOK": str(bad),
    }
    result = run_cli(command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}, line 1, step 1 ('note'): 'days' must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr
    assert fake.calls_to("chat.postMessage") == []


def test_tick_posts_what_is_due_at_the_given_instant_and_says_so(tmp_path, fake):
    from bot.coach import Coach
    from bot.playbook.loader import load
    from bot.settings import Settings
    from bot.storage import Store

    settings = Settings(
        slack_bot_token=TOKEN, slack_api_url=fake.base_url, db_path=tmp_path / "d.db", timezone="Europe/Berlin"
    )
    store = Store(settings.db_path)
    store.migrate()
    coach = Coach(settings, store, load(), lambda: datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    deal = store_deal(coach, "Acme $5k", team_id="T0FAKE", channel_id="C0TEAM", user_id="U0REP", capture_key="k")
    coach.announce(deal.id)  # as /closed-deal does: the deal's nudges follow its announcement
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        "DEALCOACH_DB": str(settings.db_path),
        "DEALCOACH_TIMEZONE": "Europe/Berlin",
    }
    early = run_cli("tick", "--now", "2026-11-23T08:30:00", env=env, cwd=tmp_path)  # no offset: Berlin time
    assert early.returncode == 0, early.stderr
    assert "Mon 2026-11-23 08:30 CET: business hours closed" in early.stdout
    assert fake.posts_of("dealcoach_nudge") == []
    result = run_cli("tick", "--now", "2026-11-23T09:30:00+01:00", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "business hours open; posted 1 (0 late)" in result.stdout
    assert "Acme" in fake.last("chat.postMessage").params["text"]
    again = run_cli("tick", "--now", "2026-11-23T09:31:00+01:00", env=env, cwd=tmp_path)
    assert "posted 0" in again.stdout and len(fake.posts_of("dealcoach_nudge")) == 1


@pytest.mark.parametrize("command", ["tick", "digest"])
def test_tick_and_digest_say_when_slack_rejects_the_token(command, tmp_path, fake):
    fake.fail("auth.test", error="invalid_auth")
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        "DEALCOACH_DB": str(tmp_path / "d.db"),
        "DEALCOACH_MANAGERS": "U0MGR",
    }
    result = run_cli(command, "--now", "2026-11-23T09:30:00+01:00", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_log_level_is_reported_with_the_other_settings(tmp_path):
    result = run_cli("serve", env={"LOG_LEVEL": "verbose", "PORT": "abc"}, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "LOG_LEVEL must be" in result.stderr and "PORT must be" in result.stderr


def test_tick_rejects_a_bad_now(tmp_path):
    result = run_cli("tick", "--now", "tomorrow", cwd=tmp_path)
    assert result.returncode == 2 and "ISO-8601" in result.stderr


@pytest.mark.parametrize("command", ["tick", "digest"])
def test_tick_and_digest_run_from_cron_without_the_signing_secret(command, tmp_path, fake):
    """Neither takes Slack's requests, so the README's cron set-up (a bot token only) must be enough."""
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": fake.base_url,
        "DEALCOACH_DB": str(tmp_path / "d.db"),
        "DEALCOACH_MANAGERS": "U0MGR",
    }
    result = run_cli(command, "--now", "2026-11-23T09:30:00+01:00", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SLACK_SIGNING_SECRET" not in result.stderr and "Traceback" not in result.stderr
    assert "Mon 2026-11-23" in result.stdout
    served = run_cli("serve", env=env, cwd=tmp_path)  # serve does take requests: it still asks for the secret
    assert served.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in served.stderr


def test_tick_without_any_token_still_says_which_to_set(tmp_path):
    result = run_cli("tick", env={"DEALCOACH_DB": str(tmp_path / "d.db")}, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr and "SLACK_SIGNING_SECRET" not in result.stderr


def test_socket_mode_with_a_rejected_app_token_exits_2_with_one_clear_message(tmp_path, fake):
    """Checked at start-up like the bot token, against SLACK_API_URL: never "started", then a traceback."""
    fake.fail("apps.connections.open", error="invalid_auth")
    app_token = "xapp-1-A0FAKE-123-secretvalue"
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_APP_TOKEN": app_token,
        "SLACK_API_URL": fake.base_url,
        "DEALCOACH_DB": str(tmp_path / "d.db"),
    }
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "Slack rejected SLACK_APP_TOKEN (invalid_auth)" in result.stderr
    assert "Socket Mode" in result.stderr and "connections:write" in result.stderr
    assert "Traceback" not in result.stderr and "started" not in result.stderr
    assert app_token not in result.stderr and TOKEN not in result.stderr
    [check] = fake.calls_to("apps.connections.open")
    assert check.token == app_token  # the app token was the one asked about
