"""The contract between a CRM's adapter (how it signs, what it sends, what its API answers) and the rest of
Deal Coach (the inbox, the worker, the deal it becomes in Slack). An adapter knows one CRM; nothing else
does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol


class Unauthorized(Exception):
    """A request that did not prove it came from the CRM: answered 401, nothing stored. The message says why,
    for the log (never a secret)."""


class BadPayload(Exception):
    """An authenticated request whose body is not what this CRM sends: answered 400 with what was expected."""


class CrmUnavailable(Exception):
    """The CRM's API failed (429, 5xx, timeout, connection): the event stays in the inbox and is tried later."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class CrmRefused(Exception):
    """The CRM's API answered for good that the deal behind an event can't be read (404: deleted; 400: a request
    it will never accept): the event is recorded with this error and not tried again. A refused token is not this
    (an admin can fix it): that is CrmUnavailable, so nothing is lost meanwhile."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Event:
    """One notification worth keeping, as parsed from a webhook: stored in the inbox before the CRM is answered.

    key is unique per CRM notification and stable across the CRM's retries (a provider event id, or the deal id
    with the change's timestamp), so a repeated delivery is stored once. payload is what the worker needs later
    (JSON-serialisable; never a secret)."""

    crm: str  # "hubspot" | "pipedrive" | "salesforce"
    key: str
    crm_account: str  # portal id, company id, organization id
    crm_deal_id: str
    occurred_at: datetime | None
    payload: Mapping


@dataclass(frozen=True)
class CrmDeal:
    """A deal as the CRM knows it now, read from its API (or, for Salesforce, from the message itself)."""

    crm: str
    crm_account: str
    crm_deal_id: str
    won: bool
    name: str
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    owner_email: str | None
    contact_name: str | None = None
    contact_title: str | None = None
    pipeline: str | None = None
    record_url: str | None = None


class Adapter(Protocol):
    name: str  # the route is POST /crm/<name>

    def authenticate(
        self, *, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        """Raise Unauthorized unless the request is the CRM's own (signature, credentials or token)."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        """The events in an authenticated body worth keeping (an empty list for what is merely uninteresting).
        Raise BadPayload for a shape this CRM never sends."""

    def resolve(self, event: Event) -> CrmDeal:
        """Read the deal behind an event from the CRM's API. Raise CrmUnavailable to be tried again later, CrmRefused
        when the CRM says the deal can't be read at all."""

    def backfill(self, since: date) -> Iterable[CrmDeal]:
        """The deals won since a date, read from the API (for events lost while the bot was down)."""
