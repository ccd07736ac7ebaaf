"""Pipedrive: webhooks v2 behind HTTP Basic credentials (Pipedrive signs nothing), and the deal read back from its API.

A deal `change` carries the deal now (`data`) and only the fields that changed before (`previous`), so a change of
`status` into `won` is a win, and a change out of `won` (lost, reopened, deleted) is kept too: the core pauses what
it had started. The API token goes in the `x-api-token` header, never the URL."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from bot.crm.apiclient import DEFAULT_TIMEOUT, JsonApi
from bot.crm.types import BadPayload, CrmDeal, CrmRefused, CrmUnavailable, Event, Unauthorized

logger = logging.getLogger(__name__)

CRM = "pipedrive"
LIST_PAGE = 500  # the deals listing's largest page
EXAMPLE = (
    '{"meta": {"version": "2.0", "entity": "deal", "action": "change", "entity_id": "42", "company_id": "7001", '
    '"timestamp": "2026-11-30T15:00:00.000Z"}, "data": {"id": 42, "status": "won", ...}, '
    '"previous": {"status": "open"}}'
)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _id(value: Any) -> str | None:
    """An id as Pipedrive sends it (a whole number, or its string); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and int(value) > 0:
        return str(int(value))
    return None


def _moment(value: Any) -> datetime | None:
    """A Pipedrive time: ISO 8601 (v2), "YYYY-MM-DD HH:MM:SS" in UTC (v1), or epoch seconds or milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _amount(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        logger.warning("Pipedrive deal value %r is not a number: left out", value)
        return None
    return amount if amount.is_finite() else None


class Pipedrive:
    """The Pipedrive adapter: Basic credentials, webhooks v2, and reading deals, users and persons from the API."""

    name = CRM

    def __init__(
        self,
        *,
        webhook_user: str,
        webhook_password: str,
        api_url: str,
        api_token: str,
        tz: ZoneInfo | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self._credentials = f"{webhook_user}:{webhook_password}".encode()
        self.tz = tz or ZoneInfo("UTC")
        self.api = JsonApi("Pipedrive", api_url, {"x-api-token": api_token}, timeout=timeout)
        base = self.api.base_url
        self.web_url = base[: -len("/api")] if base.endswith("/api") else base  # https://yourcompany.pipedrive.com
        self._company_id: str | None = None

    @classmethod
    def from_settings(cls, settings) -> Pipedrive | None:
        """The adapter when Pipedrive is configured (Settings checked that all of it is), else None."""
        if not settings.pipedrive_api_token:
            return None
        return cls(
            webhook_user=settings.pipedrive_webhook_user,
            webhook_password=settings.pipedrive_webhook_password,
            api_url=settings.pipedrive_api_url,
            api_token=settings.pipedrive_api_token,
            tz=settings.tz,
        )

    def __repr__(self) -> str:
        return f"Pipedrive(api_url={self.api.base_url!r})"  # never the credentials or the token

    # -- the webhook -------------------------------------------------------------------------------------------

    def authenticate(
        self, *, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        """Refuse unless the request carries PIPEDRIVE_WEBHOOK_USER and PIPEDRIVE_WEBHOOK_PASSWORD (HTTP Basic)."""
        scheme, _, encoded = _header(headers, "authorization").strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise Unauthorized("no HTTP Basic credentials (set the webhook's HTTP auth user and password)")
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Unauthorized("HTTP Basic credentials that are not base64") from exc
        if not hmac.compare_digest(given, self._credentials):
            raise Unauthorized("wrong HTTP Basic user or password")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        """A deal's status changing into or out of `won`; any other v2 notification is merely uninteresting."""
        try:
            message = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadPayload(f"expected a Pipedrive webhooks v2 body (JSON), such as {EXAMPLE}") from exc
        meta = message.get("meta") if isinstance(message, dict) else None
        if not isinstance(meta, dict):
            raise BadPayload(f"expected a Pipedrive webhooks v2 body with a meta object, such as {EXAMPLE}")
        if "current" in message or str(meta.get("v", "")) == "1" or str(meta.get("version", "2")).split(".")[0] != "2":
            raise BadPayload(
                "this is a Pipedrive webhooks v1 body; Deal Coach reads v2: create the webhook again with version 2.0"
            )
        entity, action = meta.get("entity"), meta.get("action")
        if not isinstance(entity, str) or not isinstance(action, str):
            raise BadPayload(f"expected meta.entity and meta.action in a Pipedrive webhooks v2 body, such as {EXAMPLE}")
        if entity != "deal" or action not in ("change", "create"):
            return []
        current, previous = message.get("data"), message.get("previous")
        if not isinstance(current, dict) or not (previous is None or isinstance(previous, dict)):
            raise BadPayload(f"a deal {action} without its data object (and previous, if any), such as {EXAMPLE}")
        now_won = current.get("status") == "won"
        if action == "change":
            if not previous or "status" not in previous:
                return []  # the status did not change: a rename, a stage move, a new value...
            if now_won == (previous.get("status") == "won"):
                return []  # lost -> open, open -> lost: never won, nothing to do
        elif not now_won:
            return []  # created open or lost
        deal = _id(meta.get("entity_id")) or _id(current.get("id"))
        company = _id(meta.get("company_id"))
        if deal is None or company is None:
            raise BadPayload(f"a deal change without a numeric meta.entity_id and meta.company_id, such as {EXAMPLE}")
        stamp = meta.get("timestamp")
        occurred_at = _moment(stamp)
        moment = occurred_at.isoformat() if occurred_at else _text(meta.get("id"))
        if moment is None:
            raise BadPayload(f"a deal change without meta.timestamp, such as {EXAMPLE}")
        status = _text(current.get("status")) or "unknown"
        return [
            Event(
                crm=CRM,
                # the change's own time and what it changed to: the same in every retry of this notification
                key=f"{company}:{deal}:{moment}:{status}",
                crm_account=company,
                crm_deal_id=deal,
                occurred_at=occurred_at,
                payload={
                    "company_id": company,
                    "deal_id": deal,
                    "status": status,
                    "previous_status": _text((previous or {}).get("status")),
                },
            )
        ]

    # -- the API -----------------------------------------------------------------------------------------------

    def resolve(self, event: Event) -> CrmDeal:
        """The deal as Pipedrive knows it now (a later change wins over an older event), its owner and person."""
        found = self.api.get(f"/v2/deals/{event.crm_deal_id}", missing_ok=True)
        if found is None:
            if event.payload.get("status") not in (None, "won"):  # it left won, then went: not won, for sure
                return self._gone(event)
            raise CrmRefused(f"Pipedrive has no deal {event.crm_deal_id} (deleted, or merged into another)", status=404)
        deal = found.get("data") if isinstance(found, dict) else None
        if not isinstance(deal, dict):
            raise CrmUnavailable(f"Pipedrive's answer for deal {event.crm_deal_id} has no data")
        return self._deal(event.crm_account, deal, {})

    def _gone(self, event: Event) -> CrmDeal:
        """A deal Pipedrive no longer has, after an event that took it out of won: not won, so the core pauses it."""
        return CrmDeal(
            crm=CRM,
            crm_account=event.crm_account,
            crm_deal_id=event.crm_deal_id,
            won=False,
            name=f"Pipedrive deal {event.crm_deal_id}",
            amount=None,
            currency=None,
            close_date=None,
            owner_email=None,
            record_url=f"{self.web_url}/deal/{event.crm_deal_id}",
        )

    def _deal(self, company: str, deal: Mapping[str, Any], users: dict[str, str | None]) -> CrmDeal:
        deal_id = _id(deal.get("id")) or "?"
        owner = _id(deal.get("owner_id"))
        if owner is not None and owner not in users:
            users[owner] = self._user_email(owner)
        contact_name, contact_title = self._person(_id(deal.get("person_id")))
        closed = _moment(deal.get("won_time")) or _moment(deal.get("close_time"))
        return CrmDeal(
            crm=CRM,
            crm_account=company,
            crm_deal_id=deal_id,
            won=deal.get("status") == "won",
            name=_text(deal.get("title")) or f"Pipedrive deal {deal_id}",
            amount=_amount(deal.get("value")),
            currency=(_text(deal.get("currency")) or "").upper() or None,
            close_date=closed.astimezone(self.tz).date() if closed else None,
            owner_email=users.get(owner) if owner else None,
            contact_name=contact_name,
            contact_title=contact_title,
            pipeline=_text(deal.get("pipeline_id")),
            record_url=f"{self.web_url}/deal/{deal_id}",
        )

    def _user_email(self, user_id: str) -> str | None:
        found = self.api.get(f"/v1/users/{user_id}", missing_ok=True)
        user = found.get("data") if isinstance(found, dict) else None
        if not isinstance(user, dict):
            logger.info("Pipedrive user %s not found: the deal goes on without an owner", user_id)
            return None
        return _text(user.get("email"))

    def _person(self, person_id: str | None) -> tuple[str | None, str | None]:
        if person_id is None:
            return None, None
        found = self.api.get(f"/v1/persons/{person_id}", missing_ok=True)
        person = found.get("data") if isinstance(found, dict) else None
        if not isinstance(person, dict):
            return None, None
        return _text(person.get("name")), _text(person.get("job_title"))

    def company_id(self) -> str:
        """The token's company id: what webhooks call meta.company_id, so backfilled deals key alike."""
        if self._company_id is None:
            found = self.api.get("/v1/users/me")
            me = found.get("data") if isinstance(found, dict) else None
            company = _id(me.get("company_id")) if isinstance(me, dict) else None
            if company is None:
                raise CrmUnavailable("Pipedrive's /v1/users/me has no company_id")
            self._company_id = company
        return self._company_id

    def backfill(self, since: date) -> Iterator[CrmDeal]:
        """Every deal won on or after `since` (the team's day), page by page."""
        company = self.company_id()
        start = datetime.combine(since, time(0), self.tz).astimezone(UTC)
        users: dict[str, str | None] = {}
        cursor: str | None = None
        while True:
            params = {
                "status": "won",
                # a deal won since then was updated since then: the API narrows, the won time decides
                "updated_since": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "sort_by": "update_time",
                "sort_direction": "asc",
                "limit": LIST_PAGE,
            }
            if cursor is not None:
                params["cursor"] = cursor
            page = self.api.get("/v2/deals", params)
            if not isinstance(page, dict):
                raise CrmUnavailable("Pipedrive's deals listing is not an object")
            for deal in page.get("data") or []:
                won_at = _moment(deal.get("won_time")) if isinstance(deal, dict) else None
                if won_at is None or won_at < start or deal.get("status") != "won":
                    continue
                yield self._deal(company, deal, users)
            cursor = _text((page.get("additional_data") or {}).get("next_cursor"))
            if cursor is None:
                return
