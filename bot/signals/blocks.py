"""Buyer signals as the team sees them (pure): the "How did they sound?" question after Done, the deal's Log a touch and
Flag a concern buttons, their modals, and the one-line summaries the digest and the answers use."""

from __future__ import annotations

from datetime import date

from bot.deals.model import Deal, Nudge
from bot.signals import forms
from bot.signals.model import CONCERNS, MEDIA, SENTIMENTS, WORRIED, Signal
from bot.slack.blocks import button, input_block, modal, option, section, text_input
from bot.slack.text import escape, truncate

SOUNDED, NOTE_DOUBT = "signal_sounded", "signal_note_doubt"  # after Done: one tap, then an optional note
LOG_TOUCH, FLAG_CONCERN = "signal_log_touch", "signal_flag_concern"  # on every deal
SOUNDED_BLOCK = "signal_sounded_"  # + the nudge id
NOTE_CHARS = 200


def deal_signal_buttons(deal: Deal) -> list[dict]:
    """Log a touch and Flag a concern, beside the deal's own buttons (its channel message and Home)."""
    value = str(deal.id)
    return [button(LOG_TOUCH, "Log a touch", value), button(FLAG_CONCERN, "Flag a concern", value)]


def sounded_question(nudge: Nudge, account: str) -> tuple[str, list[dict]]:
    """The private question right after Done: one tap records how the buyer sounded; a note is optional."""
    value = str(nudge.id)
    text = f"Done. How did they sound at {escape(account)}? One tap helps your manager see doubt coming."
    return text, [
        section(text),
        {
            "type": "actions",
            "block_id": f"{SOUNDED_BLOCK}{nudge.id}",
            "elements": [
                button(SOUNDED, ":slightly_smiling_face: Positive", f"{value}:positive", "primary"),
                button(SOUNDED, ":neutral_face: Neutral", f"{value}:neutral"),
                button(SOUNDED, ":worried: Worried", f"{value}:worried", "danger"),
                button(NOTE_DOUBT, "Note a doubt", value),
            ],
        },
    ]


def sounded_answer(sentiment: str, account: str, nudge_id: int, *, on_a_digest: bool) -> tuple[str, list[dict]]:
    """After the tap: what was recorded, and the note button still at hand. A worry is said to reach a manager's
    digest only when one covers the deal (`on_a_digest`); otherwise the rep hears that nobody else will know."""
    text = f"Noted: they sounded {SENTIMENTS[sentiment].lower()} ({escape(account)})."
    if sentiment == WORRIED and on_a_digest:
        text += " It's on your manager's digest under *Buyer signals*. What did they doubt?"
    elif sentiment == WORRIED:
        text += (
            " No manager's digest covers this deal, so nobody else will hear of it: if it needs a hand, tell your "
            "manager yourself. What did they doubt?"
        )
    return text, [
        section(text),
        {
            "type": "actions",
            "block_id": f"{SOUNDED_BLOCK}{nudge_id}",
            "elements": [button(NOTE_DOUBT, "Note a doubt", str(nudge_id))],
        },
    ]


def read_sounded(value: str | None) -> tuple[int, str] | None:
    """A sentiment button's value (`"12:worried"`) -> (12, "worried"); None for anything else, never an exception."""
    nudge, _, sentiment = (value or "").partition(":")
    if not (nudge.isascii() and nudge.isdigit() and len(nudge) < 19) or sentiment not in SENTIMENTS:
        return None
    return int(nudge), sentiment


def read_nudge(value: str | None) -> int | None:
    """Note a doubt's value (the nudge id); None for anything else."""
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def _radio(block_id: str, label: str, choices: dict[str, str], *, optional: bool, initial: str | None = None) -> dict:
    element = {"type": "radio_buttons", "options": [option(t, v) for v, t in choices.items()]}
    if initial in choices:
        element["initial_option"] = option(choices[initial], initial)
    return input_block(block_id, label, element, optional=optional)


def _note(label: str, placeholder: str) -> dict:
    return input_block(forms.NOTE, label, text_input(None, placeholder, max_length=forms.MAX_NOTE, multiline=True))


def step_note_modal(nudge: Nudge, deal: Deal, current: Signal | None) -> dict:
    return modal(
        forms.STEP_NOTE_MODAL,
        title="How did they sound?",
        submit="Save",
        close="Cancel",
        metadata=forms.modal_metadata(deal=deal.id, nudge=nudge.id),
        blocks=[
            section(f"*{escape(deal.account)}*: anything the buyer doubted? Your manager sees it in the digest."),
            _radio(
                forms.SENTIMENT, "How did they sound?", SENTIMENTS, optional=True, initial=current and current.sentiment
            ),
            _note("What did they doubt?", f"e.g. {forms.NOTE_EXAMPLE}"),
        ],
    )


def touch_modal(deal: Deal, today: date) -> dict:
    return modal(
        forms.TOUCH_MODAL,
        title="Log a touch",
        submit="Log it",
        close="Cancel",
        metadata=forms.modal_metadata(deal=deal.id),
        blocks=[
            section(f"A call, meeting or email with *{escape(deal.account)}* outside the plan, so it counts."),
            input_block(forms.WHEN, "When", {"type": "datepicker", "initial_date": today.isoformat()}, optional=False),
            _radio(forms.MEDIUM, "How", MEDIA, optional=False),
            _radio(forms.SENTIMENT, "How did they sound?", SENTIMENTS, optional=False),
            _note("How did it go? (optional)", "e.g. Walked their admins through SSO; they asked about pricing tiers"),
        ],
    )


def concern_modal(deal: Deal) -> dict:
    return modal(
        forms.CONCERN_MODAL,
        title="Flag a concern",
        submit="Flag it",
        close="Cancel",
        metadata=forms.modal_metadata(deal=deal.id),
        blocks=[
            section(f"What worries you about *{escape(deal.account)}*? Your manager sees it in the digest."),
            _radio(forms.CONCERN, "The concern", CONCERNS, optional=False),
            _note("What was said? (optional)", "e.g. Their CFO wants to revisit the budget next quarter"),
        ],
    )


def recorded_text(kind: str, deal: Deal, *, stored: bool) -> str:
    what = "Touch logged" if kind == "touch" else "Concern flagged"
    again = "" if stored else " (already saved: nothing was added twice)"
    return f"{what} for *{escape(deal.account)}*{again}. Your manager sees it in the next digest."


def recorded_view(kind: str, deal: Deal, *, stored: bool) -> dict:
    """What the modal turns into once saved: a confirmation with only a Close button."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Log a touch" if kind == "touch" else "Flag a concern"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [section(f":white_check_mark: {recorded_text(kind, deal, stored=stored)}")],
    }


def quoted_note(note: str | None) -> str:
    return f"“{escape(truncate(' '.join(note.split()), NOTE_CHARS))}”" if note and note.strip() else ""
