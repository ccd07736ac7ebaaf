"""Whatever users type, what reaches Slack never pings, never spoofs a link and never breaks a Block Kit limit."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.deals import blocks
from bot.deals.capture import InputError, Money, parse_quick_capture
from bot.deals.model import Deal, DealFields, Nudge
from bot.nudges import blocks as nudge_blocks
from bot.playbook.loader import load
from tests.capturing import store_deal
from tests.fakeslack import block_problems, view_problems

RAW_SPECIAL = re.compile(r"<!(channel|here|everyone)|<!subteam\^|<https?:|<mailto:|<@U0EVIL")
# What turns the bot's own words after user text around, or hides text: bidi controls and invisible format
# characters (the zero-width space that defuses @channel is the bot's own, so it is not listed).
HIDDEN = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff\U000e0041"
REORDERING = re.compile(f"[{HIDDEN}]")
BERLIN = ZoneInfo("Europe/Berlin")
PLAYBOOK = load()
STEPS = {s.id: s for s in PLAYBOOK.steps}

# Text a hostile or careless user might type: Slack's control sequences, mrkdwn, emoji, huge strings.
nasty = st.one_of(
    st.text(max_size=400),
    st.sampled_from(
        [
            "<!channel>",
            "<!here|here>",
            "<!everyone>",
            "<!subteam^S123|@team>",
            "<https://evil.example|Click me>",
            "<mailto:a@b.c|mail>",
            "<@U0EVIL>",
            "@channel @here @everyone",
            "&lt;!channel&gt;",
            "*bold* _it_ ~s~ `code` ```block```",
            "> quote\n> more",
            "💥" * 300,
            "x" * 5000,
            "Budget frozen\u202e 3 seats",  # everything after it shows reversed: "staes 3"
            "\u2067Acme\u2069 \u2066$120k",
            "Jane\u200bDoe\ufeff\u2060",
        ]
    ),
    st.lists(st.sampled_from(["<!channel>", "<https://x.y|z>", "&", "<", ">", "*", "a"]), max_size=80).map("".join),
    st.lists(st.sampled_from([*HIDDEN, "a", " ", "3", "\u05d0", "<!here>"]), max_size=40).map("".join),
)


def clean_line(text: str) -> str:
    """Fields reach us single-line and trimmed (capture.check_text); keep the generator honest to that."""
    return " ".join(text.split())[:200] or "Acme"


def user_text_is_inert(payload: str) -> bool:
    """No ping, no link, nothing that reorders or hides the text around it (JSON escapes decoded first)."""
    return RAW_SPECIAL.search(payload) is None and REORDERING.search(_decoded(payload)) is None


def _decoded(payload: str) -> str:
    try:
        return json.dumps(json.loads(payload), ensure_ascii=False)
    except ValueError:
        return payload


def a_deal(account: str, contact: str, title: str, why: str, reason: str) -> Deal:
    fields = DealFields(
        account=clean_line(account),
        money=Money(Decimal("120000"), "USD"),
        close_date=date(2026, 11, 23),
        contact_name=clean_line(contact)[:150],
        contact_title=clean_line(title)[:150],
        persona="economic",
        go_live_date=date(2027, 1, 15),
        why_bought=" ".join(why.split())[:2000] or None,
    )
    return Deal(
        id=7,
        team_id="T0FAKE",
        channel_id="C0TEAM",
        owner_id="U0REP",
        fields=fields,
        status="cancelled" if reason else "open",
        message_ts="1.2",
        created_at="2026-11-23T09:00:00+00:00",
        cancelled_at="2026-11-24T09:00:00+00:00" if reason else None,
        cancelled_by="U0MGR" if reason else None,
        cancel_reason=" ".join(reason.split())[:500] or None,
    )


def nudges_for(deal: Deal, note: str, outcome_text: str) -> list[Nudge]:
    outcome = json.dumps({"kind": "win_reason", "reason": outcome_text, "almost": note})
    made = []
    for i, step in enumerate(PLAYBOOK.steps):
        status = ["posted", "done", "skipped", "planned"][i % 4]
        made.append(
            Nudge(
                id=100 + i,
                deal_id=deal.id,
                step_id=step.id,
                stage=step.stage,
                title=step.title,
                due_date=date(2026, 11, 23),
                status=status,
                post_id=5,
                resolved_by="U0REP" if status in ("done", "skipped") else None,
                resolved_at="2026-11-23T10:00:00+00:00" if status in ("done", "skipped") else None,
                note=note if status == "skipped" else None,
                outcome=outcome if step.outcome == "win_reason" and status == "done" else None,
            )
        )
    return made


def assert_safe_message(text: str, message_blocks: list[dict]) -> None:
    assert block_problems(message_blocks) == []
    assert text and len(text) <= 40_000
    assert user_text_is_inert(text) and user_text_is_inert(json.dumps(message_blocks))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(account=nasty, contact=nasty, title=nasty, why=nasty, reason=nasty, note=nasty, outcome=nasty)
def test_every_message_built_from_user_text_is_inert_and_within_limits(
    account, contact, title, why, reason, note, outcome
):
    deal = a_deal(account, contact, title, why, reason)
    steps = nudges_for(deal, " ".join(note.split())[:500], " ".join(outcome.split())[:1000] or "price")

    assert_safe_message(*blocks.deal_announcement(deal, steps))
    for batch in (steps[:1], steps[:8]):
        assert_safe_message(*nudge_blocks.nudge_message(deal, batch, STEPS, post_id=5, late=True, tz=BERLIN))
    assert_safe_message(*blocks.deal_list([(deal, "Affirm", steps[0])] * 25))
    assert_safe_message(*blocks.error_message(clean_line(account), "/closed-deal " + clean_line(account)))

    for view in (
        blocks.deal_modal(channel_id="C0TEAM", today=date(2026, 11, 23), deal=deal),
        blocks.live_modal(deal, date(2026, 11, 23)),
        blocks.cancel_modal(deal),
        nudge_blocks.skip_modal(steps[0], deal),
        nudge_blocks.outcome_modal(steps[0], deal, "win_reason"),
        nudge_blocks.outcome_modal(steps[0], deal, "referral"),
    ):
        assert view_problems(view) == []
        shown = json.dumps([b for b in view["blocks"] if b["type"] != "input"])
        assert user_text_is_inert(shown)


@settings(max_examples=300, deadline=None)
@given(text=nasty)
def test_the_quick_capture_parser_never_crashes_and_never_keeps_control_characters(text):
    try:
        quick = parse_quick_capture(text)
    except InputError as exc:
        assert exc.problem and exc.example.startswith("/closed-deal ")
        text_blocks = blocks.error_message(exc.problem, exc.example)
        assert_safe_message(*text_blocks)
        return
    assert quick.account and len(quick.account) <= 200
    assert all(ch.isprintable() or ch == " " for ch in quick.account)
    assert Decimal(0) < quick.money.amount <= Decimal("1e11")


def test_the_generator_really_produces_the_dangerous_sequences():
    """Guard against a strategy that silently stopped generating the cases above."""
    deal = a_deal("<!channel> <https://evil.example|Click me>", "<@U0EVIL>", "@here", "<!subteam^S1|x>", "")
    text, message_blocks = blocks.deal_announcement(deal, nudges_for(deal, "", "price"))
    payload = json.dumps(message_blocks)
    assert "&lt;!channel&gt;" in payload and "&lt;https://evil.example|Click me&gt;" in payload
    assert user_text_is_inert(payload) and user_text_is_inert(text)
    assert not user_text_is_inert(json.dumps(["Budget\u202e 3"])) and not user_text_is_inert("\u2066x")


def test_bidi_text_in_every_free_text_field_leaves_the_bots_own_words_in_order():
    """The exact case from the report: a cancel reason, a skip reason and a win reason ending in an override."""
    evil = "Budget frozen\u202e"
    deal = a_deal(f"Acme{evil}", f"Jane{evil}", f"CEO{evil}", f"Speed{evil}", evil)
    steps = nudges_for(deal, evil, evil)
    for text, message_blocks in (
        blocks.deal_announcement(deal, steps),
        nudge_blocks.nudge_message(deal, steps[:8], STEPS, post_id=5, late=True, tz=BERLIN),
    ):
        payload = json.dumps([text, message_blocks], ensure_ascii=False)
        assert "Budget frozen" in payload and "\u202e" not in payload


# -- through the database: the digest and the Home tab show what reps typed, months later ---------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(account=nasty, contact=nasty, reason=nasty, win=nasty, skip=nasty)
def test_the_digest_and_the_home_tab_keep_user_text_inert(tmp_path_factory, account, contact, reason, win, skip):
    from decimal import Decimal as D

    from bot.coach import Coach
    from bot.digest import blocks as digest_blocks
    from bot.digest import build as digest
    from bot.home.service import home_view
    from bot.settings import Settings
    from bot.storage import Store

    path = tmp_path_factory.mktemp("abuse") / "d.db"
    store = Store(path)
    store.migrate()
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    coach = Coach(Settings(db_path=path, managers=("U0MGR",), timezone="Europe/Berlin"), store, PLAYBOOK, lambda: now)
    text = f"{clean_line(account)} $150k contact: {clean_line(contact)[:100].replace(':', ' ')}"
    try:
        kept = store_deal(coach, text, team_id="T0FAKE", channel_id="C0TEAM", user_id="U0REP", capture_key="a")
    except InputError:
        kept = store_deal(
            coach, "Fallback $150k", team_id="T0FAKE", channel_id="C0TEAM", user_id="U0REP", capture_key="a"
        )
    gone = store_deal(coach, "Gone Co $9k", team_id="T0FAKE", channel_id="C0TEAM", user_id="U0REP", capture_key="b")
    with store.write() as db:
        db.execute("UPDATE nudges SET status = 'posted' WHERE deal_id = ?", [kept.id])
        first, second = [r[0] for r in db.execute("SELECT id FROM nudges WHERE deal_id = ? LIMIT 2", [kept.id])]
    outcome = {"kind": "win_reason", "reason": " ".join(win.split())[:1000] or "price"}
    coach.act_on_nudge(first, "done", team_id="T0FAKE", user_id="U0REP", outcome=outcome)
    coach.act_on_nudge(second, "skip", team_id="T0FAKE", user_id="U0REP", reason=" ".join(skip.split())[:500] or None)
    coach.change_deal(
        gone.id, "cancel", team_id="T0FAKE", user_id="U0REP", reason=" ".join(reason.split())[:500] or "x"
    )

    with store.session() as db:
        data = digest.gather(
            db, team_id="T0FAKE", now=now, today=now.date(), since=None, large_deal=D(100_000), quiet_days=14
        )
    digest_text, digest_blocks_ = digest_blocks.digest_message(data, team_url="https://x.slack.com/", tz=BERLIN)
    assert_safe_message(digest_text, digest_blocks_)
    for user in ("U0REP", "U0MGR"):
        view = home_view(coach, user, "T0FAKE")
        assert view_problems(view) == []
        assert user_text_is_inert(json.dumps(view))
