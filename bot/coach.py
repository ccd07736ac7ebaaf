"""The use cases handlers call: one place that knows the settings, the store, the playbook and the clock."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.deals import announcements, blocks
from bot.deals import model as deals
from bot.deals.blocks import read_modal_metadata
from bot.deals.capture import InputError, parse_quick_capture
from bot.deals.forms import read_deal_form
from bot.deals.model import Deal, DealFields, Nudge
from bot.home import blocks as home_blocks
from bot.home import view as home
from bot.nudges import ledger as lifecycle
from bot.nudges.blocks import nudge_message
from bot.playbook.loader import Playbook
from bot.settings import Settings
from bot.slack import workspaces
from bot.slack.client import describe
from bot.slack.ids import is_user_id
from bot.slack.posting import UNREACHABLE, NotPosted, Patience
from bot.slack.text import mention
from bot.storage.store import Store

logger = logging.getLogger(__name__)


REASSIGN_PROBLEM = (
    "That isn't someone I can hand this follow-up to. Pick a teammate from the Reassign menu (e.g. Jane Doe); "
    "nothing changed."
)


class NotAllowed(Exception):
    """The user may not change this deal; the message says who can."""


class LooksLikeARepeat(Exception):
    """The capture repeats a recent one (deals.find_duplicate): nothing was stored, and it is held under its
    capture key until the rep says to capture it anyway or to leave it."""

    def __init__(self, earlier: Deal, capture_key: str):
        super().__init__(f"looks like deal #{earlier.id}")
        self.earlier = earlier
        self.capture_key = capture_key


# What a capture that looks like a recent one does: ask each time until the rep answers the question (a typed
# command), ask once so that saving the same form again keeps both (the form), or just store it (scripts).
ASK, ASK_ONCE, KEEP = "ask", "ask_once", "keep"


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
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.store = store
        self.playbook = playbook
        self.clock = clock
        self.workspaces = slack or workspaces.Workspaces.for_settings(settings)
        self.sleep = sleep  # how a lazy post waits out a short 429; tests pass a fake clock's

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
        """Parse `/closed-deal Acme $120k ...` and store the deal with its plan, repeat or not; raises InputError."""
        return self.capture_command(
            text, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=capture_key, repeats=KEEP
        )[0]

    def capture_command(
        self, text: str, *, team_id: str, channel_id: str, user_id: str, capture_key: str, repeats: str = ASK
    ) -> tuple[Deal, bool]:
        """As capture_quick, and whether this call stored it (False for a replay of the same command). A capture
        repeating a recent one raises LooksLikeARepeat and is held until answered (capture_held, leave_held)."""
        quick = parse_quick_capture(text, self.settings.currency, today=self.today())
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
        return self._capture(
            fields, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=capture_key, repeats=repeats
        )

    def _capture(
        self, fields: DealFields, *, team_id: str, channel_id: str, user_id: str, capture_key: str, repeats: str
    ) -> tuple[Deal, bool]:
        """The deal, its plan and the claim on its announcement, in one transaction (announce() posts it); or, for a
        likely repeat, the capture held back while its rep is asked."""
        now = self.now()
        earlier = None
        with self.store.write() as db:
            if repeats != KEEP and deals.get_deal_by_capture_key(db, capture_key) is None:  # not a replay
                answered = repeats == ASK_ONCE and deals.release_held(db, capture_key)  # the form, saved again
                if not answered:
                    earlier = deals.find_duplicate(db, team_id=team_id, owner_id=user_id, fields=fields, now=now)
                if earlier is not None:
                    deals.hold_capture(
                        db,
                        capture_key=capture_key,
                        team_id=team_id,
                        channel_id=channel_id,
                        owner_id=user_id,
                        fields=fields,
                        duplicate_of=earlier.id,
                        now=now,
                    )
            if earlier is None:
                deal_id, created = deals.capture_deal(
                    db,
                    team_id=team_id,
                    channel_id=channel_id,
                    owner_id=user_id,
                    fields=fields,
                    playbook=self.playbook,
                    now=now,
                    capture_key=capture_key,
                )
                if created:
                    announcements.claim_with_capture(db, deal_id=deal_id, channel_id=channel_id, now=now)
                deal = deals.get_deal(db, deal_id)
        if earlier is not None:  # raised after the commit, so the held capture is stored
            raise LooksLikeARepeat(earlier, capture_key)
        assert deal is not None
        return deal, created

    def capture_held(self, capture_key: str, *, team_id: str, user_id: str) -> tuple[Deal, bool]:
        """Capture it anyway: store the held capture as typed, once (its capture key makes a second click find the
        first); only its rep may. Returns the deal and whether this click stored it. Raises NotAllowed."""
        now = self.now()
        with self.store.write() as db:
            held = self._held(db, capture_key, team_id=team_id, user_id=user_id)
            if held is None:
                deal = deals.get_deal_by_capture_key(db, capture_key)
                if deal is None or deal.team_id != team_id or deal.owner_id != user_id:
                    raise NotAllowed(blocks.HELD_EXPIRED)
                return deal, False
            deal_id, created = deals.capture_deal(
                db,
                team_id=held.team_id,
                channel_id=held.channel_id,
                owner_id=held.owner_id,
                fields=held.fields,
                playbook=self.playbook,
                now=now,
                capture_key=capture_key,
            )
            deals.release_held(db, capture_key)
            if created:
                announcements.claim_with_capture(db, deal_id=deal_id, channel_id=held.channel_id, now=now)
            deal = deals.get_deal(db, deal_id)
        assert deal is not None
        return deal, created

    def leave_held(self, capture_key: str, *, team_id: str, user_id: str) -> bool:
        """Leave it: forget the held capture; False if it was answered already. Raises NotAllowed."""
        with self.store.write() as db:
            held = self._held(db, capture_key, team_id=team_id, user_id=user_id)
            return held is not None and deals.release_held(db, capture_key)

    @staticmethod
    def _held(db, capture_key: str, *, team_id: str, user_id: str) -> deals.HeldCapture | None:
        held = deals.held_capture(db, capture_key)
        if held is not None and (held.team_id != team_id or held.owner_id != user_id):
            raise NotAllowed(f"Only {mention(held.owner_id)}, who typed that capture, can answer this.")
        return held

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
            return self._capture(
                fields, team_id=team_id, channel_id=channel_id, user_id=user_id, capture_key=view_id, repeats=ASK_ONCE
            )
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

    def _check_may_edit(self, deal: Deal | None, *, team_id: str, user_id: str, deleted_ok: bool = False) -> None:
        if deal is None or deal.team_id != team_id:
            raise NotAllowed("I can't find that deal any more.")
        if not deals.can_edit(deal, user_id, self.settings.managers):
            raise NotAllowed(f"Only {mention(deal.owner_id)}, who closed this deal, or a manager can change it.")
        if deal.deleted and not deleted_ok:
            raise NotAllowed(blocks.deal_unchanged_text(deal, "edit"))

    def get_deal(self, deal_id: int) -> Deal | None:
        with self.store.session() as db:
            return deals.get_deal(db, deal_id)

    def announce(self, deal_id: int, *, notify: Callable[[str], object] = lambda text: None) -> None:
        """Post a deal's channel message, exactly once: through the shared protocol, with a client that never
        retries by itself. Tells the rep through `notify` when the channel can't be reached. If Slack fails for
        now, or this process dies, the dispatcher's next tick finishes the job."""
        now = self.now()
        with self.store.write() as db:
            post = announcements.take(db, deal_id, now=now)
            deal = deals.get_deal(db, deal_id)
        if post is None or deal is None:
            return  # posted already, or another worker holds it
        client = self.workspaces.posting_client(deal.team_id)
        if client is None:  # no installation for the workspace now: the dispatcher posts it after a reinstall
            with self.store.write() as db:
                announcements.wait_for_retry(db, post, error="no installation", retry_at=now + timedelta(hours=1))
            return
        outcome = announcements.deliver(self.store, client, post, deal, now=now, patience=Patience(self.sleep))
        if isinstance(outcome, NotPosted):
            logger.warning("Could not post deal #%s in %s: %s", deal.id, deal.channel_id, outcome.error)
            if outcome.kind == UNREACHABLE:
                notify(blocks.cannot_post_text(deal, outcome.error))

    def announcement(self, deal: Deal) -> tuple[str, list[dict]]:
        with self.store.session() as db:
            nudges = deals.deal_nudges(db, deal.id)
        return blocks.deal_announcement(deal, nudges)

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
        if deal.deleted:
            raise NotAllowed(blocks.deal_unchanged_text(deal, "nudge"))
        allowed = {deal.owner_id, nudge.assignee_id, *self.settings.managers} - {None}
        if user_id not in allowed:
            who = mention(deal.owner_id) + (f" or {mention(nudge.assignee_id)}" if nudge.assignee_id else "")
            raise NotAllowed(f"Only {who}, or a manager, can act on this follow-up.")
        return nudge, deal

    def act_on_nudge(self, nudge_id: int, action: str, *, team_id: str, user_id: str, **details) -> NudgeChange:
        """Done, skip, snooze or reassign, once: a repeat click changes nothing and says why. Raises NotAllowed,
        or InputError for an assignee that isn't a member id."""
        if action == "reassign" and not is_user_id(details["assignee"]):
            raise InputError(REASSIGN_PROBLEM, "")
        nudge, deal = self.nudge_for(nudge_id, team_id=team_id, user_id=user_id)
        post_id = nudge.post_id
        now = self.now()
        also_posts: list[int] = []  # other nudge messages whose steps the change ended (signing ends its steps)
        with self.store.write() as db:
            if action == "done":
                change = lifecycle.mark_done(db, nudge_id, actor=user_id, now=now, outcome=details.get("outcome"))
                step = self.steps_by_id().get(nudge.step_id)
                if change.changed and step is not None and step.unsigned_only:
                    also_posts = deals.mark_signed(db, deal.id, actor=user_id, now=now, playbook=self.playbook) or []
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
        posts = tuple(dict.fromkeys(p for p in (post_id, *also_posts) if p))
        redraw = Redraw(team_id, deals=(deal.id,), posts=posts, people=audience)
        return NudgeChange(change.changed, change.nudge, deal, post_id, explanation, audience, redraw)

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
        if deal is not None and deal.deleted:  # its steps are gone: the message says why, without buttons
            return (post.channel_id, post.ts, *blocks.deleted_deal_message(deal))
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
        """Mark signed, mark live, cancel or delete, by the owner or a manager; a repeat changes nothing."""
        now = self.now()
        with self.store.write() as db:
            deal = deals.get_deal(db, deal_id)
            self._check_may_edit(deal, team_id=team_id, user_id=user_id, deleted_ok=action == "delete")
            people = home.people_of_deals(db, [deal_id]).get(team_id, set())  # before a delete takes its steps
            if action == "signed":
                posts = deals.mark_signed(db, deal_id, actor=user_id, now=now, playbook=self.playbook)
            elif action == "live":
                posts = deals.mark_live(db, deal_id, go_live=details["go_live"], now=now, playbook=self.playbook)
            elif action == "cancel":
                posts = deals.cancel_deal(db, deal_id, actor=user_id, reason=details["reason"], now=now)
            elif action == "delete":
                posts = deals.delete_deal(db, deal_id, actor=user_id, now=now)
            else:
                raise ValueError(f"unknown deal action {action!r}")
            updated = deals.get_deal(db, deal_id)
            redraw = self._redraw_of(db, deal_id, posts or [], team_id=team_id, actor=user_id, people=people)
        explanation = None if posts is not None else blocks.deal_unchanged_text(updated, action)
        return DealChange(posts is not None, updated, posts or [], explanation, redraw)

    def deal_edited(self, deal_id: int, *, team_id: str, actor: str) -> Redraw:
        """What an edit from the deal form shows up in: its message, its nudge messages still open, Home tabs."""
        with self.store.session() as db:
            return self._redraw_of(db, deal_id, deals.posts_with_open_steps(db, deal_id), team_id=team_id, actor=actor)

    @staticmethod
    def _redraw_of(
        db, deal_id: int, posts: Iterable[int], *, team_id: str, actor: str | None, people: Iterable[str] = ()
    ) -> Redraw:
        people = home.people_of_deals(db, [deal_id]).get(team_id, set()) | set(people) | {actor}
        return Redraw(team_id, deals=(deal_id,), posts=tuple(posts), people=frozenset(people - {None}))

    # -- redrawing: whenever a deal changes, everything that shows it is drawn again from the database ----------

    def redraw(self, client: WebClient, what: Redraw) -> None:
        """Redraw the deals' channel messages, the nudge messages and the Home tabs a change touched. Each is
        drawn from the database as it stands and chat.update is idempotent, so a retried or repeated redraw is
        harmless; a message Slack won't update is logged and the rest still happen."""
        for deal_id in what.deals:
            self._update_message(client, "deal", deal_id, self.rendered_deal(deal_id))
        for post_id in what.posts:
            self._update_message(client, "nudge message", post_id, self.rendered_post(post_id))
        self.refresh_homes(client, what.people, team_id=what.team_id)

    def rendered_deal(self, deal_id: int) -> tuple[str, str, str, list[dict]] | None:
        """(channel, ts, text, blocks) of a deal's channel message as it should look now; None until it is posted."""
        with self.store.session() as db:
            deal = deals.get_deal(db, deal_id)
            if deal is None or not deal.posted_ts:
                return None
            nudges = deals.deal_nudges(db, deal_id)
        text, message_blocks = blocks.deal_announcement(deal, nudges)
        return deal.channel_id, deal.posted_ts, text, message_blocks

    @staticmethod
    def _update_message(client: WebClient, kind: str, key: int, rendered) -> None:
        if rendered is None:
            return
        channel, ts, text, message_blocks = rendered
        try:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=message_blocks)
        except (SlackApiError, OSError) as exc:  # OSError: a timeout or a refused connection
            logger.warning("Could not redraw %s %s: %s", kind, key, describe(exc))

    def deals_of(self, user_id: str, *, team_id: str) -> list[tuple[Deal, str, Nudge | None]]:
        """A rep's open deals with their stage and next step, newest first."""
        with self.store.session() as db:
            owned = deals.open_deals_of(db, team_id=team_id, owner_id=user_id)
            result = []
            for deal in owned:
                steps = deals.deal_nudges(db, deal.id)
                upcoming = [n for n in steps if n.actionable]
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
class Redraw:
    """Everything a change to a deal shows up in: its channel message, nudge messages, and Home tabs."""

    team_id: str
    deals: tuple[int, ...] = ()
    posts: tuple[int, ...] = ()
    people: frozenset[str] = frozenset()  # whose Home tab to republish (if they have opened it)


@dataclass(frozen=True)
class DealChange:
    changed: bool
    deal: Deal | None
    post_ids: list[int]
    explanation: str | None
    redraw: Redraw | None = None


@dataclass(frozen=True)
class NudgeChange:
    changed: bool
    nudge: Nudge | None
    deal: Deal
    post_id: int | None
    explanation: str | None
    audience: frozenset[str] = frozenset()  # whose Home tab shows this step, before or after, and who acted
    redraw: Redraw | None = None
