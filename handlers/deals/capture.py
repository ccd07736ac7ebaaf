"""`/closed-deal`: help, the form, or a quick capture; the announcement is posted after the ack."""

from __future__ import annotations

from bot.coach import Coach, LooksLikeARepeat, NotAllowed
from bot.deals import blocks
from bot.deals.capture import EXAMPLE, InputError
from handlers.replies import SAVED, open_form

ANSWER = "answer"  # set by the "Capture it anyway" ack: what the lazy listener tells the rep


def _mode(text: str) -> str:
    words = text.strip().lower()
    if words in ("help", "-h", "--help", "?"):
        return "help"
    if words in ("list", "ls", "deals", "my deals"):
        return "list"
    return "form" if not words else "capture"


def handle_closed_deal(ack, command: dict, context) -> None:
    """Acknowledge within Slack's 3 seconds: answer help or bad input, or store the deal."""
    coach: Coach = context["coach"]
    text = command.get("text") or ""
    mode = _mode(text)
    if mode == "help":
        fallback, help_blocks = blocks.help_message(command["command"], today=coach.today())
        return ack(text=fallback, blocks=help_blocks)
    if mode == "form":
        return ack()
    if mode == "list":
        fallback, list_blocks = blocks.deal_list(coach.deals_of(command["user_id"], team_id=command["team_id"]))
        return ack(text=fallback, blocks=list_blocks)
    try:
        deal, created = coach.capture_command(
            text,
            team_id=command["team_id"],
            channel_id=command["channel_id"],
            user_id=command["user_id"],
            capture_key=command["trigger_id"],
        )
    except InputError as exc:
        fallback, error_blocks = blocks.error_message(exc.problem, exc.example)
        return ack(text=fallback, blocks=error_blocks)
    except LooksLikeARepeat as exc:  # held, not stored: ask first
        fallback, question = blocks.repeat_question(exc.earlier, exc.capture_key, now=coach.now(), tz=coach.settings.tz)
        return ack(text=fallback, blocks=question)
    if created:  # a replayed command finds its deal already stored and announced
        context[SAVED] = deal.id
    ack()


def follow_up_closed_deal(command: dict, context, client, respond) -> None:
    """After the ack: open the form, or post the captured deal in the channel and ask the rep, privately, for what
    the drafts will need."""
    coach: Coach = context["coach"]
    mode = _mode(command.get("text") or "")
    if mode == "form":
        view = blocks.deal_modal(channel_id=command["channel_id"], today=coach.today())
        open_form(
            client,
            command["trigger_id"],
            view,
            tell_user=lambda text: respond(text=text, response_type="ephemeral"),
            again=f"Type `{command['command']}` again to open it, or capture the deal in one line: `{EXAMPLE}`.",
        )
    elif context.get(SAVED):
        deal = coach.get_deal(context[SAVED])
        if deal is not None:  # posted exactly once, with a client of its own that never retries by itself
            coach.announce(deal.id, notify=lambda text: respond(text=text, response_type="ephemeral"))
            coach.refresh_homes_of_deals(client, [deal.id])
            prompt = blocks.missing_details_prompt(deal)  # once: a replayed command stores nothing and gets none
            if prompt is not None:
                respond(text=prompt[0], blocks=prompt[1], response_type="ephemeral")


def handle_capture_anyway(ack, action: dict, context) -> None:
    """Capture it anyway: store the held capture before the ack, as a typed capture is; a second click finds it."""
    coach: Coach = context["coach"]
    try:
        deal, created = coach.capture_held(action["value"], team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        context[ANSWER] = str(exc)
        return ack()
    context[ANSWER] = blocks.repeat_answered_text(deal, created=created)
    if created:
        context[SAVED] = deal.id
    ack()


def announce_capture_anyway(context, client, respond) -> None:
    """After the ack: the question becomes the answer, and a deal just stored is posted in its channel."""
    coach: Coach = context["coach"]
    saved = context.get(SAVED)
    respond(text=context.get(ANSWER) or blocks.HELD_EXPIRED, replace_original=bool(saved))
    deal = coach.get_deal(saved) if saved else None
    if deal is not None:
        coach.announce(deal.id, notify=lambda text: respond(text=text, response_type="ephemeral"))
        coach.refresh_homes_of_deals(client, [deal.id])


def handle_leave_capture(action: dict, context, respond) -> None:
    """Leave it: the held capture is forgotten and the question says so."""
    coach: Coach = context["coach"]
    try:
        coach.leave_held(action["value"], team_id=context.team_id, user_id=context.user_id)
    except NotAllowed as exc:
        return respond(text=str(exc), replace_original=False)
    respond(text=blocks.REPEAT_LEFT, replace_original=True)
