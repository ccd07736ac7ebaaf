"""The signal modals' fields (a note of doubt, a touch, a concern): their ids, what each carries in its
private_metadata, and reading a submission into values or inline errors that show an example."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from bot.deals.forms import read_text
from bot.signals.model import CONCERNS, MEDIA, SENTIMENTS
from bot.slack.forms import FormErrors, element, metadata_dict, read_date

STEP_NOTE_MODAL, TOUCH_MODAL, CONCERN_MODAL = "signal_step_note", "signal_touch", "signal_concern"
SENTIMENT, NOTE, WHEN, MEDIUM, CONCERN = "sentiment", "note", "when", "medium", "concern"  # block ids
MAX_NOTE = 1000
NOTE_EXAMPLE = "Worried their IT team won't have time for the rollout in March"
LOST_TRACK = "This form lost track of its deal. Close it and click the button again."


def modal_metadata(*, deal: int, nudge: int | None = None) -> str:
    return json.dumps({"deal": deal, "nudge": nudge} if nudge is not None else {"deal": deal})


def read_modal_metadata(private_metadata: str | None) -> tuple[int | None, int | None]:
    """(deal, nudge) as modal_metadata wrote them; None for what is missing or malformed, never an exception."""
    data = metadata_dict(private_metadata)
    deal, nudge = data.get("deal"), data.get("nudge")
    return (deal if type(deal) is int else None), (nudge if type(nudge) is int else None)


def _choice(values: dict, block_id: str, allowed: dict[str, str]) -> str | None:
    value = (element(values, block_id).get("selected_option") or {}).get("value")
    return value if value in allowed else None


@dataclass(frozen=True)
class Heard:
    """What a form recorded: how they sounded, what they doubted, when and how (a touch), which concern."""

    sentiment: str | None = None
    note: str | None = None
    happened_on: date | None = None
    medium: str | None = None
    concern: str | None = None


def _note(values: dict) -> str | None:
    return read_text(values, NOTE, "note", MAX_NOTE, NOTE_EXAMPLE, multiline=True)


def read_step_note(values: dict) -> Heard:
    """After a step: how they sounded (optional) and the doubt they voiced; one of the two is needed."""
    sentiment = _choice(values, SENTIMENT, SENTIMENTS)
    note = _note(values)
    if not sentiment and not note:
        raise FormErrors({NOTE: f"Choose how they sounded or write what they doubted, e.g. '{NOTE_EXAMPLE}'."})
    return Heard(sentiment=sentiment, note=note)


def read_touch(values: dict, *, today: date) -> Heard:
    """A touch outside the plan: when (not in the future), how, how it went, and an optional note."""
    errors: dict[str, str] = {}
    try:
        when = read_date(values, WHEN) or today
    except FormErrors as exc:
        errors.update(exc.errors)
        when = today
    if when > today:
        errors[WHEN] = f"A touch already happened: pick today or an earlier day, e.g. {today:%Y-%m-%d}."
    medium = _choice(values, MEDIUM, MEDIA)
    if not medium:
        errors[MEDIUM] = "Choose how you reached them: a call, a meeting, an email or other."
    sentiment = _choice(values, SENTIMENT, SENTIMENTS)
    if not sentiment:
        errors[SENTIMENT] = "Choose how they sounded: positive, neutral or worried."
    try:
        note = _note(values)
    except FormErrors as exc:
        errors.update(exc.errors)
        note = None
    if errors:
        raise FormErrors(errors)
    return Heard(sentiment=sentiment, note=note, happened_on=when, medium=medium)


def read_concern(values: dict) -> Heard:
    """A concern: which one (required) and what was said (optional)."""
    errors: dict[str, str] = {}
    concern = _choice(values, CONCERN, CONCERNS)
    if not concern:
        errors[CONCERN] = "Choose the concern: budget, champion left, implementation slipping or asked to cancel."
    try:
        note = _note(values)
    except FormErrors as exc:
        errors.update(exc.errors)
        note = None
    if errors:
        raise FormErrors(errors)
    return Heard(concern=concern, note=note)
