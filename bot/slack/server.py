"""Serving a Bolt app: a threaded WSGI server for HTTP mode, or a Socket Mode connection."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable

import waitress
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

EVENTS_PATH = "/slack/events"
CRM_PREFIX = "/crm/"  # the CRMs' webhooks: their own authentication, not Slack's signature
MAX_BODY = 1024 * 1024  # Slack's payloads are a few KB; refuse anything absurd
UNSIGNED = ("401 Unauthorized", b'{"error": "invalid request"}')
UNREADABLE = ("400 Bad Request", b'{"error": "bad request"}')
logger = logging.getLogger(__name__)


def wsgi_app(app: App, signing_secret: str, crm: Callable | None = None) -> Callable:
    """Slack's requests at POST /slack/events, a health check at GET /healthz, the CRMs' webhooks under /crm/ (when
    `crm`, their WSGI app, is given), 404 elsewhere.

    A request to /slack/events is checked here before Bolt sees it: unsigned, forged or replayed gets 401 and a
    body that is not UTF-8 gets 400, each with one short log line. Bolt would answer the first with its body in
    the log and the second with a 500 and a traceback: a way for anyone to flood the log. Socket Mode has no HTTP
    and no such door."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)
    verifier = SignatureVerifier(signing_secret)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return _healthy(start_response)
        if crm is not None and (environ.get("PATH_INFO") or "").startswith(CRM_PREFIX):
            return crm(environ, start_response)
        if environ.get("PATH_INFO") == EVENTS_PATH and environ.get("REQUEST_METHOD") == "POST":
            refusal = _refusal(environ, verifier)
            if refusal is not None:
                status, body = refusal
                start_response(status, [("Content-Type", "application/json")])
                return [body]
        return slack(environ, start_response)

    return application


def _healthy(start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"ok\n"]


def crm_only_app(crm: Callable) -> Callable:
    """In Socket Mode Slack needs no HTTP, but the CRMs still post webhooks: the server on PORT carries only their
    routes and /healthz."""

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        if path == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return _healthy(start_response)
        if path.startswith(CRM_PREFIX):
            return crm(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "not found"}']

    return application


def _refusal(environ: dict, verifier: SignatureVerifier) -> tuple[str, bytes] | None:
    """Why a POST to /slack/events goes no further (status, body), or None. The body read here is put back for
    Bolt, which checks the signature again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(raw), str(len(raw))
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    why, refusal = None, None
    if length < 0:
        why, refusal = "an unreadable Content-Length", UNREADABLE
    elif not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        why, refusal = "no signature", UNSIGNED  # slack_sdk's verifier would raise on a non-numeric timestamp
    elif not _utf8(raw):  # before the signature: slack_sdk's verifier decodes the body, and would raise
        why, refusal = "a body that is not UTF-8", UNREADABLE
    elif not verifier.is_valid(raw, timestamp, signature):
        why, refusal = "a signature that doesn't match (forged, or over five minutes old)", UNSIGNED
    if refusal is not None:
        where = environ.get("REMOTE_ADDR") or "unknown address"
        logger.warning("Refused a request to %s from %s: %s (%s bytes)", EVENTS_PATH, where, why, len(raw))
    return refusal


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def http_server(
    app: App | None,
    *,
    signing_secret: str,
    port: int,
    host: str = "0.0.0.0",
    threads: int = 4,
    crm: Callable | None = None,
):
    """A waitress server (threaded, production-grade), not Bolt's single-threaded development server. Without an
    app (Socket Mode) it serves only the CRM routes and /healthz."""
    if app is None and crm is None:
        raise ValueError("an HTTP server needs the Bolt app, the CRM routes, or both")
    return waitress.create_server(
        wsgi_app(app, signing_secret, crm) if app is not None else crm_only_app(crm),
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=MAX_BODY,
        ident="dealcoach",
        clear_untrusted_proxy_headers=True,
    )


def run_socket_mode(
    app: App, app_token: str, stop: threading.Event, *, connected: Callable[[], object] = lambda: None
) -> None:
    """Hold a Socket Mode connection open until `stop` is set; `connected` runs once Slack has accepted it."""
    handler = SocketModeHandler(app, app_token)
    handler.connect()
    connected()
    try:
        stop.wait()
    finally:
        handler.close()
