"""`/closed-deal`: help, the form, or a quick capture; the announcement is posted after the ack."""

from __future__ import annotations

import logging
import sqlite3

from bot import blocks
from bot.capture import InputError
from bot.coach import Coach
from bot.db import log_storage_failure, storage_problem

logger = logging.getLogger(__name__)
SAVED = "saved_deal"  # set by the ack listener when this request stored a deal; the lazy one announces it


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
        fallback, help_blocks = blocks.help_message(command["command"])
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
    except sqlite3.Error as exc:
        log_storage_failure(logger, "Could not store a quick capture", exc)
        fallback, error_blocks = blocks.error_message(
            f"I couldn't save that just now: {storage_problem(exc)}. Nothing was saved; please try again.",
            f"{command['command']} {text}",
        )
        return ack(text=fallback, blocks=error_blocks)
    if created:  # a replayed command finds its deal already stored and announced
        context[SAVED] = deal.id
    ack()


def follow_up_closed_deal(command: dict, context, client, respond) -> None:
    """After the ack: open the form, or post the captured deal in the channel."""
    coach: Coach = context["coach"]
    mode = _mode(command.get("text") or "")
    if mode == "form":
        view = blocks.deal_modal(channel_id=command["channel_id"], today=coach.today())
        client.views_open(trigger_id=command["trigger_id"], view=view)
    elif context.get(SAVED):
        deal = coach.get_deal(context[SAVED])
        if deal is not None:
            coach.publish_deal(client, deal, notify=lambda text: respond(text=text, response_type="ephemeral"))
            coach.refresh_homes_of_deals(client, [deal.id])
