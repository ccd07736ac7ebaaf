"""The digest's two honest lists, from what reps did in Slack through the real app: *Buyer signals* (a worried buyer,
a concern, a verbal yes waiting for its signature) and *Follow-ups slipping* (only after the rep's own nudge)."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.digest.delivery import EVENT_TYPE
from bot.nudges.dispatch import Pacer
from bot.slack.blocks import MESSAGE_BLOCKS, VALUE
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges, send_digests
from tests import engines
from tests.conftest import MANAGER, OTHER_REP, REP

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def morning(coach, fake):
    """The manager's digest at `now`, as the digest job sends it: its (text, blocks, all its text as one string)."""
    fake.users[MANAGER] = {"tz": "Europe/Berlin"}
    client = posting_client(coach.settings)

    def send(now: datetime):
        fake.epoch = now.timestamp()
        send_digests(coach, client, now)
        [post] = [
            c
            for c in fake.calls_to("chat.postMessage")
            if (c.params.get("metadata") or {}).get("event_type") == EVENT_TYPE and c.params["channel"] == MANAGER
        ][-1:]
        return post.params["text"], post.params["blocks"]

    return send


@pytest.fixture
def tick(coach):
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))


def section_of(blocks: list[dict], heading: str) -> str:
    """The section starting with `heading` and the sections and context lines after it, up to the next divider."""
    out, inside = [], False
    for block in blocks:
        if block["type"] == "divider":
            if inside:
                break
            continue
        text = block.get("text", {}).get("text") or " ".join(e.get("text", "") for e in block.get("elements", []))
        inside = inside or heading in text
        if inside:
            out.append(text)
    return "\n".join(out)


def deal_id(settings, account: str) -> int:
    [row] = engines.rows(settings, "SELECT id FROM deals WHERE account = ?", [account])
    return row["id"]


def nudge_id(settings, account: str, step: str) -> int:
    [row] = engines.rows(
        settings,
        "SELECT n.id FROM nudges n JOIN deals d ON d.id = n.deal_id WHERE d.account = ? AND n.step_id = ?",
        [account, step],
    )
    return row["id"]


def radio(value: str) -> dict:
    return {VALUE: {"type": "radio_buttons", "selected_option": {"value": value, "text": {"type": "plain_text"}}}}


def test_a_managers_morning_shows_buyer_signals_first_and_slipping_follow_ups_only_after_the_reminder(
    slack, fake, settings, clock, tick, morning
):
    clock.now = berlin(13)  # Friday: a verbal yes and a small deal; nothing posted yet (the bot was away)
    slack.command("Initech $30k verbal")
    slack.command("Tiny Co $4,500")

    text, blocks = morning(berlin(23, 8, 30))  # Monday
    signals = section_of(blocks, "*Buyer signals*")
    assert "*Buyer signals* (1) · $30,000 at stake" in signals
    assert "|Initech> · $30,000" in signals and "verbal yes 10 days ago, still unsigned" in signals
    assert "*Do:* ask what stands between them and the signature" in signals
    assert "more than 7 days for its signature" in signals  # the rule, stated
    slipping = section_of(blocks, "*Follow-ups slipping*")
    assert "Tiny Co" not in slipping and "(0)" in slipping  # overdue, but no nudge has reached the rep yet
    assert "after their nudge reached the rep" in slipping

    clock.now = berlin(23)
    tick(berlin(23))  # the nudges reach the reps: their own reminder
    slack.command("Acme Rockets $120k contact: Jane Doe persona: economic")
    slack.command("Globex $50k")
    tick(berlin(23, 10, 5))
    slack.click("nudge_done", str(nudge_id(settings, "Acme Rockets", "congratulate")))
    slack.click("signal_sounded", f"{nudge_id(settings, 'Acme Rockets', 'congratulate')}:worried")
    slack.click("signal_note_doubt", str(nudge_id(settings, "Acme Rockets", "congratulate")))
    note = fake.last("views.open").params["view"]
    slack.submit(note, {"note": {VALUE: {"type": "plain_text_input", "value": "IT <!here> has no time in March"}}})
    slack.click("signal_flag_concern", str(deal_id(settings, "Globex")), user=MANAGER)
    concern = fake.last("views.open").params["view"]
    slack.submit(concern, {"concern": radio("budget")}, user=MANAGER)
    assert "Tiny Co" not in section_of(morning(berlin(23, 14))[1], "*Follow-ups slipping*")  # no reminder yet
    tick(berlin(23, 15, 30))  # 09:30 in New York, the rep's own time zone: their morning reminder

    text, blocks = morning(berlin(24, 8, 30))  # Tuesday
    assert text.startswith("Your Deal Coach digest for Tue Nov 24: 3 buyer signals")
    signals = section_of(blocks, "*Buyer signals*")
    assert "*Buyer signals* (3) · $200,000 at stake" in signals
    lines = [line for line in signals.splitlines() if line.startswith("• ")]
    assert "Acme Rockets" in lines[0]  # the worried buyer leads: the biggest spend
    assert "sounded worried after a follow-up (Mon Nov 23): “IT &lt;!here&gt; has no time in March”" in lines[0]
    assert "*Do:* call back this week and answer that doubt" in lines[0]
    assert "Globex" in lines[1] and "budget flagged (Mon Nov 23)" in lines[1]
    assert "Initech" in lines[2] and "11 days ago" in lines[2]
    slipping = section_of(blocks, "*Follow-ups slipping*")
    tiny = next(line for line in slipping.splitlines() if "Tiny Co" in line)
    # only the step still within its playbook window slips (the earlier ones' windows passed: missed, counted once)
    assert "1 step overdue after the nudge" in tiny and "(due Fri Nov 20" in tiny and "*Do:* *Remind rep*" in tiny
    assert "$4,500" in tiny and "at stake" in slipping
    assert "<!here>" not in json.dumps(blocks) and len(blocks) <= MESSAGE_BLOCKS
    assert fake.violations == []


def numbers_of(blocks: list[dict]) -> str:
    return section_of(blocks, "*The numbers*")


def test_the_remorse_rate_counts_a_cancellation_after_the_yes_and_never_a_deleted_capture(
    slack, fake, settings, clock, morning
):
    clock.now = berlin(2)  # three weeks ago: four deals close, two of them the other rep's
    slack.command("Acme Rockets $120k")
    slack.command("Globex $50k")
    slack.command("Initech $30k", user=OTHER_REP)
    slack.command("Typo Inc $1k", user=OTHER_REP)
    clock.now = berlin(20)  # the buyer backs out after the yes; a capture made by mistake is deleted
    slack.click("deal_cancel", str(deal_id(settings, "Globex")))
    reason = {"reason": {VALUE: {"type": "plain_text_input", "value": "Budget frozen"}}}
    slack.submit(fake.last("views.open").params["view"], reason)
    slack.click("deal_delete", str(deal_id(settings, "Typo Inc")), user=OTHER_REP)

    _, blocks = morning(berlin(23, 8, 30))
    shown = numbers_of(blocks)
    assert "*Remorse rate*: 33% (1 of 3) of the deals closed in the last 30 days cancelled since" in shown
    assert "33% (1 of 3) of the deals closed in the last 90 days cancelled since" in shown
    assert "• *Team*: 33% (1 of 3)" in shown
    assert f"<@{REP}>: 50% (1 of 2)" in shown and f"<@{OTHER_REP}>: 0% (0 of 1)" in shown
    assert "*Trend*, completion by week:" in shown and "→" in shown  # in the body, not only the chart
    assert "*Due this week*:" in shown and "*Completion on time*:" in shown
    assert fake.violations == []


def test_however_big_the_team_the_digest_is_one_message_and_nothing_is_cut_silently(coach, store, fake, morning):
    from datetime import date, timedelta

    from bot.signals import model as signals
    from tests.bot.digest.test_build import Team

    team = Team(store)
    reps = [f"U0REP{i:02d}" for i in range(60)]
    for i in range(400):
        closed = berlin(23, 8) - timedelta(days=i % 80, hours=i % 7)
        deal = team.deal(f"Account {i:03d} <b>" + "X" * 60, 5_000 + 997 * i, closed, owner=reps[i % 60])
        if i % 9 == 0:
            team.cancel(f"Account {i:03d} <b>" + "X" * 60, berlin(23, 7), "Budget <!channel> " * 30)
            continue
        with store.write() as db:
            signals.record(
                db, team_id="T0FAKE", deal_id=deal, kind="concern" if i % 2 else "touch", by_user=reps[0],
                happened_on=date(2026, 11, 20), now=berlin(20), request_key=f"s{i}",
                sentiment=None if i % 2 else "worried", concern="cancel" if i % 2 else None, note="<!here> " * 100,
            )  # fmt: skip
        if i % 5 == 0:
            team.done(
                f"Account {i:03d} <b>" + "X" * 60,
                "win",
                berlin(21),
                outcome={"kind": "win_reason", "reason": "Fast " * 50},
            )
    team.post_due()
    for rep in reps:  # every rep's morning reminder went: their late steps slip
        team.remind(rep, date(2026, 11, 23))
    _, blocks = morning(berlin(23, 8, 30))
    assert len(blocks) <= MESSAGE_BLOCKS and fake.violations == []
    assert blocks[-1]["elements"][0]["text"].startswith("Completion = done")  # the last part is there, not cut off
    shown = json.dumps(blocks, ensure_ascii=False)
    for heading in ("*Buyer signals*", "*Follow-ups slipping*", "*The numbers*", "*Each rep against the team*"):
        assert heading in shown
    assert shown.count('"action_id": "manage_deal_menu"') == 6  # three deals of each list with their menu
    assert "<!here>" not in shown and "<!channel>" not in shown and "<b>" not in shown


def test_the_first_digest_of_a_month_carries_last_months_coaching_report(slack, fake, settings, clock, morning):
    clock.now = berlin(2)
    slack.command("Acme Rockets $120k")
    clock.now = berlin(20)  # its early steps went undone; then the buyer backed out
    slack.click("deal_cancel", str(deal_id(settings, "Acme Rockets")))
    reason = {"reason": {VALUE: {"type": "plain_text_input", "value": "Budget frozen"}}}
    slack.submit(fake.last("views.open").params["view"], reason)
    _, november = morning(berlin(30, 8, 30))  # Monday Nov 30
    assert "Does the coaching work?" not in numbers_of(november)
    _, december = morning(datetime(2026, 12, 1, 8, 30, tzinfo=BERLIN))  # the month's first digest
    shown = numbers_of(december)
    assert "*Does the coaching work?* Deals closed Nov 1 to Nov 30" in shown
    assert "early steps late or missed: 1 deal, 1 (100%) cancelled" in shown
    assert "Only one group has deals" in shown
    _, second = morning(datetime(2026, 12, 2, 8, 30, tzinfo=BERLIN))
    assert "Does the coaching work?" not in numbers_of(second)  # once a month


def done_all_but(slack, settings, account: str, keep: str | None = None) -> None:
    """The rep clicks Done on every step of `account` posted to them so far, except `keep`'s."""
    rows = engines.rows(
        settings,
        "SELECT n.id, n.step_id FROM nudges n JOIN deals d ON d.id = n.deal_id WHERE d.account = ? "
        "AND n.status = 'posted'",
        [account],
    )
    for row in rows:
        if row["step_id"] != keep:
            slack.click("nudge_done", str(row["id"]))


def test_a_step_slips_until_its_own_window_passes_then_counts_once_as_missed(
    slack, fake, settings, clock, tick, morning
):
    clock.now = berlin(16)  # Monday: the congratulations call is due today, within 3 days (its playbook window)
    slack.command("Tiny Co $4,500")
    tick(berlin(16, 10, 5))
    done_all_but(slack, settings, "Tiny Co", keep="congratulate")
    clock.now = berlin(17, 15, 30)
    tick(berlin(17, 15, 30))  # 09:30 in New York: the rep's own morning reminder lists the late call
    done_all_but(slack, settings, "Tiny Co", keep="congratulate")

    def rep_line(blocks) -> str:
        return next(line for line in section_of(blocks, "*Follow-ups by rep*").splitlines() if f"<@{REP}>" in line)

    for day in (18, 19):  # 2 and 3 days late: within its window, slipping
        blocks = morning(berlin(day, 8, 30))[1]
        assert "· 1 overdue ·" in rep_line(blocks)
        slipping = section_of(blocks, "*Follow-ups slipping*")
        tiny = next(line for line in slipping.splitlines() if "Tiny Co" in line)
        assert "1 step overdue after the nudge" in tiny and "congratulate" in tiny and "(due Mon Nov 16," in tiny
        assert "window undone" not in slipping
        assert (
            "until the step's window passes (its playbook window, or 14 days late for a step without one)" in slipping
        )

    blocks = morning(berlin(20, 8, 30))[1]  # 4 days late: its window passed
    assert "· 0 overdue ·" in rep_line(blocks)  # missed now, not forever overdue
    slipping = section_of(blocks, "*Follow-ups slipping*")
    assert "Tiny Co" not in slipping and "*Follow-ups slipping* (0)" in slipping
    assert "Since your last digest, 1 step passed its window undone: missed, counted once." in slipping

    slipping = section_of(morning(berlin(23, 8, 30))[1], "*Follow-ups slipping*")  # Monday: never again
    assert "Tiny Co" not in slipping and "window undone" not in slipping
    assert fake.violations == []


def test_a_step_the_catch_up_recorded_as_missed_counts_once_as_missed_and_never_slips(
    slack, fake, settings, clock, tick, morning
):
    clock.now = berlin(13)  # Friday; the bot is away until Monday
    slack.command("Tiny Co $4,500")
    tick(berlin(23, 10))  # the catch-up: the steps whose windows passed are recorded as missed, the rest posted
    [missed] = engines.rows(
        settings,
        "SELECT COUNT(*) AS steps, SUM(CASE WHEN step_id = 'congratulate' THEN 1 ELSE 0 END) AS call "
        "FROM nudges WHERE status = 'missed'",
    )
    assert missed["call"] == 1 and missed["steps"] >= 2  # the congratulations call (window 3 days) among them
    clock.now = berlin(23, 15, 30)
    tick(berlin(23, 15, 30))  # the rep's morning reminder: what was posted and is late would now slip
    done_all_but(slack, settings, "Tiny Co")  # ... but the rep does it all

    text, blocks = morning(berlin(24, 8, 30))
    slipping = section_of(blocks, "*Follow-ups slipping*")
    assert "Tiny Co" not in slipping and "*Follow-ups slipping* (0)" in slipping  # missed is not also overdue
    assert f"Since your last digest, {missed['steps']} steps passed their window undone: missed, counted once." in (
        slipping
    )
    rep = next(line for line in section_of(blocks, "*Follow-ups by rep*").splitlines() if f"<@{REP}>" in line)
    assert "· 0 overdue ·" in rep

    slipping = section_of(morning(berlin(25, 8, 30))[1], "*Follow-ups slipping*")
    assert "window undone" not in slipping  # counted once
    assert fake.violations == []
