"""The Home tab through the real Bolt app: signed app_home_opened events, clicks from the Home view, 100 blocks."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines, signing
from tests.capturing import store_deal
from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP, SECRET, TEAM

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
TODAY, LAST_WEEK, TOMORROW, LATER = "2026-11-23", "2026-11-16", "2026-11-24", "2027-06-01"
LEAD = "U0LEAD"

pytestmark = pytest.mark.both_engines


@pytest.fixture
def tick(coach):
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))


@pytest.fixture
def capture(coach, clock):
    """Capture a deal as `owner` at `at` (default Monday 10:00 Berlin) and plan its steps; returns the deal."""

    def capture(account="Acme Rockets", amount="$120k", *, owner=REP, at=MONDAY_10, channel=CHANNEL):
        clock.now = at
        deal = store_deal(
            coach,
            f"{account} {amount} contact: Jane Doe persona: economic",
            team_id=TEAM,
            channel_id=channel,
            user_id=owner,
            capture_key=uuid.uuid4().hex,
        )
        coach.announce(deal.id)  # as /closed-deal does: the deal's nudges follow its announcement
        return deal

    return capture


def plan(settings, deal_id: int, due: dict[str, str]) -> dict[str, int]:
    """Move the deal's steps: those named to the dates given, every other one far away. Returns step -> nudge id."""
    engines.execute(settings, "UPDATE nudges SET due_date = ? WHERE deal_id = ?", [LATER, deal_id])
    for step_id, day in due.items():
        engines.execute(
            settings, "UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id = ?", [day, deal_id, step_id]
        )
    return {r["step_id"]: r["id"] for r in engines.rows(settings, "SELECT * FROM nudges WHERE deal_id = ?", [deal_id])}


def everything(settings) -> tuple[list[dict], list[dict]]:
    """Every step and deal, to show a refused click changed nothing."""
    return (
        engines.rows(settings, "SELECT * FROM nudges ORDER BY id"),
        engines.rows(settings, "SELECT * FROM deals ORDER BY id"),
    )


def nudge(settings, nudge_id: int) -> dict:
    [row] = engines.rows(settings, "SELECT * FROM nudges WHERE id = ?", [nudge_id])
    return row


def open_home(slack, user: str = REP, *, tab: str = "home", team: str = TEAM):
    """A genuinely signed app_home_opened event, as Slack sends it when the user opens the app."""
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D{user}",
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    body = signing.event_body(event, team_id=team)
    response = slack.app.dispatch(signing.bolt_request(body, SECRET, content_type=signing.JSON))
    slack.executor.drain()
    return response


def home_click(slack, action_id: str, value: str | None = None, *, user: str = REP, block_id: str = "actions", **extra):
    """A block_actions payload from a Home tab: a view container, no channel, no message and no response_url."""
    view_id = f"VHOME{user}"
    clicked = {"type": "button", "action_id": action_id, "block_id": block_id, "action_ts": f"{time.time():.6f}"}
    if value is not None:
        clicked |= {"value": value, "text": {"type": "plain_text", "text": "Button"}}
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": f"user-{user}", "name": f"user-{user}", "team_id": TEAM},
        "api_app_id": signing.APP_ID,
        "token": signing.VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}",
        "team": {"id": TEAM, "domain": signing.TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {
            "id": view_id,
            "team_id": TEAM,
            "type": "home",
            "callback_id": "dealcoach_home",
            "private_metadata": "",
            "blocks": [],
            "state": {"values": {}},
            "hash": uuid.uuid4().hex,
            "app_id": signing.APP_ID,
            "bot_id": "B0BOT",
        },
        "actions": [clicked | extra],
    }
    response = slack.app.dispatch(
        signing.bolt_request(signing.interaction_body(payload), SECRET, content_type=signing.FORM)
    )
    slack.executor.drain()
    return response


def home_snooze(slack, nudge_id: int, days: int, *, user: str = REP):
    option = {"text": {"type": "plain_text", "text": "1 day"}, "value": f"{nudge_id}:{days}"}
    return home_click(
        slack, "nudge_snooze", user=user, block_id=f"nudge_{nudge_id}", type="static_select", selected_option=option
    )


def views(fake, user: str) -> list[dict]:
    """Every Home view published to `user`, oldest first; each must pass the fake's Block Kit checks."""
    found = []
    for call in fake.calls_to("views.publish"):
        if call.params["user_id"] == user:
            assert call.params["view"]["type"] == "home"
            assert len(call.params["view"]["blocks"]) <= 100
            found.append(call.params["view"])
    return found


def latest(fake, user: str = REP) -> dict:
    published = views(fake, user)
    assert published, f"no Home view was published to {user}"
    return published[-1]


def shown(view: dict) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def buttons(view: dict) -> dict[str, list[str]]:
    """block_id -> the action ids in that actions block."""
    return {b["block_id"]: [e["action_id"] for e in b["elements"]] for b in view["blocks"] if b["type"] == "actions"}


def texts(view: dict) -> list[str]:
    out = []
    for b in view["blocks"]:
        if b["type"] in ("section", "header"):
            out.append(b["text"]["text"])
        elif b["type"] == "context":
            out.append(b["elements"][0]["text"])
    return out


def dms(fake, user: str) -> list[str]:
    return [c.params["text"] for c in fake.calls_to("chat.postMessage") if c.params["channel"] == user]


NUDGE_BUTTONS = ["nudge_done", "nudge_snooze", "nudge_skip", "nudge_reassign", "open_deal_details", "nudge_more"]


# -- opening Home ----------------------------------------------------------------------------------------------


def test_a_rep_sees_overdue_due_today_and_upcoming_nudges_with_the_channel_buttons_and_their_deals(
    capture, settings, slack, fake, tick
):
    deal = capture()
    ids = plan(settings, deal.id, {"welcome-kit": LAST_WEEK, "congratulate": TODAY, "thank-you-note": "2026-11-25"})
    tick(MONDAY_10)  # posts the overdue and today's steps; the thank-you note is still planned
    response = open_home(slack)
    assert response.status == 200
    view = latest(fake)
    lines = texts(view)
    assert lines[0] == "My nudges"
    overdue, today, upcoming = (lines.index(t) for t in lines if t.startswith(("*:red", "*:large_orange", "*:cal")))
    assert lines[overdue] == "*:red_circle: Overdue* (1)"
    assert "Send Jane Doe the welcome kit" in lines[overdue + 1] and "7 days late" in lines[overdue + 1]
    assert lines[today] == "*:large_orange_circle: Due today* (1)"
    assert "Acme Rockets" in lines[today + 1] and f"in <#{CHANNEL}>" in lines[today + 1]
    assert lines[upcoming] == "*:calendar: Upcoming (next 14 days)* (1)"
    assert "thank-you note" in lines[upcoming + 1] and "due Wed Nov 25" in lines[upcoming + 1]
    assert buttons(view) == {
        f"nudge_{ids['welcome-kit']}": [*NUDGE_BUTTONS, "welcome_kit"],  # the step's kit, made and shared
        f"nudge_{ids['congratulate']}": NUDGE_BUTTONS,
        f"nudge_{ids['thank-you-note']}": NUDGE_BUTTONS,  # a planned step may be done early
        f"deal_{deal.id}": [
            "open_deal_details",
            "deal_mark_live",
            "signal_log_touch",
            "signal_flag_concern",
            "deal_cancel",
            "deal_delete",
        ],
    }
    assert "My deals (1)" in lines
    assert any(t.startswith("*Acme Rockets* · $120,000 · Affirm") for t in lines)
    assert fake.violations == []


def test_the_messages_tab_publishes_nothing_and_a_first_time_rep_gets_a_welcome(slack, fake):
    open_home(slack, "U0NEW", tab="messages")
    assert fake.calls_to("views.publish") == []
    open_home(slack, "U0NEW")
    view = latest(fake, "U0NEW")
    assert texts(view)[0] == "Welcome to Deal Coach"
    assert "`/closed-deal Acme Rockets $120k`" in shown(view)
    assert buttons(view) == {}
    assert fake.violations == []


def test_the_home_tab_follows_a_new_deal_once_opened(capture, slack, fake):
    open_home(slack)
    assert "Welcome" in texts(latest(fake))[0]
    slack.command("Globex $50k")  # the real slash command: stored, announced, and Home redrawn
    view = latest(fake)
    assert len(views(fake, REP)) == 2
    assert any(t.startswith("*Globex* · $50,000") for t in texts(view))
    assert fake.violations == []


# -- the manager's view ------------------------------------------------------------------------------------


def test_a_manager_sees_the_team_and_the_deals_at_risk_before_their_own_nudges(capture, settings, slack, fake, clock):
    big = capture("Initech", "$250k")
    # next steps 3 days late: overdue, still within its 5-day window (a week late it would be missed, not overdue)
    ids = plan(settings, big.id, {"congratulate": "2026-11-02", "next-steps": "2026-11-20", "team-gift": TODAY})
    engines.execute(  # of the last 30 days' steps: one done, one overdue
        settings,
        "UPDATE nudges SET status = 'done', resolved_by = ?, resolved_at = ? WHERE id = ?",
        [REP, "2026-11-20T10:00:00+00:00", ids["congratulate"]],
    )
    at = MONDAY_10.isoformat()  # the rep's morning reminder went: late steps slip
    engines.execute(
        settings,
        "INSERT INTO reminders (team_id, rep_id, local_date, status, claimed_at, lease_at, sent_at) "
        "VALUES (?, ?, ?, 'sent', ?, ?, ?)",
        [TEAM, REP, TODAY, at, at, at],
    )
    quiet = capture("Globex", "$20k", owner=OTHER_REP, at=MONDAY_10 - timedelta(days=20))
    plan(settings, quiet.id, {})
    helped = capture("Hooli", "$30k", owner=OTHER_REP)
    helped_ids = plan(settings, helped.id, {"congratulate": TODAY})
    engines.execute(settings, "UPDATE nudges SET assignee_id = ? WHERE id = ?", [MANAGER, helped_ids["congratulate"]])
    clock.now = MONDAY_10

    open_home(slack, MANAGER)
    view = latest(fake, MANAGER)
    lines = texts(view)
    assert lines.index("Team") < lines.index("Deals at risk") < lines.index("Team profile") < lines.index("My nudges")
    table = lines[lines.index("Team") + 2]
    assert table.splitlines() == [  # overdue first, then due today
        f"<@{REP}> · 1 open deal · :red_circle: *1 overdue* · 1 due today · 50% done",
        f"<@{MANAGER}> · 0 open deals · 0 overdue · 1 due today · nothing due lately",
        f"<@{OTHER_REP}> · 2 open deals · 0 overdue · 0 due today · nothing due lately",
    ]
    risks = lines[lines.index("Deals at risk") + 2].splitlines()
    assert risks[0].startswith("*Initech* · $250,000 · <@U0REP>") and "1 early step overdue" in risks[0]
    assert risks[1].startswith("*Globex* · $20,000 · <@U0OTHER>") and "quiet for 20 days" in risks[1]
    assert len(risks) == 2  # Hooli is new and small
    assert "Hooli" in lines[lines.index("My nudges") + 2]  # handed to the manager
    assert f"reassigned from <@{OTHER_REP}>" in lines[lines.index("My nudges") + 2]
    assert buttons(view) == {
        f"nudge_{helped_ids['congratulate']}": NUDGE_BUTTONS,
        "team_profile": ["edit_team_profile"],  # the team profile, managers only (tests/handlers/test_team_profile.py)
        "manage_team": ["manage_choose_team"],  # whose deals they follow (tests/handlers/test_manage.py)
    }
    assert fake.violations == []


def test_a_manager_of_an_empty_workspace_is_told_how_reps_start(slack, fake):
    open_home(slack, MANAGER)
    lines = texts(latest(fake, MANAGER))
    assert "No deals in this workspace yet. Reps capture them with `/closed-deal` in a channel." in lines
    assert "Nothing due in the next 14 days. :tada:" in lines
    assert fake.violations == []


# -- acting from Home --------------------------------------------------------------------------------------


def test_done_in_home_updates_the_channel_message_and_republishes_home(capture, settings, slack, fake, tick, clock):
    deal = capture()
    ids = plan(settings, deal.id, {"congratulate": TODAY})
    open_home(slack)
    assert f"nudge_{ids['congratulate']}" in buttons(latest(fake))  # planned, due today
    tick(MONDAY_10)
    assert len(views(fake, REP)) == 2  # the dispatcher redrew it once the nudge was posted
    posted = fake.last("chat.postMessage")
    assert f"in <#{CHANNEL}>" in shown(latest(fake))

    clock.now = MONDAY_10 + timedelta(minutes=30)
    response = home_click(slack, "nudge_done", str(ids["congratulate"]))
    assert response.status == 200 and response.body == ""
    assert nudge(settings, ids["congratulate"])["status"] == "done"
    update = fake.last("chat.update").params
    assert (update["channel"], update["ts"]) == (CHANNEL, posted.response["ts"])
    assert f"Done by <@{REP}>" in json.dumps(update["blocks"])
    view = latest(fake)
    assert len(views(fake, REP)) == 3
    assert f"nudge_{ids['congratulate']}" not in buttons(view)
    assert fake.calls_to("response_url") == []
    assert fake.violations == []


def test_a_repeat_click_in_home_is_explained_by_dm_and_redraws_the_stale_tab(capture, settings, slack, fake, tick):
    deal = capture()
    ids = plan(settings, deal.id, {"congratulate": TODAY})
    tick(MONDAY_10)
    open_home(slack)
    home_click(slack, "nudge_done", str(ids["congratulate"]))
    first = nudge(settings, ids["congratulate"])
    before, updates = len(views(fake, REP)), len(fake.calls_to("chat.update"))
    home_click(slack, "nudge_done", str(ids["congratulate"]))  # the same button, on a tab not yet redrawn
    assert nudge(settings, ids["congratulate"]) == first
    question, refusal = dms(fake, REP)  # the first Done's "How did they sound?", then why the second did nothing
    assert "How did they sound" in question and refusal == f"Already done by <@{REP}>. Nothing changed."
    assert len(views(fake, REP)) == before + 1
    assert updates >= 1 and len(fake.calls_to("chat.update")) == updates  # no message redrawn the second time
    assert fake.calls_to("response_url") == []
    assert fake.violations == []


def test_a_planned_step_can_be_done_early_from_home_and_is_never_posted(
    capture, coach, settings, slack, fake, tick, clock
):
    deal = capture()
    ids = plan(settings, deal.id, {"thank-you-note": "2026-11-25"})
    open_home(slack)
    home_click(slack, "nudge_done", str(ids["thank-you-note"]))
    row = nudge(settings, ids["thank-you-note"])
    assert (row["status"], row["resolved_by"], row["post_id"]) == ("done", REP, None)
    deal_ts = coach.get_deal(deal.id).posted_ts
    assert set(fake.redraws()) == {deal_ts}  # only the deal's message: there is no nudge message to redraw yet
    assert f"nudge_{ids['thank-you-note']}" not in buttons(latest(fake))
    posts = len(fake.calls_to("chat.postMessage"))
    assert tick(datetime(2026, 11, 25, 9, 0, tzinfo=UTC)).posted == []
    assert len(fake.calls_to("chat.postMessage")) == posts
    assert fake.violations == []


def test_snoozing_an_upcoming_step_moves_it_from_its_own_date_once(capture, settings, slack, fake):
    deal = capture()
    ids = plan(settings, deal.id, {"thank-you-note": "2026-11-25"})
    open_home(slack)
    home_snooze(slack, ids["thank-you-note"], 7)
    row = nudge(settings, ids["thank-you-note"])
    assert (row["status"], row["due_date"], row["snoozed_until"]) == ("planned", "2026-12-02", "2026-12-02")
    home_snooze(slack, ids["thank-you-note"], 7)  # a second pick on the same tab: nothing moves again
    assert nudge(settings, ids["thank-you-note"]) == row
    assert dms(fake, REP) == ["Already snoozed until Wed Dec 2. Nothing changed."]
    assert ":zzz: snoozed" in shown(latest(fake))
    assert fake.violations == []


def test_skip_from_home_opens_the_modal_and_its_submission_redraws_home(capture, settings, slack, fake, tick):
    deal = capture()
    ids = plan(settings, deal.id, {"congratulate": TODAY})
    tick(MONDAY_10)
    open_home(slack)
    home_click(slack, "nudge_skip", str(ids["congratulate"]))
    modal = fake.last("views.open").params["view"]
    assert modal["callback_id"] == "nudge_skip"
    before = len(views(fake, REP))
    slack.submit(modal, {"reason": {"value": "Covered at the kickoff"}})
    assert nudge(settings, ids["congratulate"])["status"] == "skipped"
    assert "Skipped by" in json.dumps(fake.last("chat.update").params["blocks"])
    assert len(views(fake, REP)) == before + 1
    assert f"nudge_{ids['congratulate']}" not in buttons(latest(fake))
    assert fake.violations == []


def test_reassigning_from_home_redraws_both_tabs(capture, settings, slack, fake, tick):
    deal = capture()
    ids = plan(settings, deal.id, {"congratulate": TODAY})
    tick(MONDAY_10)
    open_home(slack)
    open_home(slack, LEAD)
    assert buttons(latest(fake, LEAD)) == {}
    home_click(
        slack, "nudge_reassign", block_id=f"nudge_{ids['congratulate']}", type="users_select", selected_user=LEAD
    )
    assert nudge(settings, ids["congratulate"])["assignee_id"] == LEAD
    assert f"nudge_{ids['congratulate']}" in buttons(latest(fake, LEAD))
    assert f"nudge_{ids['congratulate']}" not in buttons(latest(fake, REP))
    assert "handed you a follow-up" in dms(fake, LEAD)[0]
    assert fake.violations == []


def test_cancelling_a_deal_from_home_clears_its_nudges_from_the_tab(capture, settings, slack, fake):
    deal = capture()
    plan(settings, deal.id, {"congratulate": TODAY})
    open_home(slack)
    home_click(slack, "deal_cancel", str(deal.id))
    modal = fake.last("views.open").params["view"]
    slack.submit(modal, {"reason": {"value": "Budget frozen"}})
    view = latest(fake)
    assert texts(view)[0] == "Welcome to Deal Coach"  # nothing open is left
    assert fake.violations == []


# -- who may act, and who gets a tab ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action_id", "explanation"),
    [
        ("nudge_done", f"Only <@{REP}>, or a manager, can act on this follow-up."),
        ("nudge_skip", f"Only <@{REP}>, or a manager, can act on this follow-up."),
        ("deal_cancel", f"Only <@{REP}>, who closed this deal, or a manager can change it."),
        ("deal_mark_live", f"Only <@{REP}>, who closed this deal, or a manager can change it."),
        ("open_deal_details", f"Only <@{REP}>, who closed this deal, or a manager can change it."),
    ],
)
def test_someone_else_clicking_a_home_button_changes_nothing_and_is_told_by_dm(
    capture, settings, slack, fake, tick, action_id, explanation
):
    deal = capture()
    ids = plan(settings, deal.id, {"congratulate": TODAY})
    tick(MONDAY_10)
    before = everything(settings)
    value = str(deal.id) if action_id.startswith(("deal", "open")) else str(ids["congratulate"])
    home_click(slack, action_id, value, user=OTHER_REP)
    assert everything(settings) == before
    assert dms(fake, OTHER_REP) == [explanation]
    assert fake.calls_to("chat.update") == [] and fake.calls_to("views.open") == []
    assert fake.calls_to("views.publish") == []  # OTHER_REP never opened Home
    assert fake.violations == []


def test_nobody_who_never_opened_home_is_published_to(capture, settings, slack, fake, tick):
    deal = capture()
    ids = plan(settings, deal.id, {"congratulate": TODAY})
    open_home(slack, OTHER_REP)  # opened, but none of this is theirs
    published = len(fake.calls_to("views.publish"))
    tick(MONDAY_10)
    slack.click("nudge_done", str(ids["congratulate"]))  # from the channel message
    assert nudge(settings, ids["congratulate"])["status"] == "done"
    assert len(fake.calls_to("views.publish")) == published
    assert views(fake, REP) == []
    assert fake.violations == []


def test_a_failing_publish_never_breaks_the_click_or_the_dispatch(capture, settings, slack, fake, tick, caplog):
    deal = capture()
    ids = plan(settings, deal.id, {"congratulate": TODAY, "next-steps": TOMORROW})
    open_home(slack)
    fake.fail("views.publish", error="internal_error", times=10)
    report = tick(MONDAY_10)
    assert len(report.posted) == 1 and nudge(settings, ids["congratulate"])["status"] == "posted"
    slack.click("nudge_done", str(ids["congratulate"]))
    assert nudge(settings, ids["congratulate"])["status"] == "done"
    assert set(fake.redraws().values()) == {1}  # the nudge's message and the deal's, each redrawn once
    assert "Could not publish the Home tab of U0REP" in caplog.text


# -- the 100-block limit -----------------------------------------------------------------------------------


def test_every_view_stays_within_100_blocks_with_200_deals_and_30_reps(coach, settings, slack, fake, clock):
    reps = [REP] + [f"U0REP{i:02d}" for i in range(1, 30)]
    clock.now = MONDAY_10 - timedelta(days=20)
    for i in range(200):
        owner = REP if i < 60 else reps[i % 30]
        store_deal(
            coach,
            f"Account {i} <b>&co {'$250k' if i % 3 == 0 else '$20k'}",
            team_id=TEAM,
            channel_id=CHANNEL,
            user_id=owner,
            capture_key=f"bulk-{i}",
        )
    clock.now = MONDAY_10
    for user in [*reps, MANAGER]:
        open_home(slack, user)
    assert fake.violations == []
    for user in [*reps, MANAGER]:
        view = latest(fake, user)
        assert len(view["blocks"]) <= 100
    rep_view = latest(fake, REP)
    assert any(t.startswith("…and ") and "overdue" in t for t in texts(rep_view))
    assert any(t.startswith("…and ") and "more open deals" in t for t in texts(rep_view))
    assert "&lt;b&gt;&amp;co" in shown(rep_view)  # account names are escaped
    manager_view = latest(fake, MANAGER)
    lines = texts(manager_view)
    assert sum(line.count("\n") + 1 for line in lines[lines.index("Team") + 2 : lines.index("Deals at risk")]) >= 30
    assert any(t.startswith("…and ") and "more deals at risk" in t for t in lines)
    assert "My nudges" in lines


def test_done_early_on_a_win_analysis_from_home_asks_for_the_reason_first(capture, settings, slack, fake):
    deal = capture()
    ids = plan(settings, deal.id, {"win-analysis": "2026-11-27"})
    open_home(slack)
    home_click(slack, "nudge_done", str(ids["win-analysis"]))
    modal = fake.last("views.open").params["view"]
    assert modal["callback_id"] == "nudge_outcome"
    assert nudge(settings, ids["win-analysis"])["status"] == "planned"
    slack.submit(modal, {"reason": {"value": "Setup took days"}})
    row = nudge(settings, ids["win-analysis"])
    assert (row["status"], json.loads(row["outcome"])["reason"]) == ("done", "Setup took days")
    assert f"nudge_{ids['win-analysis']}" not in buttons(latest(fake))
    assert fake.violations == []


def test_a_step_past_its_window_is_listed_as_missed_not_overdue_as_the_reminder_and_digest_count_it(
    capture, settings, slack, fake, tick, clock
):
    """A week after Monday's steps were posted, the congratulations call (a 3-day window) is missed: the rep's
    reminder no longer lists it and managers count it once as missed, so Home doesn't show it as "7 days late"
    among the overdue; the welcome kit (a 10-day window) is still overdue."""
    deal = capture()
    ids = plan(settings, deal.id, {"congratulate": TODAY, "welcome-kit": TODAY})
    tick(MONDAY_10)
    clock.now = MONDAY_10 + timedelta(days=7)
    open_home(slack)
    lines = texts(latest(fake))
    overdue = lines.index("*:red_circle: Overdue* (1)")
    assert "welcome kit" in lines[overdue + 1] and "7 days late" in lines[overdue + 1]
    missed = lines.index("*:white_circle: Missed* (1)")
    assert "each once as missed, not overdue" in lines[missed + 1]
    assert "congratulate Acme Rockets" in lines[missed + 2] and ":white_circle: missed" in lines[missed + 2]
    assert "days late" not in lines[missed + 2]
    assert f"nudge_{ids['congratulate']}" in buttons(latest(fake))  # still Done (if they called) or Skip
    assert not any("congratulate" in line for line in lines[overdue:missed])
    assert fake.violations == []


def test_a_deal_needing_care_counts_an_early_step_past_its_window_as_missed_like_its_nudge_list(
    capture, settings, slack, fake, tick, clock
):
    """The same week-old pair: the deal's "needs care" says one early step overdue and one missed, as My nudges lists
    them, not "2 early steps overdue" beside a Missed list holding one of them."""
    deal = capture()
    plan(settings, deal.id, {"congratulate": TODAY, "welcome-kit": TODAY})
    tick(MONDAY_10)
    clock.now = MONDAY_10 + timedelta(days=7)
    open_home(slack)
    [line] = [t for t in texts(latest(fake)) if t.startswith("*Acme Rockets*")]
    assert "needs care: 1 early step overdue since Nov 23; 1 early step missed" in line
    assert "\nNext: Send Jane Doe the welcome kit" in line and "congratulate" not in line  # next: not the missed call
    assert fake.violations == []
