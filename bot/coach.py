"""The facade handlers and jobs hold: a Runtime (settings, store, playbook, clock, workspaces) with the use cases
of every feature bound to it as methods. The use cases live in their features (`bot.deals.service`,
`bot.nudges.service`, `bot.profile.service`, `bot.home.service`); what spans features (redrawing everything a change touched,
workspace installs) is here."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.crm import worker as crm_worker
from bot.deals import service as deal_service
from bot.deals.service import DealChange, LooksLikeARepeat, NotAllowed, Redraw
from bot.health import service as health_service
from bot.home import service as home_service
from bot.manage import service as manage_service
from bot.nudges import service as nudge_service
from bot.nudges.service import NudgeChange
from bot.profile import service as profile_service
from bot.runtime import Runtime
from bot.signals import service as signal_service
from bot.slack import workspaces
from bot.slack.client import describe
from bot.welcome import service as welcome_service

__all__ = ["Coach", "DealChange", "LooksLikeARepeat", "NotAllowed", "NudgeChange", "Redraw"]

logger = logging.getLogger(__name__)


class Coach(Runtime):
    """Shared by every listener and job; stateless apart from its collaborators, so safe across threads."""

    # deals: capture, edit, lifecycle, the channel message
    capture_command = deal_service.capture_command
    capture_held = deal_service.capture_held
    leave_held = deal_service.leave_held
    save_form = deal_service.save_form
    deal_for_editing = deal_service.deal_for_editing
    get_deal = deal_service.get_deal
    announce = deal_service.announce
    change_deal = deal_service.change_deal
    deal_edited = deal_service.deal_edited
    rendered_deal = deal_service.rendered_deal
    deal_plan = deal_service.deal_plan
    deals_of = deal_service.deals_of
    claim_deal = deal_service.claim
    answer_crm_question = crm_worker.answer_question  # Same deal / Different deal (bot/crm/unsure.py)

    # nudges: what reps do with them
    nudge_for = nudge_service.nudge_for
    handover_text = nudge_service.handover
    act_on_nudge = nudge_service.act_on_nudge
    rendered_post = nudge_service.rendered_post
    rendered_reminder = nudge_service.rendered_reminder
    nudge_details = nudge_service.nudge_details
    replan_overdue = nudge_service.replan_overdue
    answer_go_live = nudge_service.answer_go_live

    # health: a verbal yes's reason-to-believe checklist
    readiness_for = health_service.readiness_for
    save_readiness = health_service.save_readiness

    # buyer signals: how they sounded after a step, a touch outside the plan, a concern
    should_ask_sounded = signal_service.should_ask
    sounded_question = signal_service.sounded_question
    record_sounded = signal_service.record_sounded
    step_note_modal = signal_service.step_note_modal
    save_step_note = signal_service.save_step_note
    touch_modal = signal_service.touch_modal
    concern_modal = signal_service.concern_modal
    save_signal = signal_service.save_signal

    # what a manager does about a deal, from the digest or Home
    remind_rep = manage_service.remind_rep
    reassign_modal = manage_service.reassign_modal
    reassign = manage_service.reassign
    handed_over_text = manage_service.handover_text
    open_deal = manage_service.open_deal
    team_modal = manage_service.team_modal
    save_team = manage_service.save_team

    # the team profile
    profile_of = profile_service.profile_of
    profile_modal = profile_service.profile_modal
    save_profile = profile_service.save_profile

    # the welcome kit
    send_welcome_kit = welcome_service.send_welcome_kit

    # the Home tab
    open_home = home_service.open_home
    refresh_homes = home_service.refresh_homes
    refresh_homes_of_deals = home_service.refresh_homes_of_deals
    refresh_homes_of_posts = home_service.refresh_homes_of_posts

    def redraw(self, client: WebClient, what: Redraw) -> None:
        """Redraw the deals' channel messages, the nudge messages, the reps' reminders and the Home tabs a change
        touched. Each is drawn from the database as it stands and chat.update is idempotent, so a retried or
        repeated redraw is harmless; a message Slack won't update is logged and the rest still happen."""
        drawn: set[tuple[str, str]] = set()  # a deal's own message is also a post: draw each message once
        nudge_service.refresh_names(self, client, what.posts)  # a step handed to a teammate is signed by them
        for kind, key, rendered in (
            *(("deal", deal_id, self.rendered_deal(deal_id)) for deal_id in what.deals),
            *(("nudge message", post_id, self.rendered_post(post_id)) for post_id in what.posts),
            *(("reminder", reminder_id, self.rendered_reminder(reminder_id)) for reminder_id in what.reminders),
        ):
            if rendered is not None and (rendered[0], rendered[1]) not in drawn:
                drawn.add((rendered[0], rendered[1]))
                _update_message(client, kind, key, rendered)
        self.refresh_homes(client, what.people, team_id=what.team_id)

    def workspace_installed(self, team_id: str) -> None:
        """An install (or reinstall) through OAuth: its deals' nudges go out again."""
        with self.store.write() as db:
            if workspaces.set_active(db, team_id, True, now=self.now()):
                logger.info("Workspace %s installed Deal Coach", team_id)

    def workspace_removed(self, team_id: str, *, bot_only: bool = False) -> None:
        """Uninstalled, or its bot token revoked: stop nudging it; its deals stay for a reinstall."""
        with self.store.write() as db:
            if workspaces.set_active(db, team_id, False, now=self.now()):
                logger.info("Workspace %s uninstalled Deal Coach (or revoked its token); its nudges stop", team_id)
        self.workspaces.forget(team_id, bot_only=bot_only)


def _update_message(client: WebClient, kind: str, key: int, rendered) -> None:
    if rendered is None:
        return
    channel, ts, text, message_blocks = rendered
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=message_blocks)
    except (SlackApiError, OSError) as exc:  # OSError: a timeout or a refused connection
        logger.warning("Could not redraw %s %s: %s", kind, key, describe(exc))
