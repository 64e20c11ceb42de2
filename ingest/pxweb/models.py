"""Plain data the PxWeb client returns: table info, variables, metadata, plans, fetched parts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

# v1 servers give `updated` as naive local time; SCB and the Nordic offices publish in CET/CEST.
V1_LOCAL_TZ = ZoneInfo("Europe/Stockholm")
# The non-ISO `updated` forms read, all day first, e.g. `14/09/2016 09:42:12` (some offices publish
# these): day, month, four-digit year separated by `/`, `.` or `-`, then optionally a space and
# HH:MM:SS or HH:MM. Naive like v1's values, so Stockholm time. Month-first (US) dates are not
# read: `09/14/2016` is unreadable, and `03/04/2016` is 3 April. docs/ARCHITECTURE.md lists them.
DAY_FIRST_FORMATS = tuple(
    f"%d{sep}%m{sep}%Y{clock}" for sep in "/.-" for clock in (" %H:%M:%S", " %H:%M", "")
)


def parse_updated(value: str | None) -> datetime | None:
    """A source `updated` (ISO 8601 or a day-first form) as an aware UTC datetime, else None.

    Naive values are Stockholm time. None means the vintage is unknown: it never matches another.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    parsed = _iso(text) or _day_first(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=V1_LOCAL_TZ)
    return parsed.astimezone(UTC)


def same_vintage(a: str | datetime | None, b: str | datetime | None) -> bool:
    """True when two `updated` values name the same instant (None never matches)."""
    da = a if isinstance(a, datetime) else parse_updated(a)
    db = b if isinstance(b, datetime) else parse_updated(b)
    return da is not None and db is not None and da == db


def is_zoned_iso(value: str | None) -> bool:
    """Whether `value` is ISO 8601 with a zone (`Z` or an offset): one instant, as DuckDB reads it."""
    parsed = _iso(value.strip()) if isinstance(value, str) else None
    return parsed is not None and parsed.tzinfo is not None


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _day_first(text: str) -> datetime | None:
    for form in DAY_FIRST_FORMATS:
        try:
            return datetime.strptime(text, form)  # noqa: DTZ007 (naive on purpose: local time)
        except ValueError:
            continue
    return None


@dataclass
class TableInfo:
    """A table as listed by the server (v2 /tables, v1 folder listing)."""

    id: str
    label: str
    updated: str | None = None  # ISO string exactly as the server gave it
    first_period: str | None = None
    last_period: str | None = None
    v1_name: str | None = None  # extension.px.matrix / v1 table name, when known
    discontinued: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Variable:
    """One dimension of a table with its value codes in metadata order."""

    code: str
    label: str
    values: list[str]
    value_texts: list[str]
    elimination: bool = False
    elimination_value: str | None = None
    is_time: bool = False
    is_contents: bool = False


@dataclass
class TableMetadata:
    """A table's variables (metadata order) and its `updated` timestamp."""

    table_id: str
    label: str
    updated: str | None
    variables: list[Variable]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def variable(self, code: str) -> Variable | None:
        """The variable with this code (exact, else case-insensitive), or None."""
        for var in self.variables:
            if var.code == code:
                return var
        folded = code.casefold()
        matches = [var for var in self.variables if var.code.casefold() == folded]
        return matches[0] if len(matches) == 1 else None


@dataclass
class QueryPlan:
    """The data requests that together fetch a selection, each within the server's limits."""

    table_id: str
    requests: list[dict[str, list[str]]]
    cells: int
    metadata: TableMetadata = field(repr=False)


@dataclass
class FetchedPart:
    """One fetched data request: its position in the plan, selection and raw body."""

    index: int
    selection: dict[str, list[str]]
    body: bytes = field(repr=False)
    seconds: float
    url: str


@dataclass
class ClientStats:
    """HTTP calls made (retries included), bytes received and retries, for the load log."""

    requests: int = 0
    bytes: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, requests: int = 0, bytes: int = 0, retries: int = 0) -> None:
        """Add counts atomically (worker threads share one stats object)."""
        with self._lock:
            self.requests += requests
            self.bytes += bytes
            self.retries += retries


@dataclass(frozen=True)
class Call:
    """One HTTP call a protocol step wants made: a path relative to the base URL, or absolute."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    # False: the step gets the raw bytes and judges them itself (probing optional endpoints).
    parse_json: bool = True

    def url(self, base_url: str) -> str:
        """The absolute URL of this call against a base URL."""
        if "://" in self.path:
            return self.path
        return f"{base_url.rstrip('/')}/{self.path}" if self.path else base_url.rstrip("/")
