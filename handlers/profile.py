"""The team profile on the Home tab: Edit team profile opens the form for a manager; saving it redraws Home."""

from __future__ import annotations

from bot.coach import Coach, NotAllowed
from bot.profile.blocks import EDIT_PROFILE
from bot.profile.forms import COMPANY, PROFILE_MODAL
from bot.slack.forms import FormErrors
from bot.slack.text import plain_from_mrkdwn
from handlers.replies import open_form_for_click, refuse

__all__ = ["EDIT_PROFILE", "PROFILE_MODAL"]
PROFILE_SAVED = "profile_saved"  # the ack stored the profile: the lazy listener redraws the managers' Home tabs


def handle_edit_profile(body: dict, context, client, respond) -> None:
    """Open the form for a manager; anyone else (a forged or stale click) is told privately who can."""
    coach: Coach = context["coach"]
    try:
        view = coach.profile_modal(team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    open_form_for_click(client, body, respond, view)


def handle_profile_form(ack, view: dict, context) -> None:
    """Validate and store the whole profile; problems come back inline and nothing is stored until all are fixed."""
    coach: Coach = context["coach"]
    try:
        coach.save_profile(view["state"]["values"], team_id=context.team_id, user_id=context.user_id)
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={COMPANY: plain_from_mrkdwn(str(exc))})
    context[PROFILE_SAVED] = True
    ack()


def redraw_after_profile(context, client) -> None:
    """After a save: the Home tabs of the managers who have opened theirs show the new profile."""
    if not context.get(PROFILE_SAVED):
        return
    coach: Coach = context["coach"]
    coach.refresh_homes(client, [context.user_id, *coach.settings.managers], team_id=context.team_id)
