"""API v1 over HTTP: ?config, navigation, MetaTable, POST data and v1 error bodies."""

from __future__ import annotations

import httpx
import pytest

from pxweb_demo.server import DemoServer
from tests.pxweb_demo.server.helpers import cell, codes

EGSS = "/MI/MI1301/MI1301D/MI1301T04"
RAMS = "/AM/AM0207/AM0207K/DagSNI07KonK"
POP = "/BE/BE0101/BE0101A/BefolkningNy"


def test_config(http: httpx.Client) -> None:
    for path in ("/api/v1/sv/?config", "/api/v1/sv?config"):
        doc = http.get(path).json()
        assert doc == {"maxValues": 100_000, "maxCells": 150_000, "maxCalls": 100_000,
                       "timeWindow": 10, "CORS": True}  # fmt: skip


def test_navigation(v1: httpx.Client, http: httpx.Client) -> None:
    assert http.get("/api/v1/sv").json()[0]["dbid"] == "ssd"
    top = v1.get("").json()
    assert [(n["id"], n["type"]) for n in top] == [("AM", "l"), ("BE", "l"), ("MI", "l")]
    assert v1.get("/MI").json() == [{"id": "MI1301", "type": "l", "text": "Miljöräkenskaper"}]
    leaf = v1.get("/MI/MI1301/MI1301D").json()
    assert len(leaf) == 1
    node = leaf[0]
    assert (node["id"], node["type"]) == ("MI1301T04", "t")
    assert node["text"].startswith("DEMO:")
    # naive local time (Europe/Stockholm, CEST in May): 06:00Z → 08:00, no Z
    assert node["updated"] == "2026-05-29T08:00:00"
    assert v1.get("/START/MI/MI1301/MI1301D").json() == leaf


def test_meta_table(v1: httpx.Client) -> None:
    doc = v1.get(RAMS).json()
    assert doc["title"].startswith("DEMO:")
    variables = {v["code"]: v for v in doc["variables"]}
    assert list(variables) == ["Region", "SNI2007", "Kon", "ContentsCode", "Tid"]
    assert variables["Kon"] == {"code": "Kon", "text": "kön", "values": ["1", "2"],
                                "valueTexts": ["män", "kvinnor"], "elimination": False,
                                "time": False}  # fmt: skip
    assert variables["Tid"]["time"] is True
    assert variables["SNI2007"]["elimination"] is True
    assert len(variables["SNI2007"]["values"]) == 16


def test_post_jsonstat2_with_filters(v1: httpx.Client) -> None:
    query = {
        "query": [
            {"code": "Lan", "selection": {"filter": "item", "values": ["12", "14"]}},
            {"code": "ContentsCode", "selection": {"filter": "all", "values": ["MI1301S*"]}},
            {"code": "Tid", "selection": {"filter": "top", "values": ["3"]}},
        ],
        "response": {"format": "json-stat2"},
    }
    ds = v1.post(EGSS, json=query).json()
    assert ds["id"] == ["Lan", "ContentsCode", "Tid"]
    assert codes(ds, "Tid") == ["2018", "2019", "2020"]
    assert cell(ds, Lan="12", ContentsCode="MI1301SY", Tid="2020") == 18109


def test_post_jsonstat1_and_omitted_variables(v1: httpx.Client) -> None:
    # v1: an omitted non-eliminable variable means all its values (Kon, ContentsCode);
    # an omitted eliminable one is eliminated (SNI2007 summed, Region → Riket).
    query = {"query": [{"code": "Tid", "selection": {"filter": "item", "values": ["2018"]}}],
             "response": {"format": "json-stat"}}  # fmt: skip
    doc = v1.post(RAMS, json=query).json()
    ds = doc["dataset"]
    assert ds["dimension"]["id"] == ["Kon", "ContentsCode", "Tid"]
    assert ds["dimension"]["size"] == [2, 1, 1]
    assert sum(ds["value"]) > 4_000_000


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"query": [{"code": "Nope", "selection": {"filter": "item", "values": ["1"]}}]}, 400,
         "Parameter error"),
        ({"query": [{"code": "Region", "selection": {"filter": "item", "values": ["99"]}}]}, 400,
         "The request for variable 'Region' has an error. Please check your query."),
        ({"nothing": 1}, 400, "Parameter error"),
        ({"query": [], "response": {"format": "px"}}, 400, "Parameter error"),
    ],
)  # fmt: skip
def test_post_errors(v1: httpx.Client, body: dict, status: int, error: str) -> None:
    r = v1.post(POP, json=body)
    assert r.status_code == status
    assert r.json() == {"error": error}


def test_too_many_values_is_403(server: DemoServer, v1: httpx.Client) -> None:
    server.set_limits(max_values_v1=1000)
    query = {"query": [{"code": "Tid", "selection": {"filter": "all", "values": ["*"]}}]}
    r = v1.post(RAMS, json=query)  # Region and SNI2007 eliminated: 2 x 1 x 11 = 22 cells
    assert r.status_code == 200
    query["query"].append({"code": "Region", "selection": {"filter": "all", "values": ["*"]}})
    query["query"].append({"code": "SNI2007", "selection": {"filter": "all", "values": ["*"]}})
    r = v1.post(RAMS, json=query)  # 22 x 16 x 2 x 1 x 11 = 7,744 cells
    assert r.status_code == 403
    assert r.json() == {"error": "Too many values selected"}


def test_unknown_paths_are_404(v1: httpx.Client, http: httpx.Client) -> None:
    assert v1.get("/XX").status_code == 404
    assert v1.get("/MI/MI1301/MI1301D/NOPE").status_code == 404
    assert http.get("/api/v1/de/ssd").status_code == 404
    assert http.get("/api/v1/sv/other").status_code == 404
