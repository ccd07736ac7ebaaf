"""Reps first: one private reminder at the start of the rep's business day (their Slack time zone) listing their
overdue steps with Done/Snooze/Skip and Re-plan, once a day through the posting protocol; only after it do the
steps slip in the managers' digest."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.nudges.dispatch import Pacer
from bot.nudges.reminders import EVENT_TYPE as REMINDER
from bot.nudges.reminders import slipping
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, OTHER_REP, REP, TEAM

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
TUESDAY_9 = datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
LATER = "2027-06-01"

pytestmark = pytest.mark.both_engines


@pytest.fixture
def tick(coach, clock, fake):
    client = posting_client(coach.settings)

    def run(now: datetime):
        clock.now = now
        fake.epoch = now.timestamp()
        return dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))

    return run


@pytest.fixture
def late_call(coach, clock, fake, tick):
    """Monday's congratulations call posted and left undone; every other step far off."""
    fake.users[REP] = {"tz": "Europe/Berlin"}
    clock.now = MONDAY_10
    deal = store_deal(
        coach, "Acme Rockets $20k contact: Jane Doe", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="k"
    )
    coach.announce(deal.id)
    with coach.store.write() as db:
        db.execute("UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id != 'congratulate'", [LATER, deal.id])
    assert len(tick(MONDAY_10).posted) == 1
    [row] = engines.rows(coach.settings, "SELECT id FROM nudges WHERE step_id = 'congratulate'")
    return row["id"]


def reminders(settings) -> list[dict]:
    return engines.rows(settings, "SELECT * FROM reminders ORDER BY id")


def step(settings, nudge_id: int) -> dict:
    [row] = engines.rows(settings, "SELECT * FROM nudges WHERE id = ?", [nudge_id])
    return row


def test_the_rep_is_reminded_once_at_the_start_of_their_day_before_the_step_slips_for_managers(
    coach, fake, settings, tick, late_call
):
    tick(TUESDAY_9 - timedelta(minutes=1))  # 08:59 in the rep's zone: not yet
    assert fake.posts_of(REMINDER) == []
    with coach.store.session() as db:
        assert slipping(db, team_id=TEAM, today=TUESDAY_9.date()) == {}  # late, but the rep hasn't heard yet

    tick(TUESDAY_9)
    [call] = fake.posts_of(REMINDER)
    assert call.params["channel"] == REP  # privately, in the rep's DM
    shown = json.dumps(call.params["blocks"], ensure_ascii=False)
    assert "Call Jane Doe to congratulate Acme Rockets" in shown and "was due Mon Nov 23" in shown
    assert "1 of your follow-ups is overdue.* Do it, snooze it or skip it here, or re-plan it." in shown
    assert '"text": "Re-plan it"' in shown
    ids = [e["action_id"] for b in call.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {"nudge_done", "nudge_snooze", "nudge_skip", "reminder_replan"} <= set(ids)
    [row] = reminders(settings)
    assert (row["status"], row["local_date"], row["ts"]) == ("sent", "2026-11-24", call.response["ts"])
    assert datetime.fromisoformat(row["sent_at"]) == TUESDAY_9  # when it went, for the digest
    with coach.store.session() as db:
        assert slipping(db, team_id=TEAM, today=TUESDAY_9.date()) == {REP: 1}

    tick(TUESDAY_9 + timedelta(minutes=5))
    tick(TUESDAY_9 + timedelta(hours=6))
    assert len(fake.posts_of(REMINDER)) == 1  # at most once a day
    tick(TUESDAY_9 + timedelta(days=1))
    assert len(fake.posts_of(REMINDER)) == 2  # the next morning, if it's still late
    assert fake.violations == []


def test_a_step_past_its_window_leaves_the_reminder_missed_not_owed_every_morning(
    coach, fake, settings, tick, late_call
):
    """The congratulations call has a 3-day window: the reminder lists it on the mornings after it falls due while
    it is still worth doing, then stops (it is missed, and counted once for managers), with no empty reminder."""
    for day in range(1, 4):  # Tue, Wed, Thu: 1 to 3 days late
        tick(TUESDAY_9 + timedelta(days=day - 1))
    assert [r["local_date"] for r in reminders(settings)] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    tick(TUESDAY_9 + timedelta(days=3))  # Friday: 4 days late, past its window
    assert len(fake.posts_of(REMINDER)) == 3
    assert [r["local_date"] for r in reminders(settings)] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert step(settings, late_call)["status"] == "posted"  # still in its thread and on Home with its buttons


def test_the_start_of_the_day_is_the_reps_own_from_their_slack_time_zone(coach, fake, settings, tick, late_call):
    fake.users[REP] = {"tz": "America/New_York"}
    with coach.store.write() as db:
        db.execute("DELETE FROM users")  # forget the cached zone: Slack says New York now
    looked_up = len(fake.calls_to("users.info"))
    tick(TUESDAY_9)  # 03:00 in New York
    assert fake.posts_of(REMINDER) == []
    tick(datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("America/New_York")))
    assert len(fake.posts_of(REMINDER)) == 1
    assert len(fake.calls_to("users.info")) == looked_up + 1  # then cached for a day


def test_a_reminder_whose_post_timed_out_is_found_in_the_dm_not_sent_twice(coach, fake, settings, tick, late_call):
    fake.fail("chat.postMessage", status=500, stored=True)
    tick(TUESDAY_9)
    assert reminders(settings)[0]["status"] == "unconfirmed"
    tick(TUESDAY_9 + timedelta(minutes=1))
    assert len(fake.posts_of(REMINDER)) == 1 and reminders(settings)[0]["status"] == "sent"
    held = [m for m in fake.messages.values() if (m.get("metadata") or {}).get("event_type") == REMINDER]
    assert len(held) == 1


def test_replan_moves_the_reps_open_steps_forward_and_only_the_rep_may(coach, fake, settings, tick, late_call, slack):
    tick(TUESDAY_9)
    [row] = reminders(settings)
    refused = slack.click("reminder_replan", str(row["id"]), user=OTHER_REP)
    assert refused.status == 200
    assert "Only the rep" in fake.last("response_url").params["text"]
    assert step(settings, late_call)["due_date"] == "2026-11-23"

    slack.click("reminder_replan", str(row["id"]), user=REP)
    replanned = step(settings, late_call)
    assert (replanned["status"], replanned["due_date"]) == ("planned", "2026-11-24")  # a fresh nudge today
    [update] = [c.params for c in fake.calls_to("chat.update") if c.params["ts"] == row["ts"]]
    assert "Re-planned: 1 follow-up now due Tue Nov 24" in update["text"]
    with coach.store.session() as db:
        assert slipping(db, team_id=TEAM, today=TUESDAY_9.date()) == {}  # no longer late


def test_a_replanned_step_done_later_keeps_its_reminder_saying_it_was_overdue_that_morning(
    coach, fake, settings, tick, late_call, slack
):
    """Tuesday's reminder listed Monday's call as overdue; Re-plan moved it to today and the rep then did it: the
    reminder, redrawn, still says what the morning said (overdue), not "was due today" from the step's new date."""
    tick(TUESDAY_9)
    [row] = reminders(settings)
    slack.click("reminder_replan", str(row["id"]), user=REP)
    assert step(settings, late_call)["due_date"] == "2026-11-24"
    slack.click("nudge_done", str(late_call), channel=row["channel_id"], message_ts=row["ts"])
    last = [c.params for c in fake.calls_to("chat.update") if c.params["ts"] == row["ts"]][-1]
    shown = lines_of(last["blocks"])
    assert "Good morning. 1 of your follow-ups was overdue." in shown, shown
    assert "due today" not in shown and "due today" not in last["text"]


def test_a_step_whose_first_business_day_is_today_is_due_today_in_the_reminder_never_overdue(coach, clock, fake, tick):
    """Friday's call went undone; a step due on Saturday is first posted on Monday morning, in the same minute as
    the reminder: the reminder says the call is overdue and the Saturday step is due today, not "was due Sat"."""
    fake.users[REP] = {"tz": "Europe/Berlin"}
    friday = datetime(2026, 11, 20, 10, 0, tzinfo=BERLIN)
    clock.now = friday
    deal = store_deal(
        coach, "Acme Rockets $20k contact: Jane Doe", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="k"
    )
    with coach.store.write() as db:  # the next steps fall due on Saturday; everything else far off
        db.execute("UPDATE nudges SET due_date = '2026-11-21' WHERE deal_id = ? AND step_id = 'next-steps'", [deal.id])
        db.execute(
            "UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id NOT IN ('congratulate', 'next-steps')",
            [LATER, deal.id],
        )
    coach.announce(deal.id)
    assert len(tick(friday).posted) == 1  # the call, on its day

    tick(MONDAY_10.replace(hour=9))
    [call] = fake.posts_of(REMINDER)
    blocks = call.params["blocks"]
    assert "1 of your follow-ups is overdue and 1 is due today" in call.params["text"]
    lines = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert lines == ["was due Fri Nov 20", "due today"]
    # the thread says the same of the Saturday step, posted that minute: due, not late
    [fresh] = [c for c in fake.posts_of("dealcoach_nudge") if "next steps" in c.params["text"]]
    assert "late" not in fresh.params["text"]


# -- the reminder redrawn after its buttons ----------------------------------------------------------------------


@pytest.fixture
def two_late_calls(coach, clock, fake, tick):
    """Monday's congratulations calls for two deals, each posted in its deal's thread and left undone; Tuesday's
    reminder lists both. Returns (Acme's step, Globex's step, the reminder's row)."""
    fake.users[REP] = {"tz": "Europe/Berlin"}
    clock.now = MONDAY_10
    for account, contact, key in (("Acme Rockets", "Jane Doe", "a"), ("Globex", "Hank Scorpio", "g")):
        deal = store_deal(
            coach, f"{account} $20k contact: {contact}", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key=key
        )
        coach.announce(deal.id)
        with coach.store.write() as db:
            db.execute(
                "UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id != 'congratulate'", [LATER, deal.id]
            )
    assert len(tick(MONDAY_10).posted) == 2
    tick(TUESDAY_9)
    acme, globex = (
        r["id"]
        for r in engines.rows(coach.settings, "SELECT id FROM nudges WHERE step_id = 'congratulate' ORDER BY id")
    )
    [row] = reminders(coach.settings)
    assert json.loads(row["steps"]) == [acme, globex]
    return acme, globex, row


def updates_of(fake, ts: str) -> list[dict]:
    return [c.params for c in fake.calls_to("chat.update") if c.params["ts"] == ts]


def actions_of(blocks: list[dict]) -> list[str]:
    return [b["block_id"] for b in blocks if b["type"] == "actions"]


def lines_of(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def step_message_ts(settings, nudge_id: int) -> str:
    [row] = engines.rows(
        settings, "SELECT p.ts FROM posts p JOIN post_nudges pn ON pn.post_id = p.id WHERE pn.nudge_id = ?", [nudge_id]
    )
    return row["ts"]


def test_a_reminder_redrawn_after_a_steps_window_passed_no_longer_offers_it_as_still_to_do(
    coach, fake, settings, slack, clock, two_late_calls
):
    """Tuesday's reminder listed both calls (a 3-day window). On Friday the rep finally marks Acme's done: the
    redrawn reminder shows Globex's call as missed (as the digest, Home and this morning's reminder count it), not
    with its buttons, "1 still to do" and Re-plan."""
    acme, globex, row = two_late_calls
    clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=BERLIN)
    slack.click("nudge_done", str(acme), channel=row["channel_id"], message_ts=row["ts"])
    update = updates_of(fake, row["ts"])[-1]
    shown = lines_of(update["blocks"])
    assert actions_of(update["blocks"]) == []  # neither Globex's buttons nor Re-plan
    assert ":hourglass: Its moment passed (was due Mon Nov 23)" in shown
    assert "Good morning. 2 of your follow-ups were overdue.* All of them are settled now." in shown
    assert "still to do" not in shown and "Nothing left to do here." in update["text"]


def test_done_in_the_reminder_redraws_it_with_that_step_in_one_line_and_the_others_still_open(
    coach, fake, settings, slack, two_late_calls
):
    acme, globex, row = two_late_calls
    reminder_dm = row["channel_id"]
    slack.click("nudge_done", str(acme), channel=reminder_dm, message_ts=row["ts"])

    [update] = updates_of(fake, row["ts"])
    assert update["channel"] == reminder_dm
    blocks = update["blocks"]
    assert actions_of(blocks) == [f"nudge_{globex}", f"reminder_{row['id']}"]  # Globex's buttons and Re-plan stay
    [settled] = [b for b in blocks if b["type"] == "context" and "Done by" in lines_of([b])]
    assert settled["elements"][0]["text"].startswith(f"✅ Done by <@{REP}> · Tue Nov 24, 09:00")
    assert "~Call Jane Doe to congratulate Acme Rockets on the decision~" in settled["elements"][0]["text"]
    assert "Good morning. 2 of your follow-ups were overdue; 1 still to do." in lines_of(blocks)
    assert "Call Hank Scorpio to congratulate Globex" in update["text"]  # what is still to do, in the fallback
    assert "Acme" not in update["text"].split("Still to do:")[1]

    [nudge_message] = updates_of(fake, step_message_ts(settings, acme))  # the step's own message in the thread
    assert "Done by" in lines_of(nudge_message["blocks"]) and actions_of(nudge_message["blocks"]) == []
    assert fake.violations == []


def test_snooze_and_skip_in_the_reminder_settle_their_lines_and_the_last_one_retires_re_plan(
    coach, fake, settings, slack, two_late_calls
):
    acme, globex, row = two_late_calls
    option = {
        "type": "static_select",
        "selected_option": {"value": f"{acme}:7", "text": {"type": "plain_text", "text": "1 week"}},
    }
    slack.pick("nudge_snooze", f"nudge_{acme}", option)
    snoozed = updates_of(fake, row["ts"])[-1]["blocks"]
    assert f"💤 Snoozed by <@{REP}> until Tue Dec 1" in lines_of(snoozed)
    assert actions_of(snoozed) == [f"nudge_{globex}", f"reminder_{row['id']}"]

    slack.click("nudge_skip", str(globex))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"reason": {"value": "Already spoke at the signing"}})
    final = updates_of(fake, row["ts"])[-1]
    assert f"⏭️ Skipped by <@{REP}>" in lines_of(final["blocks"])
    assert "Already spoke at the signing" in lines_of(final["blocks"])
    assert actions_of(final["blocks"]) == []  # nothing left to do here, so no Re-plan either
    assert "All of them are settled now." in lines_of(final["blocks"])
    assert final["text"].endswith("Nothing left to do here.")
    assert fake.violations == []


def test_replan_says_what_moved_to_which_day_and_the_moved_steps_messages_say_so_too(
    coach, fake, settings, slack, two_late_calls
):
    acme, globex, row = two_late_calls
    slack.click("nudge_done", str(acme), channel=row["channel_id"], message_ts=row["ts"])
    slack.click("reminder_replan", str(row["id"]))

    update = updates_of(fake, row["ts"])[-1]
    blocks = lines_of(update["blocks"])
    assert update["text"].startswith("Re-planned: 1 follow-up now due Tue Nov 24")
    assert (
        ":calendar: Re-planned: now due Tue Nov 24 · ~Call Hank Scorpio to congratulate Globex on the decision~"
        in blocks
    )
    assert "Done by" in blocks  # Acme's, settled before, still says so
    assert actions_of(update["blocks"]) == []
    [moved] = updates_of(fake, step_message_ts(settings, globex))  # Globex's own message in its thread
    assert "Moved to a later message" in lines_of(moved["blocks"]) and actions_of(moved["blocks"]) == []

    before = len(fake.calls_to("chat.update"))
    slack.click("reminder_replan", str(row["id"]))  # a second click moves nothing and says so, privately
    assert "Nothing left to re-plan" in fake.last("response_url").params["text"]
    assert len(fake.calls_to("chat.update")) == before
    assert fake.violations == []
