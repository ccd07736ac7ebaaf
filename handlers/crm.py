"""The same-deal question about a deal won in a CRM that may repeat a /closed-deal capture (bot/crm/unsure.py):
Same deal or Different deal, answered privately."""

from __future__ import annotations

from bot.coach import Coach, NotAllowed
from bot.crm import unsure
from handlers.replies import refuse, tell

ANSWERS = {unsure.SAME_DEAL: unsure.SAME, unsure.DIFFERENT_DEAL: unsure.DIFFERENT}


def handle_crm_answer(body: dict, action: dict, context, client, respond) -> None:
    """The first answer from someone asked (or a manager) links or announces; the question becomes its outcome.
    Anyone else, or a later click, is told why nothing changed."""
    coach: Coach = context["coach"]
    try:
        question_id = int(action.get("value") or "")
    except ValueError:
        return refuse(coach, body, client, respond, context, "I can't find that question any more.")
    try:
        answered = coach.answer_crm_question(
            client, question_id, ANSWERS[action["action_id"]], team_id=context.team_id, user_id=context.user_id
        )
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if not answered.changed:
        return tell(body, client, respond, answered.text)
    tell(body, client, respond, answered.text, replace=True)
    if answered.redraw is not None:
        coach.redraw(client, answered.redraw)
