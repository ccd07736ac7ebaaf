"""Salesforce Outbound Messages as Salesforce sends them (SOAP 1.1, the outbound namespace, an Opportunity sObject
per notification), and posting them to the running server."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from xml.sax.saxutils import escape

ORG = "00D5g000004Xyz1EAC"
TOKEN = "sf-webhook-token-0123456789abcdef"
INSTANCE = "https://acme.my.salesforce.com"


@dataclass(frozen=True)
class Opportunity:
    id: str = "0065g00000AbCdEAAV"
    name: str = "Acme Rockets"
    amount: str | None = "120000.0"
    currency: str | None = "USD"
    close_date: str | None = "2026-11-23"
    owner_id: str = "0055g00000OwNeRAAA"
    owner_email: str | None = "jane@acme-sales.example.com"
    won: bool = True
    modified: str | None = None  # LastModifiedDate, when the message carries it


def _field(name: str, value: str | None) -> str:
    if value is None:
        return f'<sf:{name} xsi:nil="true"/>'
    return f"<sf:{name}>{escape(value)}</sf:{name}>"


def notification(note_id: str, opp: Opportunity) -> str:
    fields = [
        _field("Id", opp.id),
        _field("Amount", opp.amount),
        _field("CloseDate", opp.close_date),
        _field("CurrencyIsoCode", opp.currency),
        _field("IsWon", "true" if opp.won else "false"),
        _field("Name", opp.name),
        _field("OwnerId", opp.owner_id),
        _field("Owner_Email__c", opp.owner_email),
    ]
    if opp.modified:
        fields.append(_field("LastModifiedDate", opp.modified))
    return (
        f"<Notification><Id>{note_id}</Id>"
        f'<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{''.join(fields)}</sObject></Notification>"
    )


def message(*notes: tuple[str, Opportunity], org: str = ORG) -> bytes:
    """An outbound message with these (notification id, opportunity) pairs."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body>"
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId>"
        "<ActionId>04k5g000000TestAAA</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"<EnterpriseUrl>{INSTANCE}/services/Soap/c/59.0/{org[:15]}</EnterpriseUrl>"
        f"<PartnerUrl>{INSTANCE}/services/Soap/u/59.0/{org[:15]}</PartnerUrl>"
        f"{''.join(notification(n, o) for n, o in notes)}"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def post(base: str, body: bytes, *, token: str = TOKEN, path: str | None = None) -> tuple[int, dict, str]:
    """POST a message to /crm/salesforce/{token} over real HTTP, as Salesforce does (SOAPAction header, text/xml)."""
    url = f"{base}{path if path is not None else f'/crm/salesforce/{token}'}"
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()
