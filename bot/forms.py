"""The deal details modal's fields: their ids, and reading a submission into DealFields or inline errors."""

from __future__ import annotations

from datetime import date

from bot.capture import MAX_ACCOUNT, MAX_NAME, MAX_WHY, InputError, check_text, parse_amount, parse_persona
from bot.deals import DealFields

DEAL_MODAL = "deal_details"
ACCOUNT, AMOUNT, CONTACT_NAME, CONTACT_TITLE = "account", "amount", "contact_name", "contact_title"
PERSONA, CLOSE_DATE, GO_LIVE, IMPL_LEAD, WHY = (
    "persona",
    "close_date",
    "go_live_date",
    "impl_lead",
    "why_bought",
)
SIGNED, REASON = "signed", "reason"
VERBAL = "verbal"  # the checkbox option meaning "not signed yet"
VALUE = "value"  # the action_id of the single element in each input block


class FormErrors(Exception):
    """Inline errors keyed by block_id, as Slack's `response_action: errors` wants them."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def _element(values: dict, block_id: str) -> dict:
    return (values.get(block_id) or {}).get(VALUE) or {}


def _text(values: dict, block_id: str) -> str:
    return (_element(values, block_id).get("value") or "").strip()


def read_deal_form(values: dict, *, default_currency: str, today: date) -> DealFields:
    """Validate every field at once, so the rep sees all problems in one go."""
    errors: dict[str, str] = {}

    def checked(block_id: str, label: str, limit: int) -> str | None:
        try:
            return check_text(_text(values, block_id), label, limit) or None
        except InputError as exc:
            errors[block_id] = exc.problem
            return None

    account = checked(ACCOUNT, "account name", MAX_ACCOUNT)
    if not account and ACCOUNT not in errors:
        errors[ACCOUNT] = "Enter the account name, e.g. Acme Rockets."
    money = None
    try:
        money = parse_amount(_text(values, AMOUNT), default_currency)
    except InputError as exc:
        errors[AMOUNT] = f"{exc.problem} Example: $120k, 1.2M or EUR 50,000."
    contact_name = checked(CONTACT_NAME, "contact name", MAX_NAME)
    contact_title = checked(CONTACT_TITLE, "contact title", MAX_NAME)
    why = _text(values, WHY)
    why_bought = None
    if why:
        try:
            why_bought = check_text(why.replace("\n", " ").replace("\r", " "), "reason", MAX_WHY) or None
        except InputError as exc:
            errors[WHY] = exc.problem
    persona_option = _element(values, PERSONA).get("selected_option") or {}
    persona = "other"
    if persona_option.get("value"):
        try:
            persona = parse_persona(persona_option["value"])
        except InputError as exc:
            errors[PERSONA] = exc.problem

    close_raw = _element(values, CLOSE_DATE).get("selected_date")
    close_date = date.fromisoformat(close_raw) if close_raw else today
    if close_date > today:
        errors[CLOSE_DATE] = f"The close date can't be in the future. Pick today ({today:%b %-d}) or earlier."
    elif (today - close_date).days > 365:
        errors[CLOSE_DATE] = "The close date is more than a year ago. Pick a date within the last 12 months."
    live_raw = _element(values, GO_LIVE).get("selected_date")
    go_live = date.fromisoformat(live_raw) if live_raw else None
    if go_live and go_live < close_date:
        errors[GO_LIVE] = f"Go-live can't be before the close date ({close_date:%b %-d})."
    impl_lead = _element(values, IMPL_LEAD).get("selected_user") or None
    verbal = any(o.get("value") == VERBAL for o in _element(values, SIGNED).get("selected_options") or [])

    if errors or money is None or account is None:
        raise FormErrors(errors)
    return DealFields(
        account=account,
        money=money,
        close_date=close_date,
        contact_name=contact_name,
        contact_title=contact_title,
        persona=persona,
        go_live_date=go_live,
        impl_lead_id=impl_lead,
        why_bought=why_bought,
        signed=not verbal,
    )
