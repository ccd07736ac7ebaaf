"""What every use case runs with: the settings, the store, the playbook, the clock and the Slack workspaces.

`bot.coach.Coach` is this plus the use cases, bound from the feature packages' services, which take a Runtime
(they never import the facade)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime

from bot.crm import adapters
from bot.crm.types import Adapter
from bot.playbook.hours import BusinessHours
from bot.playbook.loader import Playbook
from bot.profile.model import TeamProfile
from bot.settings import Settings
from bot.slack import workspaces
from bot.slack.links import TeamUrls
from bot.slack.pacing import SharedPacer
from bot.storage import Store


def system_clock() -> datetime:
    return datetime.now(UTC)


class Runtime:
    """Shared by every listener and job; stateless apart from its collaborators, so safe across threads."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        playbook: Playbook,
        clock: Callable[[], datetime] = system_clock,
        slack: workspaces.Workspaces | None = None,
        sleep: Callable[[float], None] = time.sleep,
        team_seed: TeamProfile | None = None,
        crm: Mapping[str, Adapter] | None = None,
        pacer: SharedPacer | None = None,
    ):
        self.settings = settings
        self.store = store
        self.playbook = playbook
        self.clock = clock
        self.workspaces = slack or workspaces.Workspaces.for_settings(settings)
        self.sleep = sleep  # how a lazy post waits out a short 429; tests pass a fake clock's
        self.team_seed = team_seed  # DEALCOACH_TEAM_FILE, validated at start: fills a workspace's empty profile
        self.crm = dict(crm) if crm is not None else adapters.enabled(settings)  # the CRMs that are on, by name
        self.team_urls = TeamUrls()  # each workspace's URL, for links to messages: one auth.test per team
        # Slack's posting limits, shared through the database by every process: each post that must appear once (a
        # deal's message, a nudge, a win, a reminder, a digest, a welcome kit) waits for its moment here
        self.pacer = pacer or SharedPacer(store, per_minute=settings.posts_per_minute, sleep=lambda s: self.sleep(s))

    def __deepcopy__(self, memo: dict) -> Runtime:
        """Bolt deep-copies context values for lazy listeners; the coach is shared, never copied."""
        return self

    def for_requests(self) -> Runtime:
        """This runtime as Slack's requests use it: each unit of work waits for a busy database at most
        DEALCOACH_REQUEST_DB_WAIT_MS, so the answer beats Slack's 3 seconds. Jobs keep the longer wait."""
        view = copy.copy(self)
        view.store = self.store.for_requests(self.settings.request_db_wait_ms)
        return view

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        """Today in the team's time zone: a deal closed at 23:30 in Berlin closed that day, not the next."""
        return self.now().astimezone(self.settings.tz).date()

    @property
    def hours(self) -> BusinessHours:
        return self.settings.hours

    def steps_by_id(self) -> dict:
        return {s.id: s for s in self.playbook.steps}
