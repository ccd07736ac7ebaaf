"""Loopback fake of the Slack Web API: a real HTTP server that records calls and enforces Block Kit rules."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
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


@dataclass
class _Failure:
    status: int
    error: str | None
    retry_after: int | None
    delay: float | None


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


class FakeSlack:
    """Real HTTP server on 127.0.0.1 that answers like Slack so the bot's real clients can be exercised."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
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

    def response_url(self, name: str = "x") -> str:
        """A response_url on this server; posts to it are recorded with method "response_url"."""
        return f"{self.root}/response/{name}"

    # -- inspection & control --------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """All recorded calls to `method`, oldest first."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def last(self, method: str) -> Call:
        """Most recent call to `method`; fails loudly with the methods that were seen."""
        found = self.calls_to(method)
        if not found:
            with self._lock:
                seen = [c.method for c in self.calls]
            raise AssertionError(f"no call to {method!r}; methods seen: {seen}")
        return found[-1]

    def reset(self) -> None:
        """Forget calls, violations, stored messages/files and pending failures (keeps `users` overrides)."""
        with self._lock:
            self.calls.clear()
            self.violations.clear()
            self.messages.clear()
            self.files.clear()
            self._failures.clear()

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        delay: float | None = None,
    ) -> None:
        """Queue `times` failures for `method`, consumed in order by its next calls."""
        if status == 200 and error is None and delay is None:
            raise ValueError("fail() needs an error, a non-200 status or a delay")
        with self._lock:
            self._failures[method].extend(_Failure(status, error, retry_after, delay) for _ in range(times))

    # -- request handling (called from server threads) -------------------------------------------------------

    def _next(self) -> int:
        with self._lock:
            return next(self._seq)

    def _ts(self) -> str:
        return f"1700000000.{self._next():06d}"

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def wait_for(self, method: str, count: int = 1, timeout: float = 15) -> list[Call]:
        """Block until `count` calls to `method` arrived (from another process or thread); fail after `timeout`."""
        with self._changed:
            if not self._changed.wait_for(lambda: len([c for c in self.calls if c.method == method]) >= count, timeout):
                raise AssertionError(f"expected {count} call(s) to {method!r}; saw {[c.method for c in self.calls]}")
            return [c for c in self.calls if c.method == method]

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
            call.failed = True
            if failure.delay:
                self._stopping.wait(failure.delay)
            if failure.status != 200 or failure.error:
                headers = {}
                if failure.status == 429:
                    headers["Retry-After"] = str(1 if failure.retry_after is None else failure.retry_after)
                error = failure.error or SERVER_ERRORS.get(failure.status, "fake_failure")
                return failure.status, headers, {"ok": False, "error": error}
        error, problems = self._validate(method, call.params)
        if problems:
            self._violate(method, problems)
            return 200, {}, {"ok": False, "error": error, "errors": problems}
        if method in ("response_url", "upload_url") or call.token:
            return 200, {}, self._answer(method, call)
        return 200, {}, {"ok": False, "error": "not_authed"}

    def _validate(self, method: str, params: dict[str, Any]) -> tuple[str, list[str]]:
        if method in MESSAGE_METHODS:
            return message_problems(params)
        if method.startswith("views."):
            problems = view_problems(params["view"]) if "view" in params else ["missing view"]
            return "invalid_arguments", problems
        return "", []

    def _answer(self, method: str, call: Call) -> dict[str, Any]:
        """Canned, realistic success bodies keyed by API method."""
        p = call.params
        channel = p.get("channel", "")
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.com/", **BOT}
        if method in ("chat.postMessage", "chat.update", "chat.scheduleMessage"):
            ts = p.get("ts") if method == "chat.update" else self._ts()
            message = {"type": "message", "user": BOT["user_id"], "bot_id": BOT["bot_id"], "ts": ts}
            message.update({k: p[k] for k in ("text", "blocks", "metadata", "thread_ts", "attachments") if k in p})
            if method == "chat.scheduleMessage":
                sid = f"Q{self._next():08d}"
                return {"ok": True, "channel": channel, "scheduled_message_id": sid, "message": message}
            with self._lock:
                self.messages[(channel, ts)] = {**self.messages.get((channel, ts), {}), **message}
            extra = {"text": p.get("text", "")} if method == "chat.update" else {}
            return {"ok": True, "channel": channel, "ts": ts, **extra, "message": message}
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
        if method == "users.info":
            user = p.get("user", "")
            tz = {"tz": "America/New_York", "tz_offset": -18000}
            default = {"id": user, "name": f"user-{user}", "real_name": f"User {user}", **tz}
            return {"ok": True, "user": {**default, **self.users.get(user, {})}}
        if method == "conversations.open":
            users = str(p.get("users", "")).split(",")
            return {"ok": True, "channel": {"id": p.get("channel") or f"D{users[0]}"}}
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

    def _complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        done = []
        with self._lock:
            for item in p.get("files") or []:
                stored = self.files.get(item.get("id"))
                if stored is None or stored.get("content") is None:
                    return {"ok": False, "error": "file_not_found"}
                stored["title"] = item.get("title") or stored.get("name")
                done.append({k: v for k, v in stored.items() if k != "content"} | {"size": len(stored["content"])})
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
        call.response = answer
        self._send(status, extra, answer)

    do_GET = do_POST

    def _send(self, status: int, headers: dict[str, str], answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (e.g. it timed out on an injected delay)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: request lines and errors could otherwise end up in logs next to tokens."""
