"""Fill playbook templates with a deal's facts, escaped for Slack or left plain for the terminal."""

from __future__ import annotations

from collections.abc import Callable

from bot.deals.capture import PERSONAS
from bot.deals.model import DealFields
from bot.slack.text import escape, mention


def facts(fields: DealFields, *, owner_id: str | None, esc: Callable[[str | None], str] = escape) -> dict[str, str]:
    """Placeholder values; missing facts read naturally instead of leaving holes in a sentence."""
    contact = esc(fields.contact_name) if fields.contact_name else "your main contact"
    first = esc(fields.contact_name.split()[0]) if fields.contact_name else "there"
    if esc is escape:
        rep = mention(owner_id) if owner_id else "your rep"
        lead = mention(fields.impl_lead_id) if fields.impl_lead_id else "our implementation team"
    else:
        rep = "your rep"
        lead = "our implementation team"
    return {
        "account": esc(fields.account),
        "contact": contact,
        "contact_first": first,
        "contact_title": esc(fields.contact_title) if fields.contact_title else "",
        "rep": rep,
        "amount": fields.money.format(),
        "why_bought": esc(fields.why_bought) if fields.why_bought else "what matters most to you",
        "impl_lead": lead,
        "persona": PERSONAS.get(fields.persona, fields.persona),
    }


def render(template: str, values: dict[str, str]) -> str:
    """Fill a validated template; placeholders were checked when the playbook loaded."""
    return template.format_map(values)
