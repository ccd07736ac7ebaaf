"""The digest read as a manager at 8:30 would, through the real app: every list states its rule and each line what
to do, and nothing asks for a button that isn't there."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.digest.delivery import EVENT_TYPE
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges, send_digests
from tests.conftest import MANAGER, REP, TEAM

pytestmark = pytest.mark.both_engines  # the at-risk and quiet queries run on PostgreSQL too when a server is set

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def week(slack, fake, coach, clock):
    """Four deals closed on Monday, nobody doing a thing: the calls are overdue, Tuesday's reminder lists them, and
    Wednesday's digest is returned as the manager gets it (its blocks)."""
    fake.users[REP] = {"tz": "Europe/Berlin"}
    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    client = posting_client(coach.settings)

    def tick(now):
        clock.now = now
        fake.epoch = now.timestamp()
        dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))

    clock.now = berlin(23)
    for text in ("Acme Rockets $120k contact: Jane Doe", "Globex $50k", "Initech $30k", "Tiny Co $4,500"):
        slack.command(text)
    tick(berlin(23))
    tick(berlin(24, 9))  # the reps' own reminder first
    clock.now = berlin(25, 8, 30)
    fake.epoch = clock.now.timestamp()
    send_digests(coach, client, clock.now)
    [post] = [c for c in fake.posts_of(EVENT_TYPE) if c.params["channel"] == MANAGER]
    return post.params["blocks"]


def part(blocks: list[dict], heading: str) -> list[dict]:
    """The blocks from the one whose text has `heading` up to the next divider."""
    out: list[dict] = []
    for block in blocks:
        if block["type"] == "divider":
            if out:
                break
            continue
        text = block.get("text", {}).get("text", "")
        if out or heading in text:
            out.append(block)
    return out


def text_of(block: dict) -> str:
    return block.get("text", {}).get("text") or " ".join(e.get("text", "") for e in block.get("elements", []))


def test_at_risk_states_its_rule_and_what_to_do_like_the_other_lists(week):
    at_risk = part(week, "*At risk of buyer's remorse*")
    lines = "\n".join(text_of(b) for b in at_risk)
    assert "|Acme Rockets> · $120,000" in lines and "early touch" in lines
    [acme] = [line for line in lines.split("\n") if "Acme Rockets" in line]
    assert "*Do:* make sure the buyer hears from us this week" in acme
    rule = text_of(at_risk[-1])
    assert at_risk[-1]["type"] == "context"
    assert "Large deals (100,000 or more, in the deal's own currency) with an early touch overdue" in rule
    assert "no step done or touch logged for 14+ days" in rule


def test_a_slipping_deal_without_a_menu_is_not_told_to_press_one(week):
    slipping = part(week, "*Follow-ups slipping*")
    with_menu = [b for b in slipping if b["type"] == "section" and "accessory" in b]
    assert [text_of(b).split(">")[0].split("|")[-1] for b in with_menu] == ["Acme Rockets", "Globex", "Initech"]
    assert all("*Do:* *Remind rep*" in text_of(b) for b in with_menu)
    rest = "\n".join(text_of(b) for b in slipping if b["type"] == "section" and "accessory" not in b)
    [tiny] = [line for line in rest.split("\n") if "Tiny Co" in line]
    assert "*Remind rep*" not in tiny  # no menu beside it: the line says what the manager can do instead
    assert "*Do:* ask the rep to catch up, or reassign the steps with *Reassign* on each step's message" in tiny


def test_a_one_week_trend_names_its_week_once(week):
    numbers = "\n".join(text_of(b) for b in part(week, "*The numbers*"))
    assert "completion by week: 0% (the week of Mon Nov 23)" in numbers
    assert "weeks of Mon Nov 23 to Mon Nov 23" not in numbers


def test_follow_ups_by_rep_says_which_overdue_it_counts(week):
    """The at-risk list counts a step overdue from its due day; the rep's line counts only what the rep's reminder
    listed (Tuesday's steps aren't yet): the heading says so, so the two counts side by side both read true."""
    by_rep = "\n".join(text_of(b) for b in part(week, "*Follow-ups by rep*"))
    assert "overdue after the rep's own reminder, due today, completion)" in by_rep
    assert f"<@{REP}> · 0 done · 4 overdue" in by_rep  # the four calls the reminder listed, not Tuesday's steps


def test_a_touch_logged_outside_the_plan_keeps_a_deal_off_gone_quiet(slack, fake, coach, clock):
    """Nothing clicked in the plan for twenty days, but the rep logged yesterday's call with Log a touch: the deal
    has not gone quiet, and the digest doesn't say "no touch for 20 days"."""
    from bot.slack.blocks import VALUE
    from tests import engines

    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    client = posting_client(coach.settings)
    clock.now = berlin(2)
    slack.command("Quiet Co $20k contact: Quinn")
    slack.command("Silent Co $20k contact: Sam")
    clock.now = berlin(23, 8)
    [quiet] = engines.rows(coach.settings, "SELECT id FROM deals WHERE account = 'Quiet Co'")
    slack.click("signal_log_touch", str(quiet["id"]))
    view = fake.last("views.open").params["view"]

    def radio(value: str) -> dict:
        return {VALUE: {"type": "radio_buttons", "selected_option": {"value": value, "text": {"type": "plain_text"}}}}

    when = {VALUE: {"type": "datepicker", "selected_date": "2026-11-22"}}
    slack.submit(view, {"when": when, "medium": radio("call"), "sentiment": radio("neutral")}, view_id="V0TOUCH")
    assert engines.rows(coach.settings, "SELECT kind FROM signals") == [{"kind": "touch"}]

    clock.now = berlin(23, 8, 30)
    fake.epoch = clock.now.timestamp()
    send_digests(coach, client, clock.now)
    [post] = [c for c in fake.posts_of(EVENT_TYPE) if c.params["channel"] == MANAGER]
    at_risk = "\n".join(text_of(b) for b in part(post.params["blocks"], "*At risk of buyer's remorse*"))
    assert "Silent Co" in at_risk and "no touch for 20 days" in at_risk  # nothing done, nothing logged
    assert "Quiet Co" not in at_risk  # a call yesterday, logged: not quiet

    coach.open_home(client, MANAGER, team_id=TEAM)  # the manager's Home lists the same deals, by the same rule
    home = json.dumps(fake.last("views.publish").params["view"]["blocks"])
    assert "Silent Co" in home and "Quiet Co" not in home and "no step done or touch logged for 14+ days" in home


def test_the_monthly_coaching_summary_says_last_months_deals_are_too_young_for_most_outcomes(slack, fake, coach, clock):
    """December's first digest compares November's deals: none can have given a testimonial yet, and it says so
    rather than leave '0 (0%) gave a testimonial' to be read as the coaching failing."""
    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    clock.now = berlin(2)
    slack.command("Acme Rockets $120k")
    for clock.now in (berlin(30, 8, 30), datetime(2026, 12, 1, 8, 30, tzinfo=BERLIN)):  # the month's first: Tuesday
        fake.epoch = clock.now.timestamp()
        send_digests(coach, posting_client(coach.settings), clock.now)
    post = [c for c in fake.posts_of(EVENT_TYPE) if c.params["channel"] == MANAGER][-1]
    numbers = "\n".join(text_of(b) for b in part(post.params["blocks"], "*The numbers*"))
    assert "*Does the coaching work?* Deals closed Nov 1 to Nov 30" in numbers
    assert "0 (0%) gave a testimonial" in numbers
    assert "Outcomes take time: a deal closed in the last few weeks has hardly had the chance" in numbers


def test_at_risk_tells_early_touches_missed_from_those_still_overdue_as_the_slipping_list_does(
    slack, fake, coach, clock
):
    """Closed on a Friday, nothing done for a week and a half: the congratulations call and the first week's steps
    are past their windows. At risk says which early touches are still overdue and which are missed, in the digest
    and on the manager's Home, instead of "6 early touches overdue" beside Follow-ups slipping's 3 owed."""
    fake.users[REP] = {"tz": "Europe/Berlin"}
    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    client = posting_client(coach.settings)
    clock.now = berlin(20, 16)
    slack.command("Acme Rockets $120k contact: Jane Doe")
    for day in range(20, 32):
        now = datetime(2026, 11, day, 9, tzinfo=BERLIN) if day <= 30 else datetime(2026, 12, 1, 9, tzinfo=BERLIN)
        clock.now = now
        fake.epoch = now.timestamp()
        dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))
    clock.now = datetime(2026, 12, 1, 9, 30, tzinfo=BERLIN)
    fake.epoch = clock.now.timestamp()
    send_digests(coach, client, clock.now)
    [post] = [c for c in fake.posts_of(EVENT_TYPE) if c.params["channel"] == MANAGER]
    at_risk = part(post.params["blocks"], "*At risk of buyer's remorse*")
    [acme] = [line for line in "\n".join(text_of(b) for b in at_risk).split("\n") if "Acme Rockets" in line]
    assert "— 3 early touches overdue since Wed Nov 25; 3 early touches missed." in acme
    assert "or missed (past its window)" in text_of(at_risk[-1])
    slipping = "\n".join(text_of(b) for b in part(post.params["blocks"], "*Follow-ups slipping*"))
    assert "3 steps overdue after the nudge" in slipping  # the same three owed

    coach.open_home(client, MANAGER, team_id=TEAM)
    home = json.dumps(fake.last("views.publish").params["view"]["blocks"], ensure_ascii=False)
    assert ":rotating_light: 3 early steps overdue · :rotating_light: 3 early steps missed" in home
