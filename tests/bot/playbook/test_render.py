"""Filling drafts: a typed reason made to sit mid-sentence, peers picked by size and buyer, and a blank that says
where to add what is missing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.deals.capture import Money
from bot.deals.model import DealFields
from bot.playbook.render import (
    Blank,
    Known,
    Peer,
    draft_facts,
    in_sentence,
    meeting_days,
    personal_blanks,
    render_draft,
)
from bot.profile import peers
from bot.profile.model import Links, Reference, Sponsor, TeamProfile


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("Consolidating three vendors.", "consolidating three vendors"),
        ("  Faster onboarding!  ", "faster onboarding"),
        ("faster onboarding", "faster onboarding"),
        ("SSO for every team.", "SSO for every team"),  # an acronym stays
        ("iPhone support", "iPhone support"),  # mixed case stays
        ("Google Workspace integration", "Google Workspace integration"),  # looks like a name: kept
        ("A single tool", "a single tool"),
        ("I", "I"),
        ("Über-fast setup", "über-fast setup"),
    ],
)
def test_why_they_bought_is_made_to_sit_mid_sentence(typed, shown):
    assert in_sentence(typed) == shown


def test_meeting_days_are_two_business_days_on_never_in_the_past():
    friday = date(2026, 11, 20)
    assert meeting_days(friday) == "Tuesday, November 24 or Wednesday, November 25"
    assert meeting_days(friday, today=date(2026, 12, 1)) == "Thursday, December 3 or Friday, December 4"


REFS = (
    Reference("Globex", "Live in six weeks", may_name=True),
    Reference("Initech", "Three tools in one", min_amount=Decimal(250000), personas=("technical",), may_name=True),
    Reference("Hooli", "Half the tickets", max_amount=Decimal(50000), may_name=True),
    Reference("A regional bank", "Quarter saved", may_name=False),
)


@pytest.mark.parametrize(
    ("amount", "persona", "names"),
    [
        ("300000", "technical", ["Initech", "Globex"]),  # chosen for this buyer first
        ("300000", "economic", ["Globex"]),
        ("40000", "other", ["Globex", "Hooli"]),
        ("120000", "champion", ["Globex"]),  # never the one that may not be named
    ],
)
def test_references_are_picked_by_size_and_buyer_and_only_if_they_may_be_named(amount, persona, names):
    picked = peers.pick(
        TeamProfile(references=REFS), [], amount=Decimal(amount), tier="standard", persona=persona, account="X"
    )
    assert [p.name for p in picked] == names


def test_without_a_fitting_reference_the_customers_who_gave_a_testimonial_are_picked_same_tier_same_buyer_first():
    given = [
        peers.Testimonial("Umbrella", "standard", "other", "Great"),
        peers.Testimonial("Acme", "standard", "economic", None),
        peers.Testimonial("Soylent", "light", "economic", "Fine"),
        peers.Testimonial("Acme", "standard", "economic", "Again"),
        peers.Testimonial("Newco", "standard", "economic", "Mine"),
    ]
    profile = TeamProfile(references=(REFS[3],))
    picked = peers.pick(profile, given, amount=Decimal(1), tier="standard", persona="economic", account="newco")
    assert picked == (Peer("Acme", None, quote=True), Peer("Umbrella", "Great", quote=True))
    assert peers.pick(TeamProfile(), [], amount=Decimal(1), tier="light", persona="other", account="X") == ()


def fields(**kw) -> DealFields:
    base = {"account": "Acme <Rockets>", "money": Money(Decimal(120000), "USD"), "close_date": date(2026, 11, 20)}
    return DealFields(**(base | kw))


def test_a_blank_says_where_to_add_the_fact_once_even_if_used_twice():
    values = draft_facts(fields(), owner_id="U0REP", due=date(2026, 11, 20))
    text, hints = render_draft("Hi {contact_first}, from {rep} at {company}. {company} again.", values)
    assert text == "Hi [first name], from [your name] at [our company]. [our company] again."
    assert hints == [
        "[first name]: add the contact with *Add details* on this message",
        "[your name]: your name comes from your Slack profile, which Deal Coach couldn't read yet",
        "[our company]: add Company to the team profile (Home › *Edit team profile*, managers)",
    ]


def test_blanks_written_into_the_template_are_the_reps_own_once_each_and_filled_facts_are_not():
    values = draft_facts(fields(), owner_id="U0REP", due=date(2026, 11, 20))
    template = "Hi {contact_first}, [a moment at {account}] and [the proof]. Again [the proof]. {{braces}}"
    assert personal_blanks(template, values) == ["[a moment at Acme &lt;Rockets&gt;]", "[the proof]"]
    assert personal_blanks("Hi {contact_first}, from {company}.", values) == []  # those say where to add them


def test_known_facts_fill_the_draft_escaped_and_people_are_named_not_mentioned():
    profile = TeamProfile(
        company="Rocket & Co",
        exec_sponsor=Sponsor(name="Dana <Boss>", title="CEO"),
        links=Links(welcome_kit="https://example.com/kit?a=1&b=2"),
    )
    known = Known(profile=profile, names={"U0REP": "Sam <Rep>", "U0LEAD": "Lee"})
    values = draft_facts(fields(impl_lead_id="U0LEAD", contact_name="Jane Doe"), owner_id="U0REP", known=known)
    text, hints = render_draft(
        "{account}: {rep}, {impl_lead}, {company}, {sponsor} ({sponsor_title}), {welcome_kit}", values
    )
    assert text == (
        "Acme &lt;Rockets&gt;: Sam &lt;Rep&gt;, Lee, Rocket &amp; Co, Dana &lt;Boss&gt; (CEO), "
        "https://example.com/kit?a=1&amp;b=2"
    )
    assert hints == [] and "<@" not in text
    assert isinstance(values["go_live_date"], Blank)
