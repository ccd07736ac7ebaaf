"""The built-in playbook: which touches each persona and deal size gets, and when."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from bot.deals.capture import Money
from bot.deals.model import DealFields
from bot.playbook.loader import load
from bot.playbook.render import facts, render

CORE = {
    "congratulate",
    "next-steps",
    "thank-you-note",
    "welcome-kit",
    "win-analysis",
    "activation-check-in",
    "acclimation-check",
    "testimonial",
    "referrals",
    "celebrate-milestone",
}
FRIDAY = date(2026, 11, 20)


def plan_ids(persona: str, amount: int, go_live: date | None = None) -> dict[str, date]:
    plan = load().plan(close_date=FRIDAY, persona=persona, amount=Decimal(amount), go_live=go_live)
    return {p.step.id: p.due for p in plan}


@pytest.mark.parametrize(
    ("persona", "amount", "extra"),
    [
        ("other", 8_000, set()),
        ("technical", 8_000, {"technical-kickoff"}),
        ("economic", 8_000, {"value-milestones"}),
        ("champion", 50_000, {"champion-training-plan", "personal-video"}),
        ("other", 25_000, {"personal-video"}),
        ("economic", 150_000, {"value-milestones", "team-gift", "executive-sponsor-call"}),
        ("technical", 100_000, {"technical-kickoff", "team-gift", "executive-sponsor-call"}),
    ],
)
def test_each_persona_and_size_gets_the_core_plus_its_own_touches(persona, amount, extra):
    assert set(plan_ids(persona, amount, go_live=FRIDAY + timedelta(days=30))) == CORE | extra


def test_without_a_go_live_date_the_plan_asks_whether_it_has_gone_live():
    """The question is due when go-live was expected (day 30), and only while nobody has said when it is."""
    asked = plan_ids("other", 8_000)
    assert asked["go-live-question"] == FRIDAY + timedelta(days=30)
    assert "go-live-question" not in plan_ids("other", 8_000, go_live=date(2027, 1, 15))


def test_only_the_testimonial_the_referral_and_the_celebration_are_asks():
    assert {s.id for s in load().steps if s.ask} == {"testimonial", "referrals", "celebrate-milestone"}


def test_larger_deals_get_more_touches():
    assert len(plan_ids("economic", 8_000)) < len(plan_ids("economic", 50_000)) < len(plan_ids("economic", 150_000))


def test_the_timeline_follows_the_four_stages_over_about_100_days():
    due = plan_ids("economic", 150_000)
    assert due["congratulate"] == FRIDAY
    assert due["thank-you-note"] == date(2026, 11, 24)  # two business days after a Friday close
    assert all(due[s] <= FRIDAY + timedelta(days=14) for s in ("next-steps", "welcome-kit", "win-analysis"))
    assert due["activation-check-in"] == FRIDAY + timedelta(days=30)  # go-live assumed 30 days out
    assert due["activation-check-in"] < due["acclimation-check"] < due["testimonial"] < due["referrals"]
    assert 90 <= (due["celebrate-milestone"] - FRIDAY).days <= 100


def test_go_live_moves_only_the_steps_timed_from_it():
    early, late = plan_ids("other", 8_000), plan_ids("other", 8_000, go_live=date(2027, 1, 15))
    assert late["activation-check-in"] == date(2027, 1, 15)
    assert late["testimonial"] == date(2027, 1, 15) + timedelta(days=42)
    assert (
        late["thank-you-note"] == early["thank-you-note"]
        and late["celebrate-milestone"] == early["celebrate-milestone"]
    )


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
    for step in load().steps:
        for text in (step.title, step.draft, *step.how):
            filled = render(text, values)
            assert "{" not in filled and "None" not in filled, (step.id, filled)
        question = step.when == "go_live_unknown"  # a question to the rep, not a message to the buyer: no draft
        assert step.why and len(step.how) >= 2 and (step.draft or question), step.id
        assert ("Jane Doe" in render(step.title, values)) is known or "{contact}" not in step.title
