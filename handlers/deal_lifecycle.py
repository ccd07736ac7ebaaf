"""Mark signed, mark live, cancel: the deal's own buttons, in its channel message and on the Home tab."""

from __future__ import annotations

import json
import logging
import sqlite3

from bot.coach import Coach, NotAllowed
from bot.deals import blocks, forms
from bot.storage import log_storage_failure, storage_problem
from handlers.replies import open_form_for_click, refuse, tell

logger = logging.getLogger(__name__)
CHANGED = "deal_changed"


def ack_click(ack) -> None:
    ack()


def handle_mark_signed(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        change = coach.change_deal(int(action["value"]), "signed", team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if not change.changed:
        return refuse(coach, body, client, respond, context, change.explanation)
    coach.redraw(client, change.redraw)


def handle_delete(body: dict, action: dict, context, client, respond) -> None:
    """Delete a capture made by mistake (Slack asked to confirm first): its messages say so, Home tabs drop it."""
    coach: Coach = context["coach"]
    try:
        change = coach.change_deal(int(action["value"]), "delete", team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    except sqlite3.Error as exc:
        logger.exception("Could not delete deal %s", action.get("value"))
        return tell(body, client, respond, f"I couldn't delete it just now: {storage_problem(exc)}. Try again.")
    if not change.changed:
        return refuse(coach, body, client, respond, context, change.explanation)
    coach.redraw(client, change.redraw)
    if (body.get("container") or {}).get("is_ephemeral"):  # from `/closed-deal list`: that list is now out of date
        tell(body, client, respond, blocks.deleted_deal_message(change.deal)[0])


def _open_modal(build, body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        deal = coach.deal_for_editing(int(action["value"]), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if deal.cancelled:
        return refuse(coach, body, client, respond, context, blocks.deal_unchanged_text(deal, "cancel"))
    open_form_for_click(client, body, respond, build(coach, deal))


def handle_mark_live(body: dict, action: dict, context, client, respond) -> None:
    _open_modal(lambda coach, deal: blocks.live_modal(deal, coach.today()), body, action, context, client, respond)


def handle_cancel(body: dict, action: dict, context, client, respond) -> None:
    _open_modal(lambda coach, deal: blocks.cancel_modal(deal), body, action, context, client, respond)


def _deal_id(view: dict) -> int:
    return int(json.loads(view.get("private_metadata") or "{}")["deal"])


def _submit(ack, view: dict, context, action: str, field: str, **details) -> None:
    coach: Coach = context["coach"]
    try:
        change = coach.change_deal(_deal_id(view), action, team_id=context.team_id, user_id=context.user_id, **details)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={field: str(exc).replace("<@", "@").replace(">", "")})
    except sqlite3.Error as exc:
        log_storage_failure(logger, f"Could not {action} deal", exc)
        problem = storage_problem(exc).capitalize()
        return ack(response_action="errors", errors={field: f"{problem}. Press the button again in a moment."})
    if not change.changed:
        return ack(response_action="errors", errors={field: change.explanation})
    context[CHANGED] = change.redraw  # what the lazy listener redraws once Slack has its answer
    ack()


def handle_live_submission(ack, view: dict, context) -> None:
    coach: Coach = context["coach"]
    try:
        go_live = forms.read_go_live(view["state"]["values"], example=coach.today())
    except forms.FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    _submit(ack, view, context, "live", forms.GO_LIVE, go_live=go_live)


def handle_cancel_submission(ack, view: dict, context) -> None:
    try:
        reason = forms.read_cancel_reason(view["state"]["values"])
    except forms.FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    _submit(ack, view, context, "cancel", forms.REASON, reason=reason)


def refresh_after_submission(view: dict, context, client) -> None:
    """Only after a submission that changed something: redraw the deal, its nudge messages and Home tabs."""
    if context.get(CHANGED) is None:
        return
    coach: Coach = context["coach"]
    coach.redraw(client, context[CHANGED])
