"""Async look-up of a table's `updated` timestamp, for the Airflow event trigger that polls it."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import httpx
import orjson

from . import guard, v1, v2
from .errors import (
    DeadlineExceeded,
    PxWebError,
    RedirectRefused,
    ResponseError,
    ResponseTooLarge,
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
    guard.check_base_url(base_url)
    steps = v2.table_info_steps(table_id, lang) if api == "v2" else v1.table_info_steps(table_id)
    async with httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,  # judged one by one (guard.check_redirect)
        headers={
            "User-Agent": "cleantech-warehouse/0.1",
            "Accept": "application/json",
            "Accept-Encoding": guard.ACCEPT_ENCODING,
        },
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
    deadline = guard.request_deadline()
    for attempt in range(_ATTEMPTS):
        if attempt:
            await asyncio.sleep(_BACKOFF * 2 ** (attempt - 1))
        try:
            status, headers, body, shown = await asyncio.wait_for(
                _exchange(client, url, call, table_id), timeout=deadline
            )
        except TimeoutError:
            last = DeadlineExceeded(
                f"no complete response within the request deadline of {deadline:g} s",
                deadline=deadline,
                table=table_id,
                url=url,
            )
            continue
        except httpx.TransportError as exc:
            last = SourceUnreachable(
                f"cannot reach the server ({type(exc).__name__}: {exc})", table=table_id, url=url
            )
            continue
        except httpx.HTTPError as exc:  # a broken body (bad gzip, reset mid-body)
            last = ResponseError(
                f"truncated response body ({type(exc).__name__}: {exc})", table=table_id, url=url
            )
            continue
        if 200 <= status < 300:
            return body
        retry_after = retry_after_seconds(headers.get("Retry-After"))
        last = error_for_status(status, body, table=table_id, url=shown, retry_after=retry_after)
        if status == 429 and retry_after:
            await asyncio.sleep(retry_after)
        if status != 429 and status < 500:
            raise last
    assert last is not None
    raise last


async def _exchange(
    client: httpx.AsyncClient, url: str, call: Call, table_id: str
) -> tuple[int, httpx.Headers, bytes, str]:
    """One attempt: same-origin 307/308 followed, the body streamed within the size limit."""
    params: Any = call.params or None
    target = url
    limit = guard.body_limit(None)
    for _hop in range(guard.MAX_REDIRECTS + 1):
        request = client.build_request(call.method, target, params=params, json=call.json)
        shown = str(request.url)
        response = await client.send(request, stream=True)
        try:
            status = response.status_code
            if status in guard.REDIRECT_STATUSES:
                location = response.headers.get("Location")
                joined = str(request.url.join(location)) if location else None
                target = guard.check_redirect(status, shown, joined, table=table_id)
                params = None
                continue
            declared = response.headers.get("Content-Length", "")
            coding = guard.check_encoding(response.headers.get("Content-Encoding"))
            if coding is not None:
                raise ResponseError(
                    f"unsupported Content-Encoding {coding!r}", table=table_id, url=shown
                )
            chunks: list[bytes] = []
            size = 0
            if declared.strip().isdigit() and int(declared) > limit:
                size = int(declared)
            else:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit or response.num_bytes_downloaded > limit:
                        break
                    chunks.append(chunk)
            if size > limit or response.num_bytes_downloaded > limit:
                raise ResponseTooLarge(
                    f"response body over the limit of {limit} bytes",
                    limit=limit,
                    table=table_id,
                    url=shown,
                    status=status,
                )
        finally:
            await response.aclose()
        return status, response.headers, b"".join(chunks), shown
    raise RedirectRefused(
        f"more than {guard.MAX_REDIRECTS} redirects", table=table_id, url=url, target=target
    )
