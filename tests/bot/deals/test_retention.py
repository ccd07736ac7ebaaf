"""Retention: finished deals lose their personal data after DEALCOACH_RETENTION_DAYS, one deal on request with
`dealcoach purge`; the numbers the digest and Home count stay the same. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest

from bot.deals import model as deals
from bot.deals import retention
from bot.nudges import ledger
from bot.stats import at_risk, rep_stats
from bot.storage import insert
from tests import engines
from tests.bot.dealdata import NOW, capture
from tests.processes import cli_env

pytestmark = pytest.mark.both_engines
PERSONAL = ("contact_name", "contact_title", "why_bought", "cancel_reason")


def finish_every_step(store, deal_id: int, *, at) -> None:
    """Done, with the buyer's words, or skipped with a note: the deal's journey is over at `at`."""
    with store.write() as db:
        for n, step in enumerate(deals.deal_nudges(db, deal_id)):
            if n % 2:
                ledger.mark_skipped(db, step.id, actor="U0REP", now=at, reason="Jane was on holiday")
            else:
                outcome = {"kind": "testimonial", "result": "received", "detail": "Jane Doe: best vendor ever"}
                ledger.mark_done(db, step.id, actor="U0REP", now=at, outcome=outcome)


def deal_row(settings, deal_id: int) -> dict:
    [row] = engines.rows(settings, "SELECT * FROM deals WHERE id = ?", [deal_id])
    return row


def counts(store) -> tuple:
    today = (NOW + timedelta(days=400)).date()
    with store.session() as db:
        return (
            rep_stats(db, team_id="T0TEAM", today=today, now=NOW + timedelta(days=400)),
            at_risk(db, team_id="T0TEAM", now=NOW, today=today, large_deal=Decimal(1), quiet_days=14).items,
        )


def test_only_deals_finished_longer_ago_than_the_retention_lose_their_personal_data(store, settings):
    old_done, _ = capture(store)
    finish_every_step(store, old_done, at=NOW + timedelta(days=5))
    old_cancelled, _ = capture(store)
    with store.write() as db:
        deals.cancel_deal(db, old_cancelled, actor="U0MGR", reason="Jane Doe's budget was cut", now=NOW)
    recent_done, _ = capture(store)
    finish_every_step(store, recent_done, at=NOW + timedelta(days=300))
    still_open, _ = capture(store)  # steps still to do: not finished, however old
    before = counts(store)

    erased = retention.erase_finished(store, now=NOW + timedelta(days=365), days=180)

    assert erased == [old_done, old_cancelled]
    for deal_id in (old_done, old_cancelled):
        row = deal_row(settings, deal_id)
        assert [row[c] for c in PERSONAL] == [None] * 4 and row["erased_at"]
        assert (row["account"], row["amount"], row["status"]) == ("Acme Rockets", "120000.50", row["status"])
    for deal_id in (recent_done, still_open):
        row = deal_row(settings, deal_id)
        assert (row["contact_name"], row["why_bought"], row["erased_at"]) == ("Jane Doe", "Faster launches", None)
    steps = engines.rows(settings, "SELECT status, note, outcome FROM nudges WHERE deal_id = ?", [old_done])
    assert {s["note"] for s in steps} == {None}
    assert [json.loads(s["outcome"]) for s in steps if s["outcome"]] == [
        {"kind": "testimonial", "result": "received"}
    ] * len([s for s in steps if s["status"] == "done"])
    recent = engines.rows(settings, "SELECT note FROM nudges WHERE deal_id = ? AND note IS NOT NULL", [recent_done])
    assert recent and recent[0]["note"] == "Jane was on holiday"
    assert counts(store) == before  # the reports count the same
    assert retention.erase_finished(store, now=NOW + timedelta(days=366), days=180) == []  # each deal once


def test_purge_erases_one_deal_on_request_and_says_so(store, settings, tmp_path):
    deal_id, _ = capture(store)
    kept, _ = capture(store)
    env = cli_env(**engines.database_env(settings))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "purge", "--deal", str(deal_id)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Erased the personal data of deal #{deal_id} (Acme Rockets): the contact's name")
    assert "Messages already posted in Slack are unchanged" in done.stdout
    assert [deal_row(settings, deal_id)[c] for c in PERSONAL] == [None] * 4
    assert deal_row(settings, kept)["contact_name"] == "Jane Doe"
    missing = subprocess.run(
        [sys.executable, "-m", "bot", "purge", "--deal", "999"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1 and "No deal #999" in missing.stderr and "nothing was erased" in missing.stderr


def test_the_retention_setting_is_whole_days_and_unset_keeps_everything(tmp_path):
    from bot.settings import Settings, SettingsError

    base = {"DEALCOACH_DB": str(tmp_path / "d.db")}
    assert Settings.from_env(base, require_slack=False).retention_days is None
    assert Settings.from_env({**base, "DEALCOACH_RETENTION_DAYS": "365"}, require_slack=False).retention_days == 365
    with pytest.raises(SettingsError, match="DEALCOACH_RETENTION_DAYS must be a whole number of days"):
        Settings.from_env({**base, "DEALCOACH_RETENTION_DAYS": "a year"}, require_slack=False)


def test_every_instance_runs_the_retention_job_hourly_only_when_retention_is_set(coach, settings):
    from schedules import RETENTION_JOB, build_scheduler
    from schedules.jobs import erase_finished_deals

    assert RETENTION_JOB not in {job.id for job in build_scheduler(coach, None).get_jobs()}
    assert erase_finished_deals(coach, None, NOW) == []
    coach.settings = dataclasses.replace(settings, retention_days=30)
    [job] = [job for job in build_scheduler(coach, None).get_jobs() if job.id == RETENTION_JOB]
    assert job.trigger.interval == timedelta(hours=1) and job.max_instances == 1
    deal_id, _ = capture(coach.store)
    with coach.store.write() as db:
        deals.cancel_deal(db, deal_id, actor="U0MGR", reason="Jane Doe left", now=NOW)
    assert erase_finished_deals(coach, None, NOW + timedelta(days=29)) == []
    assert erase_finished_deals(coach, None, NOW + timedelta(days=31)) == [deal_id]


def test_erasing_a_deal_erases_what_the_buyer_said_in_its_signals_and_the_crms_copy_of_it(store, settings):
    erased, _ = capture(store)
    kept, _ = capture(store)
    with store.write() as db:
        for deal_id in (erased, kept):
            insert(db, "signals", {
                "team_id": "T0TEAM", "deal_id": deal_id, "kind": "concern", "concern": "budget",
                "note": "Jane Doe says her CFO wants to cancel", "happened_on": "2026-01-03", "by_user": "U0REP",
                "created_at": "2026-01-03T10:00:00Z",
            })  # fmt: skip
            insert(db, "crm_deals", {
                "crm": "hubspot", "crm_account": "42", "crm_deal_id": f"d{deal_id}", "deal_id": deal_id, "won": 1,
                "linked": 0, "created_at": "2026-01-02T09:00:00Z", "updated_at": "2026-01-02T09:00:00Z",
            })  # fmt: skip
            for key, status in (("won", "done"), ("later", "pending")):
                insert(db, "crm_inbox", {
                    "crm": "hubspot", "event_key": f"{key}-{deal_id}", "crm_account": "42",
                    "crm_deal_id": f"d{deal_id}", "payload": '{"contact": "Jane Doe"}', "status": status,
                    "next_at": "2026-01-02T09:00:00Z", "received_at": "2026-01-02T09:00:00Z",
                })  # fmt: skip
        assert retention.erase(db, erased, now=NOW)

    notes = engines.rows(settings, "SELECT deal_id, note FROM signals ORDER BY deal_id")
    assert [(s["deal_id"], s["note"]) for s in notes] == [
        (erased, None),
        (kept, "Jane Doe says her CFO wants to cancel"),
    ]
    events = engines.rows(settings, "SELECT crm_deal_id, status, payload FROM crm_inbox ORDER BY id")
    assert [(e["crm_deal_id"], e["status"], e["payload"]) for e in events] == [
        (f"d{erased}", "done", "{}"),  # settled into the erased deal: the CRM's copy goes
        (f"d{erased}", "pending", '{"contact": "Jane Doe"}'),  # not worked on yet: still needed to do it
        (f"d{kept}", "done", '{"contact": "Jane Doe"}'),
        (f"d{kept}", "pending", '{"contact": "Jane Doe"}'),
    ]
