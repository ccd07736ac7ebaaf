"""A deal's one message in the channel, through the real app: short like a nudge with the built-in playbook's whole
plan, every step one click away (See the plan), still short after a redraw; and a step due on a weekend read as
due on the business day it comes up, wherever a rep reads it."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.nudges.dispatch import Pacer
from bot.nudges.reminders import EVENT_TYPE as REMINDER
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.bot.nudges.test_blocks import BUDGET, rendered_lines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, OTHER_REP, REP, TEAM
from tests.handlers.test_home import latest, open_home
from tests.slackapp import form

pytestmark = pytest.mark.both_engines

BERLIN = ZoneInfo("Europe/Berlin")
WHY = "They needed to cut onboarding time in half before their spring hiring wave"


def shown(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.fixture
def full_deal(slack, fake, settings):
    """A deal captured with every field from the form, so it gets the built-in playbook's full plan: (announcement
    call, deal id, its steps)."""
    slack.command("")
    slack.submit(
        fake.last("views.open").params["view"],
        form(
            "Acme Rockets International",
            "$250k",
            contact="Jane Alexandra Doe-Smith",
            title="VP Operations",
            persona="economic",
            closed="2026-11-23",
            live="2027-01-15",
            lead="U0LEAD",
            why=WHY,
        ),
    )
    [deal] = engines.rows(settings, "SELECT id FROM deals")
    steps = engines.rows(settings, "SELECT * FROM nudges WHERE deal_id = ? ORDER BY due_date, id", [deal["id"]])
    return fake.last("chat.postMessage"), deal["id"], steps


def test_the_deals_message_is_as_short_as_a_nudge_with_the_built_in_playbooks_full_plan(full_deal, fake):
    post, _, steps = full_deal
    blocks = post.params["blocks"]
    assert len(steps) >= 15  # the whole plan: before, every one of them was a line of this message
    assert rendered_lines(blocks) <= BUDGET, [b.get("text", b.get("elements")) for b in blocks]
    text = shown(blocks)
    assert f"Congratulations <@{REP}>!" in text and "*Acme Rockets International* · $250,000" in text
    assert f"*Why they bought:* {WHY}" in text
    assert "*Next:* Mon Nov 23 · Call Jane Alexandra Doe-Smith to congratulate" in text
    assert "more by Mar 12" in text and "(day " not in text  # the rest is counted, not listed
    assert action_ids(blocks)[:2] == ["deal_see_plan", "open_deal_details"]
    assert fake.violations == []


def test_see_plan_opens_every_step_for_anyone_in_the_channel(full_deal, slack, fake):
    _, deal_id, steps = full_deal
    slack.click("deal_see_plan", str(deal_id), user=OTHER_REP)  # not the deal's rep: anyone may look
    view = fake.last("views.open").params["view"]
    assert view["type"] == "modal" and view["title"]["text"] == "The plan" and "submit" not in view
    lines = [line for b in view["blocks"] if b["type"] == "section" for line in b["text"]["text"].split("\n")]
    planned = [line for line in lines if line.startswith("• *")]
    assert len(planned) == len(steps)  # every step, with its status mark, day, stage and title
    assert "• *Mon Nov 23* (day 0) · Affirm · Call Jane Alexandra Doe-Smith to congratulate" in planned[0]
    # the gift the plan puts on Saturday (day 5) is shown on the Monday it comes up
    [gift] = [line for line in planned if "thank-you gift" in line]
    assert gift.startswith("• *Mon Nov 30* (day 7) · Affirm · Send a thank-you gift")
    assert "Sat " not in shown(view["blocks"]) and WHY in shown(view["blocks"])
    assert fake.violations == []  # within Block Kit's limits for a modal


def test_see_plan_on_a_deal_that_is_gone_says_so_privately(full_deal, slack, fake, coach):
    _, deal_id, _ = full_deal
    slack.click("deal_delete", str(deal_id))
    opened = len(fake.calls_to("views.open"))
    slack.click("deal_see_plan", str(deal_id), user=OTHER_REP)
    slack.click("deal_see_plan", "not-a-deal", user=OTHER_REP)
    assert len(fake.calls_to("views.open")) == opened
    answers = [c.params["text"] for c in fake.calls_to("response_url")][-2:]
    assert answers == ["I can't find that deal any more."] * 2


def test_a_redraw_after_done_keeps_the_message_short(full_deal, slack, fake, coach, clock, settings):
    _, deal_id, steps = full_deal
    clock.now = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
    dispatch_nudges(coach, posting_client(coach.settings), clock.now, Pacer(sleep=lambda _: None))
    slack.click("nudge_done", str(steps[0]["id"]))
    [deal] = engines.rows(settings, "SELECT message_ts FROM deals WHERE id = ?", [deal_id])
    [redrawn] = [c for c in fake.calls_to("chat.update") if c.params["ts"] == deal["message_ts"]]
    blocks = redrawn.params["blocks"]
    assert rendered_lines(blocks) <= BUDGET, [b.get("text", b.get("elements")) for b in blocks]
    assert "✅ 1 done" in shown(blocks) and "*Next:* Tue Nov 24" in shown(blocks)
    assert fake.violations == []


def test_a_redraw_days_later_never_names_a_step_past_its_window_as_next(full_deal, slack, fake, coach, clock, settings):
    """The congratulations call (3-day window) and the next steps (5 days) were posted on their days and left
    undone; a week later a Done redraws the deal's message: its Next is a step still worth doing, not a missed one."""
    _, deal_id, steps = full_deal
    for day in (23, 24):
        clock.now = datetime(2026, 11, day, 10, 0, tzinfo=BERLIN)
        dispatch_nudges(coach, posting_client(coach.settings), clock.now, Pacer(sleep=lambda _: None))
    clock.now = datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN)
    [handover] = [s for s in steps if s["step_id"] == "handover"]
    slack.click("nudge_done", str(handover["id"]))
    [deal] = engines.rows(settings, "SELECT message_ts FROM deals WHERE id = ?", [deal_id])
    redrawn = [c for c in fake.calls_to("chat.update") if c.params["ts"] == deal["message_ts"]][-1]
    [summary] = [
        b["text"]["text"] for b in redrawn.params["blocks"] if "*Next:*" in (b.get("text") or {}).get("text", "")
    ]
    next_line = summary.splitlines()[0]
    assert next_line.startswith("*Next:* Mon Nov 30 · Send a thank-you gift"), next_line  # 10-day window: in time
    assert "congratulate" not in summary.lower() and "next steps" not in summary.lower()
    assert fake.violations == []


def test_a_step_due_on_saturday_reads_as_due_on_monday_wherever_a_rep_reads_it(coach, clock, fake, slack, settings):
    """The plan puts the next steps on Saturday; the nudge goes out on Monday, and says it is due Monday: so do the
    plan, Home and Tuesday's reminder. The stored date stays Saturday."""
    fake.users[REP] = {"tz": "Europe/Berlin"}
    client = posting_client(coach.settings)

    def tick(now: datetime):
        clock.now = now
        fake.epoch = now.timestamp()
        return dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))

    thursday = datetime(2026, 11, 19, 10, 0, tzinfo=BERLIN)
    clock.now = thursday
    deal = store_deal(
        coach, "Acme Rockets $20k contact: Jane Doe", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="k"
    )
    with coach.store.write() as db:  # the next steps fall due on Saturday; everything else but the call far off
        db.execute("UPDATE nudges SET due_date = '2026-11-21' WHERE deal_id = ? AND step_id = 'next-steps'", [deal.id])
        db.execute(
            "UPDATE nudges SET due_date = '2027-06-01' WHERE deal_id = ? AND step_id NOT IN ('congratulate', 'next-steps')",
            [deal.id],
        )
    coach.announce(deal.id)
    tick(thursday)

    tick(datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN))  # Monday
    [nudge] = [c for c in fake.posts_of("dealcoach_nudge") if "next steps" in c.params["text"]]
    assert "(due Mon Nov 23)" in nudge.params["text"] and "due Mon Nov 23" in shown(nudge.params["blocks"])

    slack.click("deal_see_plan", str(deal.id))
    plan = shown(fake.last("views.open").params["view"]["blocks"])
    assert "*Mon Nov 23* (day 4) · Affirm · Send Jane Doe the next steps" in plan

    open_home(slack)
    assert "due Mon Nov 23" in shown(latest(fake)["blocks"])

    tick(datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN))  # Tuesday: both steps overdue in the rep's reminder
    reminder = fake.posts_of(REMINDER)[-1]
    lines = [b["elements"][0]["text"] for b in reminder.params["blocks"] if b["type"] == "context"]
    assert "was due Mon Nov 23" in lines

    assert not any("Sat Nov 21" in json.dumps(c.params, ensure_ascii=False) for c in fake.calls)
    [stored] = engines.rows(settings, "SELECT due_date FROM nudges WHERE step_id = 'next-steps'")
    assert stored["due_date"] == "2026-11-21"  # only what is shown moved
    assert fake.violations == []
