"""Nudge buttons and their modals: Done (with an outcome where the step asks), Snooze, Skip, Reassign; the go-live
question's Live today, Set a date and Not yet."""

from __future__ import annotations

from bot.coach import Coach, NotAllowed
from bot.deals.capture import InputError
from bot.nudges import blocks as nudge_blocks
from bot.nudges import forms
from bot.nudges.blocks import already_resolved_text
from bot.nudges.ledger import RESOLVABLE
from bot.nudges.service import LIVE_TODAY, NOT_YET, SET_DATE
from bot.playbook.loader import GO_LIVE_UNKNOWN
from bot.slack.forms import FormErrors
from bot.slack.text import plain_from_mrkdwn
from handlers.replies import CHANGED, first_input, open_form_for_click, refuse, tell

ASK_SOUNDED = "ask_sounded"  # the nudge a Done-with-outcome submission marked done: its lazy listener asks


def _act(coach: Coach, body: dict, client, respond, context, nudge_id: int, action: str, **details):
    try:
        change = coach.act_on_nudge(nudge_id, action, team_id=context.team_id, user_id=context.user_id, **details)
    except NotAllowed as exc:
        refuse(coach, body, client, respond, context, str(exc))
        return None
    except InputError as exc:
        refuse(coach, body, client, respond, context, exc.problem)
        return None
    if not change.changed:
        refuse(coach, body, client, respond, context, change.explanation)
        return None
    coach.redraw(client, change.redraw)  # the nudge's message, its deal's message, the Home tabs it is on
    return change


def _gone(coach: Coach, body: dict, client, respond, context) -> None:
    """A click whose value or block names no follow-up (only a forged or garbled request does that)."""
    refuse(coach, body, client, respond, context, already_resolved_text(None, "any"))


def handle_done(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    read = nudge_blocks.read_value(action.get("value"))
    if read is None:
        return _gone(coach, body, client, respond, context)
    nudge_id, _ = read
    try:
        nudge, deal = coach.nudge_for(nudge_id, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    step = coach.steps_by_id().get(nudge.step_id)
    if step is not None and step.when == GO_LIVE_UNKNOWN and nudge.status in RESOLVABLE:  # Done means "it's live"
        return _open_go_live(coach, body, client, respond, context, nudge_id)
    if step is not None and step.outcome and nudge.status in RESOLVABLE:
        open_form_for_click(client, body, respond, nudge_blocks.outcome_modal(nudge, deal, step.outcome))
        return
    change = _act(coach, body, client, respond, context, nudge_id, "done")
    if change and coach.should_ask_sounded(change.nudge):  # Done took one click; how they sounded is one tap more
        text, question = coach.sounded_question(change.nudge, change.deal)
        tell(body, client, respond, text, question)


def handle_snooze(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    read = nudge_blocks.read_value((action.get("selected_option") or {}).get("value"))
    if read is None:
        return _gone(coach, body, client, respond, context)
    nudge_id, days = read
    _act(coach, body, client, respond, context, nudge_id, "snooze", days=days or 1)


def handle_skip(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    read = nudge_blocks.read_value(action.get("value"))
    if read is None:
        return _gone(coach, body, client, respond, context)
    nudge_id, _ = read
    try:
        nudge, deal = coach.nudge_for(nudge_id, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if nudge.status not in RESOLVABLE:
        return refuse(coach, body, client, respond, context, already_resolved_text(nudge, "skip"))
    open_form_for_click(client, body, respond, nudge_blocks.skip_modal(nudge, deal))


def handle_reassign(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    nudge_id = nudge_blocks.read_actions_block(action.get("block_id"))
    assignee = action.get("selected_user")
    if not assignee:
        return
    if nudge_id is None:
        return _gone(coach, body, client, respond, context)
    change = _act(coach, body, client, respond, context, nudge_id, "reassign", assignee=assignee)
    if change and assignee != context.user_id:
        text = coach.handover_text(client, change.nudge, change.deal, by=context.user_id, to=assignee)
        client.chat_postMessage(channel=assignee, text=text)


def _submit(ack, context, nudge_id: int, action: str, *, field: str, **details) -> None:
    """Act from a modal: a refusal shows on `field`; a change is remembered for the redraw."""
    coach: Coach = context["coach"]
    try:
        change = coach.act_on_nudge(nudge_id, action, team_id=context.team_id, user_id=context.user_id, **details)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={field: plain_from_mrkdwn(str(exc))})
    if not change.changed:
        return ack(response_action="errors", errors={field: plain_from_mrkdwn(change.explanation)})
    context[CHANGED] = change.redraw
    ack()


def handle_skip_submission(ack, view: dict, context) -> None:
    """Skip with an optional reason; a second submission changes nothing."""
    nudge_id, _ = forms.read_modal_metadata(view.get("private_metadata"))
    if nudge_id is None:
        return ack(response_action="errors", errors={forms.REASON: forms.LOST_TRACK})
    try:
        reason = forms.read_skip_reason(view["state"]["values"])
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    _submit(ack, context, nudge_id, "skip", field=forms.REASON, reason=reason)


def handle_outcome_submission(ack, view: dict, context) -> None:
    """Done with what the buyer said: stored with the step for the digest."""
    nudge_id, kind = forms.read_modal_metadata(view.get("private_metadata"))
    if nudge_id is None or kind is None:
        return ack(response_action="errors", errors={first_input(view): forms.LOST_TRACK})
    try:
        outcome = forms.read_outcome(view["state"]["values"], kind)
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    first = next(iter(view["state"]["values"]), forms.REASON)
    _submit(ack, context, nudge_id, "done", field=first, outcome=outcome)
    if context.get(CHANGED) is not None:
        context[ASK_SOUNDED] = nudge_id


def ask_sounded_after_outcome(context, client) -> None:
    """Done with an outcome (a win analysis, a testimonial, referrals) talked to the buyer too: how did they sound?
    A form has no place for a private reply, so the question comes by DM."""
    nudge_id = context.get(ASK_SOUNDED)
    if nudge_id is None:
        return
    coach: Coach = context["coach"]
    nudge, deal = coach.nudge_for(nudge_id, team_id=context.team_id, user_id=context.user_id)
    if coach.should_ask_sounded(nudge):
        text, question = coach.sounded_question(nudge, deal)
        client.chat_postMessage(channel=context.user_id, text=text, blocks=question)


def _answer(coach: Coach, body: dict, client, respond, context, nudge_id: int, answer: str) -> None:
    try:
        change = coach.answer_go_live(nudge_id, answer, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if not change.changed:
        return refuse(coach, body, client, respond, context, change.explanation)
    coach.redraw(client, change.redraw)


def _question_named(coach: Coach, body: dict, client, respond, context, action: dict) -> int | None:
    read = nudge_blocks.read_value(action.get("value"))
    if read is None:
        _gone(coach, body, client, respond, context)
        return None
    return read[0]


def handle_live_today(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    nudge_id = _question_named(coach, body, client, respond, context, action)
    if nudge_id is not None:
        _answer(coach, body, client, respond, context, nudge_id, LIVE_TODAY)


def handle_not_live_yet(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    nudge_id = _question_named(coach, body, client, respond, context, action)
    if nudge_id is not None:
        _answer(coach, body, client, respond, context, nudge_id, NOT_YET)


def handle_set_go_live(body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    nudge_id = _question_named(coach, body, client, respond, context, action)
    if nudge_id is not None:
        _open_go_live(coach, body, client, respond, context, nudge_id)


def _open_go_live(coach: Coach, body: dict, client, respond, context, nudge_id: int) -> None:
    """Set a date's modal, for the deal's owner or a manager while the question is still open."""
    try:
        nudge, deal = coach.nudge_for(nudge_id, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if context.user_id not in (deal.owner_id, *coach.settings.managers):
        return refuse(
            coach, body, client, respond, context, "Only the rep who closed this deal, or a manager, can answer this."
        )
    if nudge.status not in RESOLVABLE:
        return refuse(coach, body, client, respond, context, already_resolved_text(nudge, "answer"))
    open_form_for_click(client, body, respond, nudge_blocks.go_live_modal(nudge, deal, coach.today()))


def handle_go_live_submission(ack, view: dict, context) -> None:
    """Set a date: the go-live date (past: live; later: expected); the plan is re-timed from it."""
    coach: Coach = context["coach"]
    nudge_id, _ = forms.read_modal_metadata(view.get("private_metadata"))
    if nudge_id is None:
        return ack(response_action="errors", errors={forms.GO_LIVE: forms.LOST_TRACK})
    try:
        _, deal = coach.nudge_for(nudge_id, team_id=context.team_id, user_id=context.user_id)
        go_live = forms.read_go_live_answer(
            view["state"]["values"], close_date=deal.fields.close_date, today=coach.today()
        )
        change = coach.answer_go_live(
            nudge_id, SET_DATE, team_id=context.team_id, user_id=context.user_id, go_live=go_live
        )
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={forms.GO_LIVE: plain_from_mrkdwn(str(exc))})
    if not change.changed:
        return ack(response_action="errors", errors={forms.GO_LIVE: plain_from_mrkdwn(change.explanation)})
    context[CHANGED] = change.redraw
    ack()


def handle_more(body: dict, action: dict, context, client, respond) -> None:
    """More: the whole coaching for a step in a modal (how, talking points, the whole draft)."""
    coach: Coach = context["coach"]
    read = nudge_blocks.read_value(action.get("value"))
    if read is None:
        return _gone(coach, body, client, respond, context)
    try:
        view = coach.nudge_details(read[0], team_id=context.team_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    open_form_for_click(client, body, respond, view)


def handle_replan(body: dict, action: dict, context, client, respond) -> None:
    """Re-plan, from a rep's morning reminder: their overdue steps move forward; the reminder says where to."""
    coach: Coach = context["coach"]
    value = action.get("value") or ""
    if not (value.isascii() and value.isdigit()):
        return _gone(coach, body, client, respond, context)
    try:
        message, redraw = coach.replan_overdue(int(value), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if message is not None:  # the reminder says what moved, each step's new day
        channel, ts, text, blocks = message
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    coach.redraw(client, redraw)
