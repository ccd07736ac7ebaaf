"""Reading any modal's submission: its fields' values by block id, and the inline errors Slack shows under them.
Every feature's form readers build on these; a field's own rules (its limit, its example) stay with the feature."""

from __future__ import annotations

import json
from datetime import date

from bot.slack.blocks import VALUE


class FormErrors(Exception):
    """Inline errors keyed by block_id, as Slack's `response_action: errors` wants them."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def element(values: dict, block_id: str) -> dict:
    """The state of a block's one element (its action id is VALUE); {} when the block sent nothing."""
    return (values.get(block_id) or {}).get(VALUE) or {}


def text_of(values: dict, block_id: str) -> str:
    """A text input's value, trimmed; "" when empty or missing."""
    value = element(values, block_id).get("value")
    return value.strip() if isinstance(value, str) else ""


def inline(problem: str, example: str) -> str:
    """An inline error: what is wrong, then an example to copy."""
    return f"{problem} For example: {example}"


def read_date(values: dict, block_id: str) -> date | None:
    """A datepicker's date (Slack sends YYYY-MM-DD); anything else gets an inline error, never a crash."""
    raw = element(values, block_id).get("selected_date")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except (TypeError, ValueError):
        raise FormErrors({block_id: "That isn't a date (YYYY-MM-DD). Pick one from the calendar."}) from None


def metadata_dict(private_metadata: str | None) -> dict:
    """A modal's private_metadata as the dict a builder wrote, or {} for anything missing or malformed (a forged
    or garbled submission): readers then find nothing they can act on, never an exception."""
    try:
        data = json.loads(private_metadata or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
