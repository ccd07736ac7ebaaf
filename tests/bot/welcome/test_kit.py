"""The kit's facts (nothing guessed: no go-live, no dates timed from it; the deal's lead first) and its page (one
page whatever the lengths, user text printed as typed, never run as markup)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.deals import model as deals
from bot.playbook.loader import load
from bot.profile.model import Member, Sponsor, TeamProfile
from bot.welcome.kit import Kit, KitPerson, Milestone, MissingProfile, SlackPerson, assemble, check_profile
from bot.welcome.pdf import render
from tests import pdfs
from tests.bot.dealdata import ACME, capture

PROFILE = TeamProfile(
    company="Rocket Software",
    exec_sponsor=Sponsor(user="U0BOSS"),
    implementation_team=(Member("U0ANA", "Customer success", "Sails"), Member("U0BEN", "Implementation lead")),
)


def kit_for(store, fields=ACME, profile=PROFILE, people=None) -> Kit:
    deal_id, _ = capture(store, fields)
    with store.session() as db:
        deal = deals.get_deal(db, deal_id)
    playbook = load()  # the built-in playbook's plan for the deal (dealdata stores it with a smaller one)
    plan = playbook.plan(
        close_date=fields.close_date, persona=fields.persona, amount=fields.money.amount, go_live=fields.go_live_date
    )
    planned = [
        deals.Nudge(i, deal_id, p.step.id, p.step.stage, p.step.title, p.due, "planned") for i, p in enumerate(plan, 1)
    ]
    return assemble(
        profile,
        deal,
        planned,
        {s.id: s for s in playbook.steps},
        people=people or {},
        photo=lambda url: None,
        today=date(2026, 1, 5),
    )


def test_without_a_go_live_date_nothing_timed_from_it_is_shown(store):
    kit = kit_for(store)
    labels = [m.label for m in kit.timeline]
    assert labels[0] == "Acme Rockets chose Rocket Software" and kit.timeline[0].day == ACME.close_date
    assert "Go-live" not in labels and "Training and check-ins as your team settles in" not in labels
    assert labels[-1] == "Reviewing your first results together"  # the day-98 milestone is timed from the close


def test_with_a_go_live_date_the_timeline_shows_it_and_what_follows(store):
    from dataclasses import replace

    kit = kit_for(store, replace(ACME, go_live_date=date(2026, 2, 2)))
    assert [(m.day, m.label) for m in kit.timeline][:3] == [
        (ACME.close_date, "Acme Rockets chose Rocket Software"),
        (date(2026, 2, 2), "Go-live"),  # the go-live check-in on the same day is the go-live itself
        (date(2026, 2, 16), "Training and check-ins as your team settles in"),  # an economic buyer: two weeks on
    ]


def test_the_deals_implementation_lead_comes_first_and_people_slack_cant_name_stay_nameless(store):
    from dataclasses import replace

    people = {"U0BEN": SlackPerson("Ben Ode", "Engineer"), "U0BOSS": SlackPerson("Dana W", "CEO")}
    kit = kit_for(store, replace(ACME, impl_lead_id="U0BEN"), people=people)
    assert [(p.name, p.role) for p in kit.team] == [("Ben Ode", "Implementation lead"), (None, "Customer success")]
    assert kit.sponsor == KitPerson("Dana W", "CEO", "Executive sponsor")
    assert kit.contact == "Jane Doe" and kit.rep == KitPerson(None)


@pytest.mark.parametrize(
    ("profile", "missing"),
    [
        (None, "your company's name and the implementation team"),
        (TeamProfile(company="Rocket Software"), "the implementation team"),
        (TeamProfile(implementation_team=(Member("U0ANA", "Lead"),)), "your company's name"),
    ],
)
def test_a_profile_without_company_or_team_makes_no_kit(profile, missing):
    with pytest.raises(MissingProfile) as caught:
        check_profile(profile)
    assert str(caught.value).startswith(missing)


def test_however_long_the_text_the_kit_is_one_page_with_markup_printed_as_typed():
    fact = "Climbs <b>every</b> peak & writes <font size=40>about it</font> " * 5
    team = tuple(
        KitPerson(f"Person{i} " + "Wolfeschlegelsteinhausenbergerdorff " * 4, "Principal " * 15, "Role " * 20, fact)
        for i in range(6)
    )
    kit = Kit(
        "Company " * 25,
        "Acme <b>&</b> Co",
        "Jane " * 30,
        None,
        KitPerson("Riley " * 30),
        team,
        KitPerson("Dana Whitfield", "CEO", "Executive sponsor"),
        tuple(Milestone(date(2027, 1, d), "Training and check-ins " * 5) for d in range(1, 7)),
        "https://example.com/" + "x" * 400,
        date(2026, 11, 26),
    )
    page = pdfs.read(render(kit))
    assert page.pages == 1
    assert "Welcome, Acme <b>&</b> Co" in page.text and "Climbs <b>every</b> peak &" in page.text
    assert all(f"Person{i}" in page.text for i in range(6)) and "Dana Whitfield" in page.text
