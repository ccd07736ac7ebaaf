"""Tiers, rates, persona drafts and the buyer/ask flags are playbook data: validated with the file, line and step
named, and read by the plan."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.playbook.loader import PlaybookError, parse

FRIDAY = date(2026, 1, 2)
TIERED = """\
[playbook]
name = "Tiered"

[tiers]
standard = 20000
enterprise = 250000

[rates]
EUR = 1.10

[[steps]]
id = "call"
stage = "affirm"
days = 0
buyer = true
title = "Call {contact}"
draft = "Hi {contact_first}, thanks."

[steps.draft_for]
economic = "Hi {contact_first}, here are the numbers."

[[steps]]
id = "video"
stage = "affirm"
days = 1
tiers = ["light"]
buyer = true
title = "Video"

[[steps]]
id = "gift"
stage = "affirm"
days = 2
tiers = ["enterprise"]
buyer = true
title = "Gift"

[[steps]]
id = "brief"
stage = "affirm"
days = 2
tiers = ["standard", "enterprise"]
title = "Brief the team"

[[steps]]
id = "testimonial"
stage = "accomplish"
days = 60
min_amount = 100000
buyer = true
ask = true
title = "Ask for a testimonial"
"""


def ids(amount: str, currency: str | None = None, persona: str = "other") -> list[str]:
    playbook = parse(TIERED, "tiered.toml")
    plan = playbook.plan(close_date=FRIDAY, persona=persona, amount=Decimal(amount), currency=currency)
    return [p.step.id for p in plan]


@pytest.mark.parametrize(
    ("amount", "tier", "expected"),
    [
        ("4500", "light", ["call", "video"]),
        ("19999.99", "light", ["call", "video"]),
        ("20000", "standard", ["call", "brief"]),
        ("120000", "standard", ["call", "brief", "testimonial"]),
        ("250000", "enterprise", ["call", "gift", "brief", "testimonial"]),
        ("850000", "enterprise", ["call", "gift", "brief", "testimonial"]),
    ],
)
def test_steps_select_tiers_and_amounts_still_bound_them(amount, tier, expected):
    assert parse(TIERED, "t").tier_of(Decimal(amount)) == tier
    assert ids(amount) == expected


def test_a_deal_in_another_currency_is_converted_only_when_the_playbook_gives_a_rate():
    playbook = parse(TIERED, "t", currency="USD")
    assert playbook.tier_of(Decimal("19000"), "EUR") == "standard"  # 19,000 EUR is 20,900 USD
    assert playbook.tier_of(Decimal("19000"), "GBP") == "light"  # no rate: compared by its own amount
    assert ids("19000", "EUR") == ["call", "brief"]
    assert ids("19000", "GBP") == ["call", "video"]
    assert ids("95000", "EUR") == ["call", "brief", "testimonial"]  # min_amount reads the converted amount too
    # the thresholds are in DEALCOACH_CURRENCY: with EUR as the team's currency, an EUR deal is never converted
    assert parse(TIERED, "t", currency="EUR").tier_of(Decimal("19000"), "EUR") == "light"


def test_a_playbook_without_tiers_plans_every_deal_as_standard():
    text = '[[steps]]\nid = "a"\nstage = "affirm"\ndays = 0\ntitle = "x"\n'
    playbook = parse(text, "t")
    assert playbook.tier_of(Decimal("1")) == playbook.tier_of(Decimal("10000000")) == "standard"


def test_a_persona_gets_its_own_draft_where_the_playbook_has_one():
    [call] = [s for s in parse(TIERED, "t").steps if s.id == "call"]
    assert call.draft_of("economic") == "Hi {contact_first}, here are the numbers."
    assert call.draft_of("technical") == call.draft_of("other") == "Hi {contact_first}, thanks."


def test_the_flags_are_read():
    steps = {s.id: s for s in parse(TIERED, "t").steps}
    assert (steps["call"].buyer, steps["call"].ask) == (True, False)
    assert (steps["brief"].buyer, steps["brief"].ask) == (False, False)
    assert (steps["testimonial"].buyer, steps["testimonial"].ask) == (True, True)


STEP_LINE = 7  # of the step bad_step() writes after the default head


def bad_step(body: str, head: str = "[tiers]\nstandard = 20000\nenterprise = 250000\n\n") -> str:
    return '[playbook]\nname = "T"\n' + head + '[[steps]]\nid = "bad"\nstage = "affirm"\ndays = 0\ntitle = "x"\n' + body


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (
            'tiers = ["gold"]\n',
            "'tiers' must be a non-empty list drawn from light, standard, enterprise (got ['gold']).",
        ),
        ('tiers = "light"\n', "'tiers' must be a non-empty list drawn from light, standard, enterprise"),
        ("tiers = []\n", "'tiers' must be a non-empty list"),
        ('buyer = "yes"\n', "'buyer' must be true or false (the step touches the buyer); got 'yes'."),
        ("ask = 1\n", "'ask' must be true or false (the step asks the buyer for something); got 1."),
        ("ask = true\n", "'ask = true' asks the buyer for something, so it needs 'buyer = true' too."),
        ('[steps.draft_for]\nwizard = "Hi"\n', "'draft_for' must be a table of drafts by persona"),
        ('[steps.draft_for]\neconomic = "Hi {nobody}"\n', "'draft_for.economic' uses an unknown placeholder {nobody}"),
        ("[steps.draft_for]\neconomic = 5\n", "'draft_for.economic' must be text."),
    ],
)
def test_a_bad_tier_flag_or_persona_draft_names_file_line_and_step(body, what):
    with pytest.raises(PlaybookError) as caught:
        parse(bad_step(body), "team.toml")
    assert bad_step("").splitlines()[STEP_LINE - 1] == "[[steps]]"
    assert str(caught.value).startswith(f"team.toml, line {STEP_LINE}, step 1 ('bad'): {what}")


def test_a_step_naming_tiers_needs_the_tiers_table():
    with pytest.raises(PlaybookError) as caught:
        parse(bad_step('tiers = ["light"]\n', head="\n\n\n\n"), "team.toml")
    assert "team.toml, line 7, step 1 ('bad'): 'tiers' needs a [tiers] table" in str(caught.value)


@pytest.mark.parametrize(
    ("head", "what"),
    [
        ("[tiers]\nstandard = 20000\n", "[tiers] is missing 'enterprise'"),
        ("[tiers]\nstandard = 20000\nenterprise = 250000\ngold = 1\n", "[tiers] has an unknown tier 'gold'"),
        ("[tiers]\nstandard = 300000\nenterprise = 250000\n", "[tiers] must grow: 0 < standard < enterprise"),
        ("[tiers]\nstandard = 0\nenterprise = 250000\n", "[tiers] must grow"),
        ('[tiers]\nstandard = "20k"\nenterprise = 250000\n', "[tiers] standard must be an amount in USD"),
        ("[tiers]\nlight = 5\nstandard = 20000\nenterprise = 250000\n", "[tiers] light starts at 0"),
        ("[rates]\neuro = 1.1\n", "[rates] 'euro' is not a currency code"),
        ("[rates]\nEUR = 0\n", "[rates] EUR must be a positive number: what 1 EUR is worth in USD"),
        ("[rates]\nEUR = nan\n", "[rates] EUR must be a positive number"),
    ],
)
def test_bad_tiers_and_rates_name_the_file(head, what):
    with pytest.raises(PlaybookError) as caught:
        parse(bad_step("", head=head + "\n"), "team.toml")
    assert str(caught.value).startswith(f"team.toml: {what}")
