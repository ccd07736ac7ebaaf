"""HubSpot: the v3 webhook signature, its batches of deal-stage changes, and the deal read back from the CRM API.

HubSpot signs each request with the app's client secret over method + URI + raw body + timestamp (v3). The URI is
the one HubSpot called, which behind a proxy is not what the app sees, so it is rebuilt from DEALCOACH_PUBLIC_URL.
A stage change says only that the stage moved (custom pipelines have numeric stage ids), so every `dealstage`
change is kept and `resolve` asks the API whether the deal is won now (`hs_is_closed_won`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from bot.crm.apiclient import DEFAULT_TIMEOUT, JsonApi
from bot.crm.types import BadPayload, CrmDeal, CrmRefused, CrmUnavailable, Event, Unauthorized

logger = logging.getLogger(__name__)

CRM = "hubspot"
DEFAULT_API_URL = "https://api.hubapi.com"
APP_URL = "https://app.hubspot.com"  # record links; HubSpot sends other data centres' portals on from here
MAX_AGE_MS = 5 * 60 * 1000  # HubSpot: refuse a timestamp older than 5 minutes (a replay)
SIGNATURE = "x-hubspot-signature-v3"
TIMESTAMP = "x-hubspot-request-timestamp"
# HubSpot decodes these in the URI before it signs it, so a URI carrying them encoded is checked decoded.
SIGNED_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ENCODED = re.compile("|".join(SIGNED_DECODED), re.IGNORECASE)
DEAL_OBJECT_TYPE = "0-3"  # the newer `object.propertyChange` subscriptions name the object by type id
DEAL_PROPERTIES = (
    "dealname",
    "amount",
    "deal_currency_code",
    "closedate",
    "hubspot_owner_id",
    "hs_is_closed_won",
    "pipeline",
)
SEARCH_PAGE = 100  # the search API's largest page
EXAMPLE = (
    '[{"eventId": 100, "subscriptionType": "deal.propertyChange", "propertyName": "dealstage", '
    '"objectId": 123, "portalId": 62515, "occurredAt": 1764547200000, "propertyValue": "closedwon"}]'
)


def signed_uri(public_url: str, path_and_query: str) -> str:
    """The URI as HubSpot signed it: the public address, the path and query, the listed characters decoded."""
    uri = public_url.rstrip("/") + path_and_query
    return _ENCODED.sub(lambda m: SIGNED_DECODED[m.group(0).upper()], uri)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _amount(value: Any) -> Decimal | None:
    text = _text(value)
    if text is None:
        return None
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        logger.warning("HubSpot deal amount %r is not a number: left out", text)
        return None
    return amount if amount.is_finite() else None


def _close_date(value: Any, tz: ZoneInfo) -> date | None:
    """HubSpot's `closedate` (ISO instant, or epoch milliseconds) as the team's local date."""
    text = _text(value)
    if text is None:
        return None
    try:
        if text.isdigit():
            moment = datetime.fromtimestamp(int(text) / 1000, UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        logger.warning("HubSpot deal closedate %r is not a date: left out", text)
        return None
    return moment.astimezone(tz).date()


def _event_id(value: Any) -> str | None:
    """An id as HubSpot sends it: a whole number (or its string); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


class HubSpot:
    """The HubSpot adapter: signature, parsing, and reading deals, owners and contacts from the CRM API."""

    name = CRM

    def __init__(
        self,
        *,
        client_secret: str,
        access_token: str,
        public_url: str,
        api_url: str = DEFAULT_API_URL,
        tz: ZoneInfo | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self._secret = client_secret.encode()
        self.public_url = public_url.rstrip("/")
        self.tz = tz or ZoneInfo("UTC")
        self.api = JsonApi("HubSpot", api_url, {"Authorization": f"Bearer {access_token}"}, timeout=timeout)
        self._portal_id: str | None = None

    @classmethod
    def from_settings(cls, settings) -> HubSpot | None:
        """The adapter when HubSpot is configured (Settings checked that all of it is), else None."""
        if not settings.hubspot_client_secret:
            return None
        return cls(
            client_secret=settings.hubspot_client_secret,
            access_token=settings.hubspot_access_token,
            public_url=settings.public_url,
            api_url=settings.hubspot_api_url,
            tz=settings.tz,
        )

    def __repr__(self) -> str:
        return f"HubSpot(public_url={self.public_url!r}, api_url={self.api.base_url!r})"  # never the secrets

    # -- the webhook -------------------------------------------------------------------------------------------

    def authenticate(
        self, *, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        """Refuse unless X-HubSpot-Signature-v3 is the client secret's HMAC of this request, made in the last 5
        minutes."""
        signature, timestamp = _header(headers, SIGNATURE).strip(), _header(headers, TIMESTAMP).strip()
        if not signature or not timestamp:
            raise Unauthorized("no X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise Unauthorized("X-HubSpot-Request-Timestamp is not a time in milliseconds")
        age_ms = now.timestamp() * 1000 - int(timestamp)
        if abs(age_ms) > MAX_AGE_MS:
            raise Unauthorized(
                f"X-HubSpot-Request-Timestamp is {abs(age_ms) / 1000:.0f} s "
                f"{'old' if age_ms > 0 else 'ahead'}, more than 5 minutes (a replay, or a clock that is off)"
            )
        message = (
            method.upper().encode() + signed_uri(self.public_url, path_and_query).encode() + body + timestamp.encode()
        )
        expected = base64.b64encode(hmac.new(self._secret, message, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise Unauthorized(
                "X-HubSpot-Signature-v3 does not match (a forged request, another app's client secret, or "
                "DEALCOACH_PUBLIC_URL not the address HubSpot calls)"
            )

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        """The batch's `dealstage` changes; other subscriptions in the batch are ignored."""
        try:
            batch = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadPayload(f"expected a JSON array of HubSpot webhook events, such as {EXAMPLE}") from exc
        if not isinstance(batch, list):
            raise BadPayload(f"expected a JSON array of HubSpot webhook events, such as {EXAMPLE}")
        events = []
        for index, item in enumerate(batch):
            if not isinstance(item, dict) or not isinstance(item.get("subscriptionType"), str):
                raise BadPayload(
                    f"event {index + 1} is not a HubSpot webhook event (an object with a subscriptionType)"
                )
            if not self._is_stage_change(item):
                continue
            portal, deal, event_id = (_event_id(item.get(k)) for k in ("portalId", "objectId", "eventId"))
            if portal is None or deal is None or event_id is None:
                raise BadPayload(
                    f"event {index + 1} is a dealstage change without a numeric portalId, objectId and eventId, "
                    f"such as {EXAMPLE}"
                )
            occurred = item.get("occurredAt")
            occurred_at = (
                datetime.fromtimestamp(occurred / 1000, UTC)
                if isinstance(occurred, int) and not isinstance(occurred, bool) and 0 < occurred < 10**14
                else None
            )
            events.append(
                Event(
                    crm=CRM,
                    # HubSpot says an eventId alone is not guaranteed unique: with the portal, the deal and the time
                    # of the change it is, and a retry of the same notification carries the same four
                    key=f"{portal}:{deal}:{event_id}:{int(occurred_at.timestamp() * 1000) if occurred_at else ''}",
                    crm_account=portal,
                    crm_deal_id=deal,
                    occurred_at=occurred_at,
                    payload={
                        "portal_id": portal,
                        "deal_id": deal,
                        "event_id": event_id,
                        "stage": _text(item.get("propertyValue")),
                    },
                )
            )
        return events

    @staticmethod
    def _is_stage_change(item: Mapping[str, Any]) -> bool:
        if item.get("propertyName") != "dealstage":
            return False
        kind = item.get("subscriptionType")
        return kind == "deal.propertyChange" or (
            kind == "object.propertyChange" and str(item.get("objectTypeId")) == DEAL_OBJECT_TYPE
        )

    # -- the API -----------------------------------------------------------------------------------------------

    def resolve(self, event: Event) -> CrmDeal:
        return self.read_deal(event.crm_account, event.crm_deal_id)

    def read_deal(self, portal: str, deal_id: str, owners: dict[str, str | None] | None = None) -> CrmDeal:
        """The deal as HubSpot knows it now, with its owner's e-mail and its primary (else first) contact."""
        found = self.api.get(
            f"/crm/v3/objects/deals/{deal_id}",
            {"properties": ",".join(DEAL_PROPERTIES), "associations": "contacts"},
            missing_ok=True,
        )
        if found is None:
            raise CrmRefused(f"HubSpot has no deal {deal_id} (deleted, or in another portal)", status=404)
        if not isinstance(found, dict) or not isinstance(found.get("properties"), dict):
            raise CrmUnavailable(f"HubSpot's answer for deal {deal_id} has no properties")
        props = found["properties"]
        owner_id = _text(props.get("hubspot_owner_id"))
        owner_email = None
        if owner_id is not None:
            if owners is not None and owner_id in owners:
                owner_email = owners[owner_id]
            else:
                owner_email = self._owner_email(owner_id)
                if owners is not None:
                    owners[owner_id] = owner_email
        contact_name, contact_title = self._contact(found.get("associations"))
        return CrmDeal(
            crm=CRM,
            crm_account=portal,
            crm_deal_id=deal_id,
            won=str(props.get("hs_is_closed_won")).strip().lower() == "true",
            name=_text(props.get("dealname")) or f"HubSpot deal {deal_id}",
            amount=_amount(props.get("amount")),
            currency=(_text(props.get("deal_currency_code")) or "").upper() or None,
            close_date=_close_date(props.get("closedate"), self.tz),
            owner_email=owner_email,
            contact_name=contact_name,
            contact_title=contact_title,
            pipeline=_text(props.get("pipeline")),
            record_url=f"{APP_URL}/contacts/{portal}/record/{DEAL_OBJECT_TYPE}/{deal_id}",
        )

    def _owner_email(self, owner_id: str) -> str | None:
        owner = self.api.get(f"/crm/v3/owners/{owner_id}", missing_ok=True)
        if owner is None:
            logger.info("HubSpot owner %s not found (removed?): the deal goes on without an owner", owner_id)
            return None
        return _text(owner.get("email")) if isinstance(owner, dict) else None

    def _contact(self, associations: Any) -> tuple[str | None, str | None]:
        contacts = associations.get("contacts") if isinstance(associations, dict) else None
        listed = contacts.get("results") if isinstance(contacts, dict) else None
        results = [r for r in listed or [] if isinstance(r, dict) and _text(r.get("id"))]
        if not results:
            return None, None
        primary = [r for r in results if "primary" in str(r.get("type", "")).lower()]
        contact_id = _text((primary or results)[0]["id"])
        contact = self.api.get(
            f"/crm/v3/objects/contacts/{contact_id}", {"properties": "firstname,lastname,jobtitle"}, missing_ok=True
        )
        if not isinstance(contact, dict):
            return None, None
        props = contact.get("properties") or {}
        name = " ".join(p for p in (_text(props.get("firstname")), _text(props.get("lastname"))) if p)
        return name or None, _text(props.get("jobtitle"))

    def portal_id(self) -> str:
        """This token's portal (HubSpot account) id: what webhooks call portalId, so backfilled deals key alike."""
        if self._portal_id is None:
            details = self.api.get("/account-info/v3/details")
            portal = _event_id(details.get("portalId")) if isinstance(details, dict) else None
            if portal is None:
                raise CrmUnavailable("HubSpot's account details have no portalId")
            self._portal_id = portal
        return self._portal_id

    def backfill(self, since: date) -> Iterator[CrmDeal]:
        """Every deal won with a close date on or after `since` (the team's day), oldest first, each read in full.

        HubSpot's search returns at most 10,000 deals for one query: a longer backfill is run again from a later
        date."""
        portal = self.portal_id()
        start_ms = int(datetime.combine(since, time(0), self.tz).timestamp() * 1000)
        owners: dict[str, str | None] = {}
        after: str | None = None
        while True:
            query: dict[str, Any] = {
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"},
                            {"propertyName": "closedate", "operator": "GTE", "value": str(start_ms)},
                        ]
                    }
                ],
                "sorts": [{"propertyName": "closedate", "direction": "ASCENDING"}],
                "properties": ["dealname", "closedate"],
                "limit": SEARCH_PAGE,
            }
            if after is not None:
                query["after"] = after
            page = self.api.post("/crm/v3/objects/deals/search", query)
            if not isinstance(page, dict):
                raise CrmUnavailable("HubSpot's search answer is not an object")
            for found in page.get("results") or []:
                deal_id = _event_id(found.get("id")) if isinstance(found, dict) else None
                if deal_id is None:
                    continue
                try:
                    yield self.read_deal(portal, deal_id, owners)
                except CrmRefused as exc:  # deleted between the search and the read: nothing to create
                    logger.info("HubSpot backfill: deal %s skipped: %s", deal_id, exc)
            after = _text((((page.get("paging") or {}).get("next")) or {}).get("after"))
            if after is None:
                return
