"""The deal details modal: opened by "Add details", saved on submit, reflected in the channel message."""

from __future__ import annotations

from bot.coach import Coach, LooksLikeARepeat, NotAllowed
from bot.deals import blocks
from bot.deals.blocks import ADD_DETAILS, read_modal_metadata
from bot.deals.forms import ACCOUNT, DEAL_MODAL
from bot.slack.blocks import notice
from bot.slack.forms import FormErrors
from bot.slack.text import plain_from_mrkdwn
from handlers.replies import SAVED, deal_named, open_form_for_click, refuse

__all__ = ["ADD_DETAILS", "DEAL_MODAL"]


def handle_add_details(body: dict, action: dict, context, client, respond) -> None:
    """Open the form pre-filled for the owner or a manager; tell anyone else, privately, who can."""
    coach: Coach = context["coach"]
    try:
        deal = coach.deal_for_editing(deal_named(action), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    view = blocks.deal_modal(channel_id=deal.channel_id, today=coach.today(), deal=deal)
    open_form_for_click(client, body, respond, view)


def handle_deal_form(ack, view: dict, body: dict, context) -> None:
    """Validate and store the form; problems come back inline and nothing is stored until it is valid."""
    coach: Coach = context["coach"]
    try:
        deal, changed = coach.save_form(
            view["state"]["values"],
            view.get("private_metadata", ""),
            team_id=context.team_id,
            user_id=context.user_id,
            view_id=view["id"],
        )
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    except LooksLikeARepeat as exc:  # held: saving the same form again keeps both
        error = blocks.repeat_form_error(exc.earlier, now=coach.now(), tz=coach.settings.tz)
        return ack(response_action="errors", errors={ACCOUNT: error})
    except NotAllowed as exc:
        return ack(response_action="errors", errors={ACCOUNT: plain_from_mrkdwn(str(exc))})
    if changed:  # a second submit of the same form finds it saved: nothing more to post
        context[SAVED] = deal.id
    ack()


def announce_deal_form(view: dict, context, client) -> None:
    """After the modal closes: post the new deal in its channel, or refresh the edited deal's message."""
    coach: Coach = context["coach"]
    if not context.get(SAVED):
        return  # errors were shown, or this submission changed nothing
    deal = coach.get_deal(context[SAVED])
    if deal is None:
        return
    if read_modal_metadata(view.get("private_metadata", ""))[1] is not None:  # an edit: redraw, never post anew
        coach.redraw(client, coach.deal_edited(deal.id, team_id=context.team_id, actor=context.user_id))
        return

    def tell_user(text: str) -> None:
        client.chat_postMessage(channel=context.user_id, text=text, blocks=notice(text)[1])

    coach.announce(deal.id, notify=tell_user)
    coach.refresh_homes_of_deals(client, [deal.id], actor=context.user_id)
