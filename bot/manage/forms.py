"""The Reassign modal's fields (what to hand over, to whom), what it carries, and reading a submission."""

from __future__ import annotations

import json

from bot.slack.forms import FormErrors, element, metadata_dict
from bot.slack.ids import is_user_id

REASSIGN_MODAL, TEAM_MODAL = "manage_reassign", "manage_team"
PEOPLE, GROUP = "people", "usergroup"  # the team modal's block ids
MAX_PEOPLE = 100
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


def is_usergroup_id(value: object) -> bool:
    """A Slack user group id looks like S0123ABCD."""
    return isinstance(value, str) and len(value) <= 20 and value[:1] == "S" and value[1:].isalnum() and value.isascii()


def read_team(values: dict) -> tuple[list[str], str | None]:
    """The reps a manager chose and the user group, if any (neither: everyone); FormErrors for anything that isn't
    a member or user group id."""
    group = (element(values, GROUP).get("selected_option") or {}).get("value")
    if group is not None and not is_usergroup_id(group):
        raise FormErrors({GROUP: "Pick one of the user groups in the list, or none."})
    chosen = element(values, PEOPLE).get("selected_users") or []
    if not isinstance(chosen, list) or not all(isinstance(u, str) and is_user_id(u) for u in chosen):
        raise FormErrors({PEOPLE: "Pick your reps from the list, e.g. Jane Doe and Sam Lee."})
    if len(chosen) > MAX_PEOPLE:
        raise FormErrors({PEOPLE: f"Pick at most {MAX_PEOPLE} people, or leave it empty for everyone."})
    return chosen, group
