"""The CRM worker: turns inbox events into deals, once per CRM deal, whatever the CRM repeats.

Each event is claimed (one worker wins it, serve's scheduler or a `dealcoach tick`), resolved by its adapter (an
API read for HubSpot and Pipedrive; the message itself for Salesforce), mapped to Slack (owner, channel, team)
and applied in one transaction with the event's settling: a new deal (through the capture path of bot/deals, so
its plan and its exactly-once announcement come with it), an earlier /closed-deal capture linked, a revert that
pauses the deal or a new win that resumes it. A CRM or Slack that fails for now delays the event (Retry-After
honoured, else a backoff); nothing is dropped and nothing is created twice."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.crm import inbox
from bot.crm.types import Adapter, CrmDeal, CrmRefused, CrmUnavailable
from bot.deals import blocks as deal_blocks
from bot.deals import service as deal_service
from bot.deals.capture import MAX_ACCOUNT, MAX_NAME, Money
from bot.deals.model import DealFields
from bot.deals.service import Redraw
from bot.runtime import Runtime
from bot.settings import CrmRoute, Settings
from bot.slack.client import error_code, retry_after, status_of
from bot.slack.posting import AMBIGUOUS_ERRORS

logger = logging.getLogger(__name__)
BATCH = 200  # events per run; the rest wait for the next tick (a minute)
NO_ADAPTER_RETRY = timedelta(hours=1)
ClientFor = Callable[[str], WebClient | None]


class SlackUnavailable(Exception):
    """Slack couldn't answer a lookup just now: the event waits, like a CRM outage."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class CrmReport:
    created: list[int] = field(default_factory=list)
    linked: list[int] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    ignored: int = 0
    delayed: int = 0
    failed: int = 0
    redraws: list[Redraw] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{len(self.created)} created",
            f"{len(self.linked)} linked to a /closed-deal capture",
            f"{len(self.paused)} paused",
            f"{len(self.resumed)} resumed",
            f"{self.ignored} ignored (not won)",
            f"{self.delayed} delayed (retried later)",
        ]
        if self.failed:
            parts.append(f"{self.failed} refused by the CRM (see `dealcoach crm status`)")
        return "CRM deals: " + ", ".join(parts)


def drain(
    rt: Runtime, adapters: Mapping[str, Adapter], client_for: ClientFor, *, now: datetime, limit: int = BATCH
) -> CrmReport:
    """Work through the inbox events due at `now`."""
    report = CrmReport()
    with rt.store.session() as db:
        due = inbox.due(db, now=now, limit=limit)
    teams: dict[str, str | None] = {}
    # a CRM whose API failed in this run: (error, until); its other events wait as long without calling it, so an
    # outage costs one call (one timeout) a run, not one per event, and a 429's Retry-After holds for the whole CRM
    down: dict[str, tuple[str, datetime]] = {}
    for event_id, crm in due:
        if crm in down:
            error, until = down[crm]
            with rt.store.write() as db:
                if inbox.postpone(db, event_id, error, at=until, now=now):
                    report.delayed += 1
            continue
        with rt.store.write() as db:
            stored = inbox.claim(db, event_id, now=now)
        if stored is None:
            continue  # another worker has it, or settled it
        event = stored.event
        adapter = adapters.get(event.crm)
        if adapter is None:
            _delay(rt, stored, f"{event.crm} is off (its settings are missing)", now + NO_ADAPTER_RETRY, report)
            continue
        try:
            deal = adapter.resolve(event)
            _apply(
                rt,
                deal,
                client_for,
                now=now,
                event_at=event.occurred_at,
                event_id=stored.id,
                report=report,
                teams=teams,
            )
        except (CrmUnavailable, SlackUnavailable) as exc:
            wait = max(inbox.backoff(stored.attempts), timedelta(seconds=exc.retry_after or 0))
            which = "Slack" if isinstance(exc, SlackUnavailable) else event.crm
            logger.warning(
                "CRM %s deal %s: %s unavailable (%s); trying again in %s",
                event.crm,
                event.crm_deal_id,
                which,
                exc,
                wait,
            )
            _delay(rt, stored, f"{which}: {exc}", now + wait, report)
            if isinstance(exc, CrmUnavailable):
                down[event.crm] = (f"{which}: {exc} (not asked again in this run)", now + wait)
        except CrmRefused as exc:  # the CRM says for good it can't give this deal (deleted): asking again won't help
            logger.warning("CRM %s deal %s: %s; not tried again", event.crm, event.crm_deal_id, exc)
            with rt.store.write() as db:
                inbox.give_up(db, stored.id, f"{event.crm}: {exc}"[:300], now=now)
            report.failed += 1
        except Exception as exc:  # a bug or a payload we can't use: logged with its traceback, kept, tried again
            logger.exception("CRM %s deal %s: could not turn the event into a deal", event.crm, event.crm_deal_id)
            _delay(
                rt, stored, f"error: {type(exc).__name__}: {exc}"[:300], now + inbox.backoff(stored.attempts), report
            )
    return report


def backfill(rt: Runtime, deals: Iterable[CrmDeal], client_for: ClientFor, *, now: datetime) -> CrmReport:
    """Deals read from a CRM's API (won since a date): those missing are created, with the same key as a webhook's,
    so nothing doubles."""
    report = CrmReport()
    teams: dict[str, str | None] = {}
    for deal in deals:
        if deal.won:
            _apply(rt, deal, client_for, now=now, event_at=None, event_id=None, report=report, teams=teams)
    return report


def _delay(rt: Runtime, stored: inbox.Stored, error: str, at: datetime, report: CrmReport) -> None:
    with rt.store.write() as db:
        inbox.retry_later(db, stored.id, error, at=at)
    report.delayed += 1


def _apply(
    rt: Runtime,
    crm_deal: CrmDeal,
    client_for: ClientFor,
    *,
    now: datetime,
    event_at: datetime | None,
    event_id: int | None,
    report: CrmReport,
    teams: dict[str, str | None],
) -> None:
    key = (crm_deal.crm, crm_deal.crm_account, crm_deal.crm_deal_id)
    with rt.store.session() as db:
        link = inbox.get_link(db, *key)
    if link is None and not crm_deal.won:
        _settle(rt, event_id, inbox.IGNORED, "not won", now)
        report.ignored += 1
        logger.info("CRM %s deal %s: not won, ignored", crm_deal.crm, crm_deal.crm_deal_id)
        return
    team_id = _team(rt, client_for, teams)
    if link is not None:
        _won_or_reverted(
            rt,
            link,
            crm_deal,
            client_for,
            now=now,
            event_at=event_at,
            event_id=event_id,
            report=report,
            team_id=team_id,
        )
        return
    client = client_for(team_id)
    if client is None:
        raise SlackUnavailable(f"no installation for workspace {team_id}")
    owner = owner_of(rt.settings, client, crm_deal.owner_email)
    fields = _fields(rt, crm_deal, now)
    channel = channel_for(rt.settings, crm_deal)
    with rt.store.write() as db:
        if inbox.get_link(db, *key) is not None:  # another worker created it since: this event changes nothing
            if event_id is not None:
                inbox.settle(db, event_id, inbox.DONE, "already created", now=now)
            return
        deal, created, linked = deal_service.capture_from_crm(
            rt,
            db,
            fields,
            team_id=team_id,
            channel_id=channel,
            owner_id=owner or "",
            capture_key=f"crm:{':'.join(key)}",
            source=crm_deal.crm,
            source_url=crm_deal.record_url,
            now=now,
        )
        inbox.add_link(
            db,
            crm=crm_deal.crm,
            crm_account=crm_deal.crm_account,
            crm_deal_id=crm_deal.crm_deal_id,
            deal_id=deal.id,
            owner_email=crm_deal.owner_email,
            linked=linked,
            event_at=event_at,
            now=now,
        )
        if event_id is not None:
            inbox.settle(db, event_id, inbox.DONE, f"{'linked to' if linked else 'created'} deal #{deal.id}", now=now)
    if linked:
        report.linked.append(deal.id)
        report.redraws.append(Redraw(team_id, deals=(deal.id,)))
        logger.info(
            "CRM %s deal %s: linked to deal #%s, captured with /closed-deal",
            crm_deal.crm,
            crm_deal.crm_deal_id,
            deal.id,
        )
        return
    report.created.append(deal.id)
    logger.info(
        "CRM %s deal %s: created deal #%s in %s (%s)",
        crm_deal.crm,
        crm_deal.crm_deal_id,
        deal.id,
        channel,
        "owner " + owner if owner else "owner not found in Slack",
    )
    if created:
        deal_service.announce(rt, deal.id)  # exactly once; the dispatcher finishes it if Slack fails for now
        if owner:
            report.redraws.append(Redraw(team_id, people=frozenset({owner})))  # the rep's Home tab shows it
        prompt = deal_blocks.missing_details_prompt(deal) if owner else None
        if prompt is not None:  # the rep, privately, as after a quick capture: at most once (created is once)
            _send_note(client, owner, prompt[0], prompt[1], what=f"missing details of deal #{deal.id}")


def _won_or_reverted(
    rt: Runtime,
    link: inbox.CrmLink,
    crm_deal: CrmDeal,
    client_for: ClientFor,
    *,
    now: datetime,
    event_at: datetime | None,
    event_id: int | None,
    report: CrmReport,
    team_id: str,
) -> None:
    """A deal we know: left closed-won (paused, managers told) or won again (resumed); anything else changes
    nothing. An event older than the last one applied is stale (CRMs deliver out of order)."""
    redraw = None
    with rt.store.write() as db:
        if inbox.is_stale(link, event_at):
            outcome = "stale (an older event than one applied)"
        elif inbox.set_won(db, link, crm_deal.won, event_at=event_at, now=now):
            redraw = deal_service.pause_or_resume(db, link.deal_id, won=crm_deal.won, now=now, team_id=team_id)
            outcome = ("resumed" if crm_deal.won else "paused") + f" deal #{link.deal_id}"
        else:
            outcome = f"no change to deal #{link.deal_id}"
        if event_id is not None:
            inbox.settle(db, event_id, inbox.DONE, outcome, now=now)
    logger.info("CRM %s deal %s: %s", crm_deal.crm, crm_deal.crm_deal_id, outcome)
    if redraw is None:
        return
    (report.resumed if crm_deal.won else report.paused).append(link.deal_id)
    report.redraws.append(redraw)
    with rt.store.write() as db:
        note = inbox.take_note(db, link.deal_id)  # taken once: at most one DM per change
    client = client_for(team_id)
    deal = deal_service.get_deal(rt, link.deal_id)
    if note is None or client is None or deal is None:
        return
    text = deal_blocks.crm_state_note(deal, paused=note == "paused")
    for manager in rt.settings.managers:
        _send_note(client, manager, text, None, what=f"the {note} note for deal #{deal.id}")


def _send_note(client: WebClient, user_id: str, text: str, blocks: list[dict] | None, *, what: str) -> None:
    """A private note, sent at most once (never retried: a retry after a timeout could send it twice)."""
    try:
        client.chat_postMessage(channel=user_id, text=text, blocks=blocks, unfurl_links=False)
    except (SlackApiError, *AMBIGUOUS_ERRORS) as exc:
        logger.warning(
            "Could not send %s to %s: %s",
            what,
            user_id,
            error_code(exc) if isinstance(exc, SlackApiError) else type(exc).__name__,
        )


def _settle(rt: Runtime, event_id: int | None, status: str, outcome: str, now: datetime) -> None:
    if event_id is None:
        return
    with rt.store.write() as db:
        inbox.settle(db, event_id, status, outcome, now=now)


# -- mapping a CRM deal to Slack: which workspace, whose, which channel, what it says --------------------------


def _team(rt: Runtime, client_for: ClientFor, cache: dict[str, str | None]) -> str:
    """The workspace the CRM feeds: DEALCOACH_CRM_TEAM, or the one workspace of SLACK_BOT_TOKEN (asked once a run)."""
    if rt.settings.crm_team:
        return rt.settings.crm_team
    if "team" not in cache:
        client = client_for("")
        if client is None:
            raise SlackUnavailable("no workspace: set DEALCOACH_CRM_TEAM")
        try:
            cache["team"] = client.auth_test()["team_id"]
        except SlackApiError as exc:
            raise SlackUnavailable(f"auth.test: {error_code(exc) or status_of(exc)}", retry_after=_wait(exc)) from None
        except AMBIGUOUS_ERRORS as exc:
            raise SlackUnavailable(f"auth.test: {type(exc).__name__}") from None
    return cache["team"] or ""


def owner_of(settings: Settings, client: WebClient, email: str | None) -> str | None:
    """The Slack member behind a CRM owner's e-mail: DEALCOACH_CRM_USERS first, then users.lookupByEmail. None when
    nobody matches (the deal is posted to be claimed). Raises SlackUnavailable when Slack can't say just now."""
    if not email:
        return None
    email = email.strip().lower()
    mapped = dict(settings.crm_users).get(email)
    if mapped:
        return mapped
    try:
        found = client.users_lookupByEmail(email=email)
    except SlackApiError as exc:
        code, status = error_code(exc), status_of(exc)
        if status == 429 or status >= 500:
            raise SlackUnavailable(f"users.lookupByEmail: {code or status}", retry_after=_wait(exc)) from None
        if code == "missing_scope":
            logger.warning(
                "users.lookupByEmail needs the users:read.email scope: reinstall the Slack app (see README, CRM). "
                "Deals are posted with 'owner not found in Slack' until then."
            )
        return None  # users_not_found, and anything else that won't change on a retry
    except AMBIGUOUS_ERRORS as exc:
        raise SlackUnavailable(f"users.lookupByEmail: {type(exc).__name__}") from None
    user = (found.get("user") or {}) if found else {}
    if user.get("deleted") or user.get("is_bot"):
        return None
    return user.get("id") or None


def _wait(exc: SlackApiError) -> float | None:
    return float(retry_after(exc)) if status_of(exc) == 429 else None


def channel_for(settings: Settings, deal: CrmDeal) -> str:
    """DEALCOACH_CRM_ROUTES' first rule that matches (by pipeline, or by amount band), else DEALCOACH_CRM_CHANNEL."""
    for route in settings.crm_routes:
        if _matches(route, deal):
            return route.channel
    return settings.crm_channel


def _matches(route: CrmRoute, deal: CrmDeal) -> bool:
    if route.pipeline is not None:
        return bool(deal.pipeline) and deal.pipeline.strip().casefold() == route.pipeline.casefold()
    if deal.amount is None:
        return False
    return (route.low is None or deal.amount >= route.low) and (route.high is None or deal.amount < route.high)


def _fields(rt: Runtime, deal: CrmDeal, now: datetime) -> DealFields:
    amount = deal.amount if deal.amount is not None and deal.amount >= 0 else Decimal(0)
    today = now.astimezone(rt.settings.tz).date()
    currency = (deal.currency or rt.settings.currency).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        currency = rt.settings.currency
    return DealFields(
        account=_clean(deal.name, MAX_ACCOUNT) or f"Deal {deal.crm_deal_id}",
        money=Money(amount, currency),
        # won now: a close date the CRM still has in the future (the forecast) would hold the plan back
        close_date=min(deal.close_date or today, today),
        contact_name=_clean(deal.contact_name, MAX_NAME),
        contact_title=_clean(deal.contact_title, MAX_NAME),
    )


def _clean(value: str | None, limit: int) -> str | None:
    """CRM text held to the text policy without refusing it (nobody can retype it): control and invisible format
    characters dropped (the zero-width joiner inside emoji kept), spaces collapsed, cut to the field's limit."""
    if not value:
        return None
    kept = "".join(ch if unicodedata.category(ch) not in ("Cc", "Cf") or ch == "\u200d" else " " for ch in value)
    text = " ".join(kept.split())[:limit].strip()
    return text or None
