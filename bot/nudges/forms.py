"""The nudge modals' fields (Skip's reason, Done's outcome): their ids, what the modal carries in its
private_metadata, and reading a submission into values or inline errors that show an example."""

from __future__ import annotations

import json
from datetime import date, timedelta

from bot.deals.forms import read_text
from bot.playbook.loader import OUTCOMES
from bot.slack.forms import FormErrors, element, inline, metadata_dict, read_date

SKIP_MODAL, OUTCOME_MODAL, GO_LIVE_MODAL = "nudge_skip", "nudge_outcome", "nudge_go_live"
GO_LIVE = "go_live_date"  # Set a date's one field
REASON, DETAIL, RESULT = "reason", "detail", "result"  # the reason (skip, win), more detail, and how it went
MAX_REASON = 500  # a skip reason
MAX_OUTCOME = 1000  # what the buyer said: their reason, the testimonial, the referral names
OUTCOME_EXAMPLES = {
    "win_reason": "Setup took days, not months",
    "almost": "A cheaper tool from a competitor",
    "testimonial": "We went live in a week, and support answers in minutes",
    "referral": "Jane Doe at Globex, Sam Lee at Initech",
}
LOST_TRACK = "This form lost track of its follow-up. Close it and click the follow-up's button again."


def modal_metadata(nudge_id: int, kind: str | None = None) -> str:
    """What a nudge modal carries: the nudge it acts on, and for Done the kind of outcome it records."""
    return json.dumps({"nudge": nudge_id, "kind": kind} if kind else {"nudge": nudge_id})


def read_modal_metadata(private_metadata: str | None) -> tuple[int | None, str | None]:
    """The nudge and outcome kind modal_metadata wrote; None for what is missing or malformed, never an exception."""
    data = metadata_dict(private_metadata)
    nudge, kind = data.get("nudge"), data.get("kind")
    return (nudge if type(nudge) is int else None), (kind if kind in OUTCOMES else None)


def read_skip_reason(values: dict) -> str | None:
    """Why a step is skipped: optional."""
    return read_text(values, REASON, "reason", MAX_REASON, "Already covered in the kickoff call")


def read_outcome(values: dict, kind: str | None) -> dict:
    """What the buyer said, from the outcome modal: a win reason (and what almost stopped them), or how a
    testimonial or referral request went with its detail. Raises FormErrors."""
    if kind == "win_reason":
        reason = read_text(values, REASON, "reason", MAX_OUTCOME, OUTCOME_EXAMPLES[kind], multiline=True)
        if not reason:
            raise FormErrors(
                {REASON: "Write their biggest reason, in their words, e.g. 'Setup took days, not months'."}
            )
        outcome = {"kind": kind, "reason": reason}
        almost = read_text(values, DETAIL, "answer", MAX_OUTCOME, OUTCOME_EXAMPLES["almost"], multiline=True)
        if almost:
            outcome["almost"] = almost
        return outcome
    selected = element(values, RESULT).get("selected_option") or {}
    if not selected.get("value"):
        raise FormErrors({RESULT: "Choose how it went."})
    outcome = {"kind": kind, "result": selected["value"]}
    what = "testimonial" if kind == "testimonial" else "list of referral names"
    detail = read_text(values, DETAIL, what, MAX_OUTCOME, OUTCOME_EXAMPLES.get(kind, ""), multiline=True)
    if detail:
        outcome["detail"] = detail
    return outcome


def read_go_live_answer(values: dict, *, close_date: date, today: date) -> date:
    """Set a date's go-live date: on or after the close, within a year and a half of today. Raises FormErrors."""
    chosen = read_date(values, GO_LIVE)
    example = f"{max(today, close_date) + timedelta(days=14):%b %-d, %Y}"
    if chosen is None:
        raise FormErrors({GO_LIVE: inline("Pick the go-live date, past or expected.", example)})
    if chosen < close_date:
        raise FormErrors(
            {GO_LIVE: inline(f"Go-live can't be before the deal closed ({close_date:%b %-d, %Y}).", example)}
        )
    if chosen > today + timedelta(days=550):
        raise FormErrors({GO_LIVE: inline("That's more than a year and a half away; pick a nearer date.", example)})
    return chosen
