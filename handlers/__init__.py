"""Every Slack listener, registered in one readable list; the app factory tests and the CLI share."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

from slack_bolt import App, BoltResponse
from slack_bolt.oauth.callback_options import CallbackOptions, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import InstallationStore

from bot.coach import Coach
from bot.crm import unsure as crm_unsure
from bot.deals import blocks
from bot.health import blocks as health_blocks
from bot.manage import blocks as manage_blocks
from bot.manage import forms as manage_forms
from bot.nudges import blocks as nudge_blocks
from bot.nudges import forms as nudge_forms
from bot.nudges.reminders import REPLAN
from bot.signals import blocks as signal_blocks
from bot.signals import forms as signal_forms
from bot.slack import ids, workspaces
from bot.slack.client import BOT_SCOPES, listener_client
from handlers import crm, health, home, install, manage, nudges, profile, signals, welcome
from handlers.deals import capture, form, lifecycle
from handlers.replies import ack_at_once, answers_storage_failures, redraw_after_submission

logger = logging.getLogger(__name__)


def create_app(
    coach: Coach,
    *,
    client: WebClient | None = None,
    listener_executor: Executor | None = None,
) -> App:
    """A Bolt app that verifies every request, answers from fast listeners and does slow work lazily.

    With SLACK_CLIENT_ID/SECRET it serves every workspace that installs it through /slack/install, keeping
    installations in the bot's own SQLite file; otherwise the one workspace of SLACK_BOT_TOKEN."""
    settings = coach.settings
    options: dict = {}
    if settings.oauth:
        options["oauth_settings"] = oauth_settings(coach, coach.workspaces.store)
        client = client or listener_client(settings, token="")
    app = App(
        listener_executor=listener_executor or ThreadPoolExecutor(max_workers=4, thread_name_prefix="lazy"),
        name="dealcoach",
        client=client or listener_client(settings),
        signing_secret=settings.slack_signing_secret,
        token_verification_enabled=False,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        before_authorize=require_slack_ids,  # before any token lookup, so a malformed team id goes no further
        **options,
    )
    register(app, coach)
    return app


def oauth_settings(coach: Coach, installations: InstallationStore) -> OAuthSettings:
    """Slack's install flow at /slack/install and /slack/oauth_redirect; a finished install re-activates the
    workspace (its nudges resume)."""
    settings = coach.settings

    def installed(args: SuccessArgs) -> BoltResponse:
        coach.workspace_installed(args.installation.team_id)
        return args.default.success(args)

    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=installations,
        state_store=workspaces.state_store(settings),
        callback_options=CallbackOptions(success=installed, failure=lambda args: args.default.failure(args)),
    )


def register(app: App, coach: Coach) -> None:
    def provide_coach(context, next):  # noqa: A002 - Bolt passes `next` by name
        context["coach"] = coach.for_requests()  # a busy database answers "try again" within Slack's 3 s
        next()

    app.use(provide_coach)
    app.error(handle_error)
    for route, ack, lazy in listeners(app):
        route(ack=answers_storage_failures(ack), lazy=[answers_storage_failures(f, lazy=True) for f in lazy])


def listeners(app: App) -> list[tuple[Callable, Callable, list[Callable]]]:
    """Every request Deal Coach answers: where it comes from, what answers within Slack's 3 seconds (the ack) and
    what runs after it (lazy). Each is registered answering storage failures the one way (handlers.replies)."""
    return [
        # /closed-deal: help, the list, the form or a quick capture; a possible repeat is asked about first
        (app.command("/closed-deal"), capture.handle_closed_deal, [capture.follow_up_closed_deal]),
        (app.action(blocks.CAPTURE_ANYWAY), capture.handle_capture_anyway, [capture.announce_capture_anyway]),
        (app.action(blocks.LEAVE_CAPTURE), ack_at_once, [capture.handle_leave_capture]),
        # the deal form: opened by Add details, saved on submit
        (app.action(form.ADD_DETAILS), ack_at_once, [form.handle_add_details]),
        (app.view(form.DEAL_MODAL), form.handle_deal_form, [form.announce_deal_form]),
        # a deal's own buttons and their modals
        (app.action(blocks.SEE_PLAN), ack_at_once, [lifecycle.handle_see_plan]),
        (app.action(blocks.MARK_SIGNED), ack_at_once, [lifecycle.handle_mark_signed]),
        (app.action(blocks.MARK_LIVE), ack_at_once, [lifecycle.handle_mark_live]),
        (app.action(blocks.CANCEL_DEAL), ack_at_once, [lifecycle.handle_cancel]),
        (app.action(blocks.DELETE_DEAL), ack_at_once, [lifecycle.handle_delete]),
        (app.action(blocks.CLAIM_DEAL), ack_at_once, [lifecycle.handle_claim]),
        (app.action(blocks.CHANGE_OWNER), ack_at_once, [lifecycle.handle_change_owner]),
        # a deal won in a CRM that may repeat a /closed-deal capture: its rep (and the CRM owner) are asked
        (app.action(crm_unsure.SAME_DEAL), ack_at_once, [crm.handle_crm_answer]),
        (app.action(crm_unsure.DIFFERENT_DEAL), ack_at_once, [crm.handle_crm_answer]),
        (app.view(blocks.OWNER_MODAL), lifecycle.handle_owner_submission, [redraw_after_submission]),
        (app.view(blocks.LIVE_MODAL), lifecycle.handle_live_submission, [redraw_after_submission]),
        (app.view(blocks.CANCEL_MODAL), lifecycle.handle_cancel_submission, [redraw_after_submission]),
        # a verbal yes's reason-to-believe checklist: each gap becomes a step before the signature
        (app.action(blocks.CHECK_READINESS), ack_at_once, [health.handle_check_readiness]),
        (app.view(health_blocks.READINESS_MODAL), health.handle_readiness_submission, [redraw_after_submission]),
        # a nudge's buttons and their modals
        (app.action(nudge_blocks.DONE), ack_at_once, [nudges.handle_done]),
        (app.action(nudge_blocks.SNOOZE), ack_at_once, [nudges.handle_snooze]),
        (app.action(nudge_blocks.SKIP), ack_at_once, [nudges.handle_skip]),
        (app.action(nudge_blocks.REASSIGN), ack_at_once, [nudges.handle_reassign]),
        (app.action(nudge_blocks.MORE), ack_at_once, [nudges.handle_more]),
        (app.action(REPLAN), ack_at_once, [nudges.handle_replan]),
        (app.view(nudge_forms.SKIP_MODAL), nudges.handle_skip_submission, [redraw_after_submission]),
        (
            app.view(nudge_forms.OUTCOME_MODAL),
            nudges.handle_outcome_submission,
            [redraw_after_submission, nudges.ask_sounded_after_outcome],
        ),
        # buyer signals: how they sounded after Done (one tap, then a note), a touch outside the plan, a concern
        (app.action(signal_blocks.SOUNDED), ack_at_once, [signals.handle_sounded]),
        (app.action(signal_blocks.NOTE_DOUBT), ack_at_once, [signals.handle_note_doubt]),
        (app.action(signal_blocks.LOG_TOUCH), ack_at_once, [signals.handle_log_touch]),
        (app.action(signal_blocks.FLAG_CONCERN), ack_at_once, [signals.handle_flag_concern]),
        (app.view(signal_forms.STEP_NOTE_MODAL), signals.handle_step_note_submission, []),
        (app.view(signal_forms.TOUCH_MODAL), signals.handle_touch_submission, []),
        (app.view(signal_forms.CONCERN_MODAL), signals.handle_concern_submission, []),
        # a manager's menu beside each deal in the digest and on Home: Remind rep, Reassign, Open deal
        (app.action(manage_blocks.DEAL_MENU), ack_at_once, [manage.handle_deal_menu]),
        (app.view(manage_forms.REASSIGN_MODAL), manage.handle_reassign_submission, [manage.announce_reassign]),
        (app.action(manage_blocks.CHOOSE_TEAM), ack_at_once, [manage.handle_choose_team]),
        (app.view(manage_forms.TEAM_MODAL), manage.handle_team_submission, [redraw_after_submission]),
        # the welcome kit, offered by the welcome-kit step: built and shared into the deal's thread
        (app.action(welcome.WELCOME_KIT), ack_at_once, [welcome.handle_welcome_kit]),
        # the go-live question: asked, never assumed; the answer re-times the steps timed from go-live
        (app.action(nudge_blocks.LIVE_TODAY), ack_at_once, [nudges.handle_live_today]),
        (app.action(nudge_blocks.SET_GO_LIVE), ack_at_once, [nudges.handle_set_go_live]),
        (app.action(nudge_blocks.NOT_LIVE_YET), ack_at_once, [nudges.handle_not_live_yet]),
        (app.view(nudge_forms.GO_LIVE_MODAL), nudges.handle_go_live_submission, [redraw_after_submission]),
        # the team profile, edited by managers from the Home tab
        (app.action(profile.EDIT_PROFILE), ack_at_once, [profile.handle_edit_profile]),
        (app.view(profile.PROFILE_MODAL), profile.handle_profile_form, [profile.redraw_after_profile]),
        # the Home tab, and a workspace that leaves
        (app.event("app_home_opened"), ack_at_once, [home.handle_app_home_opened]),
        (app.event("app_uninstalled"), install.handle_app_uninstalled, []),
        (app.event("tokens_revoked"), install.handle_tokens_revoked, []),
    ]


ID_CHECKS = (("user_id", ids.is_user_id), ("channel_id", ids.is_channel_id), ("team_id", ids.is_team_id))


def require_slack_ids(context, next):  # noqa: A002 - Bolt passes `next` by name
    """Every id a request carries is an id before any listener stores or shows it: a signed payload whose user,
    channel or team is anything else (`U1> <!channel`) is refused with one short log line."""
    for key, well_formed in ID_CHECKS:
        value = context.get(key)
        if value is not None and not well_formed(value):
            logger.warning("Refused a request whose %s is not a Slack id: %.40r", key, value)
            return BoltResponse(status=400, body=f"{key} is not a Slack id")
    next()


def handle_error(error: Exception, body: dict) -> None:
    """Log what broke and where, never the payload's tokens."""
    kind = body.get("type") or body.get("command") or "request"
    logger.error("Unhandled error while handling %s", kind, exc_info=error)
