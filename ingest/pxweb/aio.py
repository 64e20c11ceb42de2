"""Async look-up of a table's `updated` timestamp, for the Airflow event trigger that polls it."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import httpx
import orjson

from . import v1, v2
from .errors import (
    PxWebError,
    ResponseError,
    SourceUnreachable,
    error_for_status,
    retry_after_seconds,
)
from .models import Call, TableInfo

# The trigger polls again on its own schedule, so a short retry budget is enough here.
_ATTEMPTS = 3
_BACKOFF = 1.0


async def fetch_table_updated(
    base_url: str,
    api: str,
    table_id: str,
    *,
    lang: str | None = None,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str | None:
    """The table's `updated` as the server gives it (v2 /tables/{id}; v1 parent folder listing)."""
    if api not in ("v1", "v2"):
        raise ValueError(f"api must be 'v1' or 'v2', not {api!r}")
    steps = v2.table_info_steps(table_id, lang) if api == "v2" else v1.table_info_steps(table_id)
    async with httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=True,
        headers={"User-Agent": "cleantech-warehouse/0.1", "Accept": "application/json"},
    ) as client:
        info = await _drive(client, base_url.rstrip("/"), steps, table_id)
    return info.updated


async def _drive(
    client: httpx.AsyncClient,
    base_url: str,
    steps: Generator[Call, Any, TableInfo],
    table_id: str,
) -> TableInfo:
    value: Any = None
    error: PxWebError | None = None
    while True:
        try:
            call = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            body = await _call(client, base_url, call, table_id)
            value = orjson.loads(body) if call.parse_json else body
        except orjson.JSONDecodeError as exc:
            error = ResponseError(f"invalid JSON in the response ({exc})", table=table_id)
        except PxWebError as exc:
            error = exc


async def _call(client: httpx.AsyncClient, base_url: str, call: Call, table_id: str) -> bytes:
    url = call.url(base_url)
    last: PxWebError | None = None
    for attempt in range(_ATTEMPTS):
        if attempt:
            await asyncio.sleep(_BACKOFF * 2 ** (attempt - 1))
        try:
            response = await client.request(
                call.method, url, params=call.params or None, json=call.json
            )
        except httpx.TransportError as exc:
            last = SourceUnreachable(
                f"cannot reach the server ({type(exc).__name__}: {exc})", table=table_id, url=url
            )
            continue
        status = response.status_code
        if 200 <= status < 300:
            return response.content
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        last = error_for_status(
            status,
            response.content,
            table=table_id,
            url=str(response.url),
            retry_after=retry_after,
        )
        if status == 429 and retry_after:
            await asyncio.sleep(retry_after)
        if status != 429 and status < 500:
            raise last
    assert last is not None
    raise last
