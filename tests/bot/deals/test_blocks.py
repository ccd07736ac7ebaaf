"""The missing-details prompt as text: nothing to ask when the deal has every fact the drafts need."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from bot.deals.blocks import missing_details, missing_details_prompt
from bot.deals.model import Deal
from tests.bot.dealdata import ACME


def deal(**changes) -> Deal:
    fields = replace(ACME, **changes)
    return Deal(1, "T0FAKE", "C0TEAM", "U0REP", fields, "open", None, "2026-01-02T09:30:00+00:00")


def test_a_deal_with_every_fact_the_drafts_need_gets_no_prompt():
    complete = deal(
        contact_name="Jane Doe",
        contact_title="CFO",
        persona="economic",
        go_live_date=date(2026, 3, 1),
        impl_lead_id="U0LEAD",
    )
    assert missing_details(complete.fields) == [] and missing_details_prompt(complete) is None


def test_each_missing_fact_is_asked_for_once_with_why():
    bare = deal(contact_name=None, contact_title=None, persona="other", go_live_date=None, impl_lead_id=None)
    items = missing_details(bare.fields)
    assert [label for label, _ in items] == [
        "The contact's name and title",
        "Who signed (economic, technical or champion)",
        "The go-live date",
        "The implementation lead",
    ]
    assert all(why.startswith("so ") for _, why in items)
