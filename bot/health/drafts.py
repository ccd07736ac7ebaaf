"""What a draft may say: each step in the words its deal's facts allow (a playbook variant), so no draft states a
fact the bot does not have ("since go-live" before anyone said when) or ignores one it has (the testimonial the
buyer gave, or didn't)."""

from __future__ import annotations

import json

import sqlite_utils

from bot.deals.model import Deal
from bot.playbook.loader import GO_LIVE_UNKNOWN, KICKOFF_PENDING, NO_TESTIMONIAL, TESTIMONIAL_RECEIVED, Playbook, Step
from bot.playbook.render import KICKOFF
from bot.storage import query


def conditions(db: sqlite_utils.Database, deal: Deal, playbook: Playbook) -> frozenset[str]:
    """The facts a variant may depend on, as known now."""
    known = set()
    if deal.fields.go_live_date is None:
        known.add(GO_LIVE_UNKNOWN)
    testimonial = [s.id for s in playbook.steps if s.outcome == "testimonial" and s.variant_of is None]
    received = False
    if testimonial:
        marks = ",".join("?" * len(testimonial))
        rows = query(
            db,
            f"SELECT outcome FROM nudges WHERE deal_id = ? AND status = 'done' AND outcome IS NOT NULL "
            f"AND step_id IN ({marks})",
            [deal.id, *testimonial],
        )
        received = any(json.loads(r["outcome"]).get("result") == "received" for r in rows)
    known.add(TESTIMONIAL_RECEIVED if received else NO_TESTIMONIAL)
    kickoff = query(
        db, "SELECT id FROM nudges WHERE deal_id = ? AND step_id = ? AND status = 'done'", [deal.id, KICKOFF]
    )
    if not kickoff:  # planned, posted, skipped or none at all: nobody said it happened
        known.add(KICKOFF_PENDING)
    return frozenset(known)


def steps_for(db: sqlite_utils.Database, deal: Deal, playbook: Playbook) -> dict[str, Step]:
    """step id -> the step as this deal's nudges should read it (variants applied)."""
    known = conditions(db, deal, playbook)
    return {s.id: playbook.words_for(s, known) for s in playbook.steps if s.variant_of is None}
