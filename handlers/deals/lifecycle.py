"""Mark signed, mark live, cancel: the deal's own buttons, in its channel message and on the Home tab."""

from __future__ import annotations

from bot.coach import Coach, NotAllowed
from bot.deals import blocks, forms
from bot.slack.forms import FormErrors
from bot.slack.text import plain_from_mrkdwn
from handlers.replies import CHANGED, deal_named, open_form_for_click, refuse, tell


def _change(what: str, body: dict, action: dict, context, client, respond):
    """Apply a deal button's change and redraw what it touched; a refusal or a repeat is answered privately.
    Returns the change, or None when nothing changed."""
    coach: Coach = context["coach"]
    try:
        change = coach.change_deal(deal_named(action), what, team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if not change.changed:
        return refuse(coach, body, client, respond, context, change.explanation)
    coach.redraw(client, change.redraw)
    return change


def handle_see_plan(body: dict, action: dict, context, client, respond) -> None:
    """See the plan, on a deal's short channel message: every step in a modal, for anyone in the channel."""
    coach: Coach = context["coach"]
    try:
        view = coach.deal_plan(deal_named(action), team_id=context.team_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    open_form_for_click(client, body, respond, view)


def handle_mark_signed(body: dict, action: dict, context, client, respond) -> None:
    _change("signed", body, action, context, client, respond)


def handle_claim(body: dict, action: dict, context, client, respond) -> None:
    """Claim it, on a deal from a CRM whose owner wasn't found in Slack: the first click makes the clicker its owner;
    a later one is told who has it."""
    coach: Coach = context["coach"]
    try:
        change = coach.claim_deal(
            deal_named(action), team_id=context.team_id, user_id=context.user_id, channel_id=context.channel_id
        )
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if not change.changed:
        return refuse(coach, body, client, respond, context, change.explanation)
    coach.redraw(client, change.redraw)
    tell(body, client, respond, blocks.claimed_text(change.deal, context.user_id))
    prompt = blocks.missing_details_prompt(change.deal)  # what the drafts need, as a rep hears after a capture
    if prompt is not None and body.get("response_url"):
        respond(text=prompt[0], blocks=prompt[1], response_type="ephemeral", replace_original=False)


def handle_change_owner(body: dict, action: dict, context, client, respond) -> None:
    """Change owner, on a deal from a CRM: managers only, through a small form."""
    coach: Coach = context["coach"]
    if context.user_id not in coach.settings.managers:
        return refuse(coach, body, client, respond, context, "Only a manager can change who owns a deal.")
    _open_modal(lambda coach, deal: blocks.owner_modal(deal), body, action, context, client, respond)


def handle_owner_submission(ack, view: dict, context) -> None:
    try:
        owner_id = forms.read_owner(view["state"]["values"])
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    _submit(ack, view, context, "owner", forms.OWNER, owner_id=owner_id)


def handle_delete(body: dict, action: dict, context, client, respond) -> None:
    """Delete a capture made by mistake (Slack asked to confirm first): its messages say so, Home tabs drop it."""
    change = _change("delete", body, action, context, client, respond)
    if change and (body.get("container") or {}).get("is_ephemeral"):  # from `/closed-deal list`: now out of date
        tell(body, client, respond, blocks.deleted_deal_message(change.deal)[0])


def _open_modal(build, body: dict, action: dict, context, client, respond) -> None:
    coach: Coach = context["coach"]
    try:
        deal = coach.deal_for_editing(deal_named(action), team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return refuse(coach, body, client, respond, context, str(exc))
    if deal.cancelled:
        return refuse(coach, body, client, respond, context, blocks.deal_unchanged_text(deal, "cancel"))
    open_form_for_click(client, body, respond, build(coach, deal))


def handle_mark_live(body: dict, action: dict, context, client, respond) -> None:
    _open_modal(lambda coach, deal: blocks.live_modal(deal, coach.today()), body, action, context, client, respond)


def handle_cancel(body: dict, action: dict, context, client, respond) -> None:
    _open_modal(lambda coach, deal: blocks.cancel_modal(deal), body, action, context, client, respond)


def _submit(ack, view: dict, context, action: str, field: str, **details) -> None:
    coach: Coach = context["coach"]
    _, deal_id = blocks.read_modal_metadata(view.get("private_metadata"))
    if deal_id is None:
        return ack(response_action="errors", errors={field: blocks.LOST_TRACK})
    try:
        change = coach.change_deal(deal_id, action, team_id=context.team_id, user_id=context.user_id, **details)
    except NotAllowed as exc:
        return ack(response_action="errors", errors={field: plain_from_mrkdwn(str(exc))})
    if not change.changed:
        return ack(response_action="errors", errors={field: plain_from_mrkdwn(change.explanation)})
    context[CHANGED] = change.redraw  # what the lazy listener redraws once Slack has its answer
    ack()


def handle_live_submission(ack, view: dict, context) -> None:
    coach: Coach = context["coach"]
    try:
        go_live = forms.read_go_live(view["state"]["values"], today=coach.today())
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    _submit(ack, view, context, "live", forms.GO_LIVE, go_live=go_live)


def handle_cancel_submission(ack, view: dict, context) -> None:
    try:
        reason = forms.read_cancel_reason(view["state"]["values"])
    except FormErrors as exc:
        return ack(response_action="errors", errors=exc.errors)
    _submit(ack, view, context, "cancel", forms.REASON, reason=reason)
