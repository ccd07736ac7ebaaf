"""The Welcome kit button: the kit is built and shared into the deal's thread after the ack; the clicker hears how
it went, privately."""

from __future__ import annotations

from bot.coach import Coach, NotAllowed
from bot.welcome.blocks import WELCOME_KIT
from handlers.replies import deal_named, refuse, tell

__all__ = ["WELCOME_KIT", "handle_welcome_kit"]


def handle_welcome_kit(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        answer = coach.send_welcome_kit(deal_named(action), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    tell(body, client, respond, answer)
