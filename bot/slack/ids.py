"""What a Slack id looks like: ids taken from a payload are checked against these before they are stored or shown."""

from __future__ import annotations

import re

# \A…\Z, not ^…$: `$` also matches before a final line break, and "U0REP\n" is not an id.
USER_ID = re.compile(r"\A[UW][A-Z0-9]{2,40}\Z")  # members (W: Enterprise Grid)
CHANNEL_ID = re.compile(r"\A[CGD][A-Z0-9]{2,40}\Z")  # public, private (G: older ones) and direct messages
TEAM_ID = re.compile(r"\A[TE][A-Z0-9]{2,40}\Z")  # workspaces and Enterprise Grid organisations


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and USER_ID.match(value) is not None


def is_channel_id(value: object) -> bool:
    return isinstance(value, str) and CHANNEL_ID.match(value) is not None


def is_team_id(value: object) -> bool:
    return isinstance(value, str) and TEAM_ID.match(value) is not None
