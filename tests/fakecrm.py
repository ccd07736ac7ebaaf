"""Loopback fakes of HubSpot's and Pipedrive's APIs, and what their webhooks send, for tests of the CRM intake.

Each fake is a real HTTP server on 127.0.0.1 that answers like the CRM for the calls Deal Coach makes, checks the
token the way the CRM does (HubSpot: `Authorization: Bearer`; Pipedrive: the `x-api-token` header, and a token in
the URL is recorded as a violation), records every call, and fails on demand:

* `fail(route, status=429, retry_after=7)`, `fail(route, status=500)`, `fail(route, hang=2.0)` (answer nothing for
  that long, so the client's timeout fires), each consumed by the next call to that route (`times` for more).
* Routes are named: HubSpot `deal`, `owner`, `contact`, `search`, `account`; Pipedrive `deal`, `deals`, `user`,
  `me`, `person`.
* `page_max` caps a page of search (HubSpot) or listing (Pipedrive) results, so tests can page through a few deals.

Webhook helpers (`hubspot_signature`, `hubspot_event`, `pipedrive_change`, `basic_auth`) build what the CRMs send,
written from the CRMs' documentation and independent of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class ApiCall:
    """One request a fake received (header names lower-cased); headers stay out of repr so tokens never get printed."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    body: Any = None


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    hang: float | None
    headers: dict[str, str]
    page: bool  # an HTML page (a proxy's) instead of the CRM's JSON


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: _FakeApi


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet: the test output is for assertions
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers_in = {k.lower(): v for k, v in self.headers.items()}  # recorded lower-cased, as HTTP compares them
        status, headers, answer = self.server.owner._handle(self.command, self.path, headers_in, raw)
        if status is None:  # hung: the client gave up; close without an answer
            self.close_connection = True
            return
        page = isinstance(answer, str)
        payload = answer.encode() if page else json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if page else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _FakeApi:
    """The shared machinery: the server, the call log, queued failures."""

    api_prefix = ""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.violations: list[str] = []
        self.page_max = 100
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self):
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hung answers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What the adapter's API URL setting holds for this fake."""
        return self.root + self.api_prefix

    def fail(
        self,
        route: str,
        *,
        status: int = 500,
        retry_after: int | None = None,
        times: int = 1,
        hang: float | None = None,
        headers: dict[str, str] | None = None,
        page: bool = False,
    ) -> None:
        """The next `times` calls to `route` answer `status` (with Retry-After, other `headers`, or an HTML `page`
        instead of JSON), or, with `hang`, nothing for that many seconds."""
        with self._lock:
            self._failures[route].extend(
                _Failure(status, retry_after, hang, dict(headers or {}), page) for _ in range(times)
            )

    def calls_to(self, route: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.route == route]

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes):
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        route, args = self._route(method, parts.path)
        call = ApiCall(route, method, parts.path, query, headers, body)
        with self._lock:
            self.calls.append(call)
            failure = self._failures[route].popleft() if self._failures.get(route) else None
        if failure is not None:
            if failure.hang:
                self._stopping.wait(failure.hang)
                return None, {}, None
            extra = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            extra.update(failure.headers)
            if failure.page:
                return failure.status, extra, "<html><body><h1>Bad gateway</h1></body></html>"
            return failure.status, extra, {"status": "error", "message": f"fake failure {failure.status}"}
        refusal = self._check_auth(call)
        if refusal is not None:
            return 401, {}, refusal
        status, answer = self._answer(route, args, call)
        return status, {}, answer

    def _route(self, method: str, path: str) -> tuple[str, tuple[str, ...]]:
        raise NotImplementedError

    def _check_auth(self, call: ApiCall) -> dict | None:
        raise NotImplementedError

    def _answer(self, route: str, args: tuple[str, ...], call: ApiCall) -> tuple[int, Any]:
        raise NotImplementedError


# -- HubSpot -----------------------------------------------------------------------------------------------------

HUBSPOT_ROUTES = [
    ("GET", re.compile(r"^/crm/v3/objects/deals/(\d+)$"), "deal"),
    ("GET", re.compile(r"^/crm/v3/owners/(\d+)$"), "owner"),
    ("GET", re.compile(r"^/crm/v3/objects/contacts/(\d+)$"), "contact"),
    ("POST", re.compile(r"^/crm/v3/objects/deals/search$"), "search"),
    ("GET", re.compile(r"^/account-info/v3/details$"), "account"),
]


class FakeHubSpot(_FakeApi):
    """HubSpot's CRM API as a private app's token sees one portal."""

    def __init__(self, token: str = "pat-na1-fake-token-0001", portal_id: str = "62515") -> None:
        super().__init__()
        self.token = token
        self.portal_id = portal_id
        self.deals: dict[str, dict[str, Any]] = {}  # id -> {"properties": {...}, "contacts": [(id, type), ...]}
        self.owners: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}

    def add_deal(
        self,
        deal_id: str,
        *,
        name: str = "Acme Rockets",
        amount: str | None = "120000",
        currency: str | None = "USD",
        closedate: str | None = "2026-11-23T15:00:00Z",
        owner_id: str | None = None,
        won: bool = True,
        contacts: list[tuple[str, str]] | None = None,
        pipeline: str = "default",
    ) -> None:
        self.deals[deal_id] = {
            "properties": {
                "dealname": name,
                "amount": amount,
                "deal_currency_code": currency,
                "closedate": closedate,
                "hubspot_owner_id": owner_id,
                "hs_is_closed_won": "true" if won else "false",
                "dealstage": "closedwon" if won else "appointmentscheduled",
                "pipeline": pipeline,
            },
            "contacts": list(contacts or []),
        }

    def add_owner(self, owner_id: str, email: str, first: str = "Riley", last: str = "Rep") -> None:
        self.owners[owner_id] = {"id": owner_id, "email": email, "firstName": first, "lastName": last, "userId": 1}

    def add_contact(self, contact_id: str, first: str | None, last: str | None, title: str | None = None) -> None:
        self.contacts[contact_id] = {"firstname": first, "lastname": last, "jobtitle": title}

    def _route(self, method: str, path: str) -> tuple[str, tuple[str, ...]]:
        for verb, pattern, name in HUBSPOT_ROUTES:
            match = pattern.match(path)
            if verb == method and match:
                return name, match.groups()
        return "unknown", ()

    def _check_auth(self, call: ApiCall) -> dict | None:
        given = call.headers.get("authorization", "")
        if given != f"Bearer {self.token}":
            return {"status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTH"}
        return None

    @staticmethod
    def _not_found(what: str) -> tuple[int, dict]:
        return 404, {"status": "error", "message": f"{what} not found", "category": "OBJECT_NOT_FOUND"}

    def _object(self, object_id: str, props: dict[str, Any], wanted: str | None) -> dict[str, Any]:
        names = [p for p in (wanted or "").split(",") if p] or list(props)
        return {
            "id": object_id,
            "properties": {**{n: props.get(n) for n in names}, "hs_object_id": object_id},
            "createdAt": "2026-11-01T10:00:00Z",
            "updatedAt": "2026-11-23T15:00:00Z",
            "archived": False,
        }

    def _answer(self, route: str, args: tuple[str, ...], call: ApiCall) -> tuple[int, Any]:
        if route == "deal":
            deal = self.deals.get(args[0])
            if deal is None:
                return self._not_found("Deal")
            answer = self._object(args[0], deal["properties"], call.query.get("properties"))
            if "contacts" in (call.query.get("associations") or "").split(",") and deal["contacts"]:
                results = [{"id": cid, "type": kind} for cid, kind in deal["contacts"]]
                answer["associations"] = {"contacts": {"results": results}}
            return 200, answer
        if route == "owner":
            owner = self.owners.get(args[0])
            return (200, owner) if owner else self._not_found("Owner")
        if route == "contact":
            contact = self.contacts.get(args[0])
            if contact is None:
                return self._not_found("Contact")
            return 200, self._object(args[0], contact, call.query.get("properties"))
        if route == "account":
            return 200, {"portalId": int(self.portal_id), "timeZone": "US/Eastern", "uiDomain": "app.hubspot.com"}
        if route == "search":
            return self._search(call.body or {})
        return 404, {"status": "error", "message": f"no route {call.method} {call.path}"}

    def _search(self, query: dict[str, Any]) -> tuple[int, Any]:
        """Filters (EQ, GTE) in one filter group, sorted by one property, paged by `after` (an offset)."""
        filters = [f for group in query.get("filterGroups", []) for f in group.get("filters", [])]

        def ms(value: Any) -> int:
            text = str(value or "")
            if text.isdigit():
                return int(text)
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)

        def keep(props: dict[str, Any]) -> bool:
            for f in filters:
                value = props.get(f["propertyName"])
                if f["operator"] == "EQ" and str(value) != str(f["value"]):
                    return False
                if f["operator"] == "GTE" and (value is None or ms(value) < int(f["value"])):
                    return False
            return True

        found = [(i, d["properties"]) for i, d in self.deals.items() if keep(d["properties"])]
        for sort in reversed(query.get("sorts", [])):
            found.sort(
                key=lambda item, s=sort: ms(item[1].get(s["propertyName"])), reverse=sort["direction"] != "ASCENDING"
            )
        start = int(query.get("after") or 0)
        size = min(int(query.get("limit", 10)), 100, self.page_max)
        page = found[start : start + size]
        answer: dict[str, Any] = {
            "total": len(found),
            "results": [self._object(i, p, ",".join(query.get("properties", []))) for i, p in page],
        }
        if start + size < len(found):
            answer["paging"] = {"next": {"after": str(start + size), "link": "?after=..."}}
        return 200, answer


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """X-HubSpot-Signature-v3 as HubSpot computes it: base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    message = f"{method}{uri}".encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot_event(
    deal_id: int,
    *,
    event_id: int = 1001,
    portal_id: int = 62515,
    stage: str = "closedwon",
    occurred_at: int = 1764514800000,
    subscription: str = "deal.propertyChange",
    prop: str = "dealstage",
    attempt: int = 0,
) -> dict[str, Any]:
    """One event of a HubSpot webhook batch, shaped as HubSpot documents it."""
    return {
        "eventId": event_id,
        "subscriptionId": 2881778,
        "portalId": portal_id,
        "appId": 1160452,
        "occurredAt": occurred_at,
        "subscriptionType": subscription,
        "attemptNumber": attempt,
        "objectId": deal_id,
        "propertyName": prop,
        "propertyValue": stage,
        "changeSource": "CRM_UI",
        "sourceId": "userId:1234567",
    }


# -- Pipedrive ---------------------------------------------------------------------------------------------------

PIPEDRIVE_ROUTES = [
    ("GET", re.compile(r"^/api/v2/deals/(\d+)$"), "deal"),
    ("GET", re.compile(r"^/api/v2/deals$"), "deals"),
    ("GET", re.compile(r"^/api/v1/users/me$"), "me"),
    ("GET", re.compile(r"^/api/v1/users/(\d+)$"), "user"),
    ("GET", re.compile(r"^/api/v1/persons/(\d+)$"), "person"),
]


class FakePipedrive(_FakeApi):
    """Pipedrive's API at a company domain (`base_url` ends in /api, as PIPEDRIVE_API_URL does)."""

    api_prefix = "/api"

    def __init__(self, token: str = "pd-fake-api-token-0001", company_id: int = 7001, me: int = 9001) -> None:
        super().__init__()
        self.token = token
        self.company_id = company_id
        self.me = me
        self.deals: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.persons: dict[int, dict[str, Any]] = {}

    def add_deal(
        self,
        deal_id: int,
        *,
        title: str = "Globex renewal",
        value: float | int | None = 50000,
        currency: str = "EUR",
        status: str = "won",
        owner_id: int | None = None,
        person_id: int | None = None,
        won_time: str | None = "2026-11-24T10:30:00Z",
        update_time: str | None = None,
        pipeline_id: int = 1,
    ) -> dict[str, Any]:
        deal = pipedrive_deal(
            deal_id,
            title=title,
            value=value,
            currency=currency,
            status=status,
            owner_id=owner_id,
            person_id=person_id,
            won_time=won_time,
            pipeline_id=pipeline_id,
        )
        deal["update_time"] = update_time or won_time or "2026-11-24T10:30:00Z"
        self.deals[deal_id] = deal
        return deal

    def add_user(self, user_id: int, email: str, name: str = "Pat Seller") -> None:
        self.users[user_id] = {"id": user_id, "name": name, "email": email, "active_flag": True}

    def add_person(self, person_id: int, name: str, job_title: str | None = None) -> None:
        self.persons[person_id] = {"id": person_id, "name": name, "job_title": job_title}

    def _route(self, method: str, path: str) -> tuple[str, tuple[str, ...]]:
        for verb, pattern, name in PIPEDRIVE_ROUTES:
            match = pattern.match(path)
            if verb == method and match:
                return name, match.groups()
        return "unknown", ()

    def _check_auth(self, call: ApiCall) -> dict | None:
        if "api_token" in call.query:
            with self._lock:
                self.violations.append(f"{call.method} {call.path}: the API token was sent in the URL")
        given = call.headers.get("x-api-token", "")
        if given != self.token:
            return {"success": False, "error": "unauthorized access", "errorCode": 401}
        return None

    @staticmethod
    def _not_found(what: str) -> tuple[int, dict]:
        return 404, {"success": False, "error": f"{what} not found", "errorCode": 404}

    def _answer(self, route: str, args: tuple[str, ...], call: ApiCall) -> tuple[int, Any]:
        if route == "deal":
            deal = self.deals.get(int(args[0]))
            return (200, {"success": True, "data": deal}) if deal else self._not_found("Deal")
        if route == "user":
            user = self.users.get(int(args[0]))
            return (200, {"success": True, "data": user}) if user else self._not_found("User")
        if route == "me":
            me = {"id": self.me, "name": "API user", "email": "api@example.com", "company_id": self.company_id}
            return 200, {"success": True, "data": me}
        if route == "person":
            person = self.persons.get(int(args[0]))
            return (200, {"success": True, "data": person}) if person else self._not_found("Person")
        if route == "deals":
            return self._list(call.query)
        return 404, {"success": False, "error": f"no route {call.method} {call.path}"}

    def _list(self, query: dict[str, str]) -> tuple[int, Any]:
        """status, updated_since, sort_by update_time, limit (capped by page_max) and an opaque cursor."""
        found = [d for d in self.deals.values() if not query.get("status") or d["status"] == query["status"]]
        since = query.get("updated_since")
        if since:
            found = [d for d in found if d["update_time"] >= since]
        found.sort(key=lambda d: (d["update_time"], d["id"]), reverse=query.get("sort_direction") == "desc")
        start = int(base64.b64decode(query["cursor"]).decode()) if query.get("cursor") else 0
        size = min(int(query.get("limit") or 100), 500, self.page_max)
        end = start + size
        cursor = base64.b64encode(str(end).encode()).decode() if end < len(found) else None
        return 200, {"success": True, "data": found[start:end], "additional_data": {"next_cursor": cursor}}


def pipedrive_deal(
    deal_id: int,
    *,
    title: str = "Globex renewal",
    value: float | int | None = 50000,
    currency: str = "EUR",
    status: str = "won",
    owner_id: int | None = None,
    person_id: int | None = None,
    won_time: str | None = "2026-11-24T10:30:00Z",
    pipeline_id: int = 1,
) -> dict[str, Any]:
    """A deal as Pipedrive's API v2 and webhooks v2 show it."""
    return {
        "id": deal_id,
        "title": title,
        "owner_id": owner_id,
        "person_id": person_id,
        "org_id": 3,
        "pipeline_id": pipeline_id,
        "stage_id": 5,
        "value": value,
        "currency": currency,
        "add_time": "2026-10-01T09:00:00Z",
        "update_time": won_time or "2026-11-24T10:30:00Z",
        "stage_change_time": "2026-11-20T09:00:00Z",
        "status": status,
        "probability": None,
        "lost_reason": None,
        "visible_to": 3,
        "close_time": won_time if status in ("won", "lost") else None,
        "won_time": won_time if status == "won" else None,
        "lost_time": None,
        "expected_close_date": None,
        "label_ids": [],
        "custom_fields": {},
    }


def pipedrive_change(
    deal: dict[str, Any],
    previous: dict[str, Any] | None,
    *,
    company_id: int = 7001,
    action: str = "change",
    entity: str = "deal",
    timestamp: str = "2026-11-24T10:30:01.123Z",
    attempt: int = 1,
    event_id: str = "6c1f3a52-8d1e-4b7a-9b55-0f0e2d1c9a10",
) -> dict[str, Any]:
    """A webhooks v2 notification, shaped as Pipedrive documents it."""
    return {
        "data": deal,
        "previous": previous,
        "meta": {
            "action": action,
            "entity": entity,
            "company_id": str(company_id),
            "correlation_id": "4b1e1a3a-2f1d-4c6e-8a57-6a1f3c2b9d00",
            "entity_id": str(deal["id"]),
            "id": event_id,
            "is_bulk_edit": False,
            "timestamp": timestamp,
            "type": "general",
            "user_id": "9001",
            "version": "2.0",
            "webhook_id": "123",
            "webhook_owner_id": "9001",
            "change_source": "app",
            "permitted_user_ids": ["9001"],
            "attempt": attempt,
            "host": "yourcompany.pipedrive.com",
        },
    }


def basic_auth(user: str, password: str) -> str:
    """The Authorization header Pipedrive sends with a webhook's HTTP Auth user and password."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
