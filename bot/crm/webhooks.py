"""The CRM webhooks, POST /crm/<name>[/…]: authenticate, parse, store in the inbox, answer. Nothing slower.

What each answer tells the CRM: 401 (not proven to be the CRM's: nothing stored), 400 (a shape this CRM never
sends, with what was expected), 503 (the database is too busy to store it: send it again), 2xx (stored, or merely
uninteresting). The worker does the rest later, so the answer comes in milliseconds."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from urllib.parse import quote, urlsplit

from bot.crm import inbox
from bot.crm.types import Adapter, BadPayload, Unauthorized
from bot.storage import StorageError, Store, storage_problem

PREFIX = "/crm/"
MAX_BODY = 2 * 1024 * 1024  # a Salesforce message of 100 notifications is well under this
BUSY_RETRY_SECONDS = 30
logger = logging.getLogger(__name__)


class Headers(Mapping[str, str]):
    """A request's headers from a WSGI environ, looked up in any case (`X-HubSpot-Signature-v3` or lower case)."""

    def __init__(self, environ: dict):
        self._items = {
            key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                self._items[key.replace("_", "-").lower()] = str(environ[key])

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def crm_app(adapters: Mapping[str, Adapter], store: Store, clock: Callable[[], datetime]) -> Callable:
    """The WSGI app for every CRM route; `store` is the request-path store (a short wait for a busy database)."""

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        name = path[len(PREFIX) :].split("/", 1)[0] if path.startswith(PREFIX) else ""
        adapter = adapters.get(name)
        if adapter is None:
            return _answer(start_response, "404 Not Found", {"error": "no such CRM route, or that CRM is off"})
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", {"error": "POST only"}, [("Allow", "POST")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return _answer(start_response, "400 Bad Request", {"error": "an unreadable or oversized body"})
        body = environ["wsgi.input"].read(length) if length else b""
        headers = Headers(environ)
        now = clock()
        where = environ.get("REMOTE_ADDR") or "unknown address"
        try:
            adapter.authenticate(
                method="POST", path_and_query=as_received(environ), headers=headers, body=body, now=now
            )
        except Unauthorized as exc:
            logger.warning("Refused a %s webhook from %s: %s (%s bytes)", name, where, exc, len(body))
            return _answer(start_response, "401 Unauthorized", {"error": "unauthorized"})
        try:
            events = adapter.parse(body, headers)
        except BadPayload as exc:
            logger.warning("Refused a %s webhook from %s: %s", name, where, exc)
            return _answer(start_response, "400 Bad Request", {"error": f"unexpected payload: {exc}"})
        try:
            with store.write() as db:
                new = inbox.store_events(db, events, now=now)
        except StorageError as exc:
            logger.warning("A %s webhook was answered 503 (the CRM sends it again): %s", name, storage_problem(exc))
            return _answer(
                start_response,
                "503 Service Unavailable",
                {"error": f"{storage_problem(exc)}; send it again"},
                [("Retry-After", str(BUSY_RETRY_SECONDS))],
            )
        ids = ", ".join(sorted({e.crm_deal_id for e in events})[:10]) or "none"
        logger.info("CRM %s webhook: %s event(s), %s new, deal(s) %s", name, len(events), new, ids)
        acknowledgement = getattr(adapter, "acknowledgement", None)  # Salesforce wants its SOAP Ack back
        if acknowledgement is not None:
            content_type, payload = acknowledgement()
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(payload)))])
            return [payload]
        return _answer(start_response, "200 OK", {"ok": True, "stored": new})

    return application


def as_received(environ: Mapping) -> str:
    """The path and query exactly as the CRM sent them: what HubSpot's signature covers. WSGI's PATH_INFO is
    percent-decoded (`/crm/hubspot/eu%20wins` arrives as `/crm/hubspot/eu wins`), so the raw request target is used:
    waitress's REQUEST_URI (gunicorn's RAW_URI), else SCRIPT_NAME + PATH_INFO encoded again + QUERY_STRING."""
    for key in ("REQUEST_URI", "RAW_URI"):
        raw = environ.get(key)
        if isinstance(raw, str) and raw.startswith("/"):
            return raw.split("#", 1)[0]
        if isinstance(raw, str) and raw.lower().startswith(("http://", "https://")):  # absolute form
            parts = urlsplit(raw)
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "")
    query = environ.get("QUERY_STRING") or ""
    return quote(path.encode("latin-1"), safe="/:@!$&'()*+,;=~") + (f"?{query}" if query else "")


def _answer(start_response: Callable, status: str, body: dict, extra: list | None = None) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *(extra or [])]
    )
    return [payload]
