"""A step done, skipped or snoozed shrinks to one line that still says which step it was, through the real app."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.capturing import store_deal
from tests.conftest import CHANNEL, REP, TEAM

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, the deal's close day
WIDTH = 80  # the line the nudge's budget measures


def test_a_done_step_is_one_line_that_still_names_the_step(coach, settings, clock, fake, slack):
    clock.now = MONDAY_10
    deal = store_deal(
        coach, "Acme Rockets $120k contact: Jane Doe", team_id=TEAM, channel_id=CHANNEL, user_id=REP, capture_key="k"
    )
    coach.announce(deal.id)
    with coach.store.write() as db:  # the congratulations call alone is due
        db.execute(
            "UPDATE nudges SET due_date = '2027-06-01' WHERE deal_id = ? AND step_id != 'congratulate'", [deal.id]
        )
    dispatch_nudges(coach, posting_client(coach.settings), MONDAY_10, Pacer(sleep=lambda _: None))
    [post] = fake.posts_of(NUDGE)
    [step] = engines.rows(settings, "SELECT id FROM nudges WHERE step_id = 'congratulate'")

    slack.click("nudge_done", str(step["id"]))
    [update] = [c for c in fake.calls_to("chat.update") if c.params["ts"] == post.response["ts"]][-1:]
    [line] = [b["elements"][0]["text"] for b in update.params["blocks"] if b["type"] == "context"]
    assert f"Done by <@{REP}> · Mon Nov 23, 10:00 · ~" in line, line
    assert "~Call Jane Doe to congratulate" in line, line  # not "Call Jane Doe to co…": the reader can tell which step
    assert len(line) <= WIDTH and len(update.params["blocks"]) == 1
    assert fake.violations == []
