"""The deal modals' fields (the deal form, mark live, cancel): their ids, and reading a submission into values or
inline errors that name the problem and show an example. Every free-text field, in any feature's form, goes
through read_text: capture.check_text, the one text policy."""

from __future__ import annotations

from datetime import date

from bot.deals.capture import MAX_ACCOUNT, MAX_NAME, MAX_WHY, InputError, check_text, parse_amount, parse_persona
from bot.deals.model import DealFields
from bot.slack.forms import FormErrors, element, inline, read_date, text_of
from bot.slack.ids import is_channel_id, is_user_id

DEAL_MODAL = "deal_details"
ACCOUNT, AMOUNT, CONTACT_NAME, CONTACT_TITLE = "account", "amount", "contact_name", "contact_title"
PERSONA, CLOSE_DATE, GO_LIVE, IMPL_LEAD, WHY = (
    "persona",
    "close_date",
    "go_live_date",
    "impl_lead",
    "why_bought",
)
SIGNED, REASON, OWNER = "signed", "reason", "owner"
VERBAL = "verbal"  # the checkbox option meaning "not signed yet"
MAX_REASON = 500  # a cancel reason
EXAMPLES = {
    ACCOUNT: "Acme Rockets",
    CONTACT_NAME: "Jane Doe",
    CONTACT_TITLE: "VP Operations",
    WHY: "Setup took days, not months",
}
LEAD_PROBLEM = "Pick the implementation lead from the list of people in your workspace, e.g. @Jane Doe."


def read_text(
    values: dict, block_id: str, field: str, limit: int, example: str, *, multiline: bool = False
) -> str | None:
    """One free-text field of any form through the text policy: the value tidied (None when empty), or FormErrors for its block
    naming the problem with an example."""
    try:
        return check_text(text_of(values, block_id), field, limit, multiline=multiline) or None
    except InputError as exc:
        raise FormErrors({block_id: inline(exc.problem, example)}) from None


def read_deal_form(values: dict, *, default_currency: str, today: date) -> DealFields:
    """Validate every field at once, so the rep sees all problems in one go."""
    errors: dict[str, str] = {}

    def checked(block_id: str, label: str, limit: int, *, multiline: bool = False) -> str | None:
        try:
            return read_text(values, block_id, label, limit, EXAMPLES[block_id], multiline=multiline)
        except FormErrors as exc:
            errors.update(exc.errors)
            return None

    def picked(block_id: str) -> date | None:
        try:
            return read_date(values, block_id)
        except FormErrors as exc:
            errors.update(exc.errors)
            return None

    account = checked(ACCOUNT, "account name", MAX_ACCOUNT)
    if not account and ACCOUNT not in errors:
        errors[ACCOUNT] = "Enter the account name, e.g. Acme Rockets."
    money = None
    try:
        money = parse_amount(text_of(values, AMOUNT), default_currency)
    except InputError as exc:
        errors[AMOUNT] = f"{exc.problem} Example: $120k, 1.2M or EUR 50,000."
    contact_name = checked(CONTACT_NAME, "contact name", MAX_NAME)
    contact_title = checked(CONTACT_TITLE, "contact title", MAX_NAME)
    why_bought = checked(WHY, "reason", MAX_WHY, multiline=True)
    persona_option = element(values, PERSONA).get("selected_option") or {}
    persona = "other"
    if persona_option.get("value"):
        try:
            persona = parse_persona(persona_option["value"])
        except InputError as exc:
            errors[PERSONA] = exc.problem

    close_date = picked(CLOSE_DATE) or today
    if close_date > today:
        errors[CLOSE_DATE] = f"The close date can't be in the future. Pick today ({today:%b %-d}) or earlier."
    elif (today - close_date).days > 365:
        errors[CLOSE_DATE] = "The close date is more than a year ago. Pick a date within the last 12 months."
    go_live = picked(GO_LIVE)
    if go_live and go_live < close_date:
        errors[GO_LIVE] = f"Go-live can't be before the close date ({close_date:%b %-d})."
    impl_lead = element(values, IMPL_LEAD).get("selected_user") or None
    if impl_lead is not None and not is_user_id(impl_lead):
        errors[IMPL_LEAD] = LEAD_PROBLEM
    if errors or money is None or account is None:
        raise FormErrors(errors)
    verbal = any(o.get("value") == VERBAL for o in element(values, SIGNED).get("selected_options") or [])
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


def read_go_live(values: dict, *, today: date) -> date:
    """Mark live's one field: the day the customer went live, today at the latest (the team is told they are live,
    so a day still to come is refused; an expected go-live belongs in Add details)."""
    chosen = read_date(values, GO_LIVE)
    if chosen is None:
        raise FormErrors({GO_LIVE: inline("Pick the go-live date.", f"{today:%b %-d, %Y}")})
    if chosen > today:
        problem = (
            f"{chosen:%b %-d, %Y} is still to come: Mark live once the customer is live. For an expected go-live, "
            "set Expected go-live date in Add details instead."
        )
        raise FormErrors({GO_LIVE: inline(problem, f"{today:%b %-d, %Y}")})
    return chosen


def read_owner(values: dict) -> str:
    """Change owner's one field: a member of the workspace."""
    chosen = element(values, OWNER).get("selected_user")
    if not is_user_id(chosen):
        raise FormErrors({OWNER: "Pick the new owner from the list of people in your workspace, e.g. @Jane Doe."})
    return chosen


def read_cancel_reason(values: dict) -> str:
    """Why the deal was cancelled: required, shown in the channel and the digest."""
    example = "Budget frozen after a reorg"
    reason = read_text(values, REASON, "reason", MAX_REASON, example, multiline=True)
    if not reason:
        raise FormErrors({REASON: inline("Say why the deal was cancelled.", example)})
    return reason


def channel_of(metadata_channel: object) -> str | None:
    """The channel a form was opened from, as its private_metadata carries it; only a well-formed channel id."""
    return metadata_channel if is_channel_id(metadata_channel) else None
