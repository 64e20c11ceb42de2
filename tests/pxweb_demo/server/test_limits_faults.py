"""Limits (cells, rate), fault injection, control endpoints, touch/revise and reloading."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from pxweb_demo.generate import dim, dump, full_dataset, table_docs, year_dim
from pxweb_demo.paths import demo_snapshot_dir
from pxweb_demo.server import DemoServer, start_server
from tests.pxweb_demo.server.conftest import client
from tests.pxweb_demo.server.helpers import cell

EGSS_2012 = {"valueCodes[Lan]": "14", "valueCodes[ContentsCode]": "MI1301EX",
             "valueCodes[Tid]": "2012"}  # fmt: skip


def test_cell_limit_is_400_problem(server: DemoServer, v2: httpx.Client) -> None:
    server.set_limits(max_cells=88)  # 22 x 4 = 88 cells is allowed, 89+ is not
    ok = v2.get("/tables/TAB9001/data", params={"valueCodes[Lan]": "*",
                "valueCodes[ContentsCode]": "*", "valueCodes[Tid]": "2010"})  # fmt: skip
    assert ok.status_code == 200
    r = v2.get("/tables/TAB9001/data", params={"valueCodes[Lan]": "*",
               "valueCodes[ContentsCode]": "*", "valueCodes[Tid]": "2010,2011"})  # fmt: skip
    assert r.status_code == 400
    assert r.json()["title"] == "Too many cells selected"
    assert "176" in r.json()["detail"]


def test_default_cell_limit_allows_the_full_population_table(v2: httpx.Client) -> None:
    params = {f"valueCodes[{d}]": "*" for d in ["Region", "Civilstand", "Alder", "Kon",
                                                "ContentsCode", "Tid"]}  # fmt: skip
    r = v2.get("/tables/TAB638/data", params=params)
    assert r.status_code == 200
    assert len(r.json()["value"]) == 22 * 4 * 7 * 2 * 2 * 25


def test_rate_limit_429_with_retry_after() -> None:
    with start_server(max_calls=3, time_window=1.0, control=True) as s, client(s.url) as c:
        for _ in range(3):
            r = c.get("/api/v2/config")
            assert r.status_code == 200
        assert r.headers["X-Rate-Limit-Limit"] == "1s"
        assert r.headers["X-Rate-Limit-Remaining"] == "0"
        for _ in range(5):  # control endpoints are not rate limited
            assert c.get("/_control/health").status_code == 200
        r = c.get("/api/v2/tables")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "1"
        assert r.json()["status"] == 429
        r = c.post("/api/v1/sv/ssd/BE/BE0101/BE0101A/BefolkningNy", json={"query": []})
        assert r.status_code == 429
        assert r.json() == {
            "error": "429 - Too many requests in too short timeframe. Please try again later."
        }
        assert int(r.headers["Retry-After"]) >= 1
        time.sleep(1.05)
        assert c.get("/api/v2/config").status_code == 200
        statuses = [rec["status"] for rec in s.request_log]
        assert statuses == [200, 200, 200, 429, 429, 200]
        assert c.get("/api/v2/config").json()["maxCallsPerTimeWindow"] == 3


def test_fail_next(server: DemoServer, v2: httpx.Client) -> None:
    server.faults.fail_next(2, status=503)
    assert [v2.get("/config").status_code for _ in range(3)] == [503, 503, 200]
    server.faults.fail_next(1, status=429, retry_after=2)
    r = v2.get("/config")
    assert (r.status_code, r.headers["Retry-After"]) == (429, "2")


def test_delay_next(server: DemoServer, v2: httpx.Client) -> None:
    server.faults.delay_next(1, 0.3)
    t0 = time.monotonic()
    assert v2.get("/config").status_code == 200
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    v2.get("/config")
    assert time.monotonic() - t0 < 0.3


def test_truncate_short_body_breaks_the_transfer(server: DemoServer, v2: httpx.Client) -> None:
    server.faults.truncate_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        v2.get("/tables/TAB9001/data", params=EGSS_2012)
    assert v2.get("/tables/TAB9001/data", params=EGSS_2012).status_code == 200


def test_truncate_cut_json(server: DemoServer, v2: httpx.Client) -> None:
    server.faults.truncate_next(1, mode="cut")
    r = v2.get("/tables/TAB9001/metadata")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    server.faults.truncate_next(3)
    server.faults.reset()
    assert v2.get("/tables/TAB9001/metadata").json()["id"] == ["Lan", "ContentsCode", "Tid"]


def test_control_endpoints_over_http(server: DemoServer, http: httpx.Client) -> None:
    r = http.post("/_control/faults", json={"fail_next": {"n": 1, "status": 500},
                                            "delay_next": {"n": 1, "seconds": 0.01}})  # fmt: skip
    assert r.json()["fail_next"] == {"n": 1, "status": 500, "retry_after": None}
    assert http.get("/api/v2/config").status_code == 500
    assert http.get("/_control/faults").json()["fail_next"]["n"] == 0
    http.post("/_control/faults", json={"truncate_next": {"n": 1, "mode": "cut"}})
    assert http.post("/_control/faults", json={"reset": True}).json()["truncate_next"]["n"] == 0
    assert http.get("/api/v2/tables/TAB9001").status_code == 200
    log = http.get("/_control/requests").json()
    assert [(x["path"], x["status"]) for x in log] == [
        ("/api/v2/config", 500),
        ("/api/v2/tables/TAB9001", 200),
    ]  # fmt: skip  (control calls are not logged)
    assert log[0]["t"] <= log[1]["t"]
    assert log[0]["faults"] == ["fail:500", "delay:0.01"]
    assert http.delete("/_control/requests").status_code == 200
    assert http.get("/_control/requests").json() == []
    assert http.post("/_control/limits", json={"max_cells": 10}).json()["max_cells"] == 10
    assert http.get("/api/v2/config").json()["maxDataCells"] == 10
    assert http.post("/_control/limits", json={"nope": 1}).status_code == 400
    assert http.post("/_control/reset", json={}).json() == {"ok": True}
    assert http.get("/_control/limits").json()["max_cells"] == 150_000
    assert http.get("/_control/nope").status_code == 404


def test_touch_bumps_updated_and_revises(server: DemoServer, http: httpx.Client) -> None:
    before = http.get("/api/v2/tables/TAB9001/data", params=EGSS_2012).json()
    body = {"updated": "2026-07-01T06:00:00Z",
            "revise": {"cells": [{"selection": {"Lan": "14", "ContentsCode": "MI1301EX",
                                                "Tid": "2012"}, "value": 9999}]}}  # fmt: skip
    r = http.post("/_control/tables/TAB9001/touch", json=body)
    assert r.status_code == 200
    assert r.json()["updated"] == "2026-07-01T06:00:00Z"
    for path in ("/api/v2/tables/TAB9001", "/api/v2/tables/TAB9001/metadata"):
        assert http.get(path).json()["updated"] == "2026-07-01T06:00:00Z"
    after = http.get("/api/v2/tables/TAB9001/data", params=EGSS_2012).json()
    assert after["updated"] == "2026-07-01T06:00:00Z"
    assert before["value"] == [8200] and after["value"] == [9999]
    listing = http.get("/api/v1/sv/ssd/MI/MI1301/MI1301D").json()
    assert listing[0]["updated"] == "2026-07-01T08:00:00"
    assert http.post("/_control/tables/NOPE/touch", json={}).status_code == 404
    bad = {"revise": {"cells": [{"selection": {"Lan": "99"}, "value": 1}]}}
    assert http.post("/_control/tables/TAB9001/touch", json=bad).status_code == 400
    http.post("/_control/reset", json={})
    assert http.get("/api/v2/tables/TAB9001/data", params=EGSS_2012).json()["value"] == [8200]


def test_touch_without_updated_uses_now(server: DemoServer) -> None:
    info = server.touch("TAB900")
    assert info["updated"].endswith("Z")
    assert info["updated"] > "2026-05-29T06:00:00Z"


def test_edited_snapshot_copy_is_reloaded(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(demo_snapshot_dir(), snap)
    with start_server(snap, max_calls=1000) as s, client(s.base_url_v2) as c:
        assert c.get("/tables/TAB9001/data", params=EGSS_2012).json()["value"] == [8200]
        path = snap / "tables" / "TAB9001" / "data.json"
        ds = orjson.loads(path.read_bytes())
        ds["updated"] = "2027-01-01T00:00:00Z"  # data.json's updated is not the source of truth
        i = list(ds["dimension"]["Lan"]["category"]["index"]).index("14")
        flat = (i * 4 + 3) * 18 + 9  # Lan 14, MI1301EX, 2012
        ds["value"][flat] = 1234
        path.write_bytes(orjson.dumps(ds))
        table_json = snap / "tables" / "TAB9001" / "table.json"
        info = json.loads(table_json.read_text())
        info["updated"] = "2026-08-01T06:00:00Z"
        table_json.write_text(json.dumps(info))
        assert c.get("/tables/TAB9001/data", params=EGSS_2012).json()["value"] == [1234]
        assert c.get("/tables/TAB9001").json()["updated"] == "2026-08-01T06:00:00Z"
        shutil.rmtree(snap / "tables" / "TAB900")
        assert c.get("/tables/TAB900").status_code == 404
        s.reload(demo_snapshot_dir())
        assert c.get("/tables/TAB900").status_code == 200


def test_slicing_150k_cells_is_fast(tmp_path: Path) -> None:
    codes = [f"{i:03d}" for i in range(100)]
    years = list(range(2006, 2021))
    dims = {"A": dim("a", codes, codes, elimination=False),
            "B": dim("b", codes, codes, elimination=True),
            "ContentsCode": dim("c", ["X"], ["x"], elimination=False),
            "Tid": year_dim(years)}  # fmt: skip
    info, meta, label = table_docs(tab_id="TAB9999", matrix="BIG", title="Big", contents="x",
                                   dims=dims, years=years, folders=[("XX", "x"), ("XX1", "x")],
                                   notes=["big"])  # fmt: skip
    values = np.arange(100 * 100 * 15, dtype=float).reshape(100, 100, 1, 15)
    folder = tmp_path / "tables" / "TAB9999"
    folder.mkdir(parents=True)
    (folder / "table.json").write_bytes(dump(info, pretty=True))
    (folder / "metadata.json").write_bytes(dump(meta, pretty=True))
    (folder / "data.json").write_bytes(
        dump(full_dataset(info, meta, label, values, {}), pretty=False)
    )
    with start_server(tmp_path) as s, client(s.base_url_v2) as c:
        params = {"valueCodes[A]": "*", "valueCodes[B]": "*", "valueCodes[ContentsCode]": "*",
                  "valueCodes[Tid]": "*"}  # fmt: skip
        c.get("/tables/TAB9999/metadata")  # load and cache the table first
        r = c.get("/tables/TAB9999/data", params=params)
        assert r.status_code == 200
        ds = r.json()
        assert len(ds["value"]) == 150_000
        assert cell(ds, A="099", B="099", ContentsCode="X", Tid="2020") == 149_999
        assert s.request_log[-1]["seconds"] < 1.0
        summed = c.get("/tables/TAB9999/data", params={"valueCodes[A]": "001",
                       "valueCodes[ContentsCode]": "X", "valueCodes[Tid]": "2006"}).json()  # fmt: skip
        assert summed["value"] == [sum(1500 + 15 * b for b in range(100))]
        params["valueCodes[Tid]"] = "2006,2007"
        params["valueCodes[B]"] = "*"
        s.set_limits(max_cells=150_000)
        assert c.get("/tables/TAB9999/data", params=params).status_code == 200
