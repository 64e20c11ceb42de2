"""API v1 navigation, metadata and data over MockTransport, and the async `updated` look-up."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from ingest.pxweb.aio import fetch_table_updated
from ingest.pxweb.client import PxWebClient
from ingest.pxweb.errors import NotFound
from ingest.pxweb.limits import Limits
from ingest.pxweb.v1 import config_urls

from .conftest import fixture_json, problem

V1 = "https://api.scb.test/OV0104/v1/doris/sv/ssd"
TREE: dict[str, list[dict[str, Any]]] = {
    "": [
        {"id": "BE", "type": "l", "text": "Befolkning"},
        {"id": "MI", "type": "l", "text": "Miljö"},
    ],
    "BE": [{"id": "BE0101", "type": "l", "text": "Befolkningsstatistik"}],
    "BE/BE0101": [
        {"id": "BefolkningNy", "type": "t", "text": "Folkmängd", "updated": "2025-02-21T08:00:00"}
    ],
    "MI": [{"id": "MI1301", "type": "l", "text": "Miljöräkenskaper"}],
    "MI/MI1301": [
        {"id": "MI1301B", "type": "l", "text": "Annat"},
        {"id": "MI1301D", "type": "l", "text": "Miljösektorn"},
    ],
    "MI/MI1301/MI1301B": [],
    "MI/MI1301/MI1301D": [
        {"id": "H1", "type": "h", "text": "Rubrik"},
        {
            "id": "MI1301T04",
            "type": "t",
            "text": "Miljösektorn efter län",
            "updated": "2022-06-01T09:30:00",
        },
    ],
}
META = {
    "title": "Miljösektorn efter län",
    "variables": [
        {
            "code": "Lan",
            "text": "län",
            "values": ["01", "03"],
            "valueTexts": ["Stockholm", "Uppsala"],
            "elimination": True,
        },
        {
            "code": "ContentsCode",
            "text": "tabellinnehåll",
            "values": ["MI1301AS"],
            "valueTexts": ["Arbetsställen"],
        },
        {
            "code": "Tid",
            "text": "år",
            "values": ["2019", "2020"],
            "valueTexts": ["2019", "2020"],
            "time": True,
        },
        {"code": "Big", "text": "stor", "values": None, "valueTexts": None, "elimination": True},
    ],
}


class FakeV1:
    """A v1 server: folder listings, ?config, ?query (400 like SCB), MetaTable and data."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.posts: list[Any] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path + (f"?{request.url.query.decode()}" if request.url.query else ""))
        if request.url.query == b"config":
            if path == "/OV0104/v1/doris/sv/":
                return httpx.Response(
                    200, json={"maxValues": 1000, "maxCalls": 30, "timeWindow": 10}
                )
            return httpx.Response(404)
        if "query" in request.url.params:
            return httpx.Response(400, json={"error": "Search not activated"})
        rel = path.removeprefix("/OV0104/v1/doris/sv/ssd").strip("/")
        if rel in TREE:
            return httpx.Response(200, json=TREE[rel])
        if rel == "MI/MI1301/MI1301D/MI1301T04":
            if request.method == "POST":
                self.posts.append(orjson.loads(request.content))
                return httpx.Response(200, json={"version": "2.0", "class": "dataset", "value": []})
            return httpx.Response(200, json=META)
        return httpx.Response(404, text="Not Found")


def v1_client(server: FakeV1, **kwargs: Any) -> PxWebClient:
    return PxWebClient(V1, "v1", transport=httpx.MockTransport(server.handler), backoff=0, **kwargs)


def test_config_urls_are_derived_from_the_language_level() -> None:
    assert config_urls(V1)[:2] == [
        "https://api.scb.test/OV0104/v1/doris/sv/?config",
        "https://api.scb.test/OV0104/v1/doris/sv?config",
    ]
    assert config_urls("https://andmed.stat.ee/api/v1/en/stat")[0] == (
        "https://andmed.stat.ee/api/v1/en/?config"
    )
    assert "http://h/api/v1/?config" in config_urls("http://h/api/v1")


def test_v1_limits_from_config_with_defaults() -> None:
    server = FakeV1()
    with v1_client(server) as client:
        assert client.limits() == Limits(
            max_cells=1000, max_values=1000, max_calls=30, time_window=10
        )
    assert server.paths == ["/OV0104/v1/doris/sv/?config"]


def test_v1_limits_default_when_config_is_missing() -> None:
    with PxWebClient(
        V1, "v1", transport=httpx.MockTransport(lambda r: httpx.Response(404)), backoff=0
    ) as c:
        assert c.limits() == Limits.defaults("v1")


def test_v1_resolves_a_bare_name_by_walking_the_best_folders_first() -> None:
    server = FakeV1()
    with v1_client(server, limits=Limits()) as client:
        assert client.resolve_table_id("MI1301T04") == "MI/MI1301/MI1301D/MI1301T04"
    listed = [p for p in server.paths if "?" not in p]
    # Search is not enabled (400), so the walk goes MI -> MI1301 -> MI1301D, never into BE.
    assert not any("/BE" in p for p in listed)
    assert len(listed) <= 5


def test_v1_table_info_from_the_parent_listing() -> None:
    with v1_client(FakeV1(), limits=Limits()) as client:
        info = client.table("MI/MI1301/MI1301D/MI1301T04")
        assert (info.id, info.updated, info.v1_name) == (
            "MI/MI1301/MI1301D/MI1301T04",
            "2022-06-01T09:30:00",
            "MI1301T04",
        )
        with pytest.raises(NotFound):
            client.table("MI/MI1301/MI1301D/NOPE")


def test_v1_metadata_and_data_query() -> None:
    server = FakeV1()
    with v1_client(server, limits=Limits()) as client:
        meta = client.metadata("MI/MI1301/MI1301D/MI1301T04")
        lan, contents, tid, big = meta.variables
        assert lan.elimination and not contents.elimination and tid.is_time and contents.is_contents
        assert big.values == [] and meta.label == "Miljösektorn efter län"
        parts = list(client.fetch("MI/MI1301/MI1301D/MI1301T04", {"Tid": "top(1)", "Big": ["x"]}))
    assert len(parts) == 1
    assert server.posts == [
        {
            "query": [
                {"code": "ContentsCode", "selection": {"filter": "item", "values": ["MI1301AS"]}},
                {"code": "Tid", "selection": {"filter": "item", "values": ["2020"]}},
                {"code": "Big", "selection": {"filter": "item", "values": ["x"]}},
            ],
            "response": {"format": "json-stat2"},
        }
    ]


def test_v1_search_walks_folders_when_query_is_not_enabled() -> None:
    with v1_client(FakeV1(), limits=Limits()) as client:
        hits = list(client.search_tables("miljösektorn"))
        assert [h.id for h in hits] == ["MI/MI1301/MI1301D/MI1301T04"]
        assert len(list(client.search_tables())) == 2


def test_async_updated_v2_resolves_v1_names() -> None:
    search = fixture_json("scb_v2_tables_search.json")
    table = fixture_json("pxwebapi_v2_testdb_TableById_tab004.json")

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/tables"):
            body = dict(search, tables=[dict(search["tables"][0], id="TAB004")])
            return httpx.Response(200, json=body)
        if path.endswith("/metadata"):
            return httpx.Response(200, json={"extension": {"px": {"matrix": "MI1301T04"}}})
        if path.endswith("/tables/TAB004"):
            return httpx.Response(200, json=table)
        return problem(404, "Non-existent table")

    transport = httpx.MockTransport(handler)
    updated = asyncio.run(
        fetch_table_updated("https://x/api/v2", "v2", "MI1301T04", transport=transport)
    )
    assert updated == "2023-05-25T13:42:00Z"
    direct = asyncio.run(
        fetch_table_updated("https://x/api/v2", "v2", "TAB004", transport=transport)
    )
    assert direct == "2023-05-25T13:42:00Z"
    with pytest.raises(NotFound):
        asyncio.run(fetch_table_updated("https://x/api/v2", "v2", "TAB1", transport=transport))


def test_async_updated_v1_from_the_folder_listing() -> None:
    transport = httpx.MockTransport(FakeV1().handler)
    updated = asyncio.run(fetch_table_updated(V1, "v1", "MI1301T04", transport=transport))
    assert updated == "2022-06-01T09:30:00"
