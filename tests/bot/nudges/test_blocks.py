"""A nudge as the team reads it: short by default (measured, every step of the built-in playbook), the rest one
click away, a resolved step in one line, late only where a step is late."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.deals.capture import Money
from bot.deals.model import Deal, DealFields, Nudge
from bot.nudges.blocks import nudge_message
from bot.playbook.loader import load

BERLIN = ZoneInfo("Europe/Berlin")
PLAYBOOK = load()
WIDTH, BUDGET = 80, 12  # a thread pane shows about 80 characters a line; the budget per step


def deal() -> Deal:
    fields = DealFields(
        account="Acme Rockets International",
        money=Money(Decimal("250000"), "USD"),
        close_date=date(2026, 11, 23),
        contact_name="Jane Alexandra Doe-Smith",
        contact_title="VP Operations",
        persona="economic",
        go_live_date=date(2027, 1, 15),
        impl_lead_id="U0LEAD",
        why_bought="They needed to cut onboarding time in half before their spring hiring wave",
    )
    return Deal(1, "T0", "C0", "U0REP", fields, "open", "1.000100", "2026-11-23T09:00:00+00:00")


def rendered_lines(blocks: list[dict]) -> int:
    """What a reader sees, in screen lines: each text line wrapped at WIDTH; a row of buttons is one line."""
    lines = 0
    for block in blocks:
        texts = []
        if block["type"] == "section":
            texts = [block["text"]["text"]]
        elif block["type"] == "context":
            texts = [e["text"] for e in block["elements"]]
        elif block["type"] in ("actions", "header"):
            lines += 1
        for text in texts:
            for line in text.split("\n"):
                lines += len(textwrap.wrap(line, WIDTH)) or 1
    return lines


def nudge(step, status: str = "posted", **extra) -> Nudge:
    return Nudge(1, 1, step.id, step.stage, step.title, date(2026, 11, 23), status, post_id=7, **extra)


@pytest.mark.parametrize("step", PLAYBOOK.steps, ids=lambda s: s.id)
def test_every_default_step_fits_twelve_lines_with_its_draft_and_buttons(step):
    _, blocks = nudge_message(deal(), [nudge(step)], {step.id: step}, post_id=7, tz=BERLIN)
    assert rendered_lines(blocks) <= BUDGET, [b.get("text", b.get("elements")) for b in blocks]
    shown = str(blocks)
    answer = "go_live_today" if step.when == "go_live_unknown" else "nudge_done"  # the go-live question's own buttons
    assert "Why now" in shown and answer in shown and "nudge_more" in shown
    if step.draft:
        assert "*Draft*" in shown
    assert "*How:*" not in shown  # one click away, under More


def test_the_longest_draft_shows_its_opening_and_says_where_the_rest_is():
    step = max(PLAYBOOK.steps, key=lambda s: len(s.draft))
    _, blocks = nudge_message(deal(), [nudge(step)], {step.id: step}, post_id=7, tz=BERLIN)
    [draft] = [b["text"]["text"] for b in blocks if b["type"] == "section" and "*Draft*" in b["text"]["text"]]
    assert "…" in draft and "*More*" in draft


def test_a_resolved_step_is_one_line():
    step = PLAYBOOK.steps[1]
    done = nudge(step, "done", resolved_by="U0REP", resolved_at="2026-11-23T10:30:00+00:00")
    _, blocks = nudge_message(deal(), [done], {step.id: step}, post_id=7, tz=BERLIN)
    assert rendered_lines(blocks) == 1 and "Done by <@U0REP>" in str(blocks)


def test_late_is_per_step_and_due_today_is_never_late():
    early, today = PLAYBOOK.steps[1], PLAYBOOK.steps[2]
    steps = [
        Nudge(1, 1, early.id, early.stage, early.title, date(2026, 11, 20), "posted", post_id=7),
        Nudge(2, 1, today.id, today.stage, today.title, date(2026, 11, 23), "posted", post_id=7),
    ]
    text, blocks = nudge_message(
        deal(), steps, {s.id: s for s in PLAYBOOK.steps}, post_id=7, tz=BERLIN, is_late=lambda n: n.id == 1
    )
    metas = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert [":hourglass: late" in m for m in metas] == [True, False]
    assert "away" not in text and "snoozed" not in text
