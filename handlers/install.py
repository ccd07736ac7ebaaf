"""A workspace leaves: `app_uninstalled`, or its bot token revoked. Its nudges stop; a reinstall resumes them."""

from __future__ import annotations

from bot.coach import Coach


def handle_app_uninstalled(ack, context) -> None:
    coach: Coach = context["coach"]
    coach.workspace_removed(context.team_id)
    ack()


def handle_tokens_revoked(ack, event: dict, context) -> None:
    """Only the bot's token matters: a revoked user token doesn't stop the bot."""
    coach: Coach = context["coach"]
    if (event.get("tokens") or {}).get("bot"):
        coach.workspace_removed(context.team_id, bot_only=True)
    ack()
