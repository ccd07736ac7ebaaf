"""Serving a Bolt app: a threaded WSGI server for HTTP mode, or a Socket Mode connection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import waitress
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

EVENTS_PATH = "/slack/events"
MAX_BODY = 1024 * 1024  # Slack's payloads are a few KB; refuse anything absurd


def wsgi_app(app: App) -> Callable:
    """Slack's requests at POST /slack/events, a health check at GET /healthz, 404 elsewhere."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        if environ.get("PATH_INFO") == EVENTS_PATH and not environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "").isdigit():
            # slack_sdk's verifier raises on a blank or non-numeric timestamp (a 500); unsigned is simply 401
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error": "invalid request"}']
        return slack(environ, start_response)

    return application


def http_server(app: App, *, port: int, host: str = "0.0.0.0", threads: int = 4):
    """A waitress server (threaded, production-grade), not Bolt's single-threaded development server."""
    return waitress.create_server(
        wsgi_app(app),
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
