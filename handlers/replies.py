"""What every listener shares: private answers to a click (from a channel message or the Home tab), the one
answer to a storage failure on any request path, and the keys an ack hands to its lazy listeners."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable

from slack_bolt.kwargs_injection.args import Args
from slack_sdk.errors import SlackApiError

from bot.coach import Coach, NotAllowed
from bot.deals.blocks import read_deal_id
from bot.slack.answers import CLICK_AGAIN, form_failed_text, form_not_saved_text, not_saved_message, not_saved_text
from bot.slack.client import describe, error_code
from bot.storage import StorageError, log_storage_failure, retry_helps, storage_problem

logger = logging.getLogger(__name__)


def deal_named(action: dict) -> int:
    """The deal a deal button names; a garbled or forged value is a deal that isn't there (NotAllowed, which every
    caller answers privately), never an exception."""
    deal_id = read_deal_id(action.get("value"))
    if deal_id is None:
        raise NotAllowed("I can't find that deal any more.")
    return deal_id


def from_home(body: dict) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def tell(body: dict, client, respond, text: str, blocks: list[dict] | None = None, *, replace: bool = False) -> None:
    """An ephemeral reply under the message clicked (`replace`: in place of the ephemeral clicked); a Home tab has no
    response_url, so there it is a DM, which lands in the app's Messages tab right beside Home (and needs no channel
    membership)."""
    extra = {"blocks": blocks} if blocks else {}
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=replace, **extra)
    else:
        client.chat_postMessage(channel=body["user"]["id"], text=text, **extra)


def open_form_for_click(client, body: dict, respond, view: dict) -> bool:
    """A button's form: if Slack can't open it, the clicker hears why under the message (or by DM from Home)."""
    return open_form(client, body["trigger_id"], view, tell_user=lambda text: tell(body, client, respond, text))


def refuse(coach, body: dict, client, respond, context, text: str) -> None:
    """Say privately why nothing changed; a Home tab clicked from was out of date, so it is redrawn too."""
    tell(body, client, respond, text)
    if from_home(body):
        coach.refresh_homes(client, [context.user_id], team_id=context.team_id)


def open_form(
    client, trigger_id: str, view: dict, *, tell_user: Callable[[str], object], again: str = CLICK_AGAIN
) -> bool:
    """views.open; when Slack can't open it (an error, an error page, a timeout) the user is told privately
    what happened and what to do (`again`), instead of clicking into silence. True once the form is open."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except (SlackApiError, OSError) as exc:
        logger.warning("Could not open the %s form: %s", view.get("callback_id"), describe(exc))
        answered = isinstance(exc, SlackApiError) and exc.response is not None
        status = exc.response.status_code if answered else 0
        tell_user(form_failed_text(error_code(exc) if answered else "", status, again))
        return False
    return True


# Context keys an ack listener sets for the lazy listeners of the same request (Bolt copies the context to them).
SAVED = "saved_deal"  # this request stored a deal: the lazy listener announces it
CHANGED = "changed"  # a submission recorded a change: the lazy listener redraws what it touched
NOT_SAVED = "storage_failure"  # the ack met a storage failure: its answer, or "" when the ack carried it


def ack_at_once(ack) -> None:
    """Answer Slack at once; the lazy listener does the work and updates the message."""
    ack()


def redraw_after_submission(context, client) -> None:
    """Only after a submission that changed something: redraw what it touched (messages, Home tabs)."""
    if context.get(CHANGED) is None:
        return
    coach: Coach = context["coach"]
    coach.redraw(client, context[CHANGED])


def answers_storage_failures(listener: Callable, *, lazy: bool = False) -> Callable:
    """`listener` as Bolt should call it: a database that is busy (past DEALCOACH_REQUEST_DB_WAIT_MS), full or
    removed under us gets the one answer every request path gives, within Slack's 3 seconds, and one log line.

    Bolt passes a listener only the arguments it names; this wrapper names Bolt's `args` and hands the listener
    its own. A failed ack leaves the request's lazy listeners nothing to do: the work was not stored."""
    wanted = list(inspect.signature(listener).parameters)
    log = logging.getLogger(listener.__module__)

    def guarded(args: Args):
        context = args.context
        if lazy and NOT_SAVED in context:
            if context[NOT_SAVED]:
                tell(args.body, args.client, args.respond, context[NOT_SAVED])
            return None
        try:
            return listener(**{name: getattr(args, name) for name in wanted})
        except StorageError as exc:
            log_storage_failure(log, f"Could not finish {_request_name(args.body)}", exc)
            if lazy:
                _answer_after_ack(args, exc)
            else:
                _answer_in_ack(args, exc)
            return None

    guarded.__name__, guarded.__qualname__, guarded.__doc__ = listener.__name__, listener.__qualname__, listener.__doc__
    guarded.__module__ = listener.__module__  # Bolt finds a lazy listener again by its name
    return guarded


def _request_name(body: dict) -> str:
    """What the request was, for the log: `/closed-deal`, the button's action id, the form's callback id."""
    if body.get("command"):
        return body["command"]
    if body.get("actions"):
        return body["actions"][0].get("action_id", "a click")
    if body.get("view"):
        return body["view"].get("callback_id") or "a form"
    return (body.get("event") or {}).get("type") or body.get("type") or "a request"


def _answer_in_ack(args: Args, exc: StorageError) -> None:
    """The ack carries the answer: a command's ephemeral reply, a form's inline error. A click's ack has no room
    for words: its lazy listener says it, under the message clicked."""
    body, problem, retry = args.body, storage_problem(exc), retry_helps(exc)
    already = getattr(args.ack, "response", None) is not None
    if body.get("command"):
        args.context[NOT_SAVED] = ""
        typed = f"{body['command']} {body.get('text') or ''}".strip()
        text, answer_blocks = not_saved_message(problem, typed, retry=retry)
        return None if already else args.ack(text=text, blocks=answer_blocks)
    if body.get("type") == "view_submission":
        args.context[NOT_SAVED] = ""
        view = body["view"]
        submit = (view.get("submit") or {}).get("text")
        errors = {first_input(view): form_not_saved_text(problem, submit, retry=retry)}
        return None if already else args.ack(response_action="errors", errors=errors)
    if body.get("type") == "block_actions":
        args.context[NOT_SAVED] = not_saved_text(problem, retry=retry)
    if not already:
        args.ack()


def _answer_after_ack(args: Args, exc: StorageError) -> None:
    """A click's work runs after its ack: the clicker hears it privately. After a command or a form whose ack
    stored the deal, it stands: the dispatcher posts any announcement left unposted, so there is nothing to
    take back and nothing to say."""
    if args.body.get("type") == "block_actions" and not args.context.get(SAVED):
        tell(
            args.body,
            args.client,
            args.respond,
            not_saved_text(storage_problem(exc), retry=retry_helps(exc)),
        )


def first_input(view: dict) -> str:
    """Where a form shows an error that is about the whole form: its first input."""
    for block in view.get("blocks") or []:
        if block.get("type") == "input" and block.get("block_id"):
            return block["block_id"]
    return next(iter((view.get("state") or {}).get("values") or {}), "")
