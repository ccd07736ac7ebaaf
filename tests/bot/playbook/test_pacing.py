"""The pacing rules, read from the steps' buyer flags: at most three buyer touches in any seven days, no buyer
silence over three weeks in the first 100 days, for every tier and buyer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.playbook import pacing
from bot.playbook.loader import PERSONAS, TIERS, load, parse


def step(step_id: str, days: int, *, buyer: bool = True, extra: str = "") -> str:
    return (
        f'[[steps]]\nid = "{step_id}"\nstage = "affirm"\ndays = {days}\nbuyer = {str(buyer).lower()}\n'
        f'title = "Step {step_id}"\n{extra}\n'
    )


def every_fortnight(*skip: int) -> str:
    return "".join(step(f"s{d}", d) for d in range(0, 99, 14) if d not in skip)


def test_the_built_in_playbook_keeps_the_rules_for_every_tier_and_buyer():
    playbook = load()
    assert {tier for tier, _ in pacing.sample_deals(playbook)} == set(TIERS)
    assert pacing.check(playbook) == []


@pytest.mark.parametrize("tier_amount", ["4500", "120000", "850000"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_no_week_of_the_built_in_plan_holds_more_than_three_buyer_touches(tier_amount, persona):
    """The rule itself, counted here from the plan, for a deal closed on a Friday (the weekend moves steps)."""
    friday = date(2026, 11, 20)
    days = [t.day for t in pacing.touches(load(), persona=persona, amount=Decimal(tier_amount), closed=friday)]
    assert all(len([d for d in days if start <= d < start + 7]) <= 3 for start in range(0, 101))
    marks = [0, *[d for d in days if d <= 100], 100]
    assert max(b - a for a, b in zip(marks, marks[1:], strict=False)) <= 21


def test_four_buyer_touches_in_a_week_are_named_with_their_days_and_the_rule():
    text = every_fortnight() + step("a", 1) + step("b", 2) + step("c", 3)
    found = pacing.check(parse(text, "p"))
    assert (
        "standard tier (a deal of 0), economic buyer, closed on a Monday: 4 buyer touches within 7 days "
        "(days 0, 1, 2, 3); at most 3 in any 7 days"
    ) in {str(v) for v in found}
    assert {v.persona for v in found} == set(PERSONAS)


def test_a_touch_that_is_not_for_the_buyer_is_not_counted():
    """Pacing reads the flag, not the title: the same four steps, one of them internal, pass."""
    text = every_fortnight() + step("a", 1) + step("b", 2) + step("c", 3, buyer=False)
    assert pacing.check(parse(text, "p")) == []


def test_a_silence_over_three_weeks_is_named_with_its_first_and_last_day():
    found = pacing.check(parse(every_fortnight(28, 42), "p"))
    assert found and all(v.days == (14, 56) for v in found)
    assert "no buyer touch from day 14 to day 56 (42 days); at most 21 days of silence in the first 100" in str(
        found[0]
    )


def test_the_end_of_the_first_100_days_counts_as_silence_too():
    found = pacing.check(parse(every_fortnight(84, 98), "p"))
    assert found and all(v.days == (70, 100) for v in found)


def test_a_weekend_moves_a_touch_to_monday_and_the_rule_sees_it():
    """Days 5 and 6 fall on a weekend for a Monday close: their nudges go out on day 7, with the step due then."""
    text = every_fortnight(14) + step("a", 5) + step("b", 6) + step("c", 7) + step("d", 9)
    found = pacing.check(parse(text, "p"))
    assert any(v.closed == "Monday" and v.days == (7, 7, 7, 9) for v in found)


def test_each_tier_and_persona_gets_its_own_plan():
    """The three tiers and three personas give different plans; the persona also changes drafts, not only steps."""
    playbook = load()

    def plan(amount: str, persona: str) -> tuple:
        planned = playbook.plan(close_date=date(2026, 11, 20), persona=persona, amount=Decimal(amount))
        return tuple((p.step.id, p.step.draft_of(persona)) for p in planned)

    by_tier = {plan(a, "other") for a in ("4500", "120000", "850000")}
    by_persona = {plan("120000", p) for p in ("economic", "technical", "champion", "other")}
    assert len(by_tier) == 3 and len(by_persona) == 4
