"""Test setup: a deal captured as a script would, straight through the coach (no Slack request, no question
about a likely repeat)."""

from __future__ import annotations

from bot.coach import Coach
from bot.deals.model import Deal
from bot.deals.service import KEEP


def store_deal(coach: Coach, text: str, *, team_id: str, channel_id: str, user_id: str, capture_key: str) -> Deal:
    """Parse `/closed-deal Acme $120k ...` and store the deal with its plan, repeat or not; raises InputError."""
    deal, _ = coach.capture_command(
        text, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=capture_key, repeats=KEEP
    )
    return deal
