"""Buyer signals: the one-tap "How did they sound?" after Done and its note, Log a touch and Flag a concern."""

from __future__ import annotations

from bot.coach import Coach, NotAllowed
from bot.signals import blocks
from bot.signals.model import CONCERN, TOUCH
from bot.slack.forms import FormErrors
from bot.slack.text import plain_from_mrkdwn
from handlers.replies import deal_named, first_input, open_form_for_click, refuse, tell


def handle_sounded(body: dict, action: dict, context, client, respond) -> None:
    """One tap records how the buyer sounded; the question is replaced by what was noted."""
    coach: Coach = context["coach"]
    read = blocks.read_sounded(action.get("value"))
    if read is None:
        return refuse(coach, body, client, respond, context, "I can't find that follow-up any more.")
    nudge_id, sentiment = read
    try:
        text, answer = coach.record_sounded(nudge_id, sentiment, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    tell(body, client, respond, text, answer, replace=True)


def handle_note_doubt(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    nudge_id = blocks.read_nudge(action.get("value"))
    if nudge_id is None:
        return refuse(coach, body, client, respond, context, "I can't find that follow-up any more.")
    try:
        view = coach.step_note_modal(nudge_id, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    open_form_for_click(client, body, respond, view)


def handle_step_note_submission(ack, view: dict, context) -> None:
    coach: Coach = context["coach"]
    try:
        coach.save_step_note(
            view["state"]["values"], view.get("private_metadata"), team_id=context.team_id, user_id=context.user_id
        )
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={first_input(view): plain_from_mrkdwn(str(exc))})
    ack()


def _open(build, body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        view = build(coach, deal_named(action), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    open_form_for_click(client, body, respond, view)


def handle_log_touch(body: dict, action: dict, context, client, respond) -> None:
    _open(Coach.touch_modal, body, action, context, client, respond)


def handle_flag_concern(body: dict, action: dict, context, client, respond) -> None:
    _open(Coach.concern_modal, body, action, context, client, respond)


def _save(kind: str, ack, view: dict, context) -> None:
    coach: Coach = context["coach"]
    try:
        deal, stored = coach.save_signal(
            kind,
            view["state"]["values"],
            view.get("private_metadata"),
            team_id=context.team_id,
            user_id=context.user_id,
            view_id=view.get("id") or "",
        )
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={first_input(view): plain_from_mrkdwn(str(exc))})
    ack(response_action="update", view=blocks.recorded_view(kind, deal, stored=stored))


def handle_touch_submission(ack, view: dict, context) -> None:
    _save(TOUCH, ack, view, context)


def handle_concern_submission(ack, view: dict, context) -> None:
    _save(CONCERN, ack, view, context)
