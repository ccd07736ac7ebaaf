"""Loopback fake of the Slack Web API: a real HTTP server that records calls and enforces Block Kit rules.

Besides recording, it keeps a small model of Slack's state that tests can rely on:

* Messages: `chat.postMessage` stores each message in `messages[(channel, ts)]` (text, blocks, metadata, ...),
  `chat.update` replaces the fields it is given on a stored message, `chat.delete` removes it, and
  `conversations.history` reads them back newest first.
* Timestamps: every ts is `f"{int(fake.epoch)}.{seq:06d}"` with one counter for the whole fake, so ts values
  follow posting order and are strictly increasing as long as `epoch` never moves backwards. Tests may set
  `fake.epoch` (e.g. to a fixed clock's `.timestamp()`, or forward to simulate time passing). History
  filtering (`oldest`, `latest`, cursors) compares ts values as `decimal.Decimal`, never as floats or strings.
* Channels: `unreachable_channels` maps a channel id to the error every post there gets (`channel_not_found`,
  `is_archived`, ...); `not_joined` lists channels answering `not_in_channel` until `conversations.join`.
* Hooks: `on(method, callback)` runs a callback after the answer is decided (and the message stored) but before
  it is sent, so a test can act exactly between "Slack accepted" and "the client heard" (or drop the answer).
* Files: `files.getUploadURLExternal` hands out an upload URL on this server, the bytes POSTed there are kept in
  `files[file_id]["content"]`, and `files.completeUploadExternal` with a `channel_id` shares them: a message
  carrying `files` (and `thread_ts`, a thread reply, when given) is stored like a post, which
  `conversations.replies` reads back with the rest of its thread. `fail(..., stored=True)` on the share keeps the
  message and answers with the failure, as for chat.postMessage.
* Images: GET `image_url(name)` serves `images[name]` (bytes, as a profile photo's CDN would), 404 otherwise.
* Rate limits: `channel_rate_limit` (seconds, off by default) answers 429 to quick successive posts to a channel.
  History reads as Slack limits apps distributed outside the Marketplace: `history_page_max` caps the messages
  one conversations.history call returns (Slack: 15), and `history_calls_left` (None: unlimited) answers 429
  with Retry-After: 60 once that many calls were answered (a test sets it before each run, as a minute passing).
* Threads: a post with `thread_ts` is a reply in that thread; `conversations.replies` reads a thread back oldest
  first (the parent first, as Slack does), with `oldest`, `latest`, `inclusive`, `limit` and cursors, under the
  same `history_page_max` and `history_calls_left` limits as the history, and `thread_not_found` for a thread
  whose parent isn't there. `fail("conversations.replies", ...)` injects failures like for any method.
* Workspace rate limit: `workspace_rate_limit` (posts per `workspace_window` seconds, off by default) answers 429
  to a chat.postMessage over that budget in any sliding window, across every channel.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

JSON_FIELDS = ("blocks", "view", "attachments", "metadata", "files")
MESSAGE_METHODS = {
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.scheduleMessage",
    "response_url",
}
MAX_MESSAGE_BLOCKS, MAX_VIEW_BLOCKS = 50, 100
SECTION_TEXT_MAX, SECTION_FIELD_MAX, HEADER_TEXT_MAX = 3000, 2000, 150
MODAL_TEXT_MAX, PRIVATE_METADATA_MAX, CALLBACK_ID_MAX = 24, 3000, 255
SERVER_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 429: "ratelimited"}
BOT = {"team": "Fake", "user": "dealcoach", "team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT"}
METADATA_METHODS = {"chat.postMessage", "chat.update", "chat.scheduleMessage"}
STORED_FIELDS = ("text", "blocks", "metadata", "thread_ts", "reply_broadcast", "attachments")
UPDATED_FIELDS = ("text", "blocks", "metadata", "attachments")
HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX = 100, 999
DROP = "drop"
PAGE_TYPE = "text/html; charset=utf-8"


@dataclass
class Call:
    """One request the fake received; `token` and `headers` stay out of repr so tokens never get printed."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str] = field(repr=False)
    token: str | None = field(default=None, repr=False)
    body: bytes = field(default=b"", repr=False)
    failed: bool = False
    response: dict[str, Any] | None = field(default=None, repr=False)
    dropped: bool = False  # a hook returned "drop": the connection was closed without an answer


Hook = Callable[[Call], str | None]


@dataclass
class _Failure:
    status: int
    error: str | None
    retry_after: int | None
    delay: float | None
    stored: bool = False  # chat.postMessage only: Slack keeps the message, then answers with the failure
    page: bool = False  # answer with an HTML error page, as a proxy in front of Slack does, instead of JSON


def _text(obj: Any) -> str:
    """Text of a composition object, tolerating the bare strings some callers send."""
    return str(obj.get("text", "")) if isinstance(obj, dict) else str(obj or "")


def block_problems(blocks: Any, limit: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Block Kit problems Slack would reject (or we forbid), so tests fail on layouts real Slack refuses."""
    if not isinstance(blocks, list):
        return [f"blocks must be a list, got {type(blocks).__name__}"]
    problems = [f"{len(blocks)} blocks (max {limit})"] if len(blocks) > limit else []
    for i, raw in enumerate(blocks):
        problems += [f"blocks[{i}]: {p}" for p in _one_block_problems(raw)]
    return problems


def _one_block_problems(raw: Any) -> list[str]:
    """Our explicit limits first (clear messages), then whatever slack_sdk's models refuse."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    problems = []
    if kind == "section":
        if len(_text(raw.get("text"))) > SECTION_TEXT_MAX:
            problems.append(f"section text is {len(_text(raw['text']))} chars (max {SECTION_TEXT_MAX})")
        for j, f in enumerate(raw.get("fields") or []):
            if len(_text(f)) > SECTION_FIELD_MAX:
                problems.append(f"section fields[{j}] is {len(_text(f))} chars (max {SECTION_FIELD_MAX})")
    elif kind == "header" and len(_text(raw.get("text"))) > HEADER_TEXT_MAX:
        problems.append(f"header text is {len(_text(raw['text']))} chars (max {HEADER_TEXT_MAX})")
    if problems:
        return problems
    try:
        parsed = Block.parse(raw) if isinstance(raw, dict) else None
        if parsed is None:
            return [f"unknown or missing block type {kind!r}"]
        parsed.to_dict()
    except Exception as e:  # the SDK raises assorted errors (TypeError, SlackObjectFormationError, ...)
        return [f"malformed {kind!r} block: {type(e).__name__}: {e}"]
    return []


def view_problems(view: Any) -> list[str]:
    """Modal/home view problems, mirroring Slack's documented limits plus the SDK's own validators."""
    if not isinstance(view, dict):
        return [f"view must be an object, got {type(view).__name__}"]
    problems = []
    for key in ("title", "submit", "close"):
        if key in view and len(_text(view[key])) > MODAL_TEXT_MAX:
            problems.append(f"view.{key} is {len(_text(view[key]))} chars (max {MODAL_TEXT_MAX})")
    if len(view.get("private_metadata") or "") > PRIVATE_METADATA_MAX:
        problems.append(f"view.private_metadata exceeds {PRIVATE_METADATA_MAX} chars")
    if len(view.get("callback_id") or "") > CALLBACK_ID_MAX:
        problems.append(f"view.callback_id exceeds {CALLBACK_ID_MAX} chars")
    problems += [f"view.{p}" for p in block_problems(view.get("blocks", []), limit=MAX_VIEW_BLOCKS)]
    if not problems:
        try:
            View(**view).to_dict()
        except Exception as e:  # same: View raises TypeError, SlackObjectFormationError, ...
            problems.append(f"view rejected by slack_sdk: {type(e).__name__}: {e}")
    return problems


def message_problems(params: dict[str, Any]) -> tuple[str, list[str]]:
    """(error code, problems) for a message payload; blocks need a non-empty `text` fallback by house rule."""
    if "blocks" not in params:
        return "", []
    problems = block_problems(params["blocks"])
    if problems:
        return "invalid_blocks", problems
    if not str(params.get("text") or "").strip():
        return "no_text", ["message has blocks but no top-level text fallback"]
    return "", []


def _metadata(value: Any) -> Any:
    """Message metadata as a dict when it is one, or a JSON string of one; anything else is returned as is."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def metadata_problems(value: Any) -> list[str]:
    """Slack refuses message metadata that is not {"event_type": str, "event_payload": object}."""
    data = _metadata(value)
    if not isinstance(data, dict):
        return [f"metadata must be an object, got {type(data).__name__}"]
    problems = []
    if not isinstance(data.get("event_type"), str) or not data["event_type"]:
        problems.append("metadata.event_type must be a non-empty string")
    if not isinstance(data.get("event_payload"), dict):
        problems.append("metadata.event_payload must be an object")
    return problems


def _truthy(value: Any) -> bool:
    """Slack booleans arrive as true/false, "true"/"false" or "1"/"0" (slack_sdk sends GET booleans as 0/1)."""
    return str(value).strip().lower() in ("1", "true", "yes") if value is not None else False


def _cursor(ts: str) -> str:
    """An opaque cursor in Slack's style: base64 of "next_ts:<ts>"."""
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _cursor_ts(cursor: str) -> Decimal | None:
    try:
        kind, _, ts = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        return Decimal(ts) if kind == "next_ts" else None
    except (binascii.Error, UnicodeDecodeError, InvalidOperation):
        return None


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """Decode JSON or form bodies, unpacking JSON-string fields so tests can assert on structure."""
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        data = json.loads(raw)
        return data if isinstance(data, dict) else {"_json": data}
    if content_type.startswith("application/x-www-form-urlencoded"):
        params: dict[str, Any] = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        for key in JSON_FIELDS:
            if isinstance(params.get(key), str) and params[key].startswith(("[", "{")):
                with contextlib.suppress(ValueError):  # left as a string, validation then reports it
                    params[key] = json.loads(params[key])
        return params
    return {}


def _team_of_token(token: str | None) -> str | None:
    match = re.match(r"^xoxb-(T[A-Z0-9]+)-", token or "")
    return match.group(1) if match else None


class FakeSlack:
    """Real HTTP server on 127.0.0.1 that answers like Slack so the bot's real clients can be exercised."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.emails: dict[str, str] = {}  # e-mail -> member id, for users.lookupByEmail (others: users_not_found)
        self.usergroups: dict[str, dict[str, Any]] = {}  # id -> {"handle", "name", "users"}, for usergroups.*
        self.oauth_team = {"id": "T0NEW", "name": "New Co"}  # who oauth.v2.access says installed the app
        self.members: dict[str, set[str]] = {}  # team -> its users, for tokens named xoxb-T…-: others not found
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.images: dict[str, bytes] = {}  # served at image_url(name), like Slack's CDN serves profile photos
        self.image_delay: float = 0.0  # seconds each image waits before its answer (a slow CDN)
        self.epoch: float = time.time()  # integer part of every ts; set it to place posts in (fake) time
        self.unreachable_channels: dict[str, str] = {}  # channel id -> error every chat.postMessage there gets
        self.not_joined: set[str] = set()  # posts answer not_in_channel until conversations.join succeeds
        self.channel_rate_limit: float | None = None  # min seconds between accepted posts to one channel
        self.history_page_max: int = HISTORY_LIMIT_MAX  # most messages one conversations.history call returns
        self.history_calls_left: int | None = None  # conversations.history calls answered before 429s; None: all
        self.workspace_rate_limit: int | None = None  # most accepted posts in any `workspace_window` seconds
        self.workspace_window: float = 60.0
        self._workspace_posts: deque[float] = deque()  # time.monotonic() of recent accepted posts
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._hooks: dict[str, list[Hook]] = defaultdict(list)
        self._last_post: dict[str, float] = {}  # channel -> time.monotonic() of its last accepted post
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._seq = itertools.count(100)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        """Bind an ephemeral port and serve from a daemon thread."""
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="FakeSlack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake delayed handlers, stop serving and release the port."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        """http://127.0.0.1:PORT (the server must be started)."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What WebClient(base_url=...) wants: it appends the method name."""
        return f"{self.root}/api/"

    def image_url(self, name: str) -> str:
        """Where `images[name]` is served (a 404 while there is none)."""
        return f"{self.root}/image/{name}"

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The replies stored under `thread_ts` in `channel`, oldest first (the parent left out)."""
        with self._lock:
            found = [
                dict(m, ts=ts)
                for (ch, ts), m in self.messages.items()
                if ch == channel and m.get("thread_ts") == thread_ts and ts != thread_ts
            ]
        return sorted(found, key=lambda m: Decimal(m["ts"]))

    def response_url(self, name: str = "x") -> str:
        """A response_url on this server; posts to it are recorded with method "response_url"."""
        return f"{self.root}/response/{name}"

    # -- inspection & control --------------------------------------------------------------------------------

    def redraws(self) -> dict[str, int]:
        """How often each message (by ts) was redrawn with chat.update."""
        counts: dict[str, int] = {}
        for call in self.calls_to("chat.update"):
            counts[call.params["ts"]] = counts.get(call.params["ts"], 0) + 1
        return counts

    def calls_to(self, method: str) -> list[Call]:
        """All recorded calls to `method`, oldest first."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posts_of(self, event_type: str) -> list[Call]:
        """chat.postMessage calls whose metadata has `event_type` (one kind of the bot's messages), oldest first."""
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if (_metadata(c.params.get("metadata")) or {}).get("event_type") == event_type
        ]

    def last(self, method: str) -> Call:
        """Most recent call to `method`; fails loudly with the methods that were seen."""
        found = self.calls_to(method)
        if not found:
            with self._lock:
                seen = [c.method for c in self.calls]
            raise AssertionError(f"no call to {method!r}; methods seen: {seen}")
        return found[-1]

    def reset(self) -> None:
        """Forget calls, violations, stored messages/files, pending failures and rate-limit history.

        Configuration stays: `users`, `epoch`, `unreachable_channels`, `not_joined`, `channel_rate_limit`, hooks.
        """
        with self._lock:
            self.calls.clear()
            self.violations.clear()
            self.messages.clear()
            self.files.clear()
            self._failures.clear()
            self._last_post.clear()
            self._workspace_posts.clear()

    def on(self, method: str, callback: Hook) -> None:
        """Run `callback(call)` for every call to `method` once its answer is decided, before it is sent.

        By then the call is recorded, `call.response` / `call.failed` are set and a posted message is already in
        `messages`; the client is still waiting. Returning "drop" closes the connection without an answer (the
        client sees a disconnect; slack_sdk's default ConnectionErrorRetryHandler then retries once). Hooks run
        in registration order on the server thread, outside the fake's lock; one that raises is reported in
        `violations` and the answer is sent anyway.
        """
        with self._lock:
            self._hooks[method].append(callback)

    def off(self, method: str | None = None) -> None:
        """Remove the hooks of `method` (all hooks when None)."""
        with self._lock:
            if method is None:
                self._hooks.clear()
            else:
                self._hooks.pop(method, None)

    def add_message(self, channel: str, text: str = "", *, user: str = "U0HUMAN", **fields: Any) -> str:
        """Store a message as if someone else posted it (no bot_id); returns its ts, allocated like posts."""
        with self._lock:
            ts = self._ts()
            self.messages[(channel, ts)] = {"type": "message", "user": user, "ts": ts, "text": text, **fields}
        return ts

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        delay: float | None = None,
        stored: bool = False,
        page: bool = False,
    ) -> None:
        """Queue `times` failures for `method`, consumed in order by its next calls. `stored=True` (for
        chat.postMessage) keeps the message as Slack would, then answers with the failure: a 5xx after posting.
        `page=True` answers with an HTML error page instead of Slack's JSON."""
        if status == 200 and error is None and delay is None:
            raise ValueError("fail() needs an error, a non-200 status or a delay")
        with self._lock:
            self._failures[method].extend(
                _Failure(status, error, retry_after, delay, stored, page) for _ in range(times)
            )

    # -- request handling (called from server threads) -------------------------------------------------------

    def _next(self) -> int:
        with self._lock:
            return next(self._seq)

    def _ts(self) -> str:
        """Next ts: `int(epoch)` plus the fake-wide counter, so later posts always get larger ts values."""
        with self._lock:
            return f"{int(self.epoch)}.{self._next():06d}"

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def wait_for(self, method: str, count: int = 1, timeout: float = 15, *, answered: bool = False) -> list[Call]:
        """Block until `count` calls to `method` arrived (from another process or thread); fail after `timeout`.

        Calls are recorded as they arrive, before the fake acts on them; with `answered=True` this waits until
        `count` of them have their answer decided (message stored, `call.response` set), hooks may still run.
        """

        def done() -> bool:
            found = [c for c in self.calls if c.method == method and (not answered or c.response is not None)]
            return len(found) >= count

        with self._changed:
            if not self._changed.wait_for(done, timeout):
                raise AssertionError(f"expected {count} call(s) to {method!r}; saw {[c.method for c in self.calls]}")
            return [c for c in self.calls if c.method == method]

    def _answered(self, call: Call, answer: dict[str, Any]) -> None:
        with self._changed:
            call.response = answer
            self._changed.notify_all()

    def _run_hooks(self, call: Call) -> bool:
        """Run the hooks for `call`; True when one asked to drop the connection."""
        with self._lock:
            hooks = list(self._hooks.get(call.method, ()))
        drop = False
        for hook in hooks:
            try:
                drop = hook(call) == DROP or drop
            except BaseException as e:  # a failing hook must show up in the test, not kill the server thread
                self._violate(call.method, [f"hook {getattr(hook, '__name__', hook)!r} raised {type(e).__name__}: {e}"])
        if drop:
            call.dropped = True
        return drop

    def _violate(self, method: str, problems: list[str]) -> None:
        with self._lock:
            self.violations.extend(f"{method}: {p}" for p in problems)

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(method)
            return queue.popleft() if queue else None

    def _handle(self, method: str, call: Call) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Decide the answer for one recorded call: injected failure, validation error or canned success."""
        failure = self._take_failure(method)
        if failure is not None:
            if failure.stored and method == "chat.postMessage" and call.token:
                self._post_message(call)
            if failure.stored and method == "files.completeUploadExternal" and call.token:
                self._complete_upload(call.params)
            call.failed = True
            if failure.delay:
                self._stopping.wait(failure.delay)
            if failure.status != 200 or failure.error:
                headers = {}
                if failure.status == 429:
                    headers["Retry-After"] = str(1 if failure.retry_after is None else failure.retry_after)
                error = failure.error or SERVER_ERRORS.get(failure.status, "fake_failure")
                if failure.page:
                    headers["Content-Type"] = PAGE_TYPE
                return failure.status, headers, {"ok": False, "error": error}
        if method in ("conversations.history", "conversations.replies") and self._history_limited():
            call.failed = True
            return 429, {"Retry-After": "60"}, {"ok": False, "error": "ratelimited"}
        error, problems = self._validate(method, call.params)
        if problems:
            self._violate(method, problems)
            return 200, {}, {"ok": False, "error": error, "errors": problems}
        if method == "chat.postMessage" and call.token:
            return self._post_message(call)
        if method in ("response_url", "upload_url", "oauth.v2.access") or call.token:
            return 200, {}, self._answer(method, call)
        return 200, {}, {"ok": False, "error": "not_authed"}

    def _history_limited(self) -> bool:
        """True when this history call is over the `history_calls_left` allowance (counting it otherwise)."""
        with self._lock:
            if self.history_calls_left is None:
                return False
            if self.history_calls_left <= 0:
                return True
            self.history_calls_left -= 1
            return False

    def _validate(self, method: str, params: dict[str, Any]) -> tuple[str, list[str]]:
        if method in MESSAGE_METHODS:
            error, problems = message_problems(params)
            if not problems and method in METADATA_METHODS and params.get("metadata") is not None:
                error, problems = "invalid_metadata_format", metadata_problems(params["metadata"])
            return error, problems
        if method.startswith("views."):
            problems = view_problems(params["view"]) if "view" in params else ["missing view"]
            return "invalid_arguments", problems
        return "", []

    def _answer(self, method: str, call: Call) -> dict[str, Any]:
        """Canned, realistic success bodies keyed by API method."""
        p = call.params
        channel = p.get("channel", "")
        if method == "auth.test":
            team = _team_of_token(call.token)  # xoxb-T0AAA-… answers as workspace T0AAA: several installs
            if team:
                return {"ok": True, **BOT, "url": f"https://{team.lower()}.slack.com/", "team": team, "team_id": team}
            return {"ok": True, "url": "https://fake.slack.com/", **BOT}
        if method == "oauth.v2.access":
            team = self.oauth_team
            return {
                "ok": True,
                "app_id": "A0FAKE",
                "authed_user": {"id": "U0INSTALLER"},
                "scope": "commands,chat:write",
                "token_type": "bot",
                "access_token": f"xoxb-{team['id']}-installed",
                "bot_user_id": "U0BOT",
                "team": team,
                "enterprise": None,
                "is_enterprise_install": False,
            }
        if method == "chat.scheduleMessage":
            message = self._bot_message(p, self._ts())
            sid = f"Q{self._next():08d}"
            return {"ok": True, "channel": channel, "scheduled_message_id": sid, "message": message}
        if method == "chat.update":
            ts = str(p.get("ts", ""))
            with self._lock:
                stored = self.messages.get((channel, ts))
                if stored is not None:  # unknown messages still answer ok (real Slack: message_not_found)
                    stored.update({k: v for k, v in self._bot_message(p, ts).items() if k in UPDATED_FIELDS})
                message = dict(stored) if stored is not None else self._bot_message(p, ts)
            return {"ok": True, "channel": channel, "ts": ts, "text": p.get("text", ""), "message": message}
        if method == "chat.delete":
            ts = str(p.get("ts", ""))
            with self._lock:
                self.messages.pop((channel, ts), None)
            return {"ok": True, "channel": channel, "ts": ts}
        if method == "conversations.history":
            return self._history(p)
        if method == "conversations.replies":
            return self._replies(p)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._ts()}
        if method == "chat.getPermalink":
            ts = str(p.get("message_ts", "")).replace(".", "")
            return {
                "ok": True,
                "channel": channel,
                "permalink": f"https://fake.slack.com/archives/{channel}/p{ts}",
            }
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            n = self._next()
            view_id = p.get("view_id") or f"V{n:08d}"
            return {
                "ok": True,
                "view": {**p["view"], "id": view_id, "team_id": BOT["team_id"], "hash": f"h{n:08d}"},
            }
        if method == "usergroups.list":
            groups = [{"id": gid, "handle": g["handle"], "name": g["name"]} for gid, g in self.usergroups.items()]
            return {"ok": True, "usergroups": groups}
        if method == "usergroups.users.list":
            group = self.usergroups.get(str(p.get("usergroup", "")))
            if group is None:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(group["users"])}
        if method == "users.info":
            user = p.get("user", "")
            team = _team_of_token(call.token)
            if team in self.members and user not in self.members[team]:
                return {"ok": False, "error": "user_not_found"}
            tz = {"tz": "America/New_York", "tz_offset": -18000}
            default = {"id": user, "name": f"user-{user}", "real_name": f"User {user}", **tz}
            return {"ok": True, "user": {**default, **self.users.get(user, {})}}
        if method == "users.lookupByEmail":
            user = self.emails.get(str(p.get("email", "")).lower())
            if user is None:
                return {"ok": False, "error": "users_not_found"}
            return {"ok": True, "user": {"id": user, "name": f"user-{user}", "profile": {"email": p.get("email")}}}
        if method == "conversations.open":
            users = str(p.get("users", "")).split(",")
            return {"ok": True, "channel": {"id": p.get("channel") or f"D{users[0]}"}}
        if method == "conversations.join":
            with self._lock:
                error = self.unreachable_channels.get(channel)
                if error:
                    call.failed = True
                    return {"ok": False, "error": error}
                if channel.startswith("G"):
                    return {"ok": False, "error": "method_not_supported_for_channel_type"}
                self.not_joined.discard(channel)
        if method in ("conversations.join", "conversations.info"):
            is_im = channel.startswith("D")
            info = {"id": channel, "name": f"channel-{channel}", "is_channel": not is_im, "is_im": is_im}
            return {"ok": True, "channel": {**info, "is_member": True}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{self._next():08d}"
            with self._lock:
                self.files[file_id] = {"id": file_id, "name": p.get("filename"), "content": None}
            return {"ok": True, "upload_url": f"{self.root}/upload/{file_id}", "file_id": file_id}
        if method == "upload_url":
            with self._lock:
                self.files.setdefault(p["file_id"], {"id": p["file_id"]})["content"] = call.body
            return {"ok": True}
        if method == "files.completeUploadExternal":
            return self._complete_upload(p)
        return {"ok": True}

    @staticmethod
    def _bot_message(p: dict[str, Any], ts: str) -> dict[str, Any]:
        """The message the bot's call describes, as Slack echoes it (metadata decoded to a dict)."""
        message = {"type": "message", "user": BOT["user_id"], "bot_id": BOT["bot_id"], "ts": ts}
        message.update({k: p[k] for k in STORED_FIELDS if p.get(k) is not None})
        if "metadata" in message:
            message["metadata"] = _metadata(message["metadata"])
        return message

    def _post_message(self, call: Call) -> tuple[int, dict[str, str], dict[str, Any]]:
        """chat.postMessage: channel checks, optional per-channel rate limit, then ts allocation and storage.

        Checks, ts allocation and storage happen under one lock hold, so concurrent posts get ts values in the
        order they were stored and the rate limit cannot be raced. Like Slack, a post to a user id (U.../W...)
        lands in the app's DM with that user: it is answered and stored under "D<user id>", the id
        conversations.open gives for that user.
        """
        target = str(call.params.get("channel") or "")
        channel = f"D{target}" if target.startswith(("U", "W")) else target
        with self._lock:
            error = "channel_not_found" if not channel else self.unreachable_channels.get(target)
            if not error and target in self.not_joined:
                error = "not_in_channel"
            if error:
                call.failed = bool(channel)
                return 200, {}, {"ok": False, "error": error}
            now = time.monotonic()
            last = self._last_post.get(channel)
            if self.channel_rate_limit is not None and last is not None and now - last < self.channel_rate_limit:
                call.failed = True
                return 429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}
            window = self._workspace_posts
            if self.workspace_rate_limit is not None:
                while window and now - window[0] >= self.workspace_window:
                    window.popleft()
                if len(window) >= self.workspace_rate_limit:
                    call.failed = True
                    wait = max(1, int(self.workspace_window - (now - window[0])) + 1)
                    return 429, {"Retry-After": str(wait)}, {"ok": False, "error": "ratelimited"}
                window.append(now)
            self._last_post[channel] = now
            ts = self._ts()
            message = self._bot_message(call.params, ts)
            self.messages[(channel, ts)] = message
            return 200, {}, {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        """conversations.history: top-level messages of one channel, newest first, ts compared as Decimal.

        Thread replies are left out like in Slack (unless posted with reply_broadcast). Without `latest` there is
        no upper bound (the fake's ts may lie in the future when a test moved `epoch`).
        """
        channel = str(p.get("channel") or "")
        with self._lock:
            user_id = channel.startswith(("U", "W"))  # history wants a conversation id (D...), not a user id
            error = self.unreachable_channels.get(channel) if channel and not user_id else "channel_not_found"
            if error and error != "is_archived":  # archived channels stay readable
                return {"ok": False, "error": error}
            if channel in self.not_joined:
                return {"ok": False, "error": "not_in_channel"}
            stored = [dict(m, ts=ts) for (ch, ts), m in self.messages.items() if ch == channel]
        bounds = {}
        for name in ("oldest", "latest"):
            try:
                bounds[name] = Decimal(str(p[name])) if p.get(name) not in (None, "") else None
            except InvalidOperation:
                bounds[name] = Decimal("NaN")
            if bounds[name] is not None and not bounds[name].is_finite():
                return {"ok": False, "error": f"invalid_ts_{name}"}
        try:
            limit = int(p.get("limit") or HISTORY_LIMIT_DEFAULT)
        except ValueError:
            return {"ok": False, "error": "invalid_limit"}
        limit = min(max(limit, 1), HISTORY_LIMIT_MAX, self.history_page_max)
        start = None
        if p.get("cursor"):
            start = _cursor_ts(str(p["cursor"]))
            if start is None:
                return {"ok": False, "error": "invalid_cursor"}
        inclusive, oldest, latest = _truthy(p.get("inclusive")), bounds["oldest"], bounds["latest"]

        def wanted(m: dict[str, Any]) -> bool:
            ts = Decimal(m["ts"])
            if m.get("thread_ts") not in (None, m["ts"]) and not _truthy(m.get("reply_broadcast")):
                return False
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                return False
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                return False
            return start is None or ts <= start

        found = sorted(filter(wanted, stored), key=lambda m: Decimal(m["ts"]), reverse=True)
        with_metadata = _truthy(p.get("include_all_metadata"))
        page = [self._history_message(m, with_metadata) for m in found[:limit]]
        answer: dict[str, Any] = {"ok": True, "messages": page, "has_more": len(found) > limit}
        if len(found) > limit:
            answer["response_metadata"] = {"next_cursor": _cursor(found[limit]["ts"])}
        return answer

    def _replies(self, p: dict[str, Any]) -> dict[str, Any]:
        """conversations.replies: one thread, the parent first, then its replies oldest first, ts as Decimal."""
        channel, parent = str(p.get("channel") or ""), str(p.get("ts") or "")
        with self._lock:
            error = self.unreachable_channels.get(channel)
            if error and error != "is_archived":
                return {"ok": False, "error": error}
            if channel in self.not_joined:
                return {"ok": False, "error": "not_in_channel"}
            if (channel, parent) not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            stored = [
                dict(m, ts=ts)
                for (ch, ts), m in self.messages.items()
                if ch == channel and (ts == parent or m.get("thread_ts") == parent)
            ]
        bounds = {}
        for name in ("oldest", "latest"):
            try:
                bounds[name] = Decimal(str(p[name])) if p.get(name) not in (None, "") else None
            except InvalidOperation:
                return {"ok": False, "error": f"invalid_ts_{name}"}
        limit = min(max(int(p.get("limit") or HISTORY_LIMIT_DEFAULT), 1), HISTORY_LIMIT_MAX, self.history_page_max)
        start = _cursor_ts(str(p["cursor"])) if p.get("cursor") else None
        if p.get("cursor") and start is None:
            return {"ok": False, "error": "invalid_cursor"}
        inclusive, oldest, latest = _truthy(p.get("inclusive")), bounds["oldest"], bounds["latest"]

        def wanted(m: dict[str, Any]) -> bool:
            ts = Decimal(m["ts"])
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                return False
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                return False
            return start is None or ts >= start

        replies = sorted((m for m in stored if m["ts"] != parent and wanted(m)), key=lambda m: Decimal(m["ts"]))
        with_metadata = _truthy(p.get("include_all_metadata"))
        head = [m for m in stored if m["ts"] == parent]
        page = [self._history_message(m, with_metadata) for m in head + replies[:limit]]
        answer: dict[str, Any] = {"ok": True, "messages": page, "has_more": len(replies) > limit}
        if len(replies) > limit:
            answer["response_metadata"] = {"next_cursor": _cursor(replies[limit]["ts"])}
        return answer

    @staticmethod
    def _history_message(m: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
        out = {"type": "message", "ts": m["ts"], "text": m.get("text", ""), "blocks": m.get("blocks") or []}
        out.update({k: m[k] for k in ("user", "bot_id", "thread_ts", "attachments", "files") if m.get(k) is not None})
        if with_metadata and m.get("metadata") is not None:
            out["metadata"] = m["metadata"]
        return out

    def _complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        """Finish uploads; with a channel_id, share them there (in the thread of thread_ts) as one stored message."""
        done = []
        with self._lock:
            for item in p.get("files") or []:
                stored = self.files.get(item.get("id"))
                if stored is None or stored.get("content") is None:
                    return {"ok": False, "error": "file_not_found"}
                stored["title"] = item.get("title") or stored.get("name")
                done.append({k: v for k, v in stored.items() if k != "content"} | {"size": len(stored["content"])})
            channel = str(p.get("channel_id") or "")
            if channel:
                error = self.unreachable_channels.get(channel) or (
                    "not_in_channel" if channel in self.not_joined else ""
                )
                if error:
                    return {"ok": False, "error": error}
                ts = self._ts()
                message = {"type": "message", "user": BOT["user_id"], "bot_id": BOT["bot_id"], "ts": ts}
                message["text"] = str(p.get("initial_comment") or "")
                message["files"] = [dict(f) for f in done]
                if p.get("thread_ts"):
                    message["thread_ts"] = str(p["thread_ts"])
                self.messages[(channel, ts)] = message
        return {"ok": True, "files": done}


class _Server(ThreadingHTTPServer):
    """Threading server that knows its FakeSlack; handler threads are daemons (the base class default)."""

    owner: FakeSlack


class _Handler(BaseHTTPRequestHandler):
    """Routes /api/<method>, /response/<name> and /upload/<file_id> to the owning FakeSlack."""

    server: _Server

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        kind, _, name = url.path.strip("/").partition("/")
        if kind == "image":
            return self._image(name)
        method = {"api": name, "response": "response_url", "upload": "upload_url"}.get(kind)
        if not method or not name:
            return self._send(404, {}, {"ok": False, "error": "unknown_method"})
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake = self.server.owner
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            if method == "upload_url":
                params["file_id"] = name
            else:
                params.update(_parse_body(headers.get("content-type", ""), raw))
        except ValueError as e:
            fake._violate(method, [f"unparseable body: {e}"])
        body_token = params.pop("token", None)
        auth = headers.get("authorization", "")
        if auth:
            headers["authorization"] = "<redacted>"
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else body_token
        call = Call(method, params, headers, token or None, raw)
        fake._record(call)
        try:
            status, extra, answer = fake._handle(method, call)
        except Exception as e:  # a bug in the fake must surface in tests, not vanish in a server thread
            fake._violate(method, [f"FakeSlack crashed: {type(e).__name__}: {e}"])
            status, extra, answer = 500, {}, {"ok": False, "error": "fake_crashed"}
        fake._answered(call, answer)
        if fake._run_hooks(call):
            self.close_connection = True  # no status line at all: the client sees the connection close
            return
        self._send(status, extra, answer)

    do_GET = do_POST

    def _image(self, name: str) -> None:
        """A profile photo, as Slack's CDN serves it: the bytes, or a 404 page."""
        fake = self.server.owner
        if fake.image_delay:
            fake._stopping.wait(fake.image_delay)
        data = fake.images.get(name)
        try:
            if data is None:
                self.send_response(404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"not found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def _send(self, status: int, headers: dict[str, str], answer: dict[str, Any]) -> None:
        headers = dict(headers)
        content_type = headers.pop("Content-Type", "application/json; charset=utf-8")
        if content_type == PAGE_TYPE:
            data = f"<html><body><h1>{status} {answer.get('error')}</h1></body></html>".encode()
        else:
            data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (e.g. it timed out on an injected delay)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: request lines and errors could otherwise end up in logs next to tokens."""
