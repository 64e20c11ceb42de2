"""Client guards with short, explicit settings: request and table deadlines, size limits,
content codings, redirects and base URLs (the CLI-level cases with defaults are in
test_hostile_sources.py)."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Iterator

import httpx
import pytest

from ingest.pxweb import deadline, guard
from ingest.pxweb.aio import fetch_table_updated
from ingest.pxweb.client import PxWebClient
from ingest.pxweb.errors import (
    DeadlineExceeded,
    RedirectRefused,
    ResponseError,
    ResponseTooLarge,
    TableDeadlineExceeded,
    UnsupportedURL,
)
from ingest.pxweb.limits import Limits
from tests.ingest.pxweb.hostile_server import TABLE, HostileServer, hostile_server

SELECTION = {"Region": ["01"], "ContentsCode": ["C1"], "Tid": ["2020"]}


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as s:
        yield s


def fetch(client: PxWebClient) -> list:
    return list(client.fetch(TABLE, SELECTION))


def test_a_dripping_body_ends_at_the_request_deadline_and_is_retried_once(
    server: HostileServer,
) -> None:
    server.data_requests["drip"] = 0
    started = time.monotonic()
    client = PxWebClient(server.url("drip"), request_deadline=1.0, backoff=0)
    with client, pytest.raises(DeadlineExceeded, match=r"deadline of 1 s.*after 2 attempts"):
        fetch(client)
    assert time.monotonic() - started < 4
    assert server.data_requests["drip"] == 2


@pytest.mark.parametrize("mode", ["dripheaders", "hangheaders"])
def test_a_reused_connection_that_drips_or_withholds_its_headers_ends_at_the_request_deadline(
    server: HostileServer, mode: str
) -> None:
    # The metadata GETs answer with keep-alive; the data POST then goes out on the same
    # connection, and the server drips (or never sends) the status line and headers.
    server.data_requests[mode] = 0
    server.data_on_reused[mode].clear()
    client = PxWebClient(server.url(mode), request_deadline=1.0, timeout=30.0, backoff=0)
    with client:
        plan = client.plan(TABLE, SELECTION)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"deadline of 1 s.*after 2 attempts") as caught:
            list(client.fetch_plan(plan))
    elapsed = time.monotonic() - started
    assert elapsed < 3.5, elapsed  # two attempts of 1 s, not the 30 s read timeout
    assert server.data_on_reused[mode] == [True, False]  # the retry opens a new connection
    assert caught.value.table == TABLE


def test_every_connection_pool_of_the_default_client_is_bounded() -> None:
    # Guards the private httpx/httpcore attributes the deadline relies on: an upgrade that
    # renames them fails here, not silently in production.
    with PxWebClient("http://127.0.0.1:9/api/v2") as client:
        pools = [client._http._transport, *client._http._mounts.values()]
        backends = [p._pool._network_backend for p in pools if p is not None]
    assert backends and all(isinstance(b, deadline.DeadlineBackend) for b in backends)


def test_the_table_deadline_bounds_every_retry(server: HostileServer) -> None:
    server.data_requests["drip"] = 0
    started = time.monotonic()
    with (
        PxWebClient(
            server.url("drip"), request_deadline=1.0, table_deadline=1.5, backoff=0
        ) as client,
        pytest.raises(DeadlineExceeded, match="table TAB1"),
    ):
        fetch(client)
    assert time.monotonic() - started < 3


def test_the_table_deadline_counts_the_metadata_requests_and_their_retries(
    server: HostileServer,
) -> None:
    # Each metadata GET takes 0.6 s (well within the 1 s request deadline) and answers 503:
    # only the table's clock, started before its first request, stops the retries.
    server.metadata_requests["slowmeta"] = 0
    client = PxWebClient(server.url("slowmeta"), request_deadline=1.0, table_deadline=2.0,
                         max_retries=20, backoff=0.01)  # fmt: skip
    started = time.monotonic()
    with client, client.table_clock(TABLE), pytest.raises(TableDeadlineExceeded) as caught:
        fetch(client)
    elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed
    assert 2 <= server.metadata_requests["slowmeta"] <= 4  # not 21
    message = str(caught.value)
    assert "passed the table deadline of 2 s (last error: " in message, message
    assert "HTTP 503" in message and "table TAB1" in message, message
    assert "CLEANTECH_TABLE_DEADLINE" in message


def test_one_clock_per_table_covers_metadata_and_data() -> None:
    # Metadata and data each take 1.2 s: each is within the 5 s request deadline and within a
    # 2 s deadline of its own, but not within one 2 s clock for the table.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(("/metadata", "/data")):
            time.sleep(1.2)
        if request.url.path.endswith("/data"):
            return httpx.Response(200, json={"class": "dataset"})
        return server_ok(request)

    client = PxWebClient("https://x.test/api/v2", request_deadline=5, table_deadline=2,
                         backoff=0, transport=httpx.MockTransport(handler))  # fmt: skip
    with client:
        assert len(fetch(client)) == 1  # without a table clock, the data fetch starts its own
    client = PxWebClient("https://x.test/api/v2", request_deadline=5, table_deadline=2,
                         backoff=0, transport=httpx.MockTransport(handler))  # fmt: skip
    started = time.monotonic()
    with (
        client,
        client.table_clock(TABLE),
        pytest.raises(TableDeadlineExceeded, match=r"table deadline of 2 s.*table TAB1"),
    ):
        fetch(client)
    assert time.monotonic() - started < 3


def test_a_backoff_that_would_pass_the_table_deadline_does_not_start() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/metadata"):
            return httpx.Response(503, json={"title": "busy"})
        return server_ok(request)

    client = PxWebClient("https://x.test/api/v2", table_deadline=3, backoff=10,
                         transport=httpx.MockTransport(handler))  # fmt: skip
    started = time.monotonic()
    with (
        client,
        client.table_clock(TABLE),
        pytest.raises(TableDeadlineExceeded, match=r"3 s \(last error: .*HTTP 503"),
    ):
        client.metadata(TABLE)
    assert time.monotonic() - started < 1  # the 5-15 s backoff never started
    assert sum(p.endswith("/metadata") for p in calls) == 1


def test_a_long_retry_after_past_the_table_deadline_fails_now() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/data"):
            return httpx.Response(429, headers={"Retry-After": "300"}, json={"title": "slow"})
        return server_ok(request)

    started = time.monotonic()
    client = PxWebClient(
        "https://x.test/api/v2", table_deadline=5, transport=httpx.MockTransport(handler)
    )
    with client, pytest.raises(DeadlineExceeded, match=r"5 s \(last error: rate limited"):
        fetch(client)
    assert time.monotonic() - started < 2


def server_ok(request: httpx.Request) -> httpx.Response:
    from tests.ingest.pxweb.hostile_server import metadata

    path = request.url.path
    if path.endswith("/config"):
        return httpx.Response(200, json={"maxDataCells": 1000})
    if path.endswith("/metadata"):
        return httpx.Response(200, json=metadata())
    return httpx.Response(200, json={"id": TABLE, "label": "t", "updated": "2025-01-01T00:00:00Z"})


def test_body_limit_is_sized_from_the_cell_limit_and_configurable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert guard.body_limit(Limits(max_cells=150_000)) == 256 * 150_000
    assert guard.body_limit(Limits(max_cells=1_000)) == guard.MIN_BODY_BYTES
    assert guard.body_limit(None, 1234) == 1234
    monkeypatch.setenv("CLEANTECH_MAX_RESPONSE_MB", "2")
    assert guard.body_limit(Limits()) == 2 * 1024 * 1024


def test_oversize_bodies_are_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=b"[" + b"1," * 5000 + b"1]")

    client = PxWebClient("https://x.test/api/v2", max_body_bytes=1000, limits=Limits(),
                         transport=httpx.MockTransport(handler))  # fmt: skip
    with client, pytest.raises(ResponseTooLarge, match="limit of 1000 bytes;") as caught:
        client.table(TABLE)
    assert caught.value.limit == 1000
    assert len(calls) == 1


def test_a_gzip_body_is_limited_decompressed_and_nested_codings_refused() -> None:
    bomb = gzip.compress(bytes(2_000_000))
    answers = {
        "gzip": httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"}),
        "double": httpx.Response(
            200, content=gzip.compress(bomb), headers={"Content-Encoding": "gzip, gzip"}
        ),  # fmt: skip
    }
    for kind, response in answers.items():
        transport = httpx.MockTransport(lambda r, resp=response: resp)
        with PxWebClient("https://x.test/api/v2", max_body_bytes=100_000, max_retries=0,
                         limits=Limits(), transport=transport) as client:  # fmt: skip
            error = ResponseTooLarge if kind == "gzip" else ResponseError
            with pytest.raises(error) as caught:
                client.table(TABLE)
            if kind == "double":
                assert "unsupported Content-Encoding 'gzip, gzip'" in str(caught.value)
            else:
                assert "decompressed" in str(caught.value)


def test_a_same_origin_redirect_loop_ends() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": str(request.url)})

    client = PxWebClient(
        "https://x.test/api/v2", limits=Limits(), transport=httpx.MockTransport(handler)
    )
    with client, pytest.raises(RedirectRefused, match="more than 3 redirects"):
        client.table(TABLE)


@pytest.mark.parametrize("url", ["file:///etc", "ftp://h/x", "http://", "/api/v2", "h:8123"])
def test_only_http_base_urls(url: str) -> None:
    with pytest.raises(UnsupportedURL, match="only http:// and https:// URLs"):
        PxWebClient(url)
    with pytest.raises(UnsupportedURL):
        asyncio.run(fetch_table_updated(url, "v2", TABLE))


def test_the_async_lookup_refuses_foreign_redirects_and_oversize_bodies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def foreign(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://evil.test/tables/TAB1"})

    with pytest.raises(RedirectRefused, match="another origin: https://evil.test/tables/TAB1"):
        asyncio.run(fetch_table_updated("https://x.test/api/v2", "v2", TABLE,
                                        transport=httpx.MockTransport(foreign)))  # fmt: skip

    monkeypatch.setenv("CLEANTECH_MAX_RESPONSE_MB", "0.001")

    def big(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b" " * 5000)

    with pytest.raises(ResponseTooLarge):
        asyncio.run(fetch_table_updated("https://x.test/api/v2", "v2", TABLE,
                                        transport=httpx.MockTransport(big)))  # fmt: skip
