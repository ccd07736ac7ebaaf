"""Salesforce: an Outbound Message (SOAP) for Opportunity, sent by a record-triggered flow when IsWon changes.

Salesforce signs nothing: the request proves itself by the secret token in its URL
(POST /crm/salesforce/{SALESFORCE_WEBHOOK_TOKEN}) and by naming our organization. An outbound message carries
only the record's own fields, so the deal is read from the message itself (no API call, nothing to retry) and
the owner's e-mail comes from a formula field, Owner_Email__c. It is answered with the SOAP acknowledgement, or
Salesforce sends it again for a day."""

from __future__ import annotations

import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlparse

from bot.crm.types import BadPayload, CrmDeal, Event, Unauthorized
from bot.settings import Settings

NAME = "salesforce"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
SALESFORCE_ID = re.compile(r"\A[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?\Z")
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
EXPECTED = (
    "a Salesforce Outbound Message: a SOAP envelope whose body holds <notifications> "
    f"({OUTBOUND}) with OrganizationId and 1 to {MAX_NOTIFICATIONS} <Notification>s, each with an Id and an "
    "Opportunity sObject (Id, Name, Amount, CurrencyIsoCode, CloseDate, OwnerId, Owner_Email__c, IsWon)"
)


class Salesforce:
    """The Salesforce adapter: token and organization checked, notifications parsed, deals resolved in place."""

    name = NAME
    can_backfill = False  # the deal travels in the message; Deal Coach holds no Salesforce API credentials
    backfill_hint = "Salesforce retries a message for 24 hours; resend older ones from Setup > Outbound Messages"

    def __init__(self, *, token: str, org_id: str):
        self.token = token
        self.org_id = org_id

    @classmethod
    def from_settings(cls, settings: Settings) -> Salesforce | None:
        """On when SALESFORCE_WEBHOOK_TOKEN (and SALESFORCE_ORG_ID, which Settings requires with it) is set."""
        if not settings.salesforce_webhook_token:
            return None
        return cls(token=settings.salesforce_webhook_token, org_id=settings.salesforce_org_id)

    def authenticate(
        self, *, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        path = path_and_query.split("?", 1)[0]
        given = path.rstrip("/").rpartition("/")[2] if path.count("/") >= 3 else ""
        if method != "POST" or not hmac.compare_digest(given.encode(), self.token.encode()):
            raise Unauthorized("the token in the URL is not SALESFORCE_WEBHOOK_TOKEN")
        try:
            org = _text(_notifications(body), "OrganizationId")
        except BadPayload:
            return  # not ours to judge here: parse() answers 400 with what was expected
        if org is None or not _same_org(org, self.org_id):
            raise Unauthorized(f"OrganizationId {org!r} is not SALESFORCE_ORG_ID")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        root = _notifications(body)
        org = _text(root, "OrganizationId")
        if not org:
            raise BadPayload(f"no OrganizationId; expected {EXPECTED}")
        base = _instance(_text(root, "EnterpriseUrl") or _text(root, "PartnerUrl"))
        notes = root.findall(f"{{{OUTBOUND}}}Notification")
        if not 1 <= len(notes) <= MAX_NOTIFICATIONS:
            raise BadPayload(f"{len(notes)} notifications; expected {EXPECTED}")
        events = []
        for note in notes:
            note_id = _text(note, "Id")
            record = note.find(f"{{{OUTBOUND}}}sObject")
            if not note_id or record is None:
                raise BadPayload(f"a Notification without its Id or sObject; expected {EXPECTED}")
            kind = record.get(f"{{{XSI}}}type") or ""
            if kind and kind.rpartition(":")[2] != "Opportunity":
                raise BadPayload(f"a {kind.rpartition(':')[2]} record, not an Opportunity; expected {EXPECTED}")
            fields = {child.tag.rpartition("}")[2]: (child.text or "").strip() for child in record}
            deal_id = fields.get("Id", "")
            if not SALESFORCE_ID.match(deal_id) or fields.get("IsWon", "").lower() not in ("true", "false"):
                raise BadPayload(f"an Opportunity without an Id or IsWon; expected {EXPECTED}")
            payload = {k: fields.get(k) or None for k in FIELDS}
            payload["record_url"] = f"{base}/{deal_id}" if base else None
            events.append(
                Event(
                    crm=NAME,
                    key=note_id,  # the notification's id: the same in every retry of it
                    crm_account=org[:15],
                    crm_deal_id=deal_id[:15],
                    occurred_at=_instant(fields.get("LastModifiedDate")),
                    payload=payload,
                )
            )
        return events

    def resolve(self, event: Event) -> CrmDeal:
        """The message is the deal (an outbound message carries the record's fields): nothing to fetch."""
        p = event.payload
        try:
            amount = Decimal(p["Amount"]) if p.get("Amount") else None
        except InvalidOperation:
            amount = None
        try:
            closed = date.fromisoformat(p["CloseDate"]) if p.get("CloseDate") else None
        except ValueError:
            closed = None
        return CrmDeal(
            crm=NAME,
            crm_account=event.crm_account,
            crm_deal_id=event.crm_deal_id,
            won=(p.get("IsWon") or "").lower() == "true",
            name=p.get("Name") or f"Opportunity {event.crm_deal_id}",
            amount=amount,
            currency=(p.get("CurrencyIsoCode") or None),
            close_date=closed,
            owner_email=(p.get("Owner_Email__c") or None),
            record_url=p.get("record_url"),
        )

    def backfill(self, since: date) -> Iterable[CrmDeal]:
        """Nothing to read: Deal Coach holds no Salesforce API credentials. Salesforce itself keeps retrying a
        message for 24 hours; older ones are resent from Setup > Outbound Messages."""
        return []

    def acknowledgement(self) -> tuple[str, bytes]:
        """What Salesforce needs back, or it retries the message: the SOAP acknowledgement."""
        return "text/xml; charset=utf-8", ACK


FIELDS = ("Id", "Name", "Amount", "CurrencyIsoCode", "CloseDate", "OwnerId", "Owner_Email__c", "IsWon")


def _notifications(body: bytes) -> ET.Element:
    """The <notifications> element of a SOAP envelope. No DTD at all: refusing one refuses every entity
    declaration, so no external entity is read and no entity expansion can blow up."""
    head = body[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body.upper():
        raise BadPayload(f"a document type declaration; expected {EXPECTED}")
    try:
        envelope = ET.fromstring(body)
    except ET.ParseError:
        raise BadPayload(f"a body that is not XML; expected {EXPECTED}") from None
    found = (
        envelope.find(f"{{{SOAP}}}Body/{{{OUTBOUND}}}notifications") if envelope.tag == f"{{{SOAP}}}Envelope" else None
    )
    if found is None:
        raise BadPayload(f"no notifications in a SOAP body; expected {EXPECTED}")
    return found


def _text(element: ET.Element, name: str) -> str | None:
    child = element.find(f"{{{OUTBOUND}}}{name}")
    return (child.text or "").strip() if child is not None else None


def _same_org(given: str, configured: str) -> bool:
    """15- and 18-character ids name the same org when their first 15 characters (case-sensitive) agree."""
    return hmac.compare_digest(given[:15].encode(), configured[:15].encode())


def _instance(url: str | None) -> str | None:
    """https://acme.my.salesforce.com, from the API URL in the message: where the record's page is."""
    parsed = urlparse(url or "")
    if (
        parsed.scheme != "https"
        or not parsed.hostname
        or not parsed.hostname.endswith((".salesforce.com", ".force.com"))
    ):
        return None
    return f"https://{parsed.hostname}"


def _instant(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
