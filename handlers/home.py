"""The Home tab: published when a user opens it; from then on it follows their follow-ups as they change."""

from __future__ import annotations

from bot.coach import Coach


def handle_app_home_opened(event: dict, context, client) -> None:
    """Only the Home tab (the Messages tab fires the same event); remember the user, then publish."""
    if event.get("tab") != "home":
        return
    coach: Coach = context["coach"]
    coach.open_home(client, event["user"], team_id=context.team_id)
