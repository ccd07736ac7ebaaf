"""A manager's menu beside each deal in the digest and on Home: Remind rep, Reassign (and its modal), Open deal."""

from __future__ import annotations

from bot.coach import Coach, NotAllowed
from bot.manage import blocks as manage_blocks
from bot.slack.forms import FormErrors
from bot.slack.text import plain_from_mrkdwn
from handlers.replies import CHANGED, first_input, open_form_for_click, refuse, tell

HANDED_OVER = "handed_over"  # what was handed to whom, from the Reassign submission to its lazy listener


def handle_deal_menu(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    read = manage_blocks.read_menu((action.get("selected_option") or {}).get("value"))
    if read is None:
        return refuse(coach, body, client, respond, context, "I can't find that deal any more.")
    what, deal_id = read
    who = {"team_id": context.team_id, "user_id": context.user_id}
    try:
        if what == manage_blocks.REMIND:
            rep, reminder, answer = coach.remind_rep(deal_id, client=client, **who)
            client.chat_postMessage(channel=rep, text=reminder)
            tell(body, client, respond, answer)
        elif what == manage_blocks.REASSIGN:
            open_form_for_click(client, body, respond, coach.reassign_modal(deal_id, **who))
        elif what == manage_blocks.OPEN:  # no link to the deal's message: its plan comes by DM
            text, plan = coach.open_deal(deal_id, client=client, **who)
            client.chat_postMessage(channel=context.user_id, text=text, blocks=plan)
        # LINK: Slack opened the deal's message itself; nothing more to do
    except NotAllowed as exc:
        refuse(coach, body, client, respond, context, str(exc))


def handle_reassign_submission(ack, view: dict, context) -> None:
    coach: Coach = context["coach"]
    try:
        done = coach.reassign(
            view["state"]["values"], view.get("private_metadata"), team_id=context.team_id, user_id=context.user_id
        )
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={first_input(view): plain_from_mrkdwn(str(exc))})
    if done is None:
        return ack(response_action="errors", errors={"to": "That is theirs already: nothing changed."})
    redraw, handed = done
    context[CHANGED] = redraw
    context[HANDED_OVER] = handed
    ack()


def announce_reassign(context, client) -> None:
    """After a Reassign that changed something: redraw what it touched, then tell the new person."""
    if context.get(CHANGED) is None:
        return
    coach: Coach = context["coach"]
    coach.redraw(client, context[CHANGED])
    handed = context[HANDED_OVER]
    if handed.to != context.user_id:
        client.chat_postMessage(channel=handed.to, text=coach.handed_over_text(client, handed))


def handle_choose_team(body: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        view = coach.team_modal(client, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    open_form_for_click(client, body, respond, view)


def handle_team_submission(ack, view: dict, context, client) -> None:
    coach: Coach = context["coach"]
    try:
        context[CHANGED] = coach.save_team(
            client, view["state"]["values"], team_id=context.team_id, user_id=context.user_id
        )
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={first_input(view): plain_from_mrkdwn(str(exc))})
    ack()
