"""Private answers to a click, wherever it came from: a channel message or the Home tab."""

from __future__ import annotations


def from_home(body: dict) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def tell(body: dict, client, respond, text: str) -> None:
    """An ephemeral reply under the message clicked; a Home tab has no response_url, so there it is a DM,
    which lands in the app's Messages tab right beside Home (and needs no channel membership)."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=body["user"]["id"], text=text)


def refuse(coach, body: dict, client, respond, context, text: str) -> None:
    """Say privately why nothing changed; a Home tab clicked from was out of date, so it is redrawn too."""
    tell(body, client, respond, text)
    if from_home(body):
        coach.refresh_homes(client, [context.user_id], team_id=context.team_id)
