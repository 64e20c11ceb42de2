"""PxWebClient over httpx.MockTransport: parsing real fixture shapes, paging, retries, fetches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import orjson
import pytest

from ingest.pxweb.client import PxWebClient
from ingest.pxweb.errors import (
    BadRequest,
    InvalidSelection,
    NotFound,
    RateLimited,
    ResponseError,
    ServerError,
    SourceUnreachable,
    TooManyCells,
)
from ingest.pxweb.limits import Limits
from ingest.pxweb.v2 import parse_metadata

from .conftest import FakeV2, cells_of, fixture_json, make_meta, problem

BASE = "https://pxweb.test/api/v2"
Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, **kwargs: object) -> PxWebClient:
    options: dict[str, object] = {"backoff": 0.0, "limits": Limits(max_calls=1000, time_window=1)}
    options.update(kwargs)
    return PxWebClient(BASE, transport=httpx.MockTransport(handler), **options)  # type: ignore[arg-type]


def test_parses_scb_tab6471_metadata() -> None:
    meta = parse_metadata(fixture_json("scb_v2_TAB6471_metadata.json"), "TAB6471")
    assert meta.table_id == "TAB6471"
    assert meta.updated == "2026-06-08T06:00:00Z"
    assert [v.code for v in meta.variables] == ["Region", "Alder", "Kon", "ContentsCode", "Tid"]
    assert [len(v.values) for v in meta.variables] == [312, 134, 3, 1, 16]
    region, alder, kon, contents, tid = meta.variables
    assert region.values[:3] == ["00", "01", "0114"] and region.elimination
    assert not alder.elimination and alder.values[:2] == ["0", "TotSA"]
    assert kon.elimination and kon.values == ["TotSa", "1", "2"]
    assert contents.is_contents and not contents.is_time and contents.values == ["000007SF"]
    assert tid.is_time and tid.values[0] == "2025M01" and not tid.elimination
    assert region.label == "region" and len(region.value_texts) == 312


def test_parses_reference_server_tab004_metadata() -> None:
    meta = parse_metadata(fixture_json("pxwebapi_v2_testdb_MetadataById_tab004_js2.json"), "TAB004")
    assert [(v.code, len(v.values)) for v in meta.variables] == [
        ("SECTOR", 14),
        ("GREENHOUSEGAS", 11),
        ("ContentsCode", 1),
        ("TIME", 28),
    ]
    assert [v.code for v in meta.variables if v.is_time] == ["TIME"]
    assert [v.code for v in meta.variables if v.is_contents] == ["ContentsCode"]
    assert meta.variables[3].values[0] == "1990"


def test_metadata_over_http_is_cached() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        assert request.url.params["outputFormat"] == "json-stat2"
        assert request.url.params["lang"] == "sv"
        return httpx.Response(200, json=fixture_json("scb_v2_TAB6471_metadata.json"))

    with client_for(handler, lang="sv") as client:
        assert client.metadata("TAB6471") is client.metadata("TAB6471")
    assert calls == ["/api/v2/tables/TAB6471/metadata"]


def test_search_pages_through_all_tables() -> None:
    page = fixture_json("scb_v2_tables_page1.json")
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        number = int(params["pageNumber"])
        body = dict(page, page=dict(page["page"], pageNumber=number, totalPages=3))
        return httpx.Response(200, json=body)

    with client_for(handler) as client:
        tables = list(client.search_tables("befolkning", past_days=7, page_size=20))
    assert [s["pageNumber"] for s in seen] == ["1", "2", "3"]
    assert all(s["pageSize"] == "20" and s["query"] == "befolkning" for s in seen)
    assert all(s["pastDays"] == "7" for s in seen)
    assert len(tables) == 3 * len(page["tables"])
    first = tables[0]
    assert (first.id, first.updated, first.first_period, first.last_period) == (
        "TAB4707",
        "2026-05-29T06:00:00Z",
        "2015M04",
        "2026M03",
    )
    assert first.raw["subjectCode"] == "AM" and not first.discontinued


def test_search_stops_on_a_single_page() -> None:
    body = fixture_json("scb_v2_tables_search.json")
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=body)

    with client_for(handler) as client:
        assert len(list(client.search_tables("befolkning"))) == 10
    assert len(calls) == 1


def test_table_info_from_table_by_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v2/tables/TAB004"
        return httpx.Response(200, json=fixture_json("pxwebapi_v2_testdb_TableById_tab004.json"))

    with client_for(handler) as client:
        info = client.table("TAB004")
    assert (info.id, info.updated, info.first_period, info.last_period) == (
        "TAB004",
        "2023-05-25T13:42:00Z",
        "1990",
        "2017",
    )


def test_limits_come_from_config_once() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=fixture_json("scb_v2_config.json"))

    client = PxWebClient(BASE, transport=httpx.MockTransport(handler))
    assert client.limits() == Limits(150_000, None, 3, 1.0)
    assert client.limits() is client.limits()
    assert calls == ["/api/v2/config"]
    assert client.limiter.max_calls == 3


def test_missing_config_falls_back_to_defaults() -> None:
    client = PxWebClient(
        BASE, transport=httpx.MockTransport(lambda r: problem(404, "Not found")), backoff=0
    )
    assert client.limits() == Limits.defaults("v2")


def test_retries_503_then_succeeds() -> None:
    answers = [httpx.Response(503, text="busy"), httpx.Response(503, text="busy")]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else httpx.Response(200, json={"id": "TAB1", "label": "x"})

    with client_for(handler) as client:
        assert client.table("TAB1").id == "TAB1"
        assert (client.stats.requests, client.stats.retries) == (3, 2)


def test_404_is_not_retried_and_carries_the_server_message() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return problem(404, "Non-existent table")

    with client_for(handler) as client, pytest.raises(NotFound) as caught:
        client.table("TAB999")
    assert len(calls) == 1
    assert caught.value.status == 404 and caught.value.table == "TAB999"
    assert "Non-existent table" in str(caught.value) and "/tables/TAB999" in str(caught.value)


def test_400_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, text="Bad Request")

    with client_for(handler) as client, pytest.raises(BadRequest, match="Bad Request"):
        client.table("TAB1")
    assert len(calls) == 1


def test_429_honours_retry_after() -> None:
    arrivals: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": "429"})
        return httpx.Response(200, json={"id": "TAB1", "label": "x"})

    with client_for(handler) as client:
        assert client.table("TAB1").id == "TAB1"
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 1.0


def test_429_exhausted_raises_rate_limited() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0"}, text="slow down")

    with client_for(handler, max_retries=2) as client, pytest.raises(RateLimited) as caught:
        client.table("TAB1")
    assert client.stats.requests == 3
    assert "after 3 attempts" in str(caught.value) and caught.value.retry_after == 0


def test_5xx_exhausted_raises_server_error() -> None:
    with client_for(lambda r: httpx.Response(502), max_retries=1) as client:
        with pytest.raises(ServerError, match="HTTP 502"):
            client.table("TAB1")
        assert client.stats.requests == 2


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_connection_failures_retry_then_raise_source_unreachable(exc: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)  # type: ignore[call-arg]

    with client_for(handler, max_retries=2) as client, pytest.raises(SourceUnreachable) as caught:
        client.table("TAB1")
    assert client.stats.requests == 3
    assert caught.value.url == f"{BASE}/tables/TAB1"


def test_truncated_json_is_retried() -> None:
    answers = [httpx.Response(200, content=b'{"id": "TAB1", "lab')]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else httpx.Response(200, json={"id": "TAB1", "label": "x"})

    with client_for(handler) as client:
        assert client.table("TAB1").label == "x"
        assert client.stats.retries == 1


def test_invalid_body_exhausted_raises_response_error() -> None:
    client = client_for(lambda r: httpx.Response(200, text="<html>"), max_retries=1)
    with client, pytest.raises(ResponseError):
        client.table("TAB1")
    assert client.stats.requests == 2


def test_resolve_tab_id_needs_no_call() -> None:
    with client_for(lambda r: pytest.fail("no call expected")) as client:
        assert client.resolve_table_id("TAB638") == "TAB638"


def test_resolve_v1_name_by_search_and_matrix() -> None:
    search = fixture_json("scb_v2_tables_search.json")
    metadata = fixture_json("scb_v2_TAB6471_metadata.json")
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/tables"):
            assert request.url.params["query"] == "MI1301T04"
            return httpx.Response(200, json=search)
        table = request.url.path.split("/")[-2]
        matrix = "MI1301T04" if table == "TAB4562" else table
        body = dict(metadata, extension={"px": {"tableid": table, "matrix": matrix}})
        return httpx.Response(200, json=body)

    with client_for(handler) as client:
        assert client.resolve_table_id("MI1301T04") == "TAB4562"
        assert client.resolve_table_id("MI1301T04") == "TAB4562"  # cached
    assert calls == [
        "/api/v2/tables",
        "/api/v2/tables/TAB4552/metadata",
        "/api/v2/tables/TAB4560/metadata",
        "/api/v2/tables/TAB4562/metadata",
    ]


def test_resolve_unknown_name_is_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tables"):
            return httpx.Response(
                200, json={"tables": [], "page": {"pageNumber": 1, "totalPages": 1}}
            )
        return problem(404, "Non-existent table")

    with client_for(handler) as client, pytest.raises(NotFound, match="NoSuchTable"):
        client.resolve_table_id("NoSuchTable")


def test_invalid_selection_is_caught_before_sending_data() -> None:
    server = FakeV2(make_meta({"Region": 3, "Tid": 4}, time="Tid"))
    with client_for(server.handler) as client:
        with pytest.raises(InvalidSelection) as caught:
            client.fetch("TAB1", {"Region": ["Region0", "99"]})
        assert (caught.value.variable, caught.value.code, caught.value.table) == (
            "Region",
            "99",
            "TAB1",
        )
        with pytest.raises(InvalidSelection, match="Kon"):
            client.plan("TAB1", {"Kon": "*"})
    assert server.data_requests() == []


def test_data_request_body_and_parameters() -> None:
    meta = make_meta({"Ålder": 2, "ContentsCode": 1, "Tid": 3}, time="Tid", contents="ContentsCode")
    meta.variables[0].values = ["Tot", "Övr"]
    server = FakeV2(meta)
    with client_for(server.handler, lang="sv") as client:
        parts = list(client.fetch("TAB1", {"Ålder": "*", "Tid": "top(2)"}))
    (request,) = server.data_requests()
    assert request.method == "POST"
    assert dict(request.url.params) == {"lang": "sv", "outputFormat": "json-stat2"}
    assert orjson.loads(request.content) == {
        "selection": [
            {"variableCode": "Ålder", "valueCodes": ["Tot", "Övr"]},
            {"variableCode": "ContentsCode", "valueCodes": ["ContentsCode0"]},
            {"variableCode": "Tid", "valueCodes": ["Tid1", "Tid2"]},
        ],
        "placement": {"heading": [], "stub": []},
    }
    assert (
        len(parts) == 1
        and parts[0].url == f"{BASE}/tables/TAB1/data?lang=sv&outputFormat=json-stat2"
    )
    assert len(cells_of(parts[0].body)) == 4


def big_table() -> FakeV2:
    meta = make_meta(
        {"Region": 22, "ContentsCode": 4, "Kon": 3, "Tid": 18},
        time="Tid",
        contents="ContentsCode",
        eliminable=("Kon",),
    )
    return FakeV2(meta, max_cells=150)


def fetch_cells(
    client: PxWebClient, **kwargs: object
) -> tuple[dict[tuple[str, ...], float], list[int]]:
    cells: dict[tuple[str, ...], float] = {}
    order = []
    for part in client.fetch("TAB1", {"Region": "*", "Tid": "*"}, **kwargs):  # type: ignore[arg-type]
        order.append(part.index)
        for key, value in cells_of(part.body).items():
            assert key not in cells
            cells[key] = value
    return cells, order


def test_split_fetch_equals_a_single_request_and_yields_in_plan_order() -> None:
    server = big_table()
    seen: list[int] = []
    with client_for(
        server.handler, limits=Limits(max_cells=150, max_calls=1000, time_window=1)
    ) as client:
        plan = client.plan("TAB1", {"Region": "*", "Tid": "*"})
        assert "Kon" not in plan.requests[0]  # eliminable and omitted: the server eliminates it
        split, order = fetch_cells(client, on_part=lambda p: seen.append(p.index))
    assert order == list(range(len(plan.requests))) == seen
    assert len(plan.requests) > 10 and len(server.data_requests()) == len(plan.requests)
    server.max_cells = 10**6
    with client_for(
        server.handler, limits=Limits(max_cells=10**6, max_calls=1000, time_window=1)
    ) as client:
        whole, order = fetch_cells(client)
    assert order == [0]
    assert split == whole and len(whole) == 22 * 4 * 18


def test_split_fetch_survives_injected_faults() -> None:
    server = big_table()

    def on_data(response: httpx.Response) -> Callable[[httpx.Request], httpx.Response | None]:
        return lambda r: response if r.url.path.endswith("/data") else None

    # Fewer faults than attempts per request, so no request can exhaust its retries (and one
    # invalid body only: a second one in the same request is not retried, see below).
    server.faults += [
        on_data(httpx.Response(503, text="Service Unavailable")),
        on_data(httpx.Response(200, content=b'{"version":"2.0","val')),  # truncated
        on_data(httpx.Response(502, text="<html>Bad gateway</html>")),
        on_data(httpx.Response(504, text="Gateway Timeout")),
        on_data(httpx.Response(503, text="Service Unavailable")),
    ]
    limits = Limits(max_cells=150, max_calls=1000, time_window=1)
    with client_for(server.handler, limits=limits, max_workers=4) as client:
        cells, _ = fetch_cells(client)
        assert client.stats.retries == 5
    assert not server.faults
    with client_for(server.handler, limits=limits) as client:
        clean, _ = fetch_cells(client)
    assert cells == clean


def test_fetch_respects_the_rate_limit_across_workers() -> None:
    server = big_table()
    server.max_cells = 300
    arrivals: list[float] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            arrivals.append(time.monotonic())
        return server.handler(request)

    limits = Limits(max_cells=300, max_calls=4, time_window=0.25)
    with client_for(handler, limits=limits, max_workers=4) as client:
        parts = list(client.fetch("TAB1", {"Region": "*", "Tid": "*"}))
    assert len(parts) >= 6
    arrivals.sort()
    for i, start in enumerate(arrivals):
        assert sum(1 for t in arrivals[i:] if t < start + 0.25) <= 4


def test_a_failing_part_raises_its_typed_error() -> None:
    server = big_table()
    server.faults.append(
        lambda r: problem(400, "Too many cells selected") if r.url.path.endswith("/data") else None
    )
    limits = Limits(max_cells=150, max_calls=1000, time_window=1)
    with client_for(server.handler, limits=limits) as client, pytest.raises(TooManyCells) as caught:
        list(client.fetch("TAB1", {"Region": "*", "Tid": "*"}))
    assert caught.value.table == "TAB1" and caught.value.status == 400


def test_a_429_pauses_every_worker() -> None:
    server = big_table()
    arrivals: list[float] = []
    refused: list[float] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            now = time.monotonic()
            if request.url.path.endswith("/data") and not refused:
                refused.append(now)
                return httpx.Response(429, headers={"Retry-After": "1"}, text="Too many")
            arrivals.append(now)
        return server.handler(request)

    limits = Limits(max_cells=150, max_calls=1000, time_window=1)
    with client_for(handler, limits=limits, max_workers=4) as client:
        parts = list(client.fetch("TAB1", {"Region": "*", "Tid": "*"}))
    assert len(parts) > 4
    # Workers that had already sent their request may land just after the 429; every request
    # started after the pause began waits the full Retry-After.
    late = [t for t in arrivals if t > refused[0] + 0.1]
    assert late and min(late) >= refused[0] + 1.0
    assert len([t for t in arrivals if refused[0] < t <= refused[0] + 0.1]) <= 3


@pytest.mark.parametrize(
    ("updated", "kept"),
    [
        ("2026-11-28T10:31:00", True),  # v1: naive Stockholm time = 09:31 UTC
        ("2026-11-28T10:29:00", False),  # 09:29 UTC, before the cutoff
        ("2026-11-28T09:31:00Z", True),
        ("2026-11-28T10:29:00+01:00", False),
        ("not a timestamp", True),  # unreadable: kept rather than silently dropped
        (None, False),
    ],
)
def test_past_days_cutoff_compares_instants_with_v1_times_in_stockholm_time(
    updated: str | None, kept: bool
) -> None:
    # Whatever the machine's own timezone: the cutoff is an instant (UTC), v1's naive stamps are
    # Stockholm time, as everywhere else in the project (ingest.pxweb.models.parse_updated).
    from datetime import UTC, datetime

    from ingest.pxweb.client import _updated_since

    cutoff = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert _updated_since(updated, cutoff) is kept
    assert _updated_since(updated, None) is True
