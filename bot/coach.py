"""The use cases handlers call: one place that knows the settings, the store, the playbook and the clock."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks, deals, home, home_blocks, workspaces
from bot import nudges as lifecycle
from bot.blocks import read_modal_metadata
from bot.capture import InputError, parse_quick_capture
from bot.db import Store
from bot.deals import Deal, DealFields, Nudge
from bot.forms import read_deal_form
from bot.nudge_blocks import nudge_message
from bot.playbook import Playbook
from bot.settings import Settings
from bot.slack import error_code, post_in_channel

logger = logging.getLogger(__name__)


class NotAllowed(Exception):
    """The user may not change this deal; the message says who can."""


def system_clock() -> datetime:
    return datetime.now(UTC)


class Coach:
    """Shared by every listener and job; stateless apart from its collaborators, so safe across threads."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        playbook: Playbook,
        clock: Callable[[], datetime] = system_clock,
        slack: workspaces.Workspaces | None = None,
    ):
        self.settings = settings
        self.store = store
        self.playbook = playbook
        self.clock = clock
        self.workspaces = slack or workspaces.Workspaces.for_settings(settings)

    def __deepcopy__(self, memo: dict) -> Coach:
        """Bolt deep-copies context values for lazy listeners; the coach is shared, never copied."""
        return self

    def for_requests(self) -> Coach:
        """This coach as Slack's requests use it: each unit of work waits for a busy database at most
        DEALCOACH_REQUEST_DB_WAIT_MS, so the answer beats Slack's 3 seconds. Jobs keep the longer wait."""
        view = copy.copy(self)
        view.store = self.store.for_requests(self.settings.request_db_wait_ms)
        return view

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        """Today in the team's time zone: a deal closed at 23:30 in Berlin closed that day, not the next."""
        return self.now().astimezone(self.settings.tz).date()

    def capture_quick(self, text: str, *, team_id: str, channel_id: str, user_id: str, capture_key: str) -> Deal:
        """Parse `/closed-deal Acme $120k ...` and store the deal with its plan; raises InputError."""
        return self.capture_command(
            text, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=capture_key
        )[0]

    def capture_command(
        self, text: str, *, team_id: str, channel_id: str, user_id: str, capture_key: str
    ) -> tuple[Deal, bool]:
        """As capture_quick, and whether this call stored it (False for a replay of the same command)."""
        quick = parse_quick_capture(text, self.settings.currency)
        if quick.go_live_date and quick.go_live_date < self.today():
            raise InputError(
                f"The go-live date {quick.go_live_date:%Y-%m-%d} is before today's close. Use a date from today on.",
                f"/closed-deal Acme Rockets $120k live: {self.today() + timedelta(days=30):%Y-%m-%d}",
            )
        fields = DealFields(
            account=quick.account,
            money=quick.money,
            close_date=self.today(),
            contact_name=quick.contact_name,
            contact_title=quick.contact_title,
            persona=quick.persona,
            go_live_date=quick.go_live_date,
            signed=quick.signed,
        )
        return self._capture(fields, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=capture_key)

    def _capture(
        self, fields: DealFields, *, team_id: str, channel_id: str, user_id: str, capture_key: str
    ) -> tuple[Deal, bool]:
        with self.store.write() as db:
            deal_id, created = deals.capture_deal(
                db,
                team_id=team_id,
                channel_id=channel_id,
                owner_id=user_id,
                fields=fields,
                playbook=self.playbook,
                now=self.now(),
                capture_key=capture_key,
            )
            deal = deals.get_deal(db, deal_id)
        assert deal is not None
        return deal, created

    def save_form(
        self, values: dict, private_metadata: str, *, team_id: str, user_id: str, view_id: str
    ) -> tuple[Deal, bool]:
        """Store a submitted deal form: a new deal, or edits to one. Returns the deal and whether this submission
        changed anything (False for a repeat of one already saved). Raises FormErrors or NotAllowed."""
        channel_id, deal_id = read_modal_metadata(private_metadata)
        fields = read_deal_form(values, default_currency=self.settings.currency, today=self.today())
        if deal_id is None:
            if not channel_id:
                raise NotAllowed("This form lost track of its channel. Run /closed-deal again in the team channel.")
            return self._capture(fields, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=view_id)
        with self.store.write() as db:
            deal = deals.get_deal(db, deal_id)
            self._check_may_edit(deal, team_id=team_id, user_id=user_id)
            deals.update_deal(db, deal_id, fields, playbook=self.playbook, now=self.now())
            updated = deals.get_deal(db, deal_id)
        assert updated is not None
        return updated, True

    def deal_for_editing(self, deal_id: int, *, team_id: str, user_id: str) -> Deal:
        """The deal behind an "Add details" click, if this user may change it; raises NotAllowed."""
        with self.store.session() as db:
            deal = deals.get_deal(db, deal_id)
        self._check_may_edit(deal, team_id=team_id, user_id=user_id)
        assert deal is not None
        return deal

    def _check_may_edit(self, deal: Deal | None, *, team_id: str, user_id: str) -> None:
        if deal is None or deal.team_id != team_id:
            raise NotAllowed("I can't find that deal any more.")
        if not deals.can_edit(deal, user_id, self.settings.managers):
            raise NotAllowed(f"Only <@{deal.owner_id}>, who closed this deal, or a manager can change it.")

    def get_deal(self, deal_id: int) -> Deal | None:
        with self.store.session() as db:
            return deals.get_deal(db, deal_id)

    def announcement(self, deal: Deal) -> tuple[str, list[dict]]:
        with self.store.session() as db:
            nudges = deals.deal_nudges(db, deal.id)
        return blocks.deal_announcement(deal, nudges)

    def record_announcement(self, deal_id: int, message_ts: str) -> None:
        with self.store.write() as db:
            deals.set_message(db, deal_id, message_ts)

    def claim_announcement(self, deal_id: int) -> bool:
        """Take the right to post a deal's channel message, so a double submit never posts it twice."""
        with self.store.write() as db:
            return deals.claim_message(db, deal_id)

    def release_announcement(self, deal_id: int) -> None:
        """Give the claim back after a failed post, so a later attempt may post it."""
        with self.store.write() as db:
            deals.release_message(db, deal_id)

    def publish_deal(self, client: WebClient, deal: Deal, *, notify: Callable[[str], object]) -> None:
        """Post (or refresh) a deal's channel message; tell the rep privately through `notify` if Slack refuses."""
        text, message_blocks = self.announcement(deal)
        if deal.posted_ts:
            client.chat_update(channel=deal.channel_id, ts=deal.posted_ts, text=text, blocks=message_blocks)
            return
        if not self.claim_announcement(deal.id):
            return
        try:
            ts = post_in_channel(client, deal.channel_id, text, message_blocks)
        except SlackApiError as exc:
            self.release_announcement(deal.id)
            code = error_code(exc)
            logger.warning("Could not post deal #%s in %s: %s", deal.id, deal.channel_id, code or exc)
            notify(blocks.cannot_post_text(deal, code))
            return
        except BaseException:
            self.release_announcement(deal.id)
            raise
        self.record_announcement(deal.id, ts)

    # -- nudges: what reps do with them --------------------------------------------------------------------

    @property
    def hours(self):
        return self.settings.hours

    def steps_by_id(self) -> dict:
        return {s.id: s for s in self.playbook.steps}

    def nudge_for(self, nudge_id: int, *, team_id: str, user_id: str) -> tuple[Nudge, Deal]:
        """A nudge and its deal, if this user may act on it (owner, assignee or manager); raises NotAllowed."""
        with self.store.session() as db:
            nudge = lifecycle.get_nudge(db, nudge_id)
            deal = deals.get_deal(db, nudge.deal_id) if nudge else None
        if nudge is None or deal is None or deal.team_id != team_id:
            raise NotAllowed("I can't find that follow-up any more.")
        allowed = {deal.owner_id, nudge.assignee_id, *self.settings.managers} - {None}
        if user_id not in allowed:
            who = f"<@{deal.owner_id}>" + (f" or <@{nudge.assignee_id}>" if nudge.assignee_id else "")
            raise NotAllowed(f"Only {who}, or a manager, can act on this follow-up.")
        return nudge, deal

    def act_on_nudge(self, nudge_id: int, action: str, *, team_id: str, user_id: str, **details) -> NudgeChange:
        """Done, skip, snooze or reassign, once: a repeat click changes nothing and says why."""
        nudge, deal = self.nudge_for(nudge_id, team_id=team_id, user_id=user_id)
        post_id = nudge.post_id
        now = self.now()
        with self.store.write() as db:
            if action == "done":
                change = lifecycle.mark_done(db, nudge_id, actor=user_id, now=now, outcome=details.get("outcome"))
                step = self.steps_by_id().get(nudge.step_id)
                if change.changed and step is not None and step.unsigned_only:
                    deals.mark_signed(db, deal.id, actor=user_id, now=now, playbook=self.playbook)
            elif action == "skip":
                change = lifecycle.mark_skipped(db, nudge_id, actor=user_id, now=now, reason=details.get("reason"))
            elif action == "snooze":
                current = lifecycle.get_nudge(db, nudge_id)  # a step not yet due moves on from its own date
                start = max(self.today(), current.due_date) if current else self.today()
                until = self.hours.first_open_day(start + timedelta(days=details["days"]))
                change = lifecycle.snooze(db, nudge_id, actor=user_id, now=now, until=until, today=self.today())
            elif action == "reassign":
                change = lifecycle.reassign(db, nudge_id, actor=user_id, assignee=details["assignee"], now=now)
            else:
                raise ValueError(f"unknown nudge action {action!r}")
        explanation = None if change.changed else blocks.already_resolved_text(change.nudge, action)
        after = change.nudge.assignee_id if change.nudge else None
        audience = frozenset({deal.owner_id, nudge.assignee_id, after, user_id} - {None})
        return NudgeChange(change.changed, change.nudge, deal, post_id, explanation, audience)

    def post_of_nudge(self, nudge_id: int) -> int | None:
        with self.store.session() as db:
            nudge = lifecycle.get_nudge(db, nudge_id)
        return nudge.post_id if nudge else None

    def rendered_post(self, post_id: int) -> tuple[str, str, str, list[dict]] | None:
        """(channel, ts, text, blocks) of a posted nudge message as it should look now, for chat.update."""
        with self.store.session() as db:
            post = lifecycle.get_post(db, post_id)
            if post is None or post.status != "posted" or not post.ts:
                return None
            deal = deals.get_deal(db, post.deal_id)
            shown = lifecycle.nudges_shown_in(db, post_id)
        text, message_blocks = nudge_message(
            deal, shown, self.steps_by_id(), post_id=post.id, late=post.late, tz=self.settings.tz
        )
        return post.channel_id, post.ts, text, message_blocks

    # -- workspaces ------------------------------------------------------------------------------------------

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

    # -- the deal lifecycle --------------------------------------------------------------------------------

    def change_deal(self, deal_id: int, action: str, *, team_id: str, user_id: str, **details) -> DealChange:
        """Mark signed, mark live or cancel, by the owner or a manager; a repeat changes nothing."""
        now = self.now()
        with self.store.write() as db:
            deal = deals.get_deal(db, deal_id)
            self._check_may_edit(deal, team_id=team_id, user_id=user_id)
            if action == "signed":
                posts = deals.mark_signed(db, deal_id, actor=user_id, now=now, playbook=self.playbook)
            elif action == "live":
                posts = deals.mark_live(db, deal_id, go_live=details["go_live"], now=now, playbook=self.playbook)
            elif action == "cancel":
                posts = deals.cancel_deal(db, deal_id, actor=user_id, reason=details["reason"], now=now)
            else:
                raise ValueError(f"unknown deal action {action!r}")
            updated = deals.get_deal(db, deal_id)
        explanation = None if posts is not None else blocks.deal_unchanged_text(updated, action)
        return DealChange(posts is not None, updated, posts or [], explanation)

    def deals_of(self, user_id: str, *, team_id: str) -> list[tuple[Deal, str, Nudge | None]]:
        """A rep's open deals with their stage and next step, newest first."""
        with self.store.session() as db:
            owned = deals.open_deals_of(db, team_id=team_id, owner_id=user_id)
            result = []
            for deal in owned:
                steps = deals.deal_nudges(db, deal.id)
                upcoming = [n for n in steps if n.open]
                result.append((deal, deals.stage_of(deal, steps), upcoming[0] if upcoming else None))
        return result

    # -- the Home tab ----------------------------------------------------------------------------------------

    def home_view(self, user_id: str, team_id: str) -> dict:
        """The user's Home tab as it stands now: their follow-ups and deals, after the team's for a manager."""
        now, today = self.now(), self.today()
        owned = self.deals_of(user_id, team_id=team_id)
        manager = user_id in self.settings.managers
        with self.store.session() as db:
            data = home.load(
                db,
                team_id=team_id,
                user_id=user_id,
                today=today,
                now=now,
                deals=owned,
                manager=manager,
                large_deal=self.settings.large_deal,
                quiet_days=self.settings.quiet_days,
            )
        return home_blocks.home_view(data, now=now, tz=self.settings.tz)

    def open_home(self, client: WebClient, user_id: str, *, team_id: str) -> None:
        """The user opened the Home tab: remember it (from now on it follows their changes), then show it."""
        with self.store.write() as db:
            home.record_opened(db, team_id=team_id, user_id=user_id, now=self.now())
        self.publish_home(client, user_id, team_id=team_id)

    def publish_home(self, client: WebClient, user_id: str, *, team_id: str) -> bool:
        """views.publish; a failure is logged and reported as False, never raised into a click or a dispatch."""
        try:
            client.views_publish(user_id=user_id, view=self.home_view(user_id, team_id))
        except Exception:
            logger.exception("Could not publish the Home tab of %s", user_id)
            return False
        return True

    def refresh_homes(self, client: WebClient, users: Iterable[str | None], *, team_id: str) -> None:
        """Republish the Home tabs of those among `users` who have opened theirs at least once."""
        try:
            with self.store.session() as db:
                opened = home.opened_home(db, team_id=team_id, user_ids=users)
        except Exception:
            logger.exception("Could not look up whose Home tab to refresh")
            return
        for user_id in sorted(opened):
            self.publish_home(client, user_id, team_id=team_id)

    def refresh_homes_of_deals(
        self, client: WebClient | workspaces.ClientFor, deal_ids: Iterable[int], *, actor: str | None = None
    ) -> None:
        """After deals changed or their nudges went out: the owners', assignees' and actor's Home tabs."""
        try:
            with self.store.session() as db:
                people = home.people_of_deals(db, deal_ids)
        except Exception:
            logger.exception("Could not look up whose Home tab to refresh")
            return
        client_for = workspaces.clients(client)
        for team_id, users in sorted(people.items()):
            team_client = client_for(team_id)
            if team_client is not None:
                self.refresh_homes(team_client, users | {actor}, team_id=team_id)

    def refresh_homes_of_posts(self, client: WebClient | workspaces.ClientFor, post_ids: Iterable[int]) -> None:
        """After a dispatch: the Home tabs of everyone whose nudges were just posted."""
        try:
            with self.store.session() as db:
                deal_ids = home.deals_of_posts(db, post_ids)
        except Exception:
            logger.exception("Could not look up whose Home tab to refresh")
            return
        self.refresh_homes_of_deals(client, deal_ids)


@dataclass(frozen=True)
class DealChange:
    changed: bool
    deal: Deal | None
    post_ids: list[int]
    explanation: str | None


@dataclass(frozen=True)
class NudgeChange:
    changed: bool
    nudge: Nudge | None
    deal: Deal
    post_id: int | None
    explanation: str | None
    audience: frozenset[str] = frozenset()  # whose Home tab shows this step, before or after, and who acted
