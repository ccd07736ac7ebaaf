"""Every Slack listener, registered in one readable list; the app factory tests and the CLI share."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks, nudge_blocks
from bot.coach import Coach
from bot.slack import build_client
from handlers import commands, deal_form, deal_lifecycle, home, nudges

logger = logging.getLogger(__name__)


def create_app(coach: Coach, *, client: WebClient | None = None, listener_executor: Executor | None = None) -> App:
    """A Bolt app that verifies every request, answers from fast listeners and does slow work lazily."""
    settings = coach.settings
    app = App(
        listener_executor=listener_executor or ThreadPoolExecutor(max_workers=4, thread_name_prefix="lazy"),
        name="dealcoach",
        client=client or build_client(settings),
        signing_secret=settings.slack_signing_secret,
        token_verification_enabled=False,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    register(app, coach)
    return app


def register(app: App, coach: Coach) -> None:
    def provide_coach(context, next):  # noqa: A002 - Bolt passes `next` by name
        context["coach"] = coach
        next()

    app.use(provide_coach)
    app.error(handle_error)

    app.command("/closed-deal")(ack=commands.handle_closed_deal, lazy=[commands.follow_up_closed_deal])
    app.action(deal_form.ADD_DETAILS)(ack=deal_form.ack_add_details, lazy=[deal_form.handle_add_details])
    app.view(deal_form.DEAL_MODAL)(ack=deal_form.handle_deal_form, lazy=[deal_form.announce_deal_form])
    app.action(blocks.MARK_SIGNED)(ack=deal_lifecycle.ack_click, lazy=[deal_lifecycle.handle_mark_signed])
    app.action(blocks.MARK_LIVE)(ack=deal_lifecycle.ack_click, lazy=[deal_lifecycle.handle_mark_live])
    app.action(blocks.CANCEL_DEAL)(ack=deal_lifecycle.ack_click, lazy=[deal_lifecycle.handle_cancel])
    app.view(blocks.LIVE_MODAL)(
        ack=deal_lifecycle.handle_live_submission, lazy=[deal_lifecycle.refresh_after_submission]
    )
    app.view(blocks.CANCEL_MODAL)(
        ack=deal_lifecycle.handle_cancel_submission, lazy=[deal_lifecycle.refresh_after_submission]
    )
    app.action(nudge_blocks.DONE)(ack=nudges.ack_click, lazy=[nudges.handle_done])
    app.action(nudge_blocks.SNOOZE)(ack=nudges.ack_click, lazy=[nudges.handle_snooze])
    app.action(nudge_blocks.SKIP)(ack=nudges.ack_click, lazy=[nudges.handle_skip])
    app.action(nudge_blocks.REASSIGN)(ack=nudges.ack_click, lazy=[nudges.handle_reassign])
    app.view(nudge_blocks.SKIP_MODAL)(ack=nudges.handle_skip_submission, lazy=[nudges.refresh_after_submission])
    app.view(nudge_blocks.OUTCOME_MODAL)(ack=nudges.handle_outcome_submission, lazy=[nudges.refresh_after_submission])
    app.event("app_home_opened")(ack=home.ack_home_opened, lazy=[home.handle_app_home_opened])


def handle_error(error: Exception, body: dict) -> None:
    """Log what broke and where, never the payload's tokens."""
    kind = body.get("type") or body.get("command") or "request"
    logger.error("Unhandled error while handling %s", kind, exc_info=error)
