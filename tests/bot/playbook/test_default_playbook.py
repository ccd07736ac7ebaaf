"""The built-in playbook: which touches each persona and deal size gets, and when."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources

import pytest

from bot.deals.capture import Money
from bot.deals.model import DealFields
from bot.playbook.loader import load
from bot.playbook.render import Blank, draft_facts, facts, render

CORE = {  # every deal, whatever its size and buyer
    "congratulate",
    "next-steps",
    "handover",
    "kickoff",
    "progress-check",
    "activation-check-in",
    "acclimation-check",
    "one-month-review",
    "testimonial",
    "referrals",
    "celebrate-milestone",
}
LIGHT = {"personal-video"}
STANDARD = {"thank-you-note", "welcome-kit", "win-analysis"}
ENTERPRISE = {"team-gift", "welcome-kit", "win-analysis", "executive-sponsor-call"}
FRIDAY = date(2026, 11, 20)


def plan_ids(persona: str, amount: int, go_live: date | None = None) -> dict[str, date]:
    plan = load().plan(close_date=FRIDAY, persona=persona, amount=Decimal(amount), go_live=go_live)
    return {p.step.id: p.due for p in plan}


@pytest.mark.parametrize(
    ("persona", "amount", "extra"),
    [
        ("other", 4_500, LIGHT),
        ("technical", 8_000, LIGHT | {"technical-kickoff"}),
        ("economic", 19_999, LIGHT | {"value-milestones"}),
        ("champion", 20_000, STANDARD | {"champion-training-plan"}),
        ("other", 120_000, STANDARD),
        ("economic", 249_999, STANDARD | {"value-milestones"}),
        ("economic", 250_000, ENTERPRISE | {"value-milestones"}),
        ("technical", 850_000, ENTERPRISE | {"technical-kickoff"}),
    ],
)
def test_each_persona_and_tier_gets_the_core_plus_its_own_touches(persona, amount, extra):
    assert set(plan_ids(persona, amount, go_live=FRIDAY + timedelta(days=30))) == CORE | extra


def test_without_a_go_live_date_the_plan_asks_whether_it_has_gone_live():
    """The question is due when go-live was expected (day 30), and only while nobody has said when it is."""
    asked = plan_ids("other", 8_000)
    assert asked["go-live-question"] == FRIDAY + timedelta(days=30)
    assert "go-live-question" not in plan_ids("other", 8_000, go_live=date(2027, 1, 15))


def test_only_the_testimonial_the_referral_and_the_celebration_are_asks():
    assert {s.id for s in load().steps if s.ask} == {"testimonial", "referrals", "celebrate-milestone"}


def test_a_small_deal_gets_no_handwritten_note_gift_or_welcome_kit_step():
    light = set(plan_ids("other", 4_500))
    assert not light & {"thank-you-note", "team-gift", "welcome-kit", "executive-sponsor-call"}
    assert len(plan_ids("other", 4_500)) < len(plan_ids("other", 120_000)) < len(plan_ids("other", 850_000))


def test_the_timeline_follows_the_four_stages_over_about_100_days():
    due = plan_ids("economic", 850_000)
    assert due["congratulate"] == FRIDAY
    assert due["next-steps"] == date(2026, 11, 23)  # the next business day after a Friday close
    assert due["kickoff"] == FRIDAY + timedelta(days=7)
    assert all(due[s] <= FRIDAY + timedelta(days=21) for s in ("welcome-kit", "win-analysis", "value-milestones"))
    assert due["activation-check-in"] == FRIDAY + timedelta(days=30)  # go-live assumed 30 days out
    assert due["activation-check-in"] < due["acclimation-check"] < due["testimonial"] < due["referrals"]
    assert 90 <= (due["celebrate-milestone"] - FRIDAY).days <= 100


def test_go_live_moves_only_the_steps_timed_from_it():
    early, late = plan_ids("other", 8_000), plan_ids("other", 8_000, go_live=date(2027, 1, 15))
    assert late["activation-check-in"] == date(2027, 1, 15)
    assert late["testimonial"] == date(2027, 1, 15) + timedelta(days=42)
    assert late["kickoff"] == early["kickoff"] and late["celebrate-milestone"] == early["celebrate-milestone"]


def test_every_step_says_whether_it_touches_the_buyer_and_whether_it_asks():
    """Each step declares both flags in the file (pacing and the health gates read them, not titles)."""
    shipped = tomllib.loads(resources.files("bot.playbook").joinpath("default_playbook.toml").read_text("utf-8"))
    assert all("buyer" in raw and "ask" in raw for raw in shipped["steps"])
    steps = {s.id: s for s in load().steps}
    assert all(steps[s].ask and steps[s].buyer for s in ("testimonial", "referrals", "celebrate-milestone"))
    assert not any(steps[s].ask for s in ("congratulate", "win-analysis", "kickoff", "get-signature"))
    assert not steps["handover"].buyer and all(steps[s].buyer for s in ("congratulate", "thank-you-note", "kickoff"))


def test_the_outcome_steps_ask_for_what_the_digest_needs():
    outcomes = {s.id: s.outcome for s in load().steps if s.outcome}
    assert outcomes == {"win-analysis": "win_reason", "testimonial": "testimonial", "referrals": "referral"}


@pytest.mark.parametrize("known", [True, False])
def test_every_step_reads_well_with_and_without_the_deal_facts(known):
    fields = DealFields(
        account="Acme Rockets",
        money=Money(Decimal("120000"), "USD"),
        close_date=FRIDAY,
        contact_name="Jane Doe" if known else None,
        impl_lead_id="U0LEAD" if known else None,
        why_bought="faster onboarding" if known else None,
    )
    values = facts(fields, owner_id="U0REP")
    drafts = draft_facts(fields, owner_id="U0REP", due=FRIDAY)
    for step in load().steps:
        for text in (step.title, *step.how):
            filled = render(text, values)
            assert "{" not in filled and "None" not in filled and "[" not in filled, (step.id, filled)
        for persona in ("economic", "technical", "champion", "other"):
            filled = render(step.draft_of(persona), drafts)
            assert "{" not in filled and "None" not in filled, (step.id, filled)
            assert not filled.startswith("Hi there"), (step.id, filled)
        question = step.when == "go_live_unknown"  # a question to the rep, not a message to the buyer: no draft
        assert step.why and len(step.how) >= 2 and (step.draft or question), step.id
        assert ("Jane Doe" in render(step.title, values)) is known or "{contact}" not in step.title
    assert isinstance(drafts["contact_first"], Blank) is not known
