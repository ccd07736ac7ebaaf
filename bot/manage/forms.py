"""The Reassign modal's fields (what to hand over, to whom), what it carries, and reading a submission."""

from __future__ import annotations

import json

from bot.slack.forms import FormErrors, element, metadata_dict
from bot.slack.ids import is_user_id

REASSIGN_MODAL = "manage_reassign"
SCOPE, TO = "scope", "to"  # block ids
STEP, DEAL, ALL = "step", "deal", "all"  # the oldest step owed, the whole deal, all of the rep's open deals
LOST_TRACK = "This form lost track of its deal. Close it and choose Reassign again."


def modal_metadata(*, deal: int) -> str:
    return json.dumps({"deal": deal})


def read_modal_metadata(private_metadata: str | None) -> int | None:
    deal = metadata_dict(private_metadata).get("deal")
    return deal if type(deal) is int else None


def read_reassign(values: dict) -> tuple[str, str]:
    """(scope, the member to hand it to); FormErrors naming what is missing, with an example."""
    errors = {}
    scope = (element(values, SCOPE).get("selected_option") or {}).get("value")
    if scope not in (STEP, DEAL, ALL):
        errors[SCOPE] = "Choose what to hand over: a step, the whole deal, or all of the rep's open deals."
    to = element(values, TO).get("selected_user")
    if not (isinstance(to, str) and is_user_id(to)):
        errors[TO] = "Pick a teammate from the list, e.g. Jane Doe."
    if errors:
        raise FormErrors(errors)
    return scope, to
