"""The deal's channel message as the team reads it, in every state a redraw can show (verbal yes, signed, live,
paused, cancelled, unowned, deleted): short, measured like a nudge, with the built-in playbook's whole plan behind
See the plan."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from bot.deals.blocks import deal_announcement, plan_modal
from bot.deals.model import Nudge
from bot.playbook.loader import load
from tests.bot.nudges.test_blocks import BUDGET, deal, rendered_lines

PLAYBOOK = load()
CRM_URL = "https://app.hubspot.com/contacts/12345678/record/0-3/987654321"
LINK = re.compile(r"<[^<>|]*\|([^<>]*)>")  # a link (or a date) shows its label, not its address


def on_screen(blocks: list[dict]) -> list[dict]:
    return json.loads(LINK.sub(r"<\1>", json.dumps(blocks, ensure_ascii=False)))


def full_plan(d, status: str = "planned") -> list[Nudge]:
    f = d.fields
    planned = PLAYBOOK.plan(
        close_date=f.close_date,
        persona=f.persona,
        amount=f.money.amount,
        go_live=f.go_live_date,
        signed=f.signed,
        currency=f.money.currency,
    )
    return [Nudge(i, d.id, p.step.id, p.step.stage, p.step.title, p.due, status) for i, p in enumerate(planned, 1)]


def two_done(nudges: list[Nudge]) -> list[Nudge]:
    return [replace(n, status="done") if i < 2 else n for i, n in enumerate(nudges)]


CRM = {"source": "hubspot", "source_url": CRM_URL}
STATES = {
    "new": ({}, lambda n: n),
    "verbal yes": ({"signed": False}, lambda n: n),
    "two done": ({}, two_done),
    "live": ({"live_at": "2027-01-15T10:00:00+00:00"}, two_done),
    "from a CRM": (CRM, two_done),
    "unowned": ({**CRM, "owner_id": ""}, lambda n: n),
    "paused": (
        {**CRM, "paused_at": "2026-11-25T10:00:00+00:00"},
        lambda n: [replace(x, status="paused") if x.status == "planned" else x for x in two_done(n)],
    ),
    "cancelled": (
        {
            "status": "cancelled",
            "cancelled_by": "U0MGR",
            "cancelled_at": "2026-11-25T10:00:00+00:00",
            "cancel_reason": "Budget frozen after the reorg in their EMEA division, says their new CFO",
        },
        lambda n: [replace(x, status="cancelled") if x.status == "planned" else x for x in two_done(n)],
    ),
}


def state(name: str):
    changes, steps = STATES[name]
    d = deal()
    fields = replace(d.fields, signed=changes.get("signed", True))
    d = replace(d, fields=fields, **{k: v for k, v in changes.items() if k != "signed"})
    return d, steps(full_plan(d))


@pytest.mark.parametrize("name", STATES)
def test_every_state_of_the_deals_message_fits_twelve_lines(name):
    d, nudges = state(name)
    assert len(nudges) >= 15
    text, blocks = deal_announcement(d, nudges)
    assert rendered_lines(on_screen(blocks)) <= BUDGET, [b.get("text", b.get("elements")) for b in blocks]
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "(day " not in shown and "See the plan" in shown and text
    assert "*Acme Rockets International* · $250,000" in shown


def test_each_state_says_what_it_is():
    def shown(name):
        return json.dumps(deal_announcement(*state(name))[1], ensure_ascii=False)

    assert "Congratulations <@U0REP>!" in shown("new") and "*Next:* Mon Nov 23 · Call Jane" in shown("new")
    assert "*Then:* Tue Nov 24" in shown("new") and "14 more by Mar 12" in shown("new")
    assert "Not signed yet: *Mark signed*" in shown("verbal yes") and "deal_mark_signed" in shown("verbal yes")
    assert "✅ 2 done" in shown("two done") and "*Next:* Tue Nov 24 · Hand Acme" in shown("two done")
    assert "*Live* since Fri Jan 15, 2027" in shown("live")
    assert "*Paused*" in shown("paused") and "⏸️ 14 waiting until it is won again" in shown("paused")
    assert "*Next:*" not in shown("paused")  # nothing is next while it waits
    assert "*Owner not found in Slack:*" in shown("unowned") and "deal_claim" in shown("unowned")
    cancelled = shown("cancelled")
    assert "*Cancelled* by <@U0MGR>" in cancelled and "✖️ 14 stopped" in cancelled and "*Next:*" not in cancelled
    assert "deal_see_plan" in cancelled and "deal_cancel" not in cancelled  # the plan is still there to read


def test_a_deleted_deal_says_so_in_one_line_with_no_plan():
    d, nudges = state("two done")
    d = replace(d, status="deleted", deleted_by="U0REP", deleted_at="2026-11-25T10:00:00+00:00")
    _, blocks = deal_announcement(d, nudges)
    assert [b["type"] for b in blocks] == ["section"] and "was deleted by <@U0REP>" in blocks[0]["text"]["text"]


def test_a_long_why_shows_its_opening_and_the_plan_has_all_of_it():
    d, nudges = state("new")
    why = "They needed to cut onboarding time in half before their spring hiring wave. " * 8
    d = replace(d, fields=replace(d.fields, why_bought=why.strip()))
    _, blocks = deal_announcement(d, nudges)
    assert rendered_lines(blocks) <= BUDGET
    [opening] = [b["text"]["text"] for b in blocks if "Why they bought" in b.get("text", {}).get("text", "")]
    assert opening.endswith("…") and len(opening) < len(why)
    assert why.strip() in json.dumps(plan_modal(d, nudges), ensure_ascii=False)


def test_the_plan_modal_pages_a_long_plan_within_block_kits_limits():
    d, nudges = state("new")
    many = [replace(n, id=i) for i in range(1, 61) for n in nudges[:1]] * 20  # 1,200 steps
    view = plan_modal(d, many)
    assert len(view["blocks"]) <= 100 and all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if "text" in b)
    assert "more steps" in json.dumps(view["blocks"][-2:])  # what didn't fit is counted, never dropped silently
