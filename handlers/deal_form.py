"""The deal details modal: opened by "Add details", saved on submit, reflected in the channel message."""

from __future__ import annotations

import logging
import sqlite3

from bot import blocks
from bot.blocks import ADD_DETAILS
from bot.coach import Coach, NotAllowed
from bot.forms import ACCOUNT, DEAL_MODAL, FormErrors, read_deal_form
from handlers.replies import refuse

__all__ = ["ADD_DETAILS", "DEAL_MODAL"]
logger = logging.getLogger(__name__)


def ack_add_details(ack) -> None:
    ack()


def handle_add_details(body: dict, action: dict, context, client, respond) -> None:
    """Open the form pre-filled for the owner or a manager; tell anyone else, privately, who can."""
    coach: Coach = context["coach"]
    try:
        deal = coach.deal_for_editing(int(action["value"]), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    view = blocks.deal_modal(channel_id=deal.channel_id, today=coach.today(), deal=deal)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def handle_deal_form(ack, view: dict, body: dict, context) -> None:
    """Validate and store the form; problems come back inline and nothing is stored until it is valid."""
    coach: Coach = context["coach"]
    try:
        coach.save_form(
            view["state"]["values"],
            view.get("private_metadata", ""),
            team_id=context.team_id,
            user_id=context.user_id,
            view_id=view["id"],
        )
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={ACCOUNT: str(exc).replace("<@", "@").replace(">", "")})
    except sqlite3.OperationalError:
        logger.exception("Could not store a deal form")
        return ack(
            response_action="errors",
            errors={ACCOUNT: "I couldn't save just now: the database is busy. Press Save again in a moment."},
        )
    ack()


def announce_deal_form(view: dict, context, client) -> None:
    """After the modal closes: post the new deal in its channel, or refresh the edited deal's message."""
    coach: Coach = context["coach"]
    channel_id, deal_id = blocks.read_modal_metadata(view.get("private_metadata", ""))
    try:
        read_deal_form(view["state"]["values"], default_currency=coach.settings.currency, today=coach.today())
    except FormErrors:
        return  # the ack showed the errors; nothing was stored
    deal = coach.deal_by_capture_key(view["id"]) if deal_id is None else coach.get_deal(deal_id)
    if deal is None or deal.team_id != context.team_id:
        return
    if deal_id is not None and not coach.may_edit(deal, context.user_id):
        return

    def tell_user(text: str) -> None:
        client.chat_postMessage(channel=context.user_id, text=text, blocks=blocks.notice(text)[1])

    coach.publish_deal(client, deal, notify=tell_user)
    coach.refresh_homes_of_deals(client, [deal.id], actor=context.user_id)
