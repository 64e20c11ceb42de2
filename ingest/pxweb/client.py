"""One PxWeb client over API v2 and v1: limits, search, metadata, planned concurrent fetches."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import orjson

from . import deadline, guard, v1, v2
from .errors import (
    BadRequest,
    DeadlineExceeded,
    NotFound,
    PxWebError,
    RedirectRefused,
    ResponseError,
    ResponseTooLarge,
    SourceUnreachable,
    TableDeadlineExceeded,
    error_for_status,
    retry_after_seconds,
)
from .limits import Limits
from .models import (
    Call,
    ClientStats,
    FetchedPart,
    QueryPlan,
    TableInfo,
    TableMetadata,
    parse_updated,
)
from .planner import plan_query
from .ratelimit import RateLimiter

T = TypeVar("T")
_MAX_BACKOFF = 30.0
# A body that is not JSON is retried once (a proxy's hiccup), not like a transient error: a
# server that answers garbage keeps answering garbage. A request past its deadline likewise.
_MAX_INVALID_JSON = 1
_MAX_DEADLINE_RETRIES = 1


class _Retry(Exception):
    """A failed attempt worth another try (the error to raise when the tries run out)."""

    def __init__(self, error: PxWebError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class RawResponse:
    """A successful response: raw body, parsed JSON (when asked for) and the final URL."""

    body: bytes
    data: Any
    url: str


class PxWebClient:
    """A PxWeb API client (v2 or v1) that plans, rate-limits, retries and fetches concurrently."""

    def __init__(
        self,
        base_url: str,
        api: str = "v2",
        *,
        lang: str | None = None,
        limits: Limits | None = None,
        max_workers: int = 4,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = "cleantech-warehouse/0.1",
        request_deadline: float | None = None,
        table_deadline: float | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        """`timeout` bounds each connect and read; `request_deadline` (default 30 s,
        `CLEANTECH_REQUEST_DEADLINE`) a whole request; `table_deadline` (default 900 s,
        `CLEANTECH_TABLE_DEADLINE`) everything fetching one table does, from its first request
        (see `table_clock`; a bare `fetch_plan` starts its own); `max_body_bytes`
        (default 256 bytes per cell of the server's limit, at least 16 MiB;
        `CLEANTECH_MAX_RESPONSE_MB`) each response body, as sent and decompressed."""
        if api not in ("v1", "v2"):
            raise ValueError(f"api must be 'v1' or 'v2', not {api!r}")
        guard.check_base_url(base_url)
        self.request_deadline = request_deadline or guard.request_deadline()
        self.table_deadline = table_deadline or guard.table_deadline()
        self.timeout = min(timeout, self.request_deadline)
        self.max_body_bytes = max_body_bytes
        self.base_url = base_url.rstrip("/")
        self.api = api
        self.lang = lang
        self.max_workers = max(1, max_workers)
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.stats = ClientStats()
        self._limits = limits
        self._limiter: RateLimiter | None = None
        self._lock = threading.RLock()
        self._resolved: dict[str, str] = {}
        self._metadata: dict[str, TableMetadata] = {}
        self._clock = threading.local()  # the running table clock: (deadline, table) or None
        self._http = self._new_http(transport, user_agent)
        if transport is None and deadline.bound_pools(self._http) == 0:
            # An httpx whose pools cannot be reached: no keep-alive, so every request opens a
            # new connection, whose socket the watchdog learns from the trace.
            self._http.close()
            self._http = self._new_http(transport, user_agent, keepalive=False)

    def _new_http(
        self, transport: httpx.BaseTransport | None, user_agent: str, *, keepalive: bool = True
    ) -> httpx.Client:
        return httpx.Client(
            transport=transport,
            timeout=self.timeout,
            limits=httpx.Limits() if keepalive else httpx.Limits(max_keepalive_connections=0),
            follow_redirects=False,  # redirects are judged one by one (guard.check_redirect)
            headers={
                "User-Agent": user_agent,
                "Accept": "application/json",
                "Accept-Encoding": guard.ACCEPT_ENCODING,
            },
        )

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> PxWebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- limits ----------------------------------------------------------------------------

    def limits(self) -> Limits:
        """The server's limits (v2 /config, v1 ?config) with defaults for what it leaves out."""
        with self._lock:
            if self._limits is None:
                before = self.stats.requests
                steps = v2_limits_steps() if self.api == "v2" else v1.limits_steps(self.base_url)
                self._limits = self._drive(steps, use_limiter=False)
                probes = self.stats.requests - before
            else:
                probes = 0
            if self._limiter is None:
                self._limiter = RateLimiter(
                    self._limits.max_calls,
                    self._limits.time_window,
                    # The server counts arrivals, a little after our starts: keep a safety margin.
                    margin=min(0.1 + 0.02 * self._limits.time_window, 1.0),
                )
                for _ in range(probes):  # the config calls count against the server's window
                    self._limiter.acquire()
            return self._limits

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter every request of this client goes through."""
        self.limits()
        assert self._limiter is not None
        return self._limiter

    # -- the table clock -------------------------------------------------------------------

    @contextmanager
    def table_clock(self, table: str) -> Iterator[float]:
        """One deadline (`table_deadline` from now) for every request made for `table` in this
        block on this thread and on the fetch's worker threads: resolve, listing, metadata,
        limits, data, their retries and waits. Nested blocks share the outer clock."""
        running = getattr(self._clock, "value", None)
        if running is not None:
            yield running[0]
            return
        until = time.monotonic() + self.table_deadline
        self._clock.value = (until, table)
        try:
            yield until
        finally:
            self._clock.value = None

    def _running_clock(self) -> tuple[float, str] | tuple[None, None]:
        running = getattr(self._clock, "value", None)
        return running if running is not None else (None, None)

    # -- tables ----------------------------------------------------------------------------

    def search_tables(
        self, query: str | None = None, past_days: int | None = None, page_size: int = 100
    ) -> Iterator[TableInfo]:
        """Tables matching a query and/or updated in the last `past_days` days (paged lazily)."""
        if self.api == "v2":
            return self._search_v2(query, past_days, page_size)
        return self._search_v1(query, past_days)

    def table(self, table_id: str) -> TableInfo:
        """A table's listing entry: label, `updated`, periods."""
        if self.api == "v2":
            return self._drive(v2.table_info_steps(table_id, self.lang), table=table_id)
        return self._drive(v1.table_info_steps(table_id), table=table_id)

    def resolve_table_id(self, name: str) -> str:
        """The server's table id for a TAB id, a v1 name (MI1301T04) or a v1 path."""
        with self._lock:
            if name in self._resolved:
                return self._resolved[name]
        steps = v2.resolve_steps(name, self.lang) if self.api == "v2" else v1.resolve_steps(name)
        resolved = self._drive(steps, table=name)
        with self._lock:
            self._resolved[name] = resolved
        return resolved

    def metadata(self, table_id: str) -> TableMetadata:
        """A table's variables and value codes (cached per client)."""
        resolved = self.resolve_table_id(table_id)
        with self._lock:
            if resolved in self._metadata:
                return self._metadata[resolved]
        if self.api == "v2":
            body = self._call(v2.metadata_call(resolved, self.lang), table=resolved).data
            meta = v2.parse_metadata(body, resolved)
        else:
            body = self._call(v1.metadata_call(resolved), table=resolved).data
            meta = v1.parse_metadata(body, resolved)
        with self._lock:
            self._metadata[resolved] = meta
        return meta

    # -- data ------------------------------------------------------------------------------

    def plan(
        self,
        table_id: str,
        selection: Mapping[str, str | Sequence[str]],
        *,
        split_contents: bool = False,
    ) -> QueryPlan:
        """Expand a selection against the metadata and split it to fit the server's limits."""
        meta = self.metadata(table_id)
        return plan_query(meta, selection, self.limits(), split_contents=split_contents)

    def fetch(
        self,
        table_id: str,
        selection: Mapping[str, str | Sequence[str]],
        *,
        on_part: Callable[[FetchedPart], None] | None = None,
        split_contents: bool = False,
    ) -> Iterator[FetchedPart]:
        """Plan now, start the requests on worker threads, and yield the parts in plan order."""
        plan = self.plan(table_id, selection, split_contents=split_contents)
        return self.fetch_plan(plan, on_part=on_part)

    def fetch_plan(
        self, plan: QueryPlan, *, on_part: Callable[[FetchedPart], None] | None = None
    ) -> Iterator[FetchedPart]:
        """Start a plan's requests on worker threads and yield the parts in plan order."""
        self.limits()  # build the shared limiter before the workers race for it
        workers = min(self.max_workers, max(len(plan.requests), 1))
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pxweb")
        until, _ = self._running_clock()
        if until is None:  # no clock around this fetch: the data requests get their own
            until = time.monotonic() + self.table_deadline
        futures = [
            executor.submit(self._fetch_one, plan.table_id, index, request, until)
            for index, request in enumerate(plan.requests)
        ]
        return _in_order(executor, futures, on_part)

    def _fetch_one(
        self, table_id: str, index: int, request: dict[str, list[str]], until: float | None
    ) -> FetchedPart:
        if self.api == "v2":
            call = v2.data_call(table_id, request, self.lang)
        else:
            call = v1.data_call(table_id, request)
        started = time.perf_counter()
        response = self._call(call, table=table_id, table_deadline=until)
        return FetchedPart(
            index=index,
            selection=request,
            body=response.body,
            seconds=time.perf_counter() - started,
            url=response.url,
        )

    # -- search helpers --------------------------------------------------------------------

    def _search_v2(
        self, query: str | None, past_days: int | None, page_size: int
    ) -> Iterator[TableInfo]:
        page_number = 1
        while True:
            call = v2.tables_call(
                query=query,
                past_days=past_days,
                page_number=page_number,
                page_size=page_size,
                lang=self.lang,
            )
            try:
                body = self._call(call).data
            except NotFound:
                return  # "Non-existent page": the listing shrank while we paged
            tables, has_next = v2.parse_tables_page(body)
            yield from tables
            if not has_next or not tables:
                return
            page_number += 1

    def _search_v1(self, query: str | None, past_days: int | None) -> Iterator[TableInfo]:
        cutoff = datetime.now(UTC) - timedelta(days=past_days) if past_days is not None else None
        if query:
            try:
                hits = v1.parse_search(self._call(v1.search_call(query)).data)
            except (BadRequest, NotFound, TypeError, AttributeError):
                hits = None  # search not enabled here (SCB answers 400): walk the folders
            if hits is not None:
                yield from (t for t in hits if _updated_since(t.updated, cutoff))
                return
        folded = query.casefold() if query else None
        folders = [""]
        while folders:
            folder = folders.pop(0)
            nodes = self._call(v1.listing_call(folder)).data
            for node in nodes if isinstance(nodes, list) else []:
                if node.get("type") == "l":
                    folders.append(f"{folder}/{node['id']}" if folder else str(node["id"]))
                elif node.get("type") == "t":
                    info = v1.node_info(node, folder)
                    text = f"{info.id} {info.label}".casefold()
                    if (folded is None or folded in text) and _updated_since(info.updated, cutoff):
                        yield info

    # -- HTTP ------------------------------------------------------------------------------

    def _drive(
        self, steps: Generator[Call, Any, T], *, table: str | None = None, use_limiter: bool = True
    ) -> T:
        """Run a protocol step generator: make each call it yields, send back the result."""
        value: Any = None
        error: PxWebError | None = None
        while True:
            try:
                call = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                response = self._call(call, table=table, use_limiter=use_limiter)
                value = response.data if call.parse_json else response.body
            except PxWebError as exc:
                error = exc

    def _call(
        self,
        call: Call,
        *,
        table: str | None = None,
        use_limiter: bool = True,
        table_deadline: float | None = None,
    ) -> RawResponse:
        """Make one call with retries on 429, 5xx, timeouts, resets and truncated bodies, within
        the table's deadline (`table_deadline`, else the running `table_clock`'s); an oversize
        body or a refused redirect is not retried, invalid JSON and a missed request deadline at
        most once, and no wait starts that would end past the table's deadline."""
        if table_deadline is None:
            table_deadline, clock_table = self._running_clock()
            table = table or clock_table
        limiter = self.limiter if use_limiter else None
        url = call.url(self.base_url)
        last: PxWebError | None = None
        invalid_json = missed_deadline = 0
        for attempt in range(self.max_retries + 1):
            self._check_table_deadline(table_deadline, table, url, last)
            if attempt:
                self.stats.add(retries=1)
            if limiter is not None:
                limiter.acquire()
            self.stats.add(requests=1)
            try:
                status, headers, body, shown = self._exchange(call, url, table, table_deadline)
            except TableDeadlineExceeded:
                if last is not None:  # cut mid-request: the earlier attempts' error explains it
                    raise self._table_deadline_error(table, url, last) from None
                raise
            except DeadlineExceeded as exc:
                missed_deadline += 1
                if missed_deadline > _MAX_DEADLINE_RETRIES:
                    raise _exhausted(exc, attempt + 1) from None
                last = exc
                self._sleep_backoff(attempt, table_deadline, table, url, last)
                continue
            except _Retry as retry:
                last = retry.error
                self._sleep_backoff(attempt, table_deadline, table, url, last)
                continue
            self.stats.add(bytes=len(body))
            if 200 <= status < 300:
                if not call.parse_json:
                    return RawResponse(body, None, shown)
                try:
                    return RawResponse(body, orjson.loads(body), shown)
                except orjson.JSONDecodeError as exc:
                    last = ResponseError(
                        f"invalid JSON in the response ({exc})",
                        table=table,
                        url=shown,
                        status=status,
                    )
                    invalid_json += 1
                    if invalid_json > _MAX_INVALID_JSON:
                        raise _exhausted(last, attempt + 1) from None
                    self._sleep_backoff(attempt, table_deadline, table, url, last)
                    continue
            retry_after = retry_after_seconds(headers.get("Retry-After"))
            error = error_for_status(status, body, table=table, url=shown, retry_after=retry_after)
            if status == 429:
                last = error
                pause = retry_after if retry_after is not None else self._window()
                if table_deadline is not None and time.monotonic() + pause > table_deadline:
                    raise self._table_deadline_error(table, url, error)
                if limiter is not None:
                    limiter.penalize(pause)  # every worker thread waits, not just this one
                else:
                    time.sleep(pause)
                continue
            if status >= 500:
                last = error
                self._sleep_backoff(attempt, table_deadline, table, url, last)
                continue
            raise error
        assert last is not None
        raise _exhausted(last, self.max_retries + 1)

    def _exchange(
        self, call: Call, url: str, table: str | None, table_deadline: float | None
    ) -> tuple[int, httpx.Headers, bytes, str]:
        """One attempt: send (following same-origin 307/308 only), stream the body within the
        size limit and the request deadline. Returns (status, headers, body, URL)."""
        until = time.monotonic() + self.request_deadline
        # When the table's deadline comes first, it is the one that ends this request.
        table_bound = table_deadline is not None and table_deadline < until
        if table_deadline is not None:
            until = min(until, table_deadline)

        def expired(url: str) -> DeadlineExceeded:
            if table_bound:
                return self._table_deadline_error(table, url, None)
            return self._deadline_error(table, url)

        params: Any = call.params or None
        target = url
        for _hop in range(guard.MAX_REDIRECTS + 1):
            request = self._http.build_request(call.method, target, params=params, json=call.json)
            shown = str(request.url)
            remaining = until - time.monotonic()
            if remaining <= 0:
                raise expired(shown)
            watchdog = deadline.Watchdog(until)
            request.extensions["trace"] = watchdog.trace
            request.extensions["timeout"] = httpx.Timeout(min(self.timeout, remaining)).as_dict()
            watchdog.start()
            try:
                try:
                    response = self._http.send(request, stream=True)
                except httpx.TransportError as exc:  # timeouts, refused and reset connections
                    if watchdog.expired():
                        raise expired(shown) from None
                    raise _Retry(
                        SourceUnreachable(
                            f"cannot reach the server ({type(exc).__name__}: {exc})",
                            table=table,
                            url=shown,
                        )
                    ) from None
                try:
                    watchdog.watch(response.extensions.get("network_stream"))
                    status = response.status_code
                    if status in guard.REDIRECT_STATUSES:
                        location = response.headers.get("Location")
                        joined = str(request.url.join(location)) if location else None
                        target = guard.check_redirect(status, shown, joined, table=table)
                        params = None  # the Location carries its own query string
                        continue
                    body = self._read_body(response, shown, table, watchdog, expired)
                finally:
                    response.close()
            finally:
                watchdog.cancel()
            return status, response.headers, body, shown
        raise RedirectRefused(
            f"more than {guard.MAX_REDIRECTS} redirects", table=table, url=url, target=target
        )

    def _read_body(
        self,
        response: httpx.Response,
        shown: str,
        table: str | None,
        watchdog: deadline.Watchdog,
        expired: Callable[[str], DeadlineExceeded],
    ) -> bytes:
        """The body, counted as it streams: over the size limit (as sent or decompressed) is
        ResponseTooLarge at once; a broken transfer is worth a retry; past the deadline is
        DeadlineExceeded."""
        limit = guard.body_limit(self._limits, self.max_body_bytes)
        status = response.status_code

        def too_large(message: str) -> ResponseTooLarge:
            return ResponseTooLarge(
                message,
                limit=limit,
                table=table,
                url=shown,
                status=status,
                hint="narrow the selection, or raise CLEANTECH_MAX_RESPONSE_MB if the server "
                "is trusted",
            )

        declared = response.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > limit:
            raise too_large(
                f"response body declares {int(declared)} bytes, over the limit of {limit} bytes"
            )
        coding = guard.check_encoding(response.headers.get("Content-Encoding"))
        if coding is not None:
            raise ResponseError(
                f"unsupported Content-Encoding {coding!r} (the client accepts one layer of "
                f"{guard.ACCEPT_ENCODING})",
                table=table,
                url=shown,
                status=status,
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    inflated = (
                        " once decompressed" if response.headers.get("Content-Encoding") else ""
                    )
                    raise too_large(f"response body passed the limit of {limit} bytes{inflated}")
                if response.num_bytes_downloaded > limit:
                    raise too_large(f"response body passed the limit of {limit} bytes as sent")
                chunks.append(chunk)
                if watchdog.expired():
                    raise expired(shown)
        except httpx.HTTPError as exc:  # reset, timeout, bad gzip, or the watchdog's shutdown
            if watchdog.expired():
                raise expired(shown) from None
            raise _Retry(
                ResponseError(
                    f"truncated response body ({type(exc).__name__}: {exc})",
                    table=table,
                    url=shown,
                    status=status,
                )
            ) from None
        return b"".join(chunks)

    def _deadline_error(self, table: str | None, url: str) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"no complete response within the request deadline of {self.request_deadline:g} s",
            deadline=self.request_deadline,
            table=table,
            url=url,
            hint="the server is too slow or stalled; raise CLEANTECH_REQUEST_DEADLINE if it "
            "is just slow",
        )

    def _table_deadline_error(
        self, table: str | None, url: str, last: PxWebError | None
    ) -> TableDeadlineExceeded:
        cause = ""
        if last is not None:
            status = f", HTTP {last.status}" if last.status is not None else ""
            cause = f" (last error: {last.message}{status})"
        return TableDeadlineExceeded(
            f"fetching the table passed the table deadline of {self.table_deadline:g} s{cause}",
            deadline=self.table_deadline,
            table=table,
            url=url,
            hint="raise CLEANTECH_TABLE_DEADLINE or narrow the selection",
        )

    def _check_table_deadline(
        self, deadline: float | None, table: str | None, url: str, last: PxWebError | None
    ) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            raise self._table_deadline_error(table, url, last)

    def _window(self) -> float:
        return self._limits.time_window if self._limits else Limits().time_window

    def _sleep_backoff(
        self,
        attempt: int,
        table_deadline: float | None,
        table: str | None,
        url: str,
        last: PxWebError,
    ) -> None:
        """Wait before the next attempt; a wait that would end past the table's deadline does
        not start (the table fails now, naming the last error)."""
        if attempt >= self.max_retries:
            return
        delay = 0.0
        if self.backoff > 0:
            delay = min(self.backoff * 2**attempt, _MAX_BACKOFF)
            delay *= random.uniform(0.5, 1.5)  # jitter: workers do not retry in lockstep
        if table_deadline is not None and time.monotonic() + delay >= table_deadline:
            raise self._table_deadline_error(table, url, last)
        if delay:
            time.sleep(delay)


def v2_limits_steps() -> Generator[Call, Any, Limits]:
    """`GET /config`; defaults when the server has none."""
    try:
        body = yield v2.config_call()
    except (NotFound, BadRequest, ResponseError):
        return Limits.defaults("v2")
    return v2.parse_limits(body) if isinstance(body, Mapping) else Limits.defaults("v2")


def _exhausted(error: PxWebError, attempts: int) -> PxWebError:
    error.message = f"{error.message} (after {attempts} attempts)"
    return error


def _updated_since(updated: str | None, cutoff: datetime | None) -> bool:
    if cutoff is None:
        return True
    if not updated:
        return False
    stamp = parse_updated(updated)
    return stamp is None or stamp >= cutoff  # an unreadable stamp is kept, not filtered out


def _in_order(
    executor: ThreadPoolExecutor,
    futures: list[Future[FetchedPart]],
    on_part: Callable[[FetchedPart], None] | None,
) -> Iterator[FetchedPart]:
    finished = False
    try:
        for future in futures:
            part = future.result()
            if on_part is not None:
                on_part(part)
            yield part
        finished = True
    finally:
        # On an error or an abandoned iterator, drop the requests that have not started.
        executor.shutdown(wait=finished, cancel_futures=not finished)
