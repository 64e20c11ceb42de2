"""Typed PxWeb errors that carry what a user needs to act: table, URL, status, server message."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_MAX_MESSAGE = 300


class PxWebError(Exception):
    """Base class of every error the PxWeb client raises."""

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        url: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.table = table
        self.url = url
        self.status = status
        self.server_message = server_message
        self.hint = hint

    def __str__(self) -> str:
        parts = [self.message]
        if self.table:
            parts.append(f"table {self.table}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.server_message:
            parts.append(f"server said: {self.server_message}")
        if self.url:
            parts.append(self.url)
        if self.hint:
            parts.append(self.hint)
        return _one_line("; ".join(parts))


class BadRequest(PxWebError):
    """The server rejected the request (HTTP 400 or another 4xx): fix the query."""


class NotFound(PxWebError):
    """Unknown table, folder or page (HTTP 404)."""


class TooManyCells(PxWebError):
    """The selection exceeds the server's cell/value limit and cannot be split to fit."""

    def __init__(
        self,
        message: str,
        *,
        variable: str | None = None,
        limit: int | None = None,
        cells: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.variable = variable
        self.limit = limit
        self.cells = cells


class InvalidSelection(PxWebError):
    """A selection names a variable or value code the table's metadata does not have."""

    def __init__(
        self,
        message: str,
        *,
        variable: str | None = None,
        code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.variable = variable
        self.code = code


class RateLimited(PxWebError):
    """HTTP 429 persisted after every retry."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(PxWebError):
    """HTTP 5xx persisted after every retry."""


class SourceUnreachable(PxWebError):
    """Connection errors or timeouts persisted after every retry."""


class ResponseError(PxWebError):
    """A truncated or unparsable response body persisted after every retry."""


class DeadlineExceeded(PxWebError):
    """A request or a table's fetch ran past its total deadline (connect + every read)."""

    def __init__(self, message: str, *, deadline: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.deadline = deadline


class TableDeadlineExceeded(DeadlineExceeded):
    """Fetching one table (every request, retry and wait for it) ran past the table deadline."""


class ResponseTooLarge(ResponseError):
    """A response body (as sent, or once decompressed) is over the client's size limit."""

    def __init__(self, message: str, *, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class RedirectRefused(PxWebError):
    """A redirect the client does not follow: to another origin, or one that changes the method."""

    def __init__(self, message: str, *, target: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.target = target


class UnsupportedURL(PxWebError, ValueError):
    """A base URL that is not http:// or https:// with a host."""


class ResponseMismatch(ResponseError):
    """A data response that does not hold what was asked for (other dimensions or codes)."""


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def server_message(body: bytes | str | None) -> str | None:
    """The server's own message from a v2 problem+json, v1 {"error": ...}, or text/HTML body."""
    if not body:
        return None
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, Mapping):
        if "title" in parsed or "detail" in parsed:
            pieces = [str(parsed[k]) for k in ("title", "detail") if parsed.get(k)]
            text = ": ".join(pieces) or str(parsed.get("type") or "")
        elif "error" in parsed:
            text = str(parsed["error"])
        elif "message" in parsed:
            text = str(parsed["message"])
        else:
            text = raw
    else:
        # Plain text or an HTML error page (SCB's front end, IIS at Statistics Finland).
        text = _TAG.sub(" ", raw)
    text = _one_line(text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text or None


def _is_cell_limit(message: str | None) -> bool:
    # v2 answers the cell limit with a plain 400 ("Too many cells selected"); only then is the
    # body consulted, to pick the more useful subclass. The status code still decides the family.
    return message is not None and "too many" in message.lower()


# A server asking for more than this is treated as asking for this (a stuck run is worse).
_MAX_RETRY_AFTER = 600.0


def retry_after_seconds(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped."""
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def error_for_status(
    status: int,
    body: bytes | str | None,
    *,
    table: str | None = None,
    url: str | None = None,
    retry_after: float | None = None,
) -> PxWebError:
    """The typed error for an HTTP error status (classified by status code, never by body shape)."""
    msg = server_message(body)
    common: dict[str, Any] = {"table": table, "url": url, "status": status, "server_message": msg}
    if status == 404:
        return NotFound(
            "not found",
            hint="check the table id (v2 TAB id or v1 path) and the base URL",
            **common,
        )
    if status == 403 or (status == 400 and _is_cell_limit(msg)):
        return TooManyCells(
            "too many cells selected",
            hint="lower the client's Limits.max_cells or narrow the selection",
            **common,
        )
    if status == 429:
        return RateLimited("rate limited", retry_after=retry_after, hint="retry later", **common)
    if 500 <= status < 600:
        return ServerError("server error", hint="retry later", **common)
    if 400 <= status < 500:
        return BadRequest("bad request", hint="check variable and value codes", **common)
    return PxWebError(f"unexpected HTTP status {status}", **common)
