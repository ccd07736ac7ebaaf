"""Links to a step follow DEALCOACH_NUDGES_IN (issue 11 §1), through the real Bolt app and the real dispatcher: a
rep's Home, the manager's digest and Home, and the DMs that name a step (handed over, Remind rep) point at the
step's own message where Slack holds it (the reply in the deal's thread, the channel message, the rep's DM), and
say in words where that is; in thread mode a deal's link (Open deal) opens its thread."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from bot.nudges.dispatch import Pacer
from bot.slack.blocks import VALUE
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges, send_digests
from tests import engines
from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP, TEAM
from tests.handlers.test_home import dms, latest, open_home

pytestmark = pytest.mark.both_engines

FRIDAY_10 = datetime(2026, 11, 13, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TUESDAY_0830 = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
URL = "https://fake.slack.com/"  # what the fake's auth.test answers
HEIR = "U0HEIR"


@pytest.fixture(params=["thread", "channel", "dm"])
def nudges_in(request):
    return request.param


@pytest.fixture
def settings(settings, nudges_in):
    return replace(settings, nudges_in=nudges_in)


@pytest.fixture
def late_deal(slack, coach, clock):
    """Tiny Co, closed ten days ago by REP; Monday's tick posted its due steps where DEALCOACH_NUDGES_IN says, and
    that morning's reminder listed them (so the digest counts them as slipping). Returns the deal's row."""
    clock.now = FRIDAY_10
    slack.command("Tiny Co $4,500 contact: Jane Doe")
    clock.now = MONDAY_10
    dispatch_nudges(coach, posting_client(coach.settings), MONDAY_10, Pacer(sleep=lambda _: None))
    engines.execute(
        coach.settings,
        "INSERT INTO reminders (team_id, rep_id, local_date, status, claimed_at, lease_at, sent_at) "
        "VALUES (?, ?, '2026-11-23', 'sent', ?, ?, ?)",
        [TEAM, REP, "2026-11-23T08:00:00Z", "2026-11-23T08:00:00Z", "2026-11-23T08:00:00Z"],
    )
    [deal] = engines.rows(coach.settings, "SELECT * FROM deals WHERE account = 'Tiny Co'")
    return deal


def oldest_posted(settings, deal_id: int) -> dict:
    """The deal's oldest step on screen, with where Slack holds its message (the posts row)."""
    return engines.rows(
        settings,
        "SELECT n.id, n.step_id, p.channel_id, p.ts, p.thread_ts FROM nudges n JOIN posts p ON p.id = n.post_id "
        "WHERE n.deal_id = ? AND n.status = 'posted' ORDER BY n.due_date, n.id",
        [deal_id],
    )[0]


def oldest_slipping(settings, playbook, deal_id: int, today: date) -> dict:
    """The deal's oldest posted step still within its playbook window (14 days without one): the one the digest's
    Follow-ups slipping names; an older one whose window passed counts as missed instead."""
    window = {step.id: step.window for step in playbook.steps if step.window is not None}
    posted = engines.rows(
        settings,
        "SELECT n.id, n.step_id, n.due_date, p.channel_id, p.ts, p.thread_ts FROM nudges n "
        "JOIN posts p ON p.id = n.post_id WHERE n.deal_id = ? AND n.status = 'posted' ORDER BY n.due_date, n.id",
        [deal_id],
    )
    return next(
        r for r in posted if (today - date.fromisoformat(str(r["due_date"]))).days <= window.get(r["step_id"], 14)
    )


def next_planned(settings, deal_id: int) -> dict:
    return engines.rows(
        settings, "SELECT id FROM nudges WHERE deal_id = ? AND status = 'planned' ORDER BY due_date, id", [deal_id]
    )[0]


def link_to(channel: str, ts: str, thread_ts: str | None = None) -> str:
    link = f"{URL}archives/{channel}/p{ts.replace('.', '')}"
    return f"{link}?thread_ts={thread_ts}&cid={channel}" if thread_ts else link


def where_slack_has_it(fake, step: dict, deal: dict, nudges_in: str) -> str:
    """The step's message as the fake Slack stored it: a reply under the deal's message, a channel message, or a
    message in the rep's DM; its link."""
    message = fake.messages[(step["channel_id"], step["ts"])]
    if nudges_in == "thread":
        assert step["channel_id"] == CHANNEL and message["thread_ts"] == deal["message_ts"] == step["thread_ts"]
    elif nudges_in == "channel":
        assert step["channel_id"] == CHANNEL and "thread_ts" not in message
    else:
        assert step["channel_id"] == f"D{REP}" and "thread_ts" not in message
    return link_to(step["channel_id"], step["ts"], step["thread_ts"])


def deal_link(deal: dict, nudges_in: str) -> str:
    ts = deal["message_ts"]
    return link_to(CHANNEL, ts, ts if nudges_in == "thread" else None)


def section_with(blocks: list[dict], *words: str) -> str:
    [text] = [
        b["text"]["text"] for b in blocks if b.get("type") == "section" and all(w in b["text"]["text"] for w in words)
    ]
    return text


def home_line(blocks: list[dict], nudge_id: int) -> str:
    """A follow-up's line on Home: the section just above its buttons."""
    [at] = [i for i, b in enumerate(blocks) if b.get("block_id") == f"nudge_{nudge_id}"]
    return blocks[at - 1]["text"]["text"]


def test_a_reps_home_links_each_posted_step_to_its_own_message_and_a_planned_one_to_the_deals(
    late_deal, slack, fake, settings, nudges_in
):
    step, planned = oldest_posted(settings, late_deal["id"]), next_planned(settings, late_deal["id"])
    before = len(fake.calls_to("auth.test"))  # Bolt's own, authorizing its first request
    open_home(slack, REP)
    open_home(slack, REP)  # the workspace URL is read once, then kept
    assert len(fake.calls_to("auth.test")) == before + 1
    blocks = latest(fake, REP)["blocks"]
    line = home_line(blocks, step["id"])
    link = where_slack_has_it(fake, step, late_deal, nudges_in)
    words = {
        "thread": f"<{link}|in the deal's thread> in <#{CHANNEL}>",
        "channel": f"<{link}|posted> in <#{CHANNEL}>",
        "dm": f"<{link}|in your DMs with me>",
    }[nudges_in]
    assert words in line
    line = home_line(blocks, planned["id"])
    what = "the deal's thread" if nudges_in == "thread" else "the deal's message"
    assert f"<{deal_link(late_deal, nudges_in)}|{what}> in <#{CHANNEL}>" in line  # not posted yet: where it will be
    assert fake.violations == []


def test_the_digest_and_the_managers_home_link_a_slipping_step_to_its_message_and_open_deal_to_the_deal(
    late_deal, slack, fake, coach, settings, nudges_in, clock
):
    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    send_digests(coach, posting_client(coach.settings), TUESDAY_0830)
    [digest] = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGER]
    step = oldest_slipping(settings, coach.playbook, late_deal["id"], TUESDAY_0830.date())
    link = where_slack_has_it(fake, step, late_deal, nudges_in)
    words = {
        "thread": f"<{link}|in the deal's thread> in <#{CHANNEL}>",
        "channel": f"<{link}|posted> in <#{CHANNEL}>",
        "dm": f"sent to <@{REP}> by DM",  # the rep's DM opens only for the rep: named, never linked
    }[nudges_in]
    clock.now = TUESDAY_0830  # the manager opens Home after reading the digest: the same day, the same steps
    open_home(slack, MANAGER)
    for blocks in (digest.params["blocks"], latest(fake, MANAGER)["blocks"]):
        line = section_with(blocks, "Tiny Co", "overdue after the nudge")
        assert f"(due {date.fromisoformat(str(step['due_date'])):%a %b %-d}, {words})" in line
        assert f"<{deal_link(late_deal, nudges_in)}|Tiny Co>" in line
        assert f"{URL}archives/D" not in json.dumps(blocks)
        [menu] = [
            b["accessory"]
            for b in blocks
            if (b.get("accessory") or {}).get("action_id") == "manage_deal_menu" and "Tiny Co" in b["text"]["text"]
        ]
        assert menu["options"][2]["url"] == deal_link(late_deal, nudges_in)  # Open deal: its thread in thread mode
    assert fake.violations == []


def test_a_step_handed_to_a_teammate_tells_them_where_its_message_is(late_deal, slack, fake, settings, nudges_in):
    step = oldest_posted(settings, late_deal["id"])
    slack.pick("nudge_reassign", f"nudge_{step['id']}", {"type": "users_select", "selected_user": OTHER_REP})
    [dm] = dms(fake, OTHER_REP)
    assert dm.startswith(f"<@{REP}> handed you a follow-up for *Tiny Co*: Hand Tiny Co over")
    link = where_slack_has_it(fake, step, late_deal, nudges_in)
    said = {
        "thread": f"It's <{link}|in the deal's thread> in <#{CHANNEL}>, with a draft and the buttons to mark it done.",
        "channel": f"It's <{link}|posted> in <#{CHANNEL}>, with a draft and the buttons to mark it done.",
        # in the owner's DMs, where the teammate can't see it: the buttons and the draft are on their Home tab
        "dm": f"Its message went to <@{REP}> by DM, so act on it from my Home tab (Done, Snooze and Skip are there, "
        "its whole draft under More).",
    }[nudges_in]
    assert dm.endswith(said)
    assert "It's in <#" not in dm
    assert fake.violations == []


def test_a_step_a_manager_hands_over_says_where_its_message_is(late_deal, slack, fake, settings, nudges_in):
    step = oldest_posted(settings, late_deal["id"])
    option = {"text": {"type": "plain_text", "text": "Reassign…"}, "value": f"reassign:{late_deal['id']}"}
    slack.pick("manage_deal_menu", "digest_line", {"type": "overflow", "selected_option": option}, user=MANAGER)
    view = fake.last("views.open").params["view"]
    values = {
        "scope": {VALUE: {"type": "radio_buttons", "selected_option": {"value": "step", "text": {}}}},
        "to": {VALUE: {"type": "users_select", "selected_user": HEIR}},
    }
    slack.submit(view, values, user=MANAGER)
    [dm] = dms(fake, HEIR)
    assert dm.startswith(f"<@{MANAGER}> handed you a follow-up on *Tiny Co*: Hand Tiny Co over")
    link = where_slack_has_it(fake, step, late_deal, nudges_in)
    said = {
        "thread": f"It's <{link}|in the deal's thread> in <#{CHANNEL}>, with a draft",
        "channel": f"It's <{link}|posted> in <#{CHANNEL}>, with a draft",
        "dm": f"Its message went to <@{REP}> by DM, so act on it from my Home tab",
    }[nudges_in]
    assert said in dm
    assert fake.violations == []


def test_remind_rep_links_each_step_owed_and_says_where_they_are(late_deal, slack, fake, settings, nudges_in):
    step = oldest_posted(settings, late_deal["id"])
    option = {"text": {"type": "plain_text", "text": "Remind rep"}, "value": f"remind:{late_deal['id']}"}
    slack.pick("manage_deal_menu", "digest_line", {"type": "overflow", "selected_option": option}, user=MANAGER)
    [reminder] = [text for text in dms(fake, REP) if text.startswith(f"<@{MANAGER}> asks you")]
    link = where_slack_has_it(fake, step, late_deal, nudges_in)  # the rep's own DM: theirs to open
    assert f"• Hand Tiny Co over to the implementation lead before the kickoff (due Mon Nov 16) · <{link}|open it>" in (
        reminder
    )
    where = {
        "thread": f"They're <{deal_link(late_deal, nudges_in)}|in the deal's thread> in <#{CHANNEL}>, with drafts",
        "channel": f"They're in <#{CHANNEL}>, with drafts",
        "dm": "They're in your DMs with me, with drafts",
    }[nudges_in]
    assert where in reminder
    assert fake.violations == []


def test_after_a_deal_changes_hands_its_new_owner_is_never_linked_into_the_old_owners_dm(
    late_deal, slack, fake, settings, nudges_in
):
    step = oldest_posted(settings, late_deal["id"])
    option = {"text": {"type": "plain_text", "text": "Reassign…"}, "value": f"reassign:{late_deal['id']}"}
    slack.pick("manage_deal_menu", "digest_line", {"type": "overflow", "selected_option": option}, user=MANAGER)
    values = {
        "scope": {VALUE: {"type": "radio_buttons", "selected_option": {"value": "deal", "text": {}}}},
        "to": {VALUE: {"type": "users_select", "selected_user": HEIR}},
    }
    slack.submit(fake.last("views.open").params["view"], values, user=MANAGER)
    assert engines.rows(settings, "SELECT owner_id FROM deals WHERE id = ?", [late_deal["id"]]) == [{"owner_id": HEIR}]
    open_home(slack, HEIR)
    line = home_line(latest(fake, HEIR)["blocks"], step["id"])
    link = where_slack_has_it(fake, step, late_deal, nudges_in)
    words = {
        "thread": f"<{link}|in the deal's thread> in <#{CHANNEL}>",
        "channel": f"<{link}|posted> in <#{CHANNEL}>",
        "dm": f"sent to <@{REP}> by DM",  # REP's DM, which the heir can't open: named, not linked, not "yours"
    }[nudges_in]
    assert words in line
    assert "archives/D" not in line and "in your DMs" not in line
    assert fake.violations == []


def test_home_still_opens_when_slack_wont_say_the_workspace_url_and_links_come_back_on_the_next_open(
    late_deal, slack, fake, settings, nudges_in
):
    step = oldest_posted(settings, late_deal["id"])
    fake.fail("auth.test", error="internal_error")
    open_home(slack, REP)
    line = home_line(latest(fake, REP)["blocks"], step["id"])
    words = {"thread": f"in the deal's thread in <#{CHANNEL}>", "channel": f"posted in <#{CHANNEL}>"}
    assert words.get(nudges_in, "in your DMs with me") in line and URL not in line  # the words, without a link
    open_home(slack, REP)  # asked again, since the failure was not kept
    assert where_slack_has_it(fake, step, late_deal, nudges_in) in home_line(latest(fake, REP)["blocks"], step["id"])
    assert fake.violations == []
