"""One way to call a CRM's JSON API, for every adapter: the token in a header (never the URL), a timeout, no
redirects (they would carry the token to another host), and every failure sorted into "try again later"
(CrmUnavailable) or "never" (CrmRefused)."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from bot.crm.types import CrmRefused, CrmUnavailable

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds for one call; the worker has time, but a hung CRM must not hold it forever
RETRY_STATUSES = {408, 425, 429}  # besides every 5xx: the CRM asks us to come back
ERROR_EXCERPT = 200  # characters of the CRM's own error message kept in ours


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx then surfaces as an HTTPError, answered below


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in delta-seconds form (what HubSpot and Pipedrive send), else None."""
    text = (value or "").strip()
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _their_message(raw: bytes) -> str:
    """The CRM's own error message (HubSpot's `message`, Pipedrive's `error`), short, for the log and the inbox."""
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    if isinstance(data, dict):
        for key in ("message", "error", "error_info"):
            if isinstance(data.get(key), str) and data[key].strip():
                return data[key].strip()[:ERROR_EXCERPT]
    return ""


class JsonApi:
    """Calls one CRM's API at `base_url` with `headers` (the token) on every request."""

    def __init__(self, crm: str, base_url: str, headers: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT):
        self.crm = crm  # "HubSpot", "Pipedrive": how messages name it
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **headers}
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, missing_ok: bool = False) -> Any:
        """The JSON answer; None for a 404 when `missing_ok` (an owner or contact that is gone)."""
        return self._call("GET", path, params, None, missing_ok)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._call("POST", path, None, body, False)

    def _call(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: Mapping[str, Any] | None, missing_ok: bool
    ) -> Any:
        url = self.base_url + path + (f"?{urlencode(params, doseq=True)}" if params else "")
        what = f"{method} {path}"  # never the query's values or a header: nothing secret reaches a message
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read() if exc.fp is not None else b""
            return self._refusal(exc.code, exc.headers, raw, what, missing_ok)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # OSError: TimeoutError, resets
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise CrmUnavailable(f"{self.crm} did not answer {what} within {self.timeout:g} s") from exc
            raise CrmUnavailable(f"{self.crm} could not be reached for {what}: {reason}") from exc
        try:
            return json.loads(raw)
        except ValueError as exc:  # a proxy's error page with a 200: the CRM itself did not answer
            raise CrmUnavailable(f"{self.crm} answered {what} with something that is not JSON") from exc

    def _refusal(self, status: int, headers, raw: bytes, what: str, missing_ok: bool) -> None:
        theirs = _their_message(raw)
        said = f"{self.crm} answered {status} to {what}" + (f": {theirs}" if theirs else "")
        if status == 404 and missing_ok:
            return None
        if status in RETRY_STATUSES or status >= 500:
            raise CrmUnavailable(said, retry_after=retry_after(headers.get("Retry-After") if headers else None))
        if status in (401, 403):  # a token revoked or missing a scope: an admin can fix it, so keep the event
            raise CrmUnavailable(f"{said} (the API token was refused: check it and its scopes)")
        if 300 <= status < 400:  # not followed: the token would go along to wherever it points
            where = headers.get("Location", "?") if headers else "?"
            raise CrmUnavailable(f"{said} (a redirect to {where}: check the API URL setting)")
        raise CrmRefused(said, status=status)
