"""Mark signed, mark live, cancel: the deal's own buttons, in its channel message and on the Home tab."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import date

from bot import blocks, forms
from bot.coach import Coach, NotAllowed
from bot.db import log_storage_failure, storage_problem
from handlers.nudges import refresh
from handlers.replies import refuse

logger = logging.getLogger(__name__)
CHANGED = "deal_changed"


def ack_click(ack) -> None:
    ack()


def after_change(coach: Coach, client, change, *, actor: str | None = None) -> None:
    """Redraw the deal's channel message, any nudge messages whose buttons no longer apply, and Home tabs."""
    coach.publish_deal(client, change.deal, notify=lambda text: None)
    for post_id in change.post_ids:
        refresh(coach, client, post_id)
    coach.refresh_homes_of_deals(client, [change.deal.id], actor=actor)


def handle_mark_signed(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        change = coach.change_deal(int(action["value"]), "signed", team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if not change.changed:
        return refuse(coach, body, client, respond, context, change.explanation)
    after_change(coach, client, change, actor=context.user_id)


def _open_modal(build, body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        deal = coach.deal_for_editing(int(action["value"]), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if deal.cancelled:
        return refuse(coach, body, client, respond, context, blocks.deal_unchanged_text(deal, "cancel"))
    client.views_open(trigger_id=body["trigger_id"], view=build(coach, deal))


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
    context[CHANGED] = change.post_ids  # what the lazy listener redraws once Slack has its answer
    ack()


def handle_live_submission(ack, view: dict, context) -> None:
    value = view["state"]["values"].get(forms.GO_LIVE, {}).get(forms.VALUE) or {}
    chosen = value.get("selected_date")
    if not chosen:
        return ack(response_action="errors", errors={forms.GO_LIVE: "Pick the go-live date."})
    _submit(ack, view, context, "live", forms.GO_LIVE, go_live=date.fromisoformat(chosen))


def handle_cancel_submission(ack, view: dict, context) -> None:
    value = view["state"]["values"].get(forms.REASON, {}).get(forms.VALUE) or {}
    reason = " ".join((value.get("value") or "").split())
    if not reason:
        return ack(response_action="errors", errors={forms.REASON: "Say why, e.g. 'Budget frozen after a reorg'."})
    _submit(ack, view, context, "cancel", forms.REASON, reason=reason[:500])


def refresh_after_submission(view: dict, context, client) -> None:
    """Only after a submission that changed something: redraw the deal and its nudge messages."""
    post_ids = context.get(CHANGED)
    if post_ids is None:
        return
    coach: Coach = context["coach"]
    deal = coach.get_deal(_deal_id(view))
    if deal is None:
        return
    coach.publish_deal(client, deal, notify=lambda text: None)
    for post_id in post_ids:
        refresh(coach, client, post_id)
    coach.refresh_homes_of_deals(client, [deal.id], actor=context.user_id)
