"""What the client accepts from a server it does not control: URLs, redirects, sizes, deadlines.

A nightly job must come back in bounded time and memory with the right data or one clear line.
These rules are shared by the sync client (`client.py`) and the async look-up (`aio.py`).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ingest.env import positive_number

from .errors import RedirectRefused, UnsupportedURL
from .limits import Limits

# Total time for one request: connect, send, headers and every read of the body. SCB answers a
# full 150,000-cell request in a few seconds; 30 s leaves room for a slow day and still lets a
# server that drips its body fail within a minute (a deadline is retried once, see client.py).
DEFAULT_REQUEST_DEADLINE = 30.0
# Total time for fetching one table's data (every split request, retries and 429 pauses
# included). SCB's rate limit (30 calls / 10 s) fetches ~1,000 requests in 15 minutes.
DEFAULT_TABLE_DEADLINE = 900.0
# Largest body accepted per response, as sent and once decompressed: 256 bytes per cell the
# server may return in one response (a JSON-stat 2 cell takes 5–40 bytes with its status),
# at least 16 MiB (metadata of tables with many codes and long labels).
BYTES_PER_CELL = 256
MIN_BODY_BYTES = 16 * 1024 * 1024
# Same-origin 307/308 hops followed per request.
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Content codings the client asks for and accepts (one layer: no nested decompression bombs).
ACCEPT_ENCODING = "gzip, deflate"
_CODINGS = frozenset({"gzip", "deflate", "identity", ""})


def request_deadline() -> float:
    """Seconds one request may take in total (`CLEANTECH_REQUEST_DEADLINE` overrides)."""
    return positive_number("CLEANTECH_REQUEST_DEADLINE", DEFAULT_REQUEST_DEADLINE)


def table_deadline() -> float:
    """Seconds fetching one table may take in total (`CLEANTECH_TABLE_DEADLINE` overrides)."""
    return positive_number("CLEANTECH_TABLE_DEADLINE", DEFAULT_TABLE_DEADLINE)


def body_limit(limits: Limits | None, override: int | None = None) -> int:
    """Bytes one response body may hold (as sent and decompressed): `override`, else
    `CLEANTECH_MAX_RESPONSE_MB`, else sized from the server's cells per request."""
    if override is not None:
        return override
    env = os.environ.get("CLEANTECH_MAX_RESPONSE_MB")
    if env:
        return int(positive_number("CLEANTECH_MAX_RESPONSE_MB", 1.0) * 1024 * 1024)
    cells = (limits or Limits()).request_cells
    return max(MIN_BODY_BYTES, BYTES_PER_CELL * cells)


def check_base_url(url: str) -> str:
    """The base URL when it is http(s) with a host; UnsupportedURL (one line) otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UnsupportedURL(
            f"unsupported base URL {url!r}: only http:// and https:// URLs with a host are "
            "accepted (e.g. https://statistikdatabasen.scb.se/api/v2)"
        )
    return url


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def check_redirect(status: int, source: str, target: str | None, *, table: str | None) -> str:
    """The target of a redirect the client may follow (same origin, 307/308 keep method and
    body); RedirectRefused naming the target otherwise."""
    if not target:
        raise RedirectRefused(
            f"HTTP {status} redirect without a Location", table=table, url=source, status=status
        )
    if origin(target) != origin(source):
        raise RedirectRefused(
            f"refused a redirect to another origin: {target}",
            target=target,
            table=table,
            url=source,
            status=status,
            hint="point --base-url at the server that answers",
        )
    if status not in (307, 308):
        raise RedirectRefused(
            f"refused an HTTP {status} redirect to {target} (it would change the request; "
            "only same-origin 307/308 are followed)",
            target=target,
            table=table,
            url=source,
            status=status,
            hint="point --base-url at the URL the server redirects to",
        )
    return target


def check_encoding(header: str | None) -> str | None:
    """None when the Content-Encoding is one the client decodes in one layer, else the header."""
    codings = [c.strip().lower() for c in (header or "").split(",")]
    if len([c for c in codings if c not in ("identity", "")]) > 1:
        return header
    return None if all(c in _CODINGS for c in codings) else header
