"""The reason-to-believe checklist as Slack shows it: a modal of checkboxes, and reading what was ticked."""

from __future__ import annotations

from bot.deals.blocks import modal_metadata
from bot.deals.model import Deal
from bot.health.readiness import QUESTIONS, Answers
from bot.slack.blocks import context, input_block, option, section
from bot.slack.blocks import modal as modal_view
from bot.slack.forms import element
from bot.slack.text import escape, mention

READINESS_MODAL, TICKED = "deal_readiness", "readiness"


def readiness_modal(deal: Deal, answers: Answers | None) -> dict:
    """Six questions the buyer should be able to answer before signing; what was ticked last time is ticked."""
    options = [option(label, key) for key, label in QUESTIONS.items()]
    checkboxes: dict = {"type": "checkboxes", "options": options}
    if answers and answers.ticked:
        checkboxes["initial_options"] = [o for o in options if o["value"] in answers.ticked]
    blocks = [
        section(
            f"*{escape(deal.account)}* said yes but hasn't signed. Could they answer these from what we told them? "
            "Tick each one they could. Every one left unticked becomes a follow-up with a draft to send, "
            "before the signature step."
        ),
        input_block(TICKED, "They can say…", checkboxes),
    ]
    if answers and answers.by:
        blocks.append(context(f"Last answered by {mention(answers.by)}."))
    return modal_view(
        READINESS_MODAL,
        title="Reason to believe?",
        submit="Save",
        close="Cancel",
        metadata=modal_metadata(deal=deal.id),
        blocks=blocks,
    )


def read_ticked(values: dict) -> set[str]:
    """The questions ticked; anything that isn't one of them (a forged submission) is ignored."""
    chosen = element(values, TICKED).get("selected_options") or []
    return {o.get("value") for o in chosen if isinstance(o, dict) and o.get("value") in QUESTIONS}
