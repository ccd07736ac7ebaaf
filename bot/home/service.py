"""Home tab use cases: drawing a user's tab as it stands, publishing it, and republishing the tabs a change
touched (only for users who have opened theirs)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from slack_sdk import WebClient

from bot.deals import model as deals
from bot.deals.service import deals_of
from bot.home import blocks, view
from bot.manage import service as manage_service
from bot.nudges.ledger import windows
from bot.nudges.links import Links
from bot.profile import service as profile_service
from bot.runtime import Runtime
from bot.slack import workspaces

logger = logging.getLogger(__name__)


def home_view(rt: Runtime, user_id: str, team_id: str, client: WebClient | None = None) -> dict:
    """The user's Home tab as it stands now: their follow-ups and deals, after the team's (and its profile, its
    people read from Slack with `client`) for a manager."""
    now, today = rt.now(), rt.today()
    owned = deals_of(rt, user_id, team_id=team_id)
    manager = user_id in rt.settings.managers
    followed = manage_service.team_of(rt, team_id=team_id, manager_id=user_id) if manager else None
    with rt.store.session() as db:
        data = view.load(
            db,
            reps=frozenset(followed) if followed else None,
            team_id=team_id,
            user_id=user_id,
            today=today,
            now=now,
            deals=owned,
            manager=manager,
            large_deal=rt.settings.large_deal,
            quiet_days=rt.settings.quiet_days,
            windows=windows(rt.playbook.steps),
        )
    if followed and data.team is not None:  # the reps this manager chose (Home → My team); at risk is read for them
        data = replace(data, team=replace(data.team, reps=[r for r in data.team.reps if r.rep_id in followed]))
    team_url = rt.team_urls.get(client, team_id)  # auth.test once per workspace and process, for the links
    steps = [
        item.nudge
        for group in (data.nudges.overdue, data.nudges.today, data.nudges.upcoming, data.nudges.missed)
        for item in group
    ]
    with rt.store.session() as db:
        links = Links.load(db, steps, team_url=team_url, nudges_in=rt.settings.nudges_in, viewer=user_id)
    profile = profile_service.home_section(rt, client, team_id=team_id) if manager else []
    watching = manage_service.home_section(rt, team_id, user_id, team_url=team_url) if manager else []
    return blocks.home_view(data, now=now, tz=rt.settings.tz, profile=profile, watch=watching, links=links)


def open_home(rt: Runtime, client: WebClient, user_id: str, *, team_id: str) -> None:
    """The user opened the Home tab: remember it (from now on it follows their changes), then show it."""
    with rt.store.write() as db:
        view.record_opened(db, team_id=team_id, user_id=user_id, now=rt.now())
    publish_home(rt, client, user_id, team_id=team_id)


def publish_home(rt: Runtime, client: WebClient, user_id: str, *, team_id: str) -> bool:
    """views.publish; a failure is logged and reported as False, never raised into a click or a dispatch."""
    try:
        client.views_publish(user_id=user_id, view=home_view(rt, user_id, team_id, client))
    except Exception:
        logger.exception("Could not publish the Home tab of %s", user_id)
        return False
    return True


def refresh_homes(rt: Runtime, client: WebClient, users: Iterable[str | None], *, team_id: str) -> None:
    """Republish the Home tabs of those among `users` who have opened theirs at least once."""
    try:
        with rt.store.session() as db:
            opened = view.opened_home(db, team_id=team_id, user_ids=users)
    except Exception:
        logger.exception("Could not look up whose Home tab to refresh")
        return
    for user_id in sorted(opened):
        publish_home(rt, client, user_id, team_id=team_id)


def refresh_homes_of_deals(
    rt: Runtime, client: WebClient | workspaces.ClientFor, deal_ids: Iterable[int], *, actor: str | None = None
) -> None:
    """After deals changed or their nudges went out: the owners', assignees' and actor's Home tabs."""
    try:
        with rt.store.session() as db:
            people = deals.people_of_deals(db, deal_ids)
    except Exception:
        logger.exception("Could not look up whose Home tab to refresh")
        return
    client_for = workspaces.clients(client)
    for team_id, users in sorted(people.items()):
        team_client = client_for(team_id)
        if team_client is not None:
            refresh_homes(rt, team_client, users | {actor}, team_id=team_id)


def refresh_homes_of_posts(rt: Runtime, client: WebClient | workspaces.ClientFor, post_ids: Iterable[int]) -> None:
    """After a dispatch: the Home tabs of everyone whose nudges were just posted."""
    try:
        with rt.store.session() as db:
            deal_ids = deals.deals_of_posts(db, post_ids)
    except Exception:
        logger.exception("Could not look up whose Home tab to refresh")
        return
    refresh_homes_of_deals(rt, client, deal_ids)
