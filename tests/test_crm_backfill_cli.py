"""HubSpot and Pipedrive through the real processes: `dealcoach serve` taking their webhooks, `dealcoach tick`
draining the inbox, and `dealcoach crm backfill --since` reading the won deals back from the loopback fakes of their
APIs and creating only the missing ones, under the webhook's own key (so nothing doubles, however often it runs)."""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import sqlite_utils

from tests.conftest import SECRET, TOKEN
from tests.fakecrm import FakeHubSpot, FakePipedrive, basic_auth, hubspot_event, hubspot_signature, pipedrive_change
from tests.processes import cli_env, free_port, start_serve
from tests.test_cli import run_cli

PUBLIC = "https://dealcoach.example.com"
HS_SECRET = "hs-client-secret-cli-7d1e0b"
PD_USER, PD_PASSWORD = "pipedrive-hook", "pd-webhook-password-cli-4Jq9"
RILEY, PAT = "riley@acme-sales.example.com", "pat@globex-sales.example.com"


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as resp:
        return resp.status


def test_backfill_creates_only_the_hubspot_and_pipedrive_deals_the_webhooks_missed(tmp_path, fake):
    fake.emails[RILEY] = "U0REP"
    fake.emails[PAT] = "U0OTHER"
    with FakeHubSpot() as hubspot, FakePipedrive() as pipedrive:
        hubspot.page_max = pipedrive.page_max = 1  # backfill pages through the results
        hubspot.add_owner("501", RILEY)
        hubspot.add_deal("100", name="Acme Rockets", owner_id="501", closedate="2026-11-10T15:00:00Z")
        hubspot.add_deal("101", name="Initech", owner_id="501", closedate="2026-11-20T15:00:00Z")
        hubspot.add_deal("102", name="Won last month", owner_id="501", closedate="2026-10-01T15:00:00Z")
        hubspot.add_deal("103", name="Still open", owner_id="501", won=False)
        pipedrive.add_user(77, PAT)
        won = pipedrive.add_deal(1, title="Globex renewal", owner_id=77, won_time="2026-11-10T10:00:00Z")
        pipedrive.add_deal(2, title="Umbrella", owner_id=77, won_time="2026-11-15T10:00:00Z")
        pipedrive.add_deal(3, title="Lost one", owner_id=77, status="lost", won_time=None)
        pipedrive.add_deal(  # won before --since, touched since: read, and left alone
            4, title="Old win", owner_id=77, won_time="2026-10-15T10:00:00Z", update_time="2026-11-05T10:00:00Z"
        )
        env = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.base_url,
            "DEALCOACH_DB": str(tmp_path / "deals.db"),
            "DEALCOACH_CRM_CHANNEL": "C0CRMWINS",
            "DEALCOACH_PUBLIC_URL": PUBLIC,
            "HUBSPOT_CLIENT_SECRET": HS_SECRET,
            "HUBSPOT_ACCESS_TOKEN": hubspot.token,
            "HUBSPOT_API_URL": hubspot.base_url,
            "PIPEDRIVE_WEBHOOK_USER": PD_USER,
            "PIPEDRIVE_WEBHOOK_PASSWORD": PD_PASSWORD,
            "PIPEDRIVE_API_URL": pipedrive.base_url,
            "PIPEDRIVE_API_TOKEN": pipedrive.token,
        }

        # the webhooks for deal 100 and deal 1 arrive while `serve` runs; 101 and 2 were lost
        port = free_port()
        proc, log = start_serve(cli_env(**env, PORT=str(port)), tmp_path)
        try:
            assert "POST /crm/hubspot" in log[-1] and "POST /crm/pipedrive" in log[-1]
            base = f"http://127.0.0.1:{port}"
            body = json.dumps([hubspot_event(100, occurred_at=int(time.time() * 1000) - 60_000)]).encode()
            at_ms = int(time.time() * 1000)  # the serve process checks it against its own clock
            signed = {
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": hubspot_signature(HS_SECRET, "POST", PUBLIC + "/crm/hubspot", body, at_ms),
                "X-HubSpot-Request-Timestamp": str(at_ms),
            }
            assert _post(base + "/crm/hubspot", body, signed) == 200
            change = json.dumps(pipedrive_change(won, {"status": "open"})).encode()
            auth = {"Content-Type": "application/json", "Authorization": basic_auth(PD_USER, PD_PASSWORD)}
            assert _post(base + "/crm/pipedrive", change, auth) == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            rest = proc.stderr.read()
            proc.wait(timeout=30)
            proc.stderr.close()
        assert proc.returncode == 0 and "Traceback" not in rest
        assert HS_SECRET not in rest and PD_PASSWORD not in rest and hubspot.token not in rest

        tick = run_cli("tick", env=env, cwd=tmp_path)
        assert tick.returncode == 0, tick.stderr
        texts = [p.params["text"] for p in fake.posts_of("dealcoach_deal")]
        assert len(texts) == 2 and any("Acme Rockets" in t for t in texts) and any("Globex renewal" in t for t in texts)

        backfill = run_cli("crm", "backfill", "--since", "2026-11-01", env=env, cwd=tmp_path)
        assert backfill.returncode == 0, backfill.stderr
        assert "hubspot: since 2026-11-01: CRM deals: 1 created" in backfill.stdout
        assert "pipedrive: since 2026-11-01: CRM deals: 1 created" in backfill.stdout
        again = run_cli("crm", "backfill", "--since", "2026-11-01", env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert again.stdout.count("CRM deals: 0 created") == 2

        assert hubspot.violations == [] and pipedrive.violations == []
        assert HS_SECRET not in backfill.stderr + again.stderr and pipedrive.token not in backfill.stderr

    with sqlite_utils.Database(tmp_path / "deals.db") as db:
        keys = sorted((r["crm"], r["crm_account"], r["crm_deal_id"]) for r in db["crm_deals"].rows)
        accounts = sorted((d["account"], d["owner_id"], d["channel_id"]) for d in db["deals"].rows)
    assert keys == [("hubspot", "62515", "100"), ("hubspot", "62515", "101"), ("pipedrive", "7001", "1")] + [
        ("pipedrive", "7001", "2")
    ]
    assert accounts == [
        ("Acme Rockets", "U0REP", "C0CRMWINS"),
        ("Globex renewal", "U0OTHER", "C0CRMWINS"),
        ("Initech", "U0REP", "C0CRMWINS"),
        ("Umbrella", "U0OTHER", "C0CRMWINS"),
    ]
    assert len(fake.posts_of("dealcoach_deal")) == 4  # each announced once
