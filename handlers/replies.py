"""Private answers to a click, wherever it came from: a channel message or the Home tab."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot.deals.blocks import form_failed_text
from bot.slack.client import describe, error_code

logger = logging.getLogger(__name__)
CLICK_AGAIN = "Click the button again in a moment."


def from_home(body: dict) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def tell(body: dict, client, respond, text: str) -> None:
    """An ephemeral reply under the message clicked; a Home tab has no response_url, so there it is a DM,
    which lands in the app's Messages tab right beside Home (and needs no channel membership)."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=body["user"]["id"], text=text)


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
