"""Links to Slack messages: a message's permalink from the workspace URL, and that URL read once per workspace.

Building the permalink ourselves costs no Slack call per link (chat.getPermalink would cost one per message on
every Home open); only the workspace URL comes from Slack, from auth.test, remembered per team by each process.
"""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.client import describe
from bot.slack.ids import is_channel_id

logger = logging.getLogger(__name__)


def message_link(
    team_url: str | None, channel_id: str | None, ts: str | None, thread_ts: str | None = None
) -> str | None:
    """`{team_url}archives/{channel}/p{ts without the dot}`; a reply in a thread adds `?thread_ts=…&cid=…` so Slack
    opens the thread on it. None without the URL, a ts or a conversation id (a user id is not one)."""
    if not team_url or not ts or not is_channel_id(channel_id):
        return None
    link = f"{team_url}archives/{channel_id}/p{ts.replace('.', '')}"
    return f"{link}?thread_ts={thread_ts}&cid={channel_id}" if thread_ts else link


def normal_url(url: str | None) -> str | None:
    """auth.test's `url` ends with a slash; make sure of it, so `archives/…` follows it."""
    if not url:
        return None
    return url if url.endswith("/") else url + "/"


class TeamUrls:
    """Each workspace's URL (`https://acme.slack.com/`) from one auth.test, kept for the life of the process: a
    Home open costs at most that one read, once. A failed read is not kept (the links are left out this time, and
    the next open asks again)."""

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, client: WebClient | None, team_id: str) -> str | None:
        with self._lock:
            if team_id in self._urls:
                return self._urls[team_id]
        if client is None:
            return None
        try:
            answer = client.auth_test()
        except (SlackApiError, OSError) as exc:
            logger.warning("auth.test failed (%s); links to messages are left out this time", describe(exc))
            return None
        url = normal_url(answer.get("url"))
        if url is not None and answer.get("team_id") in (None, team_id):
            with self._lock:
                self._urls[team_id] = url
        return url

    def remember(self, team_id: str, url: str | None) -> None:
        """A URL another auth.test just gave (the digest's, once per run)."""
        url = normal_url(url)
        if url:
            with self._lock:
                self._urls[team_id] = url
