"""Drafts a rep can send as they are: with the contact, go-live and the team profile known, every step of the
built-in playbook, for every tier and buyer, is filled from facts (no blank but the personal one, never "Hi
there", people named, not mentioned). Driven through the real app: a team file, deals captured with the form
(signed requests), the dispatcher posting to the fake Slack; the test reads what Slack received."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlite_utils

from bot.coach import Coach
from bot.deals import forms as deal_forms
from bot.nudges.dispatch import EVENT_TYPE as NUDGE
from bot.nudges.dispatch import Pacer
from bot.playbook.loader import load
from bot.profile import loader as team_file
from bot.slack.blocks import VALUE
from bot.slack.client import listener_client, posting_client
from handlers import create_app
from schedules.jobs import dispatch_nudges
from tests.conftest import REP
from tests.slackapp import SlackDriver, form

PERSONAL = "[a specific moment from the deal]"  # the one blank only the rep can fill
SAM, KIM, SPONSOR = "U0SAM", "U0KIM", "U0SPONSOR"
TEAM_FILE = """
sticking_points = ["Data migration takes longer than expected.", "Single sign-on needs their IT team"]

[company]
name = "Rocket Software"

[exec_sponsor]
user = "U0SPONSOR"

[[implementation_team]]
user = "U0SAM"
role = "Implementation lead"
fun_fact = "Has run three marathons"

[[implementation_team]]
user = "U0KIM"
role = "Customer success manager"
fun_fact = "Bakes sourdough for the whole office"

[[references]]
name = "Globex"
result = "Live in six weeks, 30% fewer support tickets."
may_name = true

[[references]]
name = "Initech"
result = "Replaced three tools with one in a quarter"
min_amount = 250000
personas = ["technical"]
may_name = true

[[references]]
name = "A regional bank"
result = "Halved onboarding time"
may_name = false

[links]
welcome_kit = "https://example.com/welcome-kit"
thank_you_video = "https://example.com/thank-you"
"""
SLACK_PEOPLE = {
    REP: ("Dana Reyes", "Account Executive"),
    SAM: ("Sam Okafor", "Implementation Lead"),
    KIM: ("Kim Larsen", "Customer Success"),
    SPONSOR: ("Pat Lee", "Chief Customer Officer"),
}
DEALS = [  # (account, amount, persona, implementation lead on the deal, a verbal yes)
    ("Acme Rockets", "$4,500", "other", None, True),
    ("Bluth Company", "$8k", "technical", SAM, False),
    ("Cyberdyne", "$12,000", "champion", None, False),
    ("Dunder Mifflin", "$120k", "economic", SAM, False),
    ("Eternal Systems", "$120k", "champion", SAM, False),
    ("Fabrikam", "$60k", "technical", None, False),
    ("Gringotts", "$850k", "economic", SAM, False),
    ("Hooli", "$300k", "technical", None, False),
]
CLOSED, GO_LIVE = date(2026, 11, 23), date(2027, 1, 11)


@pytest.fixture
def team(tmp_path, settings, store, clock, pace, pacer, executor, fake):
    """The app as `serve` builds it, with DEALCOACH_TEAM_FILE set, and the team's people in Slack."""
    path = tmp_path / "team.toml"
    path.write_text(TEAM_FILE, encoding="utf-8")
    settings = replace(settings, team_file=path)
    coach = Coach(settings, store, load(), clock, sleep=pace.sleep, team_seed=team_file.load(path), pacer=pacer)
    app = create_app(coach, client=listener_client(settings, backoff_seconds=0), listener_executor=executor)
    for user, (name, title) in SLACK_PEOPLE.items():
        fake.users[user] = {"real_name": name, "profile": {"real_name": name, "title": title}}
    return coach, SlackDriver(app, executor, fake)


def capture_with_form(slack, fake, account, amount, persona, lead, verbal):
    slack.command("")
    view = fake.last("views.open").params["view"]
    values = form(
        account,
        amount,
        contact="Jane Doe",
        title="VP Operations",
        persona=persona,
        closed=CLOSED.isoformat(),
        live=GO_LIVE.isoformat(),
        lead=lead,
        why="Consolidating three vendors.",
    )
    if verbal:
        picked = [{"text": {"type": "plain_text", "text": "Verbal yes"}, "value": deal_forms.VERBAL}]
        values[deal_forms.SIGNED] = {VALUE: {"type": "checkboxes", "selected_options": picked}}
    slack.submit(view, values)


def nudge_of(coach, step_id: str, deal_id: int | None = None) -> int:
    with sqlite_utils.Database(coach.settings.db_path) as db:
        rows = db.query("SELECT id, deal_id FROM nudges WHERE step_id = ? ORDER BY id", [step_id])
        return next(r["id"] for r in rows if deal_id is None or r["deal_id"] == deal_id)


def run_days(coach, clock, pace, first: date, last: date, *, diligent: bool = False) -> None:
    """The dispatcher's ticks, one business morning at a time (time is a parameter, never waited for). A diligent
    rep does each step the day it is posted (set up in SQL: the clicks are tested elsewhere), so the deals stay
    healthy and their asks go out."""
    client = posting_client(coach.settings)
    day = first
    while day <= last:
        if day.weekday() < 5:
            clock.now = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
            dispatch_nudges(coach, client, clock.now, Pacer(sleep=pace.sleep, monotonic=pace.monotonic))
            if diligent:
                with sqlite_utils.Database(coach.settings.db_path) as db:
                    db.execute(
                        "UPDATE nudges SET status = 'done', resolved_by = 'U0REP', resolved_at = ? "
                        "WHERE status = 'posted'",
                        [clock.now.isoformat()],
                    )
                    db.conn.commit()
        day += timedelta(days=1)


def whole_draft(slack, fake, nudge_id: int) -> str:
    """The step's whole draft as a rep reads it: More on the message (a signed click), the modal's draft section.
    The message itself shows only the draft's opening."""
    slack.click("nudge_more", str(nudge_id))
    view = fake.last("views.open").params["view"]
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    return next((t for t in texts if t.startswith("*Draft*")), "")


def drafts_posted(fake, db_path, slack) -> list[tuple[str, str, str, str]]:
    """(account, step id, persona, the whole draft, read under More) for every nudge the fake Slack received."""
    with sqlite_utils.Database(db_path) as db:
        steps = {
            r["id"]: (r["account"], r["step_id"], r["persona"])
            for r in db.query(
                "SELECT n.id, n.step_id, d.account, d.persona FROM nudges n JOIN deals d ON d.id = n.deal_id"
            )
        }
    found = []
    for call in fake.posts_of(NUDGE):
        opening = None
        for block in call.params["blocks"]:
            text = block.get("text", {}).get("text", "") if block["type"] == "section" else ""
            if text.startswith("*Draft*"):
                opening = text
            if block["type"] == "actions" and block["block_id"].startswith("nudge_"):
                nudge_id = int(block["block_id"].removeprefix("nudge_"))
                found.append((*steps[nudge_id], whole_draft(slack, fake, nudge_id) if opening else ""))
                opening = None
    return found


def test_with_the_facts_known_every_draft_of_the_built_in_playbook_is_ready_to_send(team, fake, settings, clock, pace):
    coach, slack = team
    for deal in DEALS:
        capture_with_form(slack, fake, *deal)
    run_days(coach, clock, pace, CLOSED, GO_LIVE + timedelta(days=60), diligent=True)

    posted = drafts_posted(fake, settings.db_path, slack)
    timed = {s.id for s in load().steps if s.when is None and s.variant_of is None}  # the plan's own, by dates
    assert {step for _, step, _, _ in posted} == timed  # every step, each tier and buyer
    assert fake.violations == []
    for account, step, persona, draft in posted:
        where = f"{account} ({persona}), {step}:\n{draft}"
        assert draft, where
        body = draft.removeprefix("*Draft* (copy, adjust, send)\n")
        assert "Still blank" not in draft, where
        assert re.findall(r"\[[^\]]*\]", body.replace(PERSONAL, "")) == [], where
        assert "{" not in body and "<@" not in body and "None" not in body, where  # filled, and people named
        assert not body.startswith(">Hi there"), where
        if step != "handover":  # the one draft for a teammate
            assert "Jane" in body.split("\n")[0] or body.startswith(">To the"), where

    by_step: dict[str, list[str]] = {}
    for account, step, _persona, draft in posted:
        by_step.setdefault(step, []).append(draft)
        by_step.setdefault(f"{step}/{account}", []).append(draft)
    assert all("Dana Reyes" in d for d in by_step["thank-you-note"] + by_step["team-gift"])  # the rep's own name
    assert f"*Yours to write:* {PERSONAL} (only you know it" in by_step["thank-you-note"][0]  # said, not promised
    assert "Dana Reyes and everyone at Rocket Software" in by_step["team-gift"][0]
    assert "Pat Lee, our Chief Customer Officer, would like" in by_step["executive-sponsor-call"][0]
    assert "introduction to Sam Okafor" in by_step["next-steps/Cyberdyne"][0]  # the profile's lead, no lead on the deal
    assert "Monday, November 30: kickoff call" in by_step["next-steps/Dunder Mifflin"][0]
    assert "Monday, January 11: go-live" in by_step["next-steps/Dunder Mifflin"][0]
    assert "Done: the kickoff, and the first set-up with Sam Okafor" in by_step["progress-check/Dunder Mifflin"][0]
    go_live_call = by_step["activation-check-in/Dunder Mifflin"][0]  # the date is planned; nobody said it happened
    assert "today is the go-live day we planned for Dunder Mifflin" in go_live_call and "goes live" not in go_live_call
    assert "• Kim Larsen, customer success manager: bakes sourdough" in by_step["welcome-kit"][0]
    assert "progress on consolidating three vendors" in by_step["value-milestones"][0]  # mid-sentence, no capital
    assert "data migration takes longer than expected, for one" in by_step["acclimation-check"][0]
    assert "https://example.com/thank-you" in by_step["celebrate-milestone"][0]
    # peers by size and buyer, only those that may be named
    congratulate = by_step["congratulate/Hooli"][0]
    assert "Initech and Globex made the same choice. What it meant for Initech: replaced three tools" in congratulate
    assert (
        "Globex made the same choice. What it meant for Globex: live in six weeks"
        in (by_step["congratulate/Dunder Mifflin"][0])
    )
    assert not any("regional bank" in d for _, _, _, d in posted)
    # the persona matters: the economic buyer's numbers, the technical buyer's plan, the champion's material
    assert "numbers you'll want to report upward" in by_step["kickoff/Gringotts"][0]
    assert "The implementation plan with Sam Okafor" in by_step["kickoff/Hooli"][0]
    assert "forward to your colleagues" in by_step["kickoff/Eternal Systems"][0]


def test_before_the_team_profile_is_set_the_draft_says_what_is_missing_and_where(slack, coach, fake, clock, pace):
    """A quick capture, no team file: the rep's name still comes from Slack, and each blank says where to add it."""
    fake.users[REP] = {"real_name": "Dana Reyes", "profile": {"real_name": "Dana Reyes"}}
    slack.command("Acme Rockets $120k")
    run_days(coach, clock, pace, CLOSED, CLOSED + timedelta(days=3))
    texts = [json.dumps(c.params["blocks"], ensure_ascii=False) for c in fake.posts_of(NUDGE)]
    congratulate = whole_draft(slack, fake, nudge_of(coach, "congratulate"))
    assert ">Hi [first name], congratulations" in congratulate
    assert "[a customer like Acme Rockets] made the same choice" in congratulate
    assert "*Still blank:* [first name]: add the contact with *Add details* on this message" in congratulate
    assert "[a customer like Acme Rockets]: add reference customers that may be named to the team profile" in (
        congratulate
    )
    assert any("handwritten" in t for t in texts)
    note = whole_draft(slack, fake, nudge_of(coach, "thank-you-note"))
    assert ">Dana Reyes" in note and "[your name]" not in note


def test_slack_is_asked_for_each_name_once_a_day_and_a_redraw_says_the_same(team, fake, settings, clock, pace):
    coach, slack = team
    capture_with_form(slack, fake, "Dunder Mifflin", "$120k", "economic", SAM, False)
    capture_with_form(slack, fake, "Eternal Systems", "$120k", "champion", SAM, False)
    run_days(coach, clock, pace, CLOSED, CLOSED)  # Monday: both deals' first nudges
    assert len(fake.posts_of(NUDGE)) == 2
    # once each for the names; the rep once more for their time zone (the morning reminder's, kept a day)
    assert sorted(c.params["user"] for c in fake.calls_to("users.info")) == sorted([*SLACK_PEOPLE, REP])
    run_days(coach, clock, pace, CLOSED + timedelta(days=1), CLOSED + timedelta(days=1))  # a day later
    assert len(fake.posts_of(NUDGE)) == 4
    assert len(fake.calls_to("users.info")) == 2 * (len(SLACK_PEOPLE) + 1)  # read again once, for both deals

    tuesday = next(c for c in fake.posts_of(NUDGE) if "Dunder Mifflin are waiting" in c.params["text"])
    assert "Dana Reyes" in whole_draft(slack, fake, nudge_of(coach, "next-steps", deal_id=1))
    fake.users[REP] = {"real_name": "Renamed", "profile": {"real_name": "Renamed"}}  # not asked again on a redraw
    with sqlite_utils.Database(settings.db_path) as db:
        [handover] = [r["id"] for r in db.query("SELECT id FROM nudges WHERE step_id = 'handover' AND deal_id = 1")]
    slack.click("nudge_skip", str(handover))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"reason": {VALUE: {"type": "plain_text_input", "value": "Sam was on the deal"}}})
    update = next(c for c in reversed(fake.calls_to("chat.update")) if c.params.get("ts") == tuesday.response["ts"])
    shown = json.dumps(update.params["blocks"], ensure_ascii=False)
    assert "Skipped by" in shown and "Sam was on the deal" in shown
    assert "Renamed" not in shown
    again = whole_draft(slack, fake, nudge_of(coach, "next-steps", deal_id=1))
    assert ">Dana Reyes" in again and "Renamed" not in again  # the next steps' draft, as posted


def test_a_step_handed_to_a_teammate_is_signed_with_their_name(team, fake, settings, clock, pace):
    coach, slack = team
    fake.users["U0OLU"] = {"real_name": "Olu Adeyemi", "profile": {"real_name": "Olu Adeyemi"}}
    capture_with_form(slack, fake, "Dunder Mifflin", "$120k", "economic", SAM, False)
    run_days(coach, clock, pace, CLOSED, CLOSED + timedelta(days=1))
    tuesday = next(c for c in fake.posts_of(NUDGE) if "Dunder Mifflin are waiting" in c.params["text"])
    with sqlite_utils.Database(settings.db_path) as db:
        [next_steps] = [r["id"] for r in db.query("SELECT id FROM nudges WHERE step_id = 'next-steps'")]
    picked = {"type": "users_select", "selected_user": "U0OLU", "action_id": "nudge_reassign"}
    slack.pick("nudge_reassign", f"nudge_{next_steps}", picked)
    update = next(c for c in reversed(fake.calls_to("chat.update")) if c.params.get("ts") == tuesday.response["ts"])
    shown = json.dumps(update.params["blocks"], ensure_ascii=False)
    assert "reassigned from" in shown
    draft = whole_draft(slack, fake, next_steps)
    assert ">Olu Adeyemi" in draft and "[your name]" not in draft


def test_the_readiness_steps_are_filled_from_facts_and_say_which_blanks_are_the_reps(team, fake, settings, clock, pace):
    """A verbal yes whose checklist is left unticked: each gap's draft uses what the team knows (why they bought, the
    peers, the lead, the kickoff date, the sticking point) and the blanks only the rep can fill are listed as theirs,
    not left unexplained."""
    coach, slack = team
    capture_with_form(slack, fake, "Dunder Mifflin", "$120k", "economic", SAM, True)
    slack.click("deal_readiness", "1")
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"readiness": {VALUE: {"type": "checkboxes", "selected_options": []}}})
    run_days(coach, clock, pace, CLOSED, CLOSED + timedelta(days=2))  # two gaps a business day

    drafts = {
        step: draft for _, step, _, draft in drafts_posted(fake, settings.db_path, slack) if step.startswith("readin")
    }
    assert len(drafts) == 6
    for step, draft in drafts.items():
        body, _, notes = draft.removeprefix("*Draft* (copy, adjust, send)\n").partition("\n:pencil2:")
        assert "Still blank" not in draft and "{" not in body and "<@" not in body, f"{step}:\n{draft}"
        written = re.findall(r"\[[^\]]*\]", body)
        for blank in written:  # every blank left is the rep's own, and the nudge says so
            assert blank in notes.split("*Yours to write:*")[-1], f"{step}:\n{draft}"
    assert "Why Dunder Mifflin is doing this: consolidating three vendors" in drafts["readiness-solves"]
    assert "Globex made the same choice. What it meant for Globex" in drafts["readiness-peers"]
    assert "You told us this is about consolidating three vendors" in drafts["readiness-belief"]
    assert "(data migration takes longer than expected, for one)" in drafts["readiness-implementation"]
    assert "Monday, November 30: the kickoff call" in drafts["readiness-onboarding"]
    assert "a welcome from Sam Okafor" in drafts["readiness-onboarding"]
    assert "the same choice: Globex\n>• Who to call: me for anything, and Sam Okafor" in drafts["readiness-assurances"]
    assert (
        "*Yours to write:* [the guarantee or terms that protect you]; [our support commitment]"
        in (drafts["readiness-assurances"])
    )
    assert not re.search(r"\[[^\]]*\]", drafts["readiness-onboarding"] + drafts["readiness-implementation"])


def test_with_no_lead_anywhere_the_titles_name_the_role_in_a_sentence_that_reads(slack, coach, fake, clock, pace):
    """A quick capture, no team profile: nobody leads the rollout yet, and the titles say "the implementation lead"
    where the lead's mention would go (not "introduce the team behind our implementation team")."""
    slack.command("Acme Rockets $120k")
    run_days(coach, clock, pace, CLOSED, CLOSED + timedelta(days=10))
    texts = " ".join(json.dumps(c.params["blocks"], ensure_ascii=False) for c in fake.posts_of(NUDGE))
    assert "Hand Acme Rockets over to the implementation lead before the kickoff" in texts
    assert "Run the kickoff with your main contact and the implementation lead" in texts
    assert "Send your main contact the welcome kit and introduce the people working with the implementation lead" in (
        texts
    )
    assert "behind our implementation team" not in texts


def test_the_progress_note_never_says_the_kickoff_happened_until_it_is_marked_done(team, fake, settings, clock, pace):
    coach, slack = team
    capture_with_form(slack, fake, "Dunder Mifflin", "$120k", "economic", SAM, False)
    capture_with_form(slack, fake, "Eternal Systems", "$120k", "champion", SAM, False)
    run_days(coach, clock, pace, CLOSED, CLOSED + timedelta(days=21))  # nobody marks the kickoff done
    notes = {
        account: d for account, step, _, d in drafts_posted(fake, settings.db_path, slack) if step == "progress-check"
    }
    assert set(notes) == {"Dunder Mifflin", "Eternal Systems"}
    for account, note in notes.items():
        assert "Done: the kickoff" not in note, f"{account}:\n{note}"
        assert "the kickoff with Sam Okafor" in note and "Monday, January 11" in note, f"{account}:\n{note}"
    assert (
        "pass upward" in notes["Dunder Mifflin"]
        and "What it's for: consolidating three vendors" in (notes["Dunder Mifflin"])
    )
    assert "forward it to your colleagues" in notes["Eternal Systems"]  # each buyer keeps their own words
