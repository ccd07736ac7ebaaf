"""A manager's menu beside each deal, in the digest and on Home, through the real Bolt app: Remind rep (a DM naming
the steps), Reassign (a step, the deal, all of a departing rep's deals), Open deal; managers only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.nudges.dispatch import Pacer
from bot.slack.blocks import VALUE
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges, send_digests
from tests import engines
from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP, TEAM
from tests.handlers.test_home import dms, home_click, latest, open_home

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
FRIDAY_10 = datetime(2026, 11, 13, 9, 0, tzinfo=UTC)
TUESDAY_0830 = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
LEAVER_HEIR = "U0HEIR"


@pytest.fixture
def slipping_deal(slack, coach, clock):
    """Tiny Co, closed ten days ago, its early steps posted (the rep's reminder) and not done: (deal id, steps)."""
    clock.now = FRIDAY_10
    slack.command("Tiny Co $4,500 contact: Jane Doe")
    slack.command("Other Co $9,000")
    clock.now = MONDAY_10
    dispatch_nudges(coach, posting_client(coach.settings), MONDAY_10, Pacer(sleep=lambda _: None))
    for rep in (REP, OTHER_REP):  # this morning's reminder listed their late steps (as bot.nudges.reminders records)
        engines.execute(
            coach.settings,
            "INSERT INTO reminders (team_id, rep_id, local_date, status, claimed_at, lease_at, sent_at) "
            "SELECT ?, ?, '2026-11-23', 'sent', ?, ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM reminders WHERE team_id = ? AND rep_id = ? AND local_date = '2026-11-23')",
            [TEAM, rep, "2026-11-23T08:00:00Z", "2026-11-23T08:00:00Z", "2026-11-23T08:00:00Z", TEAM, rep],
        )
    return deal_id(coach.settings, "Tiny Co")


def deal_id(settings, account: str) -> int:
    return engines.rows(settings, "SELECT id FROM deals WHERE account = ?", [account])[0]["id"]


def deal(settings, account: str) -> dict:
    return engines.rows(settings, "SELECT * FROM deals WHERE account = ?", [account])[0]


def menu(action: str, deal: int) -> dict:
    return {
        "type": "overflow",
        "selected_option": {"text": {"type": "plain_text", "text": action}, "value": f"{action}:{deal}"},
    }


def pick(slack, action: str, deal: int, *, user: str = MANAGER):
    """The menu in a digest message (a DM from the bot, with a response_url)."""
    return slack.pick("manage_deal_menu", "digest_line", menu(action, deal), user=user)


def menus(blocks: list[dict]) -> list[dict]:
    return [b["accessory"] for b in blocks if (b.get("accessory") or {}).get("action_id") == "manage_deal_menu"]


def reassign_values(scope: str, to: str) -> dict:
    option = {"value": scope, "text": {"type": "plain_text", "text": scope}}
    return {
        "scope": {VALUE: {"type": "radio_buttons", "selected_option": option}},
        "to": {VALUE: {"type": "users_select", "selected_user": to}},
    }


def test_the_digest_offers_each_listed_deal_its_menu_with_a_link_to_the_deal(slipping_deal, coach, fake, settings):
    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    send_digests(coach, posting_client(coach.settings), TUESDAY_0830)
    [digest] = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGER]
    [tiny_menu] = [m for m in menus(digest.params["blocks"]) if m["options"][0]["value"] == f"remind:{slipping_deal}"]
    labels = [(o["text"]["text"], o["value"]) for o in tiny_menu["options"]]
    assert labels == [
        ("Remind rep", f"remind:{slipping_deal}"),
        ("Reassign…", f"reassign:{slipping_deal}"),
        ("Open deal", f"link:{slipping_deal}"),
    ]
    ts = deal(settings, "Tiny Co")["message_ts"]
    # nudges are in the deal's thread (the default): Open deal opens that thread, where its plan unfolds
    thread = f"https://fake.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}?thread_ts={ts}&cid={CHANNEL}"
    assert tiny_menu["options"][2]["url"] == thread
    assert fake.violations == []


def test_remind_rep_sends_the_owner_a_dm_naming_the_steps_owed(slipping_deal, slack, fake):
    pick(slack, "remind", slipping_deal)
    [reminder] = dms(fake, REP)
    assert reminder.startswith(f"<@{MANAGER}> asks you to catch up on *Tiny Co*:")
    # the congratulations call's 3-day window passed before the first tick: missed, not owed
    assert "• Hand Tiny Co over to the implementation lead before the kickoff (due Mon Nov 16)" in reminder
    assert "congratulate" not in reminder
    assert f"<#{CHANNEL}>" in reminder
    answer = fake.last("response_url").params
    assert answer["response_type"] == "ephemeral" and f"Reminded <@{REP}>" in answer["text"]
    assert fake.violations == []


def test_remind_rep_names_only_the_steps_still_worth_doing_not_those_whose_window_passed_since(
    slipping_deal, slack, fake, clock
):
    """A day later the handover (a 7-day window, posted and undone) has passed its window: the digest counts it once
    as missed and the rep's own reminder dropped it, so the manager's Remind rep doesn't ask for it either."""
    clock.now = MONDAY_10 + timedelta(days=1)
    pick(slack, "remind", slipping_deal)
    [reminder] = dms(fake, REP)
    assert "• Run the kickoff with Jane Doe and the implementation lead — Tiny Co (due Fri Nov 20)" in reminder
    assert "Hand Tiny Co over" not in reminder and "thank-you video" not in reminder
    answer = fake.last("response_url").params
    assert f"Reminded <@{REP}> about the 1 step owed" in answer["text"]
    assert fake.violations == []


def test_only_managers_may_use_the_menu(slipping_deal, slack, fake, settings):
    for action in ("remind", "reassign", "open"):
        pick(slack, action, slipping_deal, user=REP)
        assert fake.last("response_url").params["text"] == "Only a manager can do that from here."
    assert dms(fake, REP) == [] and fake.calls_to("views.open") == []
    pick(slack, "remind", slipping_deal, user=MANAGER)
    pick(slack, "bogus", slipping_deal, user=MANAGER)  # a forged value: answered, nothing done
    assert "can't find" in fake.last("response_url").params["text"] and len(dms(fake, REP)) == 1


def test_reassign_hands_the_whole_deal_over_once_and_tells_the_new_owner(slipping_deal, slack, fake, settings):
    pick(slack, "reassign", slipping_deal)
    view = fake.last("views.open").params["view"]
    assert view["callback_id"] == "manage_reassign"
    missing = slack.submit(view, reassign_values("deal", "not-a-user"), user=MANAGER)
    assert (
        "Pick a teammate" in json.loads(missing.body)["errors"]["to"] and deal(settings, "Tiny Co")["owner_id"] == REP
    )
    updates = len(fake.calls_to("chat.update"))
    slack.submit(view, reassign_values("deal", OTHER_REP), user=MANAGER)
    assert deal(settings, "Tiny Co")["owner_id"] == OTHER_REP and deal(settings, "Other Co")["owner_id"] == REP
    [handover] = dms(fake, OTHER_REP)
    assert handover.startswith(f"<@{MANAGER}> handed you the deal *Tiny Co*")
    redrawn = [c.params for c in fake.calls_to("chat.update")[updates:]]
    assert redrawn and all(f"<@{OTHER_REP}>" in json.dumps(u["blocks"]) for u in redrawn)  # its nudges name them
    assert all("Congratulations" not in u["text"] for u in redrawn)  # the closer keeps the credit
    again = slack.submit(view, reassign_values("deal", OTHER_REP), user=MANAGER)
    assert "theirs already" in json.loads(again.body)["errors"]["to"] and len(dms(fake, OTHER_REP)) == 1
    slack.submit(view, reassign_values("deal", OTHER_REP), user=REP)  # a forged submission by a rep
    assert deal(settings, "Tiny Co")["owner_id"] == OTHER_REP
    assert fake.violations == []


def test_reassign_hands_a_departing_reps_open_deals_or_one_step(slipping_deal, slack, fake, settings):
    pick(slack, "reassign", slipping_deal)
    view = fake.last("views.open").params["view"]
    slack.submit(view, reassign_values("step", LEAVER_HEIR), user=MANAGER)
    handed = engines.rows(settings, "SELECT step_id FROM nudges WHERE assignee_id = ? ORDER BY id", [LEAVER_HEIR])
    assert [r["step_id"] for r in handed] == ["handover"] and deal(settings, "Tiny Co")["owner_id"] == REP
    slack.submit(view, reassign_values("all", LEAVER_HEIR), user=MANAGER)
    assert (
        deal(settings, "Tiny Co")["owner_id"] == LEAVER_HEIR and deal(settings, "Other Co")["owner_id"] == LEAVER_HEIR
    )
    assert dms(fake, LEAVER_HEIR)[-1].startswith(f"<@{MANAGER}> handed you the deals *Tiny Co*, *Other Co*")
    assert fake.violations == []


def test_reassigning_the_oldest_step_owed_skips_one_whose_window_passed_as_remind_rep_does(
    slipping_deal, slack, fake, settings, clock
):
    """A day later the handover (a 7-day window) is missed, not owed: the form offers the kickoff, the step Remind rep
    names, and handing it over moves the kickoff, never the missed handover."""
    clock.now = MONDAY_10 + timedelta(days=1)
    pick(slack, "reassign", slipping_deal)
    view = fake.last("views.open").params["view"]
    offered = json.dumps(view)
    assert "Its oldest step owed: Run the kickoff" in offered and "Hand Tiny Co over" not in offered
    slack.submit(view, reassign_values("step", LEAVER_HEIR), user=MANAGER)
    handed = engines.rows(settings, "SELECT step_id FROM nudges WHERE assignee_id = ? ORDER BY id", [LEAVER_HEIR])
    assert [r["step_id"] for r in handed] == ["kickoff"]
    assert fake.violations == []


def test_home_shows_a_manager_the_same_lists_and_menus_and_open_deal_sends_the_plan(slipping_deal, slack, fake):
    open_home(slack, MANAGER)
    view = latest(fake, MANAGER)
    assert "Follow-ups slipping (2)" in json.dumps(view["blocks"]) and menus(view["blocks"])
    open_home(slack, REP)
    assert menus(latest(fake, REP)["blocks"]) == []  # a rep's Home has no manager's menu
    option = menu("open", slipping_deal)["selected_option"]
    home_click(slack, "manage_deal_menu", user=MANAGER, block_id="x", type="overflow", selected_option=option)
    plan = fake.last("chat.postMessage").params
    assert plan["channel"] == MANAGER and "Tiny Co" in plan["text"]
    assert "*Tiny Co*" in plan["blocks"][0]["text"]["text"] and len(plan["blocks"]) > 1
    option = menu("remind", slipping_deal)["selected_option"]
    home_click(slack, "manage_deal_menu", user=MANAGER, block_id="x", type="overflow", selected_option=option)
    assert dms(fake, REP)[-1].startswith(f"<@{MANAGER}> asks you to catch up on *Tiny Co*")
    assert f"Reminded <@{REP}>" in dms(fake, MANAGER)[-1]  # Home has no response_url: the answer is a DM
    assert fake.violations == []


def test_each_manager_chooses_their_team_and_their_home_and_digest_cover_only_those_reps(
    slipping_deal, slack, fake, coach, clock
):
    clock.now = FRIDAY_10
    slack.command("Far Away Co $7,000", user=OTHER_REP)
    dispatch_nudges(coach, posting_client(coach.settings), MONDAY_10, Pacer(sleep=lambda _: None))
    clock.now = MONDAY_10
    open_home(slack, MANAGER)
    shown = json.dumps(latest(fake, MANAGER)["blocks"])
    assert "everyone's deals (the default)" in shown and "Follow-ups slipping (3)" in shown
    home_click(slack, "manage_choose_team", "team", user=MANAGER)
    view = fake.last("views.open").params["view"]
    bad = slack.submit(
        view, {"people": {VALUE: {"type": "multi_users_select", "selected_users": ["nope"]}}}, user=MANAGER
    )
    assert "Pick your reps" in json.loads(bad.body)["errors"]["people"]
    slack.submit(view, {"people": {VALUE: {"type": "multi_users_select", "selected_users": [OTHER_REP]}}}, user=MANAGER)
    shown = json.dumps(latest(fake, MANAGER)["blocks"])  # redrawn after the save
    assert f"the deals of <@{OTHER_REP}>" in shown and "Follow-ups slipping (1)" in shown and "Tiny Co" not in shown
    home_click(slack, "manage_choose_team", "team", user=REP)  # a rep has no team to choose
    assert dms(fake, REP)[-1] == "Only a manager can do that from here."

    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    send_digests(coach, posting_client(coach.settings), TUESDAY_0830)
    [digest] = [
        c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGER and c.params.get("metadata")
    ]
    sent = json.dumps(digest.params["blocks"])
    assert "Far Away Co" in sent and "Tiny Co" not in sent and "Other Co" not in sent
    assert f"Your team: <@{OTHER_REP}>" in sent and f"<@{REP}>" not in sent
    assert fake.violations == []


def test_a_manager_may_follow_a_slack_user_group_read_again_before_each_digest(slipping_deal, slack, fake, coach):
    fake.usergroups["S0EAST"] = {"handle": "sales-east", "name": "Sales <East>", "users": [OTHER_REP]}
    slack.command("Far Away Co $7,000", user=OTHER_REP)
    home_click(slack, "manage_choose_team", "team", user=MANAGER)
    view = fake.last("views.open").params["view"]
    [group_block] = [b for b in view["blocks"] if b.get("block_id") == "usergroup"]
    assert [o["value"] for o in group_block["element"]["options"]] == ["S0EAST"]
    assert "<East>" not in json.dumps(group_block)  # a group's name is shown as text, never markup
    picked = {"type": "static_select", "selected_option": {"value": "S0GONE", "text": {"type": "plain_text"}}}
    gone = slack.submit(view, {"usergroup": {VALUE: picked}}, user=MANAGER)
    assert "Slack wouldn't list that group's members (no_such_subteam)" in json.loads(gone.body)["errors"]["usergroup"]
    picked["selected_option"]["value"] = "S0EAST"
    slack.submit(view, {"usergroup": {VALUE: picked}}, user=MANAGER)
    open_home(slack, MANAGER)
    assert "the 1 person of your user group" in json.dumps(latest(fake, MANAGER)["blocks"])

    fake.usergroups["S0EAST"]["users"] = [REP]  # the group changed in Slack: the next digest follows it
    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    send_digests(coach, posting_client(coach.settings), TUESDAY_0830)
    [digest] = [
        c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGER and c.params.get("metadata")
    ]
    sent = json.dumps(digest.params["blocks"])
    assert "Tiny Co" in sent and "Far Away Co" not in sent and f"Your team: <@{REP}>" in sent
    assert fake.violations == []
