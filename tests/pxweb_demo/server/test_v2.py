"""API v2 over HTTP: /config, /tables, /tables/{id}, metadata and data shapes and errors."""

from __future__ import annotations

import json

import httpx
import pytest

from pxweb_demo.server import DemoServer
from tests.conftest import FIXTURES
from tests.pxweb_demo.server.helpers import cell, codes

TABLE_KEYS = [
    "id", "label", "description", "sortCode", "updated", "firstPeriod", "lastPeriod", "category",
    "variableNames", "source", "subjectCode", "timeUnit", "paths", "links",
]  # fmt: skip


def test_config_has_scb_shape_and_live_limits(server: DemoServer, v2: httpx.Client) -> None:
    doc = v2.get("/config").json()
    scb = json.loads((FIXTURES / "scb_v2_config.json").read_text())  # SCB's real /config
    assert set(doc) == set(scb)
    assert doc["maxDataCells"] == 150_000
    assert doc["maxCallsPerTimeWindow"] == server.limits.max_calls
    assert doc["timeWindow"] == 10
    server.set_limits(max_cells=500)
    assert v2.get("/config").json()["maxDataCells"] == 500


def test_tables_lists_every_table_with_scb_keys(v2: httpx.Client) -> None:
    r = v2.get("/tables", params={"lang": "sv"})
    assert r.status_code == 200
    doc = r.json()
    assert doc["language"] == "sv"
    assert {t["id"] for t in doc["tables"]} == {"TAB9001", "TAB900", "TAB638"}
    assert list(doc["tables"][0]) == TABLE_KEYS
    assert doc["page"] == {
        "pageNumber": 1, "pageSize": 20, "totalElements": 3, "totalPages": 1, "links": [],
    }  # fmt: skip
    assert [link["rel"] for link in doc["tables"][0]["links"]] == [
        "self", "alternate", "metadata", "data",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [("MI1301T04", ["TAB9001"]), ("befolkningny", ["TAB638"]), ("TAB900", ["TAB900"]),
     ("DEMO folkmängd", ["TAB638"]), ("nothing-like-this", [])],
)  # fmt: skip
def test_tables_query_searches_id_label_and_v1_name(
    v2: httpx.Client, query: str, expected: list[str]
) -> None:
    doc = v2.get("/tables", params={"query": query}).json()
    assert [t["id"] for t in doc["tables"]] == expected
    assert doc["page"]["totalElements"] == len(expected)


def test_tables_pages_are_one_based_with_links(v2: httpx.Client) -> None:
    p1 = v2.get("/tables", params={"pageSize": 2, "pageNumber": 1}).json()
    assert len(p1["tables"]) == 2
    assert p1["page"]["totalPages"] == 2
    assert [x["rel"] for x in p1["page"]["links"]] == ["next", "last"]
    p2 = v2.get(p1["page"]["links"][0]["href"]).json()
    assert p2["page"]["pageNumber"] == 2
    assert len(p2["tables"]) == 1
    assert [x["rel"] for x in p2["page"]["links"]] == ["previous"]


@pytest.mark.parametrize("page", [0, 3, 99])
def test_tables_page_out_of_range_is_404_problem(v2: httpx.Client, page: int) -> None:
    r = v2.get("/tables", params={"pageSize": 2, "pageNumber": page})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json() == {
        "type": "Parameter error", "title": "Non-existent page", "status": 404,
        "detail": "Non-existent page",
    }  # fmt: skip


def test_tables_past_days_sees_only_recent_publications(
    server: DemoServer, v2: httpx.Client
) -> None:
    assert v2.get("/tables", params={"pastDays": 1}).json()["tables"] == []
    server.touch("TAB638")  # updated = now
    recent = v2.get("/tables", params={"pastDays": 1}).json()["tables"]
    assert [t["id"] for t in recent] == ["TAB638"]


def test_table_by_id(v2: httpx.Client) -> None:
    doc = v2.get("/tables/TAB9001").json()
    assert doc["language"] == "sv"
    assert doc["id"] == "TAB9001"
    assert doc["updated"] == "2026-05-29T06:00:00Z"
    assert doc["label"].startswith("DEMO:")
    assert doc["source"].startswith("DEMO DATA")
    assert (doc["firstPeriod"], doc["lastPeriod"], doc["timeUnit"]) == ("2003", "2020", "Annual")
    assert [p["id"] for p in doc["paths"][0]] == ["MI", "MI1301", "MI1301D"]


def test_unknown_table_is_404_problem(v2: httpx.Client) -> None:
    for path in ("/tables/TAB0", "/tables/TAB0/metadata", "/tables/TAB0/data"):
        r = v2.get(path)
        assert r.status_code == 404
        assert r.json()["title"] == "Non-existent table"
        assert set(r.json()) == {"type", "title", "status", "detail"}


def test_metadata_is_jsonstat2_with_empty_value_and_elimination(v2: httpx.Client) -> None:
    doc = v2.get("/tables/TAB638/metadata").json()
    assert (doc["version"], doc["class"], doc["value"]) == ("2.0", "dataset", [])
    assert doc["id"] == ["Region", "Civilstand", "Alder", "Kon", "ContentsCode", "Tid"]
    assert doc["size"] == [22, 4, 7, 2, 2, 25]
    assert doc["extension"]["px"]["tableid"] == "TAB638"
    assert doc["extension"]["px"]["matrix"] == "BefolkningNy"
    ext = {d: doc["dimension"][d]["extension"] for d in doc["id"]}
    assert ext["Alder"]["elimination"] is True
    assert ext["Alder"]["eliminationValueCode"] == "tot"
    assert ext["Kon"]["elimination"] is True
    assert "eliminationValueCode" not in ext["Kon"]
    assert ext["ContentsCode"]["elimination"] is False
    assert doc["role"] == {"time": ["Tid"], "metric": ["ContentsCode"]}
    unit = doc["dimension"]["ContentsCode"]["category"]["unit"]["BE0101N1"]
    assert unit == {"base": "antal", "decimals": 0}


def test_data_post_has_scb_shape(v2: httpx.Client) -> None:
    body = {
        "selection": [
            {"variableCode": "Lan", "valueCodes": ["01", "12"]},
            {"variableCode": "ContentsCode", "valueCodes": ["MI1301SY"]},
            {"variableCode": "Tid", "valueCodes": ["2010", "2011"]},
        ],
        "placement": {"heading": ["Tid"], "stub": ["Lan"]},
    }
    r = v2.post("/tables/TAB9001/data", params={"outputFormat": "json-stat2"}, json=body)
    assert r.status_code == 200
    ds = r.json()
    assert list(ds) == [
        "version", "class", "label", "source", "updated", "note", "role", "id", "size",
        "dimension", "extension", "value",
    ]  # fmt: skip
    assert ds["id"] == ["Lan", "ContentsCode", "Tid"]
    assert ds["size"] == [2, 1, 2]
    assert list(ds["dimension"]["Lan"]) == ["label", "category", "extension"]
    assert ds["dimension"]["Lan"]["category"]["label"] == {
        "01": "Stockholms län",
        "12": "Skåne län",
    }
    assert cell(ds, Lan="12", ContentsCode="MI1301SY", Tid="2010") == 12342
    assert cell(ds, Lan="12", ContentsCode="MI1301SY", Tid="2011") == 12639
    assert "status" not in ds  # no symbol in the selection → no status at all
    assert ds["extension"]["px"]["matrix"] == "MI1301T04"


def test_data_get_matches_post(v2: httpx.Client) -> None:
    got = v2.get(
        "/tables/TAB9001/data",
        params={
            "valueCodes[Lan]": "01,12",
            "valueCodes[ContentsCode]": "MI1301SY",
            "valueCodes[Tid]": "[range(2010,2011)]",
            "outputFormat": "json-stat2",
        },
    ).json()
    posted = v2.post(
        "/tables/TAB9001/data",
        json={"selection": [
            {"variableCode": "Lan", "valueCodes": ["01", "12"]},
            {"variableCode": "ContentsCode", "valueCodes": ["MI1301SY"]},
            {"variableCode": "Tid", "valueCodes": ["2010", "2011"]},
        ]},
    ).json()  # fmt: skip
    assert got == posted


def test_data_valuecodes_key_is_case_insensitive(v2: httpx.Client) -> None:
    r = v2.get(
        "/tables/TAB900/data?valuecodes[Tid]=2018&VALUECODES[Kon]=2&valueCodes[ContentsCode]=*"
    )
    assert r.status_code == 200
    assert r.json()["id"] == ["Kon", "ContentsCode", "Tid"]


def test_missing_values_come_as_null_with_sparse_status(v2: httpx.Client) -> None:
    ds = v2.get(
        "/tables/TAB9001/data",
        params={"valueCodes[Lan]": "00,09", "valueCodes[ContentsCode]": "MI1301EX",
                "valueCodes[Tid]": "2005,2006,2007"},
    ).json()  # fmt: skip
    assert ds["value"] == [None, None, ds["value"][2], None, None, ds["value"][5]]
    assert ds["status"] == {"0": "..", "1": "..", "3": "..", "4": "."}


def test_default_selection_when_nothing_selected(v2: httpx.Client) -> None:
    ds = v2.get("/tables/TAB9001/data").json()
    assert ds["id"] == ["ContentsCode", "Tid"]  # Lan eliminated to Riket (00)
    assert codes(ds, "Tid") == ["2020"]


@pytest.mark.parametrize(
    ("params", "status", "title"),
    [
        ({"valueCodes[Nope]": "1"}, 400, "Non-existent variable"),
        ({"valueCodes[Lan]": "99", "valueCodes[ContentsCode]": "*", "valueCodes[Tid]": "*"}, 400,
         "Non-existent value"),
        ({"valueCodes[Lan]": "01", "valueCodes[ContentsCode]": "*"}, 400,
         "Missing selection for mandantory variable"),
        ({"valueCodes[Lan]": "top(x)", "valueCodes[ContentsCode]": "*", "valueCodes[Tid]": "*"}, 400,
         "Illegal selection expression"),
        ({"valueCodes[Lan]": "*0*1*", "valueCodes[ContentsCode]": "*", "valueCodes[Tid]": "*"}, 400,
         "Illegal selection expression"),
        ({"valueCodes[Tid]": "*", "valueCodes[ContentsCode]": "*", "outputFormat": "csv"}, 400,
         "Unsupported output format"),
        ({"valueCodes[Tid]": "*", "valueCodes[ContentsCode]": "*", "codelist[Lan]": "vs_X"}, 400,
         "Non-existent codelist"),
    ],
)  # fmt: skip
def test_data_errors_are_problem_json(
    v2: httpx.Client, params: dict[str, str], status: int, title: str
) -> None:
    r = v2.get("/tables/TAB9001/data", params=params)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert set(body) == {"type", "title", "status", "detail"}
    assert (body["type"], body["title"], body["status"]) == ("Parameter error", title, status)


def test_post_errors(v2: httpx.Client) -> None:
    r = v2.post("/tables/TAB9001/data", content=b"{not json")
    assert r.status_code == 400
    r = v2.post(
        "/tables/TAB9001/data",
        json={"selection": [{"variableCode": "Tid", "valueCodes": ["*"]},
                            {"variableCode": "ContentsCode", "valueCodes": ["*"]}],
              "placement": {"heading": ["Nope"], "stub": []}},
    )  # fmt: skip
    assert (r.status_code, r.json()["title"]) == (400, "Illegal placment")


def test_unknown_endpoint_is_404(v2: httpx.Client, http: httpx.Client) -> None:
    assert v2.get("/nope").status_code == 404
    assert http.get("/other").status_code == 404
