"""A verbal yes's reason-to-believe checklist: the deal's button opens it, saving it turns gaps into steps."""

from __future__ import annotations

from bot.coach import Coach, NotAllowed
from bot.deals.blocks import LOST_TRACK, read_modal_metadata
from bot.health import blocks
from bot.slack.text import plain_from_mrkdwn
from handlers.replies import CHANGED, deal_named, open_form_for_click, refuse


def handle_check_readiness(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        deal, answers = coach.readiness_for(deal_named(action), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    open_form_for_click(client, body, respond, blocks.readiness_modal(deal, answers))


def handle_readiness_submission(ack, view: dict, context) -> None:
    coach: Coach = context["coach"]
    _, deal_id = read_modal_metadata(view.get("private_metadata"))
    if deal_id is None:
        return ack(response_action="errors", errors={blocks.TICKED: LOST_TRACK})
    ticked = blocks.read_ticked(view["state"]["values"])
    try:
        change = coach.save_readiness(deal_id, ticked, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={blocks.TICKED: plain_from_mrkdwn(str(exc))})
    context[CHANGED] = change.redraw
    ack()
