"""Team profile use cases: the profile a workspace has (seeded from the team file while it has none), editing it
from Slack (managers only), importing the file on purpose, and who the team's people are in Slack."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.deals.service import NotAllowed
from bot.profile import blocks, forms, model
from bot.profile import people as people_cache
from bot.profile.blocks import Person
from bot.profile.model import StoredProfile, TeamProfile
from bot.runtime import Runtime
from bot.slack.client import describe
from bot.slack.ids import is_user_id
from bot.slack.text import mention
from bot.storage import Store

logger = logging.getLogger(__name__)
FROM_SLACK = "slack"


def profile_of(rt: Runtime, team_id: str) -> StoredProfile | None:
    """The workspace's profile; while it has none, the team file (if any) fills it, once."""
    with rt.store.session() as db:
        stored = model.get(db, team_id)
    if stored is not None or rt.team_seed is None:
        return stored
    with rt.store.write() as db:
        if model.seed(db, team_id, rt.team_seed, source=f"file {rt.settings.team_file}", now=rt.now()):
            logger.info("Team profile of %s seeded from %s", team_id, rt.settings.team_file)
        return model.get(db, team_id)


def _require_manager(rt: Runtime, user_id: str) -> None:
    if user_id not in rt.settings.managers:
        managers = ", ".join(mention(m) for m in rt.settings.managers) or "someone listed in DEALCOACH_MANAGERS"
        raise NotAllowed(f"Only managers can edit the team profile. Ask {managers}.")


def profile_modal(rt: Runtime, *, team_id: str, user_id: str) -> dict:
    """The edit form, pre-filled, for a manager; NotAllowed for anyone else."""
    _require_manager(rt, user_id)
    stored = profile_of(rt, team_id)
    return blocks.profile_modal(stored.profile if stored else None)


def save_profile(rt: Runtime, values: dict, *, team_id: str, user_id: str) -> TeamProfile:
    """A manager's submitted form replaces the profile whole; FormErrors (nothing stored) when any field is wrong."""
    _require_manager(rt, user_id)
    profile = forms.read_profile_form(values)
    with rt.store.write() as db:
        model.replace(db, team_id, profile, source=f"{FROM_SLACK} {user_id}", now=rt.now())
    return profile


def import_profile(
    store: Store, profile: TeamProfile, *, team_ids: Iterable[str], source: str, now: datetime
) -> list[str]:
    """Replace the profiles of `team_ids` with the file's, in one transaction; returns the workspaces replaced."""
    teams = sorted(set(team_ids))
    with store.write() as db:
        for team_id in teams:
            model.replace(db, team_id, profile, source=f"file {source}", now=now)
    return teams


def people(client: WebClient, user_ids: Iterable[str]) -> dict[str, Person]:
    """Name, title and photo from each user's Slack profile (users.info); those Slack can't say are left out."""
    found: dict[str, Person] = {}
    for user_id in dict.fromkeys(user_ids):
        try:
            user = client.users_info(user=user_id)["user"]
        except (SlackApiError, OSError) as exc:
            logger.warning("Could not read the Slack profile of %s: %s", user_id, describe(exc))
            continue
        profile = user.get("profile") or {}
        name = profile.get("real_name") or user.get("real_name") or user.get("name") or user_id
        found[user_id] = Person(name=name, title=profile.get("title") or None, photo=profile.get("image_48") or None)
    return found


def refresh_people(rt: Runtime, client: WebClient, team_id: str, user_ids: Iterable[str]) -> None:
    """Read from Slack the names the cache lacks or has had for a day; a user Slack can't describe stays as it was
    (a draft then leaves a blank that says so), and nothing here stops a post."""
    ids = {u for u in user_ids if is_user_id(u)}  # an id stored before ids were checked is never sent to Slack
    with rt.store.session() as db:
        wanted = people_cache.stale(db, team_id, ids, now=rt.now())
    if not wanted:
        return
    found = {u: p for u, p in people(client, wanted).items() if p.name != u}  # a bare id is not a name
    if found:
        with rt.store.write() as db:
            people_cache.remember(db, team_id, found, now=rt.now())


def home_section(rt: Runtime, client: WebClient | None, *, team_id: str) -> list[dict]:
    """The managers' Team profile section of the Home tab."""
    stored = profile_of(rt, team_id)
    members = [m.user for m in stored.profile.implementation_team] if stored else []
    return blocks.home_section_blocks(stored, people(client, members) if client is not None else {})
