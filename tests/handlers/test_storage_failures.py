"""Every click answers a database it cannot use: busy behind another process's write lock, or its file removed.

The rep hears privately, at once, that nothing was saved and to click again; nothing in the database changes, no
message is redrawn or posted, no form opens, and the log has one line per click, never a traceback."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime

import pytest
import sqlite_utils

from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests.capturing import store_deal
from tests.conftest import CHANNEL, OTHER_REP, REP, TEAM
from tests.processes import WriteLockHolder
from tests.slackapp import body_json

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = "2027-06-01"


@pytest.fixture
def deal(coach, clock):
    """Acme Rockets, a verbal yes, announced; only two steps are posted: "congratulate" (Done needs no outcome)
    and "win-analysis" (Done asks for the buyer's reason in a form)."""
    clock.now = MONDAY_10
    deal = store_deal(
        coach, "Acme Rockets $120k verbal", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="k"
    )
    coach.announce(deal.id)
    with coach.store.write() as db:
        db.execute("UPDATE nudges SET due_date = ? WHERE deal_id = ?", [LATER, deal.id])
        db.execute("UPDATE nudges SET due_date = ? WHERE step_id IN ('congratulate', 'win-analysis')", ["2026-11-23"])
    client = posting_client(coach.settings)
    assert dispatch_nudges(coach, client, MONDAY_10, Pacer(sleep=lambda _: None)).posted
    with sqlite_utils.Database(coach.settings.db_path) as db:
        steps = {n["step_id"]: n["id"] for n in db["nudges"].rows_where("deal_id = ?", [deal.id])}
    return {"deal": deal.id, "done": steps["congratulate"], "done with outcome": steps["win-analysis"]}


def snapshot(settings) -> dict[str, list[dict]]:
    with sqlite_utils.Database(settings.db_path) as db:
        return {t: list(db[t].rows) for t in db.table_names()}


def held_capture(slack) -> dict[str, str]:
    """Retype the deal: Deal Coach holds it and asks; the answer buttons' values."""
    question = body_json(slack.command("ACME rockets 120,000"))
    return {e["action_id"]: e.get("value") for b in question["blocks"] if b["type"] == "actions" for e in b["elements"]}


def mark_signed(slack, fake, ids):
    return slack.click("deal_mark_signed", str(ids["deal"]))


def delete(slack, fake, ids):
    return slack.click("deal_delete", str(ids["deal"]))


def done(slack, fake, ids):
    return slack.click("nudge_done", str(ids["done"]))


def snooze(slack, fake, ids):
    nudge = ids["done"]
    option = {"text": {"type": "plain_text", "text": "Snooze"}, "value": f"{nudge}:1"}
    return slack.pick("nudge_snooze", f"nudge_{nudge}", {"type": "static_select", "selected_option": option})


def reassign(slack, fake, ids):
    nudge = ids["done"]
    return slack.pick("nudge_reassign", f"nudge_{nudge}", {"type": "users_select", "selected_user": OTHER_REP})


def add_details(slack, fake, ids):
    return slack.click("open_deal_details", str(ids["deal"]))


def mark_live(slack, fake, ids):
    return slack.click("deal_mark_live", str(ids["deal"]))


def cancel(slack, fake, ids):
    return slack.click("deal_cancel", str(ids["deal"]))


def skip(slack, fake, ids):
    return slack.click("nudge_skip", str(ids["done"]))


def done_with_outcome(slack, fake, ids):
    return slack.click("nudge_done", str(ids["done with outcome"]))


WRITES = [mark_signed, delete, done, snooze, reassign]
READS = [add_details, mark_live, cancel, skip, done_with_outcome]


def private_answer(fake) -> str:
    [answer] = fake.calls_to("response_url")
    assert answer.params["response_type"] == "ephemeral" and answer.params["replace_original"] is False
    return answer.params["text"]


def assert_answered_and_nothing_changed(response, fake, before, after, caplog, *, retry: bool = True):
    assert response.status == 200 and response.body == ""  # Slack has its ack at once
    text = private_answer(fake)
    assert "Nothing was saved" in text
    if retry:  # busy: it frees up
        assert "Click the button again in a moment" in text
    else:  # a removed file: nothing works until an admin restarts the bot, so "in a moment" would be untrue
        assert "again in a moment" not in text and "once that is fixed" in text
    assert before == after
    sent = {c.method for c in fake.calls} - {"response_url", "auth.test"}  # auth.test: Bolt's authorize
    assert sent == set(), sent  # nothing redrawn, posted or opened
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("handlers")]
    assert len(lines) == 1 and lines[0].exc_info is None and "Could not finish" in lines[0].getMessage()
    return text


@pytest.mark.parametrize("click", WRITES + READS, ids=lambda f: f.__name__)
def test_a_click_behind_another_process_write_lock_answers_busy_and_changes_nothing(
    click, deal, slack, fake, settings, coach, caplog
):
    coach.settings = dataclasses.replace(settings, request_db_wait_ms=20)
    before = snapshot(settings)
    fake.reset()
    caplog.clear()
    with WriteLockHolder(settings.db_path, at_most=60) as other_process:
        response = click(slack, fake, deal)
        if click in READS:  # in WAL a reader never waits for a writer: the form opens as usual
            assert [c.method for c in fake.calls if c.method != "auth.test"] == ["views.open"]
            return
        assert other_process.release() == "released when told"
    text = assert_answered_and_nothing_changed(response, fake, before, snapshot(settings), caplog)
    assert "the database is busy" in text


@pytest.mark.parametrize("click", WRITES + READS, ids=lambda f: f.__name__)
def test_a_click_after_the_database_file_was_removed_answers_clearly_and_saves_nothing(
    click, deal, slack, fake, settings, coach, caplog
):
    before = snapshot(settings)
    moved = settings.db_path.with_name("moved-away.db")
    settings.db_path.rename(moved)  # removed under the running app (kept aside to compare)
    fake.reset()
    caplog.clear()
    response = click(slack, fake, deal)
    lines = [r for r in caplog.records if r.name == "bot.storage.store"]
    caplog.records[:] = [r for r in caplog.records if r.name != "bot.storage.store"]  # the store's one ERROR
    assert len(lines) == 1 and "removed or replaced" in lines[0].getMessage()
    settings.db_path.unlink(missing_ok=True)
    moved.rename(settings.db_path)
    text = assert_answered_and_nothing_changed(response, fake, before, snapshot(settings), caplog, retry=False)
    assert "the database file was removed or replaced (an admin has been told)" in text


@pytest.mark.parametrize("answer", ["capture_anyway", "capture_leave"])
def test_answering_a_held_capture_behind_a_write_lock_answers_busy_and_keeps_the_question(
    answer, deal, slack, fake, settings, coach, caplog
):
    values = held_capture(slack)
    coach.settings = dataclasses.replace(settings, request_db_wait_ms=20)
    before = snapshot(settings)
    fake.reset()
    caplog.clear()
    with WriteLockHolder(settings.db_path, at_most=60) as other_process:
        response = slack.click(answer, values[answer])
        assert other_process.release() == "released when told"
    text = assert_answered_and_nothing_changed(response, fake, before, snapshot(settings), caplog)
    assert "the database is busy" in text
    coach.settings = settings
    fake.reset()
    slack.click(answer, values[answer])  # the lock is gone: the same button works
    assert "Nothing was saved" not in fake.last("response_url").params["text"]
