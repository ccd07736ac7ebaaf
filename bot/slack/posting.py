"""Posting a message that must appear exactly once, and finding it again when we can't tell whether it did.

Every such message (a nudge, a deal's announcement, a manager's digest) follows one protocol; the database
row that stands for it is claimed before anything goes out (see README "Exactly once"):
1. Claim. A row moves to `sending` in a transaction, with a lease; only one process can win it.
2. Post. `post_once`: chat.postMessage carrying the row's id in its metadata, through a client that never
   retries by itself, each attempt first reserving its moment through the shared pace (bot/slack/pacing.py), so
   every process on the database keeps to Slack's per-channel and per-workspace limits together. The outcome is Posted, NotPosted (Slack surely did not post it: try again later) or
   Unknown (a timeout, a 5xx, a lost connection: it may be there). A 429 asking for a few seconds is waited
   out and tried again at once, since Slack surely did not post it.
3. Confirm. The ts is recorded; or the claim is released for a retry; or the row is marked unconfirmed.
4. Reconcile. A row unconfirmed, or still `sending` after its lease (its process died), is looked for with
   `find_posted` in the channel's history, within the claim's own time window, page by page. Found: it is
   confirmed. Missing (the whole window was read): it is posted afresh. Anything short of that (rate limited,
   more pages than one run reads): still unknown; what was read is kept and the next run goes on from there.
   A reply in a thread (a nudge under its deal's message) is looked for in that thread's replies
   (conversations.replies, oldest first), since a channel's history leaves thread replies out. Every such
   lookup (a post by its metadata, a shared file by its id) is one paged `search` over a `Reader`.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.client import error_code, retry_after, slack_ts, status_of
from bot.slack.pacing import Later, Pace

LEASE = timedelta(minutes=10)  # far longer than one post can take: a claim still 'sending' after this was orphaned
SHORT_WAIT = 5  # seconds: a 429 asking for this long or less is waited out within the run
RUN_PATIENCE = 60.0  # seconds of such waits one run may spend, all posts together
SHORT_WAITS_PER_POST = 2  # then the post waits for a later run, and the run goes on with the others
RATE_LIMIT_RETRY = timedelta(minutes=1)  # the least a post refused with a 429 waits for a later run
OFFLINE_RETRY = timedelta(
    minutes=5
)  # the longest wait after Slack couldn't be reached at all: back soon, find out soon
HISTORY_SKEW = timedelta(minutes=5)  # how far around the claim's window to look, for clocks that disagree
HISTORY_PAGE = 100  # messages asked for per conversations.history call (Slack may give fewer)
HISTORY_PAGES = 10  # per row per run; a longer window is read on over the next runs
# The destination can't be reached: retrying the same post won't help (the nudge goes to its owner instead).
UNDELIVERABLE = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "method_not_supported_for_channel_type",
        "missing_scope",
        "restricted_action",
        "restricted_action_read_only_channel",
        "team_access_not_granted",
    }
)
# History errors meaning the channel is gone or closed to us: the message can't be found there, nor posted again.
HISTORY_GONE = frozenset({"channel_not_found", "not_in_channel", "team_access_not_granted"})
CHANNEL_GONE = {code: True for code in HISTORY_GONE}  # a Reader's `missing`: Missing(gone=True)
THREAD_GONE = {**CHANNEL_GONE, "thread_not_found": False}  # its parent deleted: the reply isn't there either
AMBIGUOUS_ERRORS = (TimeoutError, socket.timeout, urllib.error.URLError, ConnectionError, http.client.HTTPException)
NON_JSON = "Received a response in a non-JSON format"  # slack_sdk's error for an HTML error page


class Patience:
    """How one run waits out short rate limits: `sleep` is injectable (tests pass a fake clock's), and the run
    spends at most `budget` seconds on such waits, so a busy Slack delays a run but never stalls it."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, budget: float = RUN_PATIENCE):
        self.sleep = sleep
        self.budget = budget
        self.spent = 0.0

    def wait(self, seconds: float) -> bool:
        """Wait `seconds` if that is short and within the budget; False means: give up for this run."""
        if seconds > SHORT_WAIT or self.spent + seconds > self.budget:
            return False
        if seconds > 0:
            self.sleep(seconds)
        self.spent += seconds
        return True


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


RATELIMITED, REFUSED, UNREACHABLE, OFFLINE = "ratelimited", "refused", "unreachable", "offline"
PACED = "paced"  # NotPosted's error when the shared pace's next turn was further off than the caller waits


@dataclass(frozen=True)
class NotPosted:
    """Slack surely did not post it, so it may be posted again. `kind`: RATELIMITED (`wait` is Retry-After),
    REFUSED (ok:false), UNREACHABLE (the channel or user can't be reached) or OFFLINE (no connection at all)."""

    error: str
    kind: str
    wait: timedelta | None = None


@dataclass(frozen=True)
class Unknown:
    """Slack may or may not have it: only its history can tell."""

    error: str


Outcome = Posted | NotPosted | Unknown


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most an hour: a failing post is retried for as long as it takes, never dropped."""
    return timedelta(minutes=min(2**attempts, 60))


def retry_delay(outcome: NotPosted, attempts: int) -> timedelta:
    """Step 3, when Slack surely did not post: Retry-After (at least RATE_LIMIT_RETRY) after a 429; soon when
    Slack couldn't be reached at all; else a backoff growing with the `attempts` already made."""
    if outcome.kind == RATELIMITED:
        return max(outcome.wait or timedelta(0), RATE_LIMIT_RETRY)
    if outcome.kind == OFFLINE:
        return min(backoff(attempts), OFFLINE_RETRY)
    return backoff(attempts)


def metadata(event_type: str, **payload: int) -> dict:
    """What a post carries in its message metadata: the row's id (and context), by which find_posted knows it."""
    return {"event_type": event_type, "event_payload": payload}


def never_sent(exc: Exception) -> bool:
    """Refused before anything went out (no connection, no DNS): surely not posted, so no history check."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


T = TypeVar("T")


def read_patiently(call: Callable[[], T], patience: Patience) -> T:
    """A call that is safe to repeat (auth.test, users.info, conversations.open): a short 429 is waited out and the
    call made again, so one busy second doesn't cost a whole run. Anything else is raised as usual."""
    waits = 0
    while True:
        try:
            return call()
        except SlackApiError as exc:
            if status_of(exc) != 429 or waits >= SHORT_WAITS_PER_POST or not patience.wait(retry_after(exc)):
                raise
            waits += 1


def require_no_retries(client: WebClient) -> None:
    """A client with retry handlers repeats a POST after a 5xx or a timeout: a second copy of the message."""
    if client.retry_handlers:
        raise ValueError("this client retries on its own and could post twice; use bot.slack.client.posting_client")


def post_once(
    client: WebClient,
    channel: str,
    *,
    text: str,
    blocks: list[dict] | None,
    metadata: dict,
    patience: Patience,
    pace: Pace,
    team_id: str,
    join: bool = False,
    **extra,
) -> Outcome:
    """Step 2: one chat.postMessage, what became of it, and nothing posted twice. Each attempt first waits for its
    moment in `pace` (the channel's and workspace `team_id`'s), so posts from every process keep to Slack's limits.
    `join`: a public channel the bot was never invited to is joined first (conversations.join), then the post is
    made."""
    require_no_retries(client)
    waits = 0
    while True:
        try:
            pace.wait(channel, team_id)
        except Later as exc:  # its turn is further off than this caller waits: surely not posted, try later
            return NotPosted(PACED, RATELIMITED, timedelta(seconds=exc.seconds))
        try:
            response = client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=metadata, unfurl_links=False, **extra
            )
            return Posted(response["channel"], response["ts"])
        except SlackApiError as exc:
            code, status = error_code(exc), status_of(exc)
            if status == 429:
                wait = retry_after(exc)
                if waits < SHORT_WAITS_PER_POST and patience.wait(wait):
                    waits += 1  # surely not posted: try again in this run
                    continue
                return NotPosted("ratelimited", RATELIMITED, timedelta(seconds=wait))
            if status >= 500 or code.startswith(NON_JSON):
                return Unknown(f"http {status}")
            if code == "not_in_channel" and join:
                join, refused = False, _join(client, channel)
                if refused is None:
                    continue
                return refused
            if code in UNDELIVERABLE:
                return NotPosted(code, UNREACHABLE)
            return NotPosted(code or f"http {status}", REFUSED)
        except AMBIGUOUS_ERRORS as exc:
            if never_sent(exc):
                return NotPosted(type(exc).__name__, OFFLINE)
            return Unknown(type(exc).__name__)


def _join(client: WebClient, channel: str) -> NotPosted | None:
    """Join a public channel before posting there; None when joined (the post was not made either way)."""
    try:
        client.conversations_join(channel=channel)
    except SlackApiError as exc:
        code = error_code(exc)
        if status_of(exc) == 429:
            return NotPosted("ratelimited", RATELIMITED, timedelta(seconds=retry_after(exc)))
        return NotPosted(code or "not_in_channel", UNREACHABLE if code in UNDELIVERABLE else REFUSED)
    except AMBIGUOUS_ERRORS as exc:
        return NotPosted(type(exc).__name__, OFFLINE)
    return None


# -- step 4: finding a post whose outcome we never learned ------------------------------------------------


@dataclass(frozen=True)
class Found:
    channel: str
    ts: str


@dataclass(frozen=True)
class Missing:
    """The whole window was read (or the channel is gone): it isn't there, so it may be posted afresh."""

    gone: bool = False


@dataclass(frozen=True)
class Unsure:
    """Only part of the window was read: still unknown. `searched_to`: how far the search read (history: the oldest
    ts; a thread's replies: the newest), from which the next run reads on (None: nothing read yet)."""

    error: str
    searched_to: str | None


Search = Found | Missing | Unsure


class Claim(Protocol):
    """The row a post was claimed under (a nudge post, an announcement, a digest), as the history search needs it."""

    id: int
    claimed_at: str  # when the claim was made: the search window starts there
    searched_to: str | None  # how far an earlier search read (history: the oldest ts; replies: the newest), or None
    thread_ts: str | None  # a thread reply: the parent's ts (its replies are searched), else None


def window(claimed_at: str, lease: timedelta) -> tuple[Decimal, Decimal]:
    """(oldest, latest) ts where a post claimed at `claimed_at` can be: from the claim to the end of its lease,
    with HISTORY_SKEW either side."""
    start = slack_ts(claimed_at)
    skew = Decimal(int(HISTORY_SKEW.total_seconds()))
    return start - skew, start + Decimal(int(lease.total_seconds())) + skew


@dataclass(frozen=True)
class Reader:
    """One conversation read page by page: which Slack read (`call`, a WebClient method) with the arguments every page
    repeats, and how its pages run. History comes newest first, so a search's progress is the oldest ts it read
    (`progress=min`); a thread's replies come oldest first, so it is the newest (`max`); None keeps none (the whole
    conversation is read each time). `missing`: the errors saying the message can't be there, each with whether
    the conversation itself is gone. `parent`: a thread's parent, which every page of replies repeats and which is
    never the message looked for."""

    name: str  # how an Unsure names what it was reading: "history" or "replies"
    call: Callable[..., Any]
    args: Mapping[str, Any]
    missing: Mapping[str, bool]
    progress: Callable[[Iterable[Decimal]], Decimal] | None = None
    parent: str | None = None


def search(
    reader: Reader,
    matches: Callable[[dict], bool],
    *,
    patience: Patience,
    searched_to: str | None = None,
    pages: int = HISTORY_PAGES,
) -> Search:
    """Step 4's one paged search: the first message `matches` accepts, `reader`'s pages read in order. Missing only
    once the last page was read (or the conversation is gone); a rate limit, an error, a timeout or more than
    `pages` pages leave it Unsure, carrying how far it read (`searched_to`, moved on by `reader.progress`) so the
    next run reads on from there. A short 429 is waited out and the same page asked again."""
    cursor, read, waits = None, 0, 0
    while read < pages:
        try:
            page = reader.call(**reader.args, limit=HISTORY_PAGE, cursor=cursor)
        except SlackApiError as exc:
            code = error_code(exc)
            if status_of(exc) == 429:
                if waits < SHORT_WAITS_PER_POST and patience.wait(retry_after(exc)):
                    waits += 1
                    continue  # the same page again, after the wait Slack asked for
                return Unsure(f"{reader.name} rate limited", searched_to)
            if code in reader.missing:
                return Missing(gone=reader.missing[code])
            return Unsure(f"{reader.name}: {code or status_of(exc)}", searched_to)
        except AMBIGUOUS_ERRORS as exc:
            return Unsure(f"{reader.name}: {type(exc).__name__}", searched_to)
        read += 1
        messages = [m for m in page.get("messages") or [] if reader.parent is None or m.get("ts") != reader.parent]
        for message in messages:
            if matches(message):
                return Found(reader.args["channel"], message["ts"])
        if messages and reader.progress:
            searched_to = str(reader.progress(Decimal(m["ts"]) for m in messages))
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more"):
            return Missing()
        if not cursor:
            return Unsure(f"{reader.name}: more to read but no cursor", searched_to)
    return Unsure(f"more than {pages} pages of {reader.name} this run", searched_to)


def carries(event_type: str, key: str, value: int) -> Callable[[dict], bool]:
    """A message whose metadata (see `metadata`) is of `event_type` with {key: value} in its payload."""

    def matches(message: dict) -> bool:
        meta = message.get("metadata") or {}
        return meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get(key) == value

    return matches


def find_posted(
    client: WebClient,
    channel: str,
    claim: Claim,
    *,
    event_type: str,
    key: str,
    patience: Patience,
    lease: timedelta = LEASE,
) -> Search:
    """The message whose metadata carries {key: claim.id}, in `channel` (a user id means the bot's DM with them),
    within the claim's window: a channel's history read newest first, down from where the last search stopped (or
    the window's end); a thread's replies (`claim.thread_ts`) oldest first, on from the newest ts an earlier search
    reached. A thread that is gone (its parent deleted) means the reply is not there either."""
    try:
        if channel.startswith(("U", "W")):
            user = channel
            channel = read_patiently(lambda: client.conversations_open(users=user), patience)["channel"]["id"]
    except SlackApiError as exc:
        return Unsure(f"conversations.open: {error_code(exc) or status_of(exc)}", claim.searched_to)
    except AMBIGUOUS_ERRORS as exc:
        return Unsure(f"conversations.open: {type(exc).__name__}", claim.searched_to)
    oldest, latest = window(claim.claimed_at, lease)
    searched_to = Decimal(claim.searched_to) if claim.searched_to else None
    read = {"channel": channel, "include_all_metadata": True}
    if getattr(claim, "thread_ts", None):
        lower = max(oldest, searched_to) if searched_to else oldest
        reader = Reader(
            "replies",
            client.conversations_replies,
            {**read, "ts": claim.thread_ts, "oldest": str(lower), "latest": str(latest)},
            THREAD_GONE,
            progress=max,
            parent=claim.thread_ts,
        )
    else:
        upper = searched_to if searched_to is not None else latest
        reader = Reader(
            "history",
            client.conversations_history,
            {**read, "oldest": str(oldest), "latest": str(upper)},
            CHANNEL_GONE,
            progress=min,
        )
    return search(reader, carries(event_type, key, claim.id), patience=patience, searched_to=claim.searched_to)


# -- a file shared into a thread once (the welcome kit) ----------------------------------------------------
# The same four steps for a file: the claim is the caller's row; the share (files.completeUploadExternal) is the
# one call that makes a message, so it is made once, through a client that never retries, after the file's id is
# recorded; a share whose outcome is unknown is looked for by that id in the thread's replies.


def upload_file(client: WebClient, data: bytes, *, filename: str, timeout: float) -> str | NotPosted:
    """Steps before the share, each safe to repeat (an unshared file shows nowhere): files.getUploadURLExternal,
    then the bytes to the URL Slack gave. The file's id, or NotPosted (nothing was shared)."""
    try:
        answer = client.files_getUploadURLExternal(filename=filename, length=len(data))
    except SlackApiError as exc:
        if status_of(exc) == 429:
            return NotPosted("ratelimited", RATELIMITED, timedelta(seconds=retry_after(exc)))
        return NotPosted(f"getUploadURLExternal: {error_code(exc) or status_of(exc)}", REFUSED)
    except AMBIGUOUS_ERRORS as exc:
        return NotPosted(type(exc).__name__, OFFLINE if never_sent(exc) else REFUSED)
    request = urllib.request.Request(answer["upload_url"], data=data, method="POST")
    request.add_header("Content-Type", "application/octet-stream")
    handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPSHandler(context=client.ssl)]
    if client.proxy:  # the same way out as the client's own calls, as slack_sdk's files_upload_v2 does
        handlers.append(urllib.request.ProxyHandler({"http": client.proxy, "https": client.proxy}))
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        return NotPosted(f"upload: http {exc.code}", RATELIMITED if exc.code == 429 else REFUSED)
    except AMBIGUOUS_ERRORS as exc:
        return NotPosted(f"upload: {type(exc).__name__}", OFFLINE if never_sent(exc) else REFUSED)
    return str(answer["file_id"])


def share_once(
    client: WebClient,
    file_id: str,
    *,
    channel: str,
    thread_ts: str,
    title: str,
    comment: str,
    patience: Patience,
    pace: Pace,
    team_id: str,
) -> Outcome:
    """Step 2 for a file: one files.completeUploadExternal into the thread, and what became of it (Posted carries
    the thread's ts). Its message keeps the channel's pace like a post; a short 429 is waited out and the share made
    again, since Slack surely did not make it."""
    require_no_retries(client)
    waits = 0
    while True:
        try:
            pace.wait(channel, team_id)
        except Later as exc:
            return NotPosted(PACED, RATELIMITED, timedelta(seconds=exc.seconds))
        try:
            client.files_completeUploadExternal(
                files=[{"id": file_id, "title": title}],
                channel_id=channel,
                thread_ts=thread_ts,
                initial_comment=comment,
            )
            return Posted(channel, thread_ts)
        except SlackApiError as exc:
            code, status = error_code(exc), status_of(exc)
            if status == 429:
                wait = retry_after(exc)
                if waits < SHORT_WAITS_PER_POST and patience.wait(wait):
                    waits += 1
                    continue
                return NotPosted("ratelimited", RATELIMITED, timedelta(seconds=wait))
            if status >= 500 or code.startswith(NON_JSON):
                return Unknown(f"http {status}")
            return NotPosted(code or f"http {status}", UNREACHABLE if code in UNDELIVERABLE else REFUSED)
        except AMBIGUOUS_ERRORS as exc:
            if never_sent(exc):
                return NotPosted(type(exc).__name__, OFFLINE)
            return Unknown(type(exc).__name__)


def find_shared(client: WebClient, file_id: str, *, channel: str, thread_ts: str, patience: Patience) -> Search:
    """Step 4 for a file: the reply in the thread that carries `file_id`. Missing only once the whole thread was
    read (or the channel is gone); a rate limit or a thread longer than one run reads leaves it Unsure."""
    reader = Reader(
        "replies", client.conversations_replies, {"channel": channel, "ts": thread_ts}, CHANNEL_GONE, parent=thread_ts
    )
    return search(
        reader, lambda m: any((f or {}).get("id") == file_id for f in m.get("files") or []), patience=patience
    )
