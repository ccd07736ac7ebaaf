"""Deals from a CRM through the real processes: `dealcoach serve` answering Salesforce, `dealcoach tick` draining
the inbox, `dealcoach crm status` and `crm backfill` telling the admin what happened."""

from __future__ import annotations

import signal

import sqlite_utils

from tests import soap
from tests.conftest import SECRET, TOKEN
from tests.processes import cli_env, free_port, start_serve
from tests.test_cli import run_cli

JANE = "jane@acme-sales.example.com"


def crm_env(tmp_path, fake, **extra) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.base_url,
        "DEALCOACH_DB": str(tmp_path / "deals.db"),
        "DEALCOACH_CRM_CHANNEL": "C0CRMWINS",
        "SALESFORCE_WEBHOOK_TOKEN": soap.TOKEN,
        "SALESFORCE_ORG_ID": soap.ORG,
        **extra,
    }


def test_serve_answers_salesforce_and_tick_turns_the_message_into_one_announced_deal(tmp_path, fake):
    fake.emails[JANE] = "U0REP"
    port = free_port()
    proc, log = start_serve(cli_env(**crm_env(tmp_path, fake, PORT=str(port))), tmp_path)
    try:
        assert "POST /crm/salesforce" in log[-1] and soap.TOKEN not in "".join(log)
        base = f"http://127.0.0.1:{port}"
        message = soap.message(("04l5g0000001AAA", soap.Opportunity()))
        assert soap.post(base, message)[0] == 200
        assert soap.post(base, message)[0] == 200  # Salesforce's retry: stored once
        assert soap.post(base, message, token="x" * 32)[0] == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == 0 and "Traceback" not in rest and soap.TOKEN not in rest

    status = run_cli("crm", "status", env=crm_env(tmp_path, fake), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "salesforce: on" in status.stdout and "(1 waiting)" in status.stdout
    assert "last deal created:   none yet" in status.stdout

    for _ in range(2):
        result = run_cli("tick", env=crm_env(tmp_path, fake), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    [post] = fake.posts_of("dealcoach_deal")
    assert post.params["channel"] == "C0CRMWINS" and "<@U0REP>" in post.params["text"]
    with sqlite_utils.Database(tmp_path / "deals.db") as db:
        assert [d["account"] for d in db["deals"].rows] == ["Acme Rockets"]

    status = run_cli("crm", "status", env=crm_env(tmp_path, fake), cwd=tmp_path)
    assert "(deal #1)" in status.stdout and "last error:          none" in status.stdout

    backfill = run_cli("crm", "backfill", "--since", "2026-11-01", env=crm_env(tmp_path, fake), cwd=tmp_path)
    assert backfill.returncode == 0, backfill.stderr
    assert "salesforce: nothing to read back" in backfill.stdout and "Outbound Messages" in backfill.stdout


def test_crm_settings_problems_stop_serve_with_what_to_set(tmp_path, fake):
    env = crm_env(tmp_path, fake, DEALCOACH_CRM_CHANNEL="", SALESFORCE_ORG_ID="not-an-org")
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "DEALCOACH_CRM_CHANNEL is not set" in result.stderr
    assert "SALESFORCE_ORG_ID must be your Salesforce organization id" in result.stderr
    assert soap.TOKEN not in result.stderr
