"""Every free-text field is inert and every id is an id: one text policy for whatever a user types, through the
real app with signed requests, asserting on what the fake Slack receives."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import sqlite_utils

from bot.slack.client import posting_client
from schedules.jobs import send_digests
from tests.conftest import CHANNEL, MANAGER, REP, TEAM
from tests.handlers import test_nudge_actions as actions
from tests.handlers.test_home import open_home
from tests.handlers.test_nudge_actions import MONDAY_10, ephemeral, nudge, radio, reassign
from tests.slackapp import body_json, form

post_step, tick = actions.post_step, actions.tick  # the nudge tests' fixtures: a posted step, the real dispatcher
WEDNESDAY_10 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # several steps of a Monday deal are due: one message
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: everything after it shows reversed until the paragraph ends
# Characters that reorder or hide text; the @channel defuse's own zero-width space is ours, so it is not listed.
REORDERING = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
EVIL_ID = "U0REP0002> <!channel"


def rows(settings, table: str) -> list[dict]:
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db[table].rows_where(order_by="id"))


def sent(fake) -> str:
    """Everything the bot sent to Slack, as one string."""
    return json.dumps([c.params for c in fake.calls], ensure_ascii=False)


# -- modal fields: refused inline, with the problem and an example; nothing half-stored ----------------------


def _skip(post_step, slack, fake):
    nudge_id = post_step()
    slack.click("nudge_skip", str(nudge_id))
    return lambda text: {"reason": {"value": text}}


def _cancel(post_step, slack, fake):
    slack.command("Acme Rockets $120k")
    slack.click("deal_cancel", str(announced_deal(fake)))
    return lambda text: {"reason": {"value": text}}


def announced_deal(fake) -> int:
    """The deal id in the last channel message's buttons."""
    [actions] = [b for b in fake.last("chat.postMessage").params["blocks"] if b["type"] == "actions"]
    return int(actions["elements"][0]["value"])


def _win(block: str):
    def open_(post_step, slack, fake):
        slack.click("nudge_done", str(post_step("win-analysis")))
        if block == "reason":
            return lambda text: {"reason": {"value": text}}
        return lambda text: {"reason": {"value": "Speed"}, "detail": {"value": text}}

    return open_


def _result(step_id: str):
    def open_(post_step, slack, fake):
        slack.click("nudge_done", str(post_step(step_id)))
        return lambda text: {"result": {"value": radio("received")}, "detail": {"value": text}}

    return open_


def _deal_form(field: str):
    def open_(post_step, slack, fake):
        slack.command("")
        return lambda text: form(**{"account": "Acme Rockets", "amount": "$120k", field: text})

    return open_


MODAL_FIELDS = {
    "skip reason": (_skip, "reason"),
    "cancel reason": (_cancel, "reason"),
    "win reason": (_win("reason"), "reason"),
    "what almost stopped them": (_win("detail"), "detail"),
    "testimonial": (_result("testimonial"), "detail"),
    "referral names": (_result("referrals"), "detail"),
    "account": (_deal_form("account"), "account"),
    "contact name": (_deal_form("contact"), "contact_name"),
    "contact title": (_deal_form("title"), "contact_title"),
    "why they bought": (_deal_form("why"), "why_bought"),
}


LIMITS = {"skip reason": 500, "cancel reason": 500, "win reason": 1000, "referral names": 1000}


def snapshot(settings) -> tuple:
    return rows(settings, "deals"), rows(settings, "nudges")


def stored_texts(settings) -> str:
    """Every free text stored, outcomes decoded."""
    texts = [d[k] for d in rows(settings, "deals") for k in ("account", "why_bought", "cancel_reason") if d[k]]
    for n in rows(settings, "nudges"):
        texts += [n["note"]] if n["note"] else []
        texts += [str(v) for v in json.loads(n["outcome"]).values()] if n["outcome"] else []
    return "\n".join(texts)


@pytest.mark.parametrize("field", MODAL_FIELDS)
@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        (f"Budget{RLO} 3 seats", "invisible character (U+202E RIGHT-TO-LEFT OVERRIDE) after “Budget”"),
        ("Budget\u2067 3 seats", "invisible character (U+2067 RIGHT-TO-LEFT ISOLATE) after “Budget”"),
        ("Jane\u200bDoe", "invisible character (U+200B ZERO WIDTH SPACE) after “Jane”"),
        ("Price\x07", "control character (U+0007)"),
    ],
    ids=["override", "isolate", "zero-width", "bell"],
)
def test_every_modal_text_field_refuses_hidden_characters_inline_and_stores_nothing(
    post_step, slack, fake, settings, field, typed, problem
):
    opener, block = MODAL_FIELDS[field]
    values = opener(post_step, slack, fake)
    view = fake.last("views.open").params["view"]
    before, calls = snapshot(settings), len(fake.calls)
    response = slack.submit(view, values(typed))
    body = body_json(response)
    assert body["response_action"] == "errors" and set(body["errors"]) == {block}
    assert problem in body["errors"][block] and "For example: " in body["errors"][block]
    assert snapshot(settings) == before
    assert fake.calls[calls:] == []  # no message posted or redrawn
    assert fake.violations == []


@pytest.mark.parametrize("field", LIMITS)
def test_a_text_over_its_limit_is_refused_not_cut(post_step, slack, fake, settings, field):
    opener, block = MODAL_FIELDS[field]
    values = opener(post_step, slack, fake)
    view = fake.last("views.open").params["view"]
    limit = LIMITS[field]
    before = snapshot(settings)
    body = body_json(slack.submit(view, values("x" * (limit + 1))))
    assert body["response_action"] == "errors"
    assert f"{limit + 1} characters long; the limit is {limit}." in body["errors"][block]
    assert snapshot(settings) == before


@pytest.mark.parametrize("field", ["cancel reason", "win reason", "testimonial", "referral names", "why they bought"])
def test_several_lines_and_plain_right_to_left_words_are_kept(post_step, slack, fake, settings, field):
    """The policy refuses what hides; it keeps what people write: Hebrew, Arabic, emoji with joiners, lines."""
    opener, _ = MODAL_FIELDS[field]
    values = opener(post_step, slack, fake)
    view = fake.last("views.open").params["view"]
    assert body_json(slack.submit(view, values("שלום Quick setup\nوسريع 👩\u200d💻"))) == {}
    assert "שלום Quick setup وسريع 👩\u200d💻" in stored_texts(settings)


def test_a_quick_capture_refuses_a_zero_width_space_in_any_of_its_fields(slack, fake, settings):
    for text in ("Acme\u200bRockets $5k", "Acme $5k contact: Jane\u200bDoe, CEO", "Acme $5k contact: Jane, C\u2060EO"):
        body = body_json(slack.command(text))
        assert "invisible character" in body["text"] and "Try it like this" in json.dumps(body["blocks"])
    assert rows(settings, "deals") == [] and fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("blank", ["\u3164", "\u115f", "\u2800", "\uffa0"])
def test_an_account_name_of_letters_that_draw_nothing_is_refused(slack, fake, settings, blank):
    """A name that looks empty (Hangul filler, blank Braille) would be announced as a blank deal."""
    body = body_json(slack.command(f"{blank} $5k"))
    assert "invisible character" in body["text"] and f"U+{ord(blank):04X}" in body["text"]
    assert rows(settings, "deals") == [] and fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("values", "block"),
    [
        ({"go_live_date": {"value": {"type": "datepicker", "selected_date": "next week"}}}, "go_live_date"),
        ({"go_live_date": {"value": {"type": "datepicker", "selected_date": None}}}, "go_live_date"),
    ],
)
def test_mark_live_without_a_real_date_gets_an_inline_error(slack, fake, settings, values, block):
    slack.command("Acme Rockets $120k")
    slack.click("deal_mark_live", str(announced_deal(fake)))
    view = fake.last("views.open").params["view"]
    before = snapshot(settings)
    body = body_json(slack.submit(view, values))
    assert body["response_action"] == "errors" and set(body["errors"]) == {block}
    assert snapshot(settings) == before


def test_the_deal_form_refuses_a_close_date_that_is_not_a_date(slack, fake, settings):
    slack.command("")
    view = fake.last("views.open").params["view"]
    body = body_json(slack.submit(view, form("Acme", "$5k", closed="2026-13-45")))
    assert body["response_action"] == "errors" and set(body["errors"]) == {"close_date"}
    assert rows(settings, "deals") == []


# -- text stored before the policy is shown inert wherever it appears ---------------------------------------


def test_text_stored_before_the_policy_is_shown_inert_in_the_nudge_the_channel_the_digest_and_home(
    slack, fake, settings, coach, clock, tick
):
    clock.now = MONDAY_10
    slack.command("Acme Rockets $120k")
    slack.command("Globex $9k")
    clock.now = WEDNESDAY_10
    tick(WEDNESDAY_10)  # each deal's steps due by then, gathered in one message per deal
    acme, globex = rows(settings, "deals")
    posted = [n for n in rows(settings, "nudges") if n["deal_id"] == acme["id"] and n["status"] == "posted"]
    with sqlite_utils.Database(settings.db_path) as db:  # rows as an older version stored them, unchecked
        db.execute(
            "UPDATE deals SET account = ?, why_bought = ? WHERE id = ?",
            [f"Acme{RLO} Rockets", f"Speed{RLO} 9", acme["id"]],
        )
        db.execute(
            "UPDATE deals SET status = 'cancelled', cancelled_at = ?, cancelled_by = ?, cancel_reason = ? WHERE id = ?",
            ["2026-11-25T09:00:00+00:00", REP, f"Budget{RLO} frozen 42", globex["id"]],
        )
        db.execute(
            "UPDATE nudges SET status = 'skipped', resolved_by = ?, resolved_at = ?, note = ? WHERE id = ?",
            [REP, "2026-11-25T09:00:00+00:00", f"Covered{RLO} in the kickoff 7", posted[0]["id"]],
        )
        outcome = json.dumps({"kind": "win_reason", "reason": f"Setup{RLO} took days 5"})
        db.execute(
            "UPDATE nudges SET status = 'done', resolved_by = ?, resolved_at = ?, outcome = ? "
            "WHERE deal_id = ? AND step_id = 'win-analysis'",
            [REP, "2026-11-25T09:00:00+00:00", outcome, acme["id"]],
        )
    fake.reset()

    slack.click("nudge_done", str(posted[1]["id"]))  # redraws the nudge message that shows the skip reason
    slack.click("deal_mark_live", str(acme["id"]))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"go_live_date": {"value": {"type": "datepicker", "selected_date": "2026-11-23"}}})
    fake.users = {MANAGER: {"tz": "Europe/Berlin"}}
    send_digests(coach, posting_client(settings), datetime(2026, 11, 26, 8, 0, tzinfo=UTC))
    open_home(slack, REP)
    open_home(slack, MANAGER)

    everything = sent(fake)
    assert REORDERING.search(everything) is None
    updates = [json.dumps(c.params, ensure_ascii=False) for c in fake.calls_to("chat.update")]
    assert any("Covered in the kickoff 7" in u for u in updates)  # the nudge message, redrawn after Done
    assert any("Speed 9" in u for u in updates)  # the deal's message, redrawn after each change
    digest = json.dumps(fake.last("chat.postMessage").params, ensure_ascii=False)
    assert "Budget frozen 42" in digest and "Setup took days 5" in digest and "Acme Rockets" in digest
    [rep_home] = [c for c in fake.calls_to("views.publish") if c.params["user_id"] == REP][-1:]
    assert "Acme Rockets" in json.dumps(rep_home.params, ensure_ascii=False)
    assert fake.violations == []


# -- ids from a payload -----------------------------------------------------------------------------------


def test_reassign_to_something_that_is_not_a_member_id_is_refused_and_changes_nothing(post_step, slack, fake, settings):
    nudge_id = post_step()
    before, calls = nudge(settings, nudge_id), len(fake.calls)
    reassign(slack, fake, nudge_id, EVIL_ID)
    assert "isn't someone I can hand this follow-up to" in ephemeral(fake)
    assert nudge(settings, nudge_id) == before
    assert [c.method for c in fake.calls[calls:] if c.method != "auth.test"] == ["response_url"]  # no DM, no redraw
    assert "<!channel" not in sent(fake)


def test_the_forms_implementation_lead_must_be_a_member_id(slack, fake, settings):
    slack.command("")
    view = fake.last("views.open").params["view"]
    body = body_json(slack.submit(view, form("Acme", "$5k", lead=EVIL_ID)))
    assert body["response_action"] == "errors" and set(body["errors"]) == {"impl_lead"}
    assert "Pick the implementation lead" in body["errors"]["impl_lead"]
    assert rows(settings, "deals") == [] and fake.calls_to("chat.postMessage") == []


def test_a_form_whose_channel_is_not_a_channel_id_is_refused(slack, fake, settings):
    slack.command("")
    view = fake.last("views.open").params["view"] | {"private_metadata": json.dumps({"channel": "C0TEAM> <!here"})}
    body = body_json(slack.submit(view, form("Acme", "$5k")))
    assert body["response_action"] == "errors" and "lost track of its channel" in body["errors"]["account"]
    assert rows(settings, "deals") == [] and fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("who", "where"),
    [(EVIL_ID, CHANNEL), ("u0rep", CHANNEL), ("U0REP\n", CHANNEL), (REP, "C0TEAM> <!here"), (REP, "#general")],
)
def test_a_signed_command_whose_user_or_channel_is_not_an_id_is_refused(slack, fake, settings, caplog, who, where):
    response = slack.command("Acme Rockets $120k", user=who, channel=where)
    assert response.status == 400
    assert rows(settings, "deals") == [] and fake.calls == []  # refused before any Slack call, auth.test included
    [line] = [r.getMessage() for r in caplog.records if "not a Slack id" in r.getMessage()]
    assert "\n" not in line and len(line) < 120


def test_a_signed_click_from_a_user_that_is_not_an_id_changes_nothing(post_step, slack, fake, settings):
    nudge_id = post_step()
    before, calls = nudge(settings, nudge_id), len(fake.calls)
    response = slack.click("nudge_done", str(nudge_id), user=EVIL_ID)
    assert response.status == 400
    assert nudge(settings, nudge_id) == before and fake.calls[calls:] == []  # refused before auth.test even


def test_an_id_stored_before_ids_were_checked_is_shown_as_text_never_as_a_ping(post_step, slack, fake, settings):
    nudge_id = post_step()
    with sqlite_utils.Database(settings.db_path) as db:
        db.execute("UPDATE nudges SET assignee_id = ? WHERE id = ?", [EVIL_ID, nudge_id])
        db.execute("UPDATE deals SET impl_lead_id = ?", [EVIL_ID])
    fake.reset()
    slack.click("nudge_done", str(nudge_id))
    open_home(slack, REP)
    assert nudge(settings, nudge_id)["status"] == "done"
    everything = sent(fake)
    assert "<!channel" not in everything and "U0REP0002&gt; &lt;!channel" in everything


def test_the_ids_the_tests_use_are_ids():
    """The fixtures' own ids pass the checks, so the refusals above are about the ids, not the set-up."""
    from bot.slack.ids import is_channel_id, is_team_id, is_user_id

    assert is_user_id(REP) and is_user_id(MANAGER) and is_channel_id(CHANNEL) and is_team_id(TEAM)
