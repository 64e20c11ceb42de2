"""Ingest orchestration end to end: catalog → real local PxWeb server (loopback) → real DuckDB file.

No mocks: every test talks HTTP to `pxweb_demo.server` and reads the DuckDB file the loader wrote.
Tests that only read use the session `raw_db`; tests that touch tables or inject faults start
their own server, so the session server's state stays as the other suites expect.
"""

# SQL here is built from the constant dataset and dimension names above, never from input.
# ruff: noqa: S608

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from cleantech.layout import REPO_ROOT
from ingest.catalog import CatalogError, load_catalog
from ingest.datasets import IngestFailed, ingest_all, ingest_dataset, same_vintage
from pxweb_demo.paths import demo_snapshot_dir
from pxweb_demo.server import start_server

DATASETS = {
    "egss_county": ("TAB9001", ["Lan", "ContentsCode", "Tid"], 22 * 4 * 18),
    "employment_county_industry": (
        "TAB900",
        ["Region", "SNI2007", "Kon", "ContentsCode", "Tid"],
        22 * 16 * 2 * 1 * 11,
    ),
    "population_county": ("TAB638", ["Region", "ContentsCode", "Tid"], 22 * 1 * 25),
}
META = ["_source_table", "_source_updated", "_loaded_at", "_load_id"]
SNAPSHOT_UPDATED = "2026-05-29T06:00:00Z"
NEW_UPDATED = "2026-06-15T06:00:00Z"
# Retries stay on (the default count) but do not sleep long: tests inject their own faults.
FAST = {"backoff": 0.02}
WINDOW = 0.5  # seconds: the tight rate limit is 5 calls per window


# -- helpers -------------------------------------------------------------------------------


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def contents(db: Path, dataset: str) -> list[tuple]:
    """Every row of the current vintage without the per-load columns, sorted."""
    dims = DATASETS[dataset][1]
    cols = ", ".join([*(f'"{d}"' for d in dims), "value", "status", "_source_table"])
    return query(
        db, f"SELECT {cols}, CAST(_source_updated AS VARCHAR) FROM raw.{dataset} ORDER BY ALL"
    )


def duplicates(db: Path, dataset: str) -> int:
    dims = ", ".join(f'"{d}"' for d in DATASETS[dataset][1])
    return query(
        db,
        f"SELECT count(*) FROM (SELECT {dims} FROM raw.{dataset} GROUP BY ALL HAVING count(*) > 1)",
    )[0][0]


def data_calls(server) -> list[dict]:
    return [r for r in server.request_log if r["path"].endswith("/data")]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(server, db: Path, **kwargs) -> dict:
    kwargs.setdefault("client_options", FAST)
    results = ingest_all(
        db=db, source="demo", base_url=server.base_url_v2, progress=False, **kwargs
    )
    return {r.dataset: r for r in results}


def max_in_window(log: list[dict], window: float) -> int:
    """The most requests the server saw in any `window` seconds (every logged call counts)."""
    times = sorted(r["t"] for r in log)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.fixture
def server() -> Iterator:
    """A private demo server with a roomy rate limit (these tests are not about rate limits)."""
    srv = start_server(port=0, max_calls=1000, time_window=1.0)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def loaded(server, tmp_path: Path) -> Path:
    """A warehouse file with every catalog dataset loaded from `server`."""
    db = tmp_path / "warehouse.duckdb"
    results = run(server, db)
    assert {r.outcome for r in results.values()} == {"loaded"}, results
    server.clear_log()
    return db


# -- a normal load (the session raw layer) ------------------------------------------------


def test_every_catalog_dataset_loads_with_the_raw_contract(raw_db: Path) -> None:
    for dataset, (table, dims, cells) in DATASETS.items():
        columns = query(
            raw_db,
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = 'raw' AND table_name = ? ORDER BY column_index",
            [dataset],
        )
        assert columns == [
            *((d, "VARCHAR") for d in dims),
            ("value", "DOUBLE"),
            ("status", "VARCHAR"),
            ("_source_table", "VARCHAR"),
            ("_source_updated", "TIMESTAMP WITH TIME ZONE"),
            ("_loaded_at", "TIMESTAMP WITH TIME ZONE"),
            ("_load_id", "VARCHAR"),
        ], dataset
        (rows, tables, vintages, load_ids, nulls) = query(
            raw_db,
            f"SELECT count(*), count(DISTINCT _source_table), count(DISTINCT _source_updated), "
            f"count(DISTINCT _load_id), count(*) FILTER (_loaded_at IS NULL) FROM raw.{dataset}",
        )[0]
        assert (rows, tables, vintages, load_ids, nulls) == (cells, 1, 1, 1, 0), dataset
        assert query(raw_db, f"SELECT DISTINCT _source_table FROM raw.{dataset}") == [(table,)]
        assert duplicates(raw_db, dataset) == 0
        # Region codes are strings with their leading zero, as the source writes them.
        assert ("01",) in query(raw_db, f'SELECT DISTINCT "{dims[0]}" FROM raw.{dataset}')
    log = query(raw_db, "SELECT dataset, outcome, rows, message FROM raw._load_log ORDER BY ALL")
    assert log == sorted((d, "loaded", c, None) for d, (_, _, c) in DATASETS.items())
    updated = query(raw_db, "SELECT dataset, updated, is_demo FROM raw._datasets ORDER BY 1")
    assert updated == [(d, SNAPSHOT_UPDATED, True) for d in sorted(DATASETS)]


def test_missing_values_stay_null_with_their_status_symbol(raw_db: Path) -> None:
    snapshot = json.loads((demo_snapshot_dir() / "tables/TAB9001/data.json").read_bytes())
    expected_missing = sum(v is None for v in snapshot["value"])
    assert expected_missing > 0  # the demo has missing cells (Gotland's export)
    by_status = dict(
        query(
            raw_db,
            "SELECT coalesce(status, '<none>'), count(value) FROM raw.egss_county GROUP BY 1",
        )
    )
    assert by_status.keys() >= {"..", "."}
    assert by_status[".."] == 0 and by_status["."] == 0  # a symbol never comes with a number
    missing = query(
        raw_db, "SELECT Lan, ContentsCode, Tid, status FROM raw.egss_county WHERE value IS NULL"
    )
    assert len(missing) == expected_missing
    assert all(status in ("..", ".") for *_, status in missing)
    gotland = {(c, s) for lan, c, _, s in missing if lan == "09"}
    assert gotland == {("MI1301EX", ".."), ("MI1301EX", ".")}
    # A missing cell is never loaded as 0.
    zeros = query(
        raw_db, "SELECT count(*) FROM raw.egss_county WHERE value = 0 AND status IS NOT NULL"
    )
    assert zeros == [(0,)]


# -- incremental runs ---------------------------------------------------------------------


def test_second_run_is_unchanged_and_fetches_no_data(server, loaded: Path) -> None:
    before = {d: contents(loaded, d) for d in DATASETS}
    load_ids = {d: query(loaded, f"SELECT DISTINCT _load_id FROM raw.{d}") for d in DATASETS}
    results = run(server, loaded)
    for dataset, (table, _, cells) in DATASETS.items():
        r = results[dataset]
        assert (r.outcome, r.table_id, r.rows, r.table_rows) == ("unchanged", table, 0, cells)
        assert same_vintage(r.source_updated, SNAPSHOT_UPDATED)
        assert contents(loaded, dataset) == before[dataset]
        assert query(loaded, f"SELECT DISTINCT _load_id FROM raw.{dataset}") == load_ids[dataset]
    assert data_calls(server) == []
    assert all(r["status"] == 200 for r in server.request_log)
    log = query(
        loaded,
        "SELECT dataset, rows FROM raw._load_log WHERE outcome = 'unchanged' ORDER BY dataset",
    )
    assert log == [(d, 0) for d in sorted(DATASETS)]


def test_full_refresh_refetches_without_duplicates_or_revisions(server, loaded: Path) -> None:
    before = {d: contents(loaded, d) for d in DATASETS}
    results = run(server, loaded, full_refresh=True)
    fetched = {r["path"].split("/")[-2] for r in data_calls(server)}
    assert fetched == {table for table, _, _ in DATASETS.values()}
    for dataset, (_, _, cells) in DATASETS.items():
        assert results[dataset].outcome in ("loaded", "unchanged")
        assert results[dataset].rows == results[dataset].table_rows == cells
        assert contents(loaded, dataset) == before[dataset]
        assert duplicates(loaded, dataset) == 0
        assert query(loaded, f"SELECT count(*) FROM raw.{dataset}__revisions") == [(0,)]


def test_a_new_vintage_refetches_that_table_only_and_keeps_history(server, loaded: Path) -> None:
    cell = {"Lan": "01", "ContentsCode": "MI1301SY", "Tid": "2010"}
    gone = {"Lan": "14", "ContentsCode": "MI1301EX", "Tid": "2012"}
    where = "Lan = ? AND ContentsCode = ? AND Tid = ?"
    (old_value,) = query(
        loaded, f"SELECT value FROM raw.egss_county WHERE {where}", [*cell.values()]
    )[0]
    (old_gone,) = query(
        loaded, f"SELECT value FROM raw.egss_county WHERE {where}", [*gone.values()]
    )[0]
    others = {d: contents(loaded, d) for d in DATASETS if d != "egss_county"}

    server.touch(
        "TAB9001",
        NEW_UPDATED,
        revise={
            "cells": [
                {"selection": {k: [v] for k, v in cell.items()}, "value": old_value + 1000},
                {"selection": {k: [v] for k, v in gone.items()}, "value": None, "status": ".."},
            ]
        },
    )
    results = run(server, loaded)
    assert results["egss_county"].outcome == "loaded"
    assert "2 revised cells" in results["egss_county"].message
    assert same_vintage(results["egss_county"].source_updated, NEW_UPDATED)
    for dataset in others:
        assert results[dataset].outcome == "unchanged"
        assert contents(loaded, dataset) == others[dataset]
    assert {r["path"].split("/")[-2] for r in data_calls(server)} == {"TAB9001"}

    current = query(
        loaded,
        f"SELECT value, status, CAST(_source_updated AS VARCHAR) FROM raw.egss_county WHERE {where}",
        [*cell.values()],
    )
    assert current == [(old_value + 1000, None, "2026-06-15 06:00:00+00")]
    assert query(
        loaded, f"SELECT value, status FROM raw.egss_county WHERE {where}", [*gone.values()]
    ) == [(None, "..")]
    assert query(loaded, "SELECT count(*) FROM raw.egss_county") == [(22 * 4 * 18,)]
    history = query(
        loaded,
        "SELECT Lan, ContentsCode, Tid, value, status, CAST(_source_updated AS VARCHAR), "
        "CAST(_replaced_by_updated AS VARCHAR) FROM raw.egss_county__revisions ORDER BY Lan",
    )
    assert history == [
        (
            "01",
            "MI1301SY",
            "2010",
            old_value,
            None,
            "2026-05-29 06:00:00+00",
            "2026-06-15 06:00:00+00",
        ),
        (
            "14",
            "MI1301EX",
            "2012",
            old_gone,
            None,
            "2026-05-29 06:00:00+00",
            "2026-06-15 06:00:00+00",
        ),
    ]
    # The new vintage is now current: the next run leaves everything alone.
    server.clear_log()
    again = run(server, loaded)
    assert {r.outcome for r in again.values()} == {"unchanged"} and data_calls(server) == []
    assert query(loaded, "SELECT count(*) FROM raw.egss_county__revisions") == [(2,)]


def test_a_changed_selection_is_fetched_even_when_the_source_has_not_moved(
    server, tmp_path: Path
) -> None:
    from ingest.datasets import fetch_table

    db = tmp_path / "w.duckdb"

    def fetch(regions: list[str]):
        return fetch_table(
            base_url=server.base_url_v2,
            api="v2",
            table="TAB638",
            dataset="pop",
            db=db,
            selection={"Region": regions, "ContentsCode": ["BE0101N1"], "Tid": "top(2)"},
            progress=False,
        )

    assert (fetch(["01", "03"]).outcome, fetch(["01", "03"]).outcome) == ("loaded", "unchanged")
    server.clear_log()
    result = fetch(["01", "04"])
    assert (result.outcome, result.rows) == ("loaded", 4) and len(data_calls(server)) == 1
    assert query(db, "SELECT DISTINCT Region FROM raw.pop ORDER BY 1") == [("01",), ("04",)]
    # A bad code fails even though the source's `updated` has not moved.
    with pytest.raises(IngestFailed, match="unknown value '99' for variable Region"):
        fetch(["99"])
    assert query(db, "SELECT DISTINCT Region FROM raw.pop ORDER BY 1") == [("01",), ("04",)]


# -- faults and the rate limit -----------------------------------------------------------


class OnFirstData(threading.Thread):
    """Inject faults one kind at a time once the first data request has reached the server.

    Each request consumes one pending fault of every kind, so the kinds are queued one after the
    other (each once the previous is used up) to land on different requests.
    """

    def __init__(self, server, steps: list[Callable[[], None]]) -> None:
        super().__init__(daemon=True)
        self.server, self.steps, self.stop = server, steps, threading.Event()

    def pending(self) -> int:
        state = self.server.faults.state()
        return sum(state[k]["n"] for k in ("fail_next", "delay_next", "truncate_next"))

    def run(self) -> None:
        while not self.stop.is_set() and not data_calls(self.server):
            time.sleep(0.002)
        for step in self.steps:
            if self.stop.is_set():
                return
            step()
            while self.pending() and not self.stop.wait(0.002):
                pass


def test_faults_under_a_tight_rate_limit_load_the_same_table(raw_db: Path, tmp_path: Path) -> None:
    # raw_db is the fault-free load of the same snapshot. 1584 cells at 200 cells a request:
    # 8 data requests, 5 calls per half second, faults on the first calls and on data requests.
    name = "egss_county"
    with start_server(port=0, max_calls=5, time_window=WINDOW, max_cells=200) as srv:
        db = tmp_path / "faulty.duckdb"
        srv.faults.fail_next(3, 503)  # /config, retried
        srv.faults.truncate_next(1, "cut")  # a valid Content-Length around broken JSON
        injector = OnFirstData(
            srv,
            [
                lambda: srv.faults.truncate_next(2, "short"),  # fewer bytes than announced
                lambda: srv.faults.fail_next(3, 503),
                lambda: srv.faults.truncate_next(1, "cut"),
                lambda: srv.faults.delay_next(2, 0.3),
            ],
        )
        injector.start()
        try:
            result = run(srv, db, datasets=[name])[name]
        finally:
            injector.stop.set()
            injector.join(5)
        assert (result.outcome, result.rows) == ("loaded", 1584), result
        log = srv.request_log
        faulted = [f for r in log if r["path"].endswith("/data") for f in r["faults"]]
        assert {f.split(":")[0] for f in faulted} == {"fail", "truncate", "delay"}, faulted
        assert len(data_calls(srv)) >= 8 + 6  # every part, plus a retry per failed part
        assert contents(db, name) == contents(raw_db, name)
        assert duplicates(db, name) == 0
        # The client never went over the server's limit: no 429 and no crowded window.
        assert not any(r["rate_limited"] for r in log)
        assert max_in_window(log, WINDOW) <= 5

        # A forced re-run adds nothing. It is a new client with a new limiter, so the window
        # is checked for this run's calls (the server's 429 would cover the gap between runs).
        time.sleep(WINDOW)  # let the first run's calls leave the server's window
        seen = len(srv.request_log)
        again = run(srv, db, datasets=[name], full_refresh=True)[name]
        assert (again.outcome, again.rows) == ("unchanged", 1584)
        assert max_in_window(srv.request_log[seen:], WINDOW) <= 5
        assert not any(r["rate_limited"] for r in srv.request_log)
        assert contents(db, name) == contents(raw_db, name)
        assert query(db, f"SELECT count(*) FROM raw.{name}__revisions") == [(0,)]


# -- failures keep the previous data ------------------------------------------------------


def test_a_failing_dataset_keeps_its_table_and_the_others_still_load(
    server, tmp_path: Path
) -> None:
    db = tmp_path / "w.duckdb"
    assert run(server, db, datasets=["population_county"])["population_county"].outcome == "loaded"
    before = contents(db, "population_county")
    load_id = query(db, "SELECT DISTINCT _load_id FROM raw.population_county")
    server.touch(
        "TAB638",
        NEW_UPDATED,
        revise={"cells": [{"selection": {"Region": ["01"], "Tid": ["2020"]}, "value": 1}]},
    )
    # The first dataset meets a server that answers 500 to every one of its attempts.
    server.faults.fail_next(3, 500)
    order = ["population_county", "egss_county", "employment_county_industry"]
    results = run(server, db, datasets=order, client_options={"max_retries": 2, "backoff": 0.01})
    failed = results["population_county"]
    assert failed.outcome == "failed" and failed.requests == 3
    assert "\n" not in failed.message and "HTTP 500" in failed.message
    assert failed.message.startswith("population_county: ")
    assert contents(db, "population_county") == before
    assert query(db, "SELECT DISTINCT _load_id FROM raw.population_county") == load_id
    assert query(db, "SELECT count(*) FROM raw.population_county__revisions") == [(0,)]
    assert query(db, "SELECT updated FROM raw._datasets WHERE dataset = 'population_county'") == [
        (SNAPSHOT_UPDATED,)
    ]
    logged = query(
        db,
        "SELECT outcome, message FROM raw._load_log WHERE dataset = 'population_county' "
        "ORDER BY fetched_at",
    )
    assert [o for o, _ in logged] == ["loaded", "failed"]
    assert "HTTP 500" in logged[-1][1] and "\n" not in logged[-1][1]
    for name in order[1:]:
        assert results[name].outcome == "loaded" and results[name].rows == DATASETS[name][2]
    # Once the server recovers, the next run picks up the new vintage.
    assert run(server, db)["population_county"].outcome == "loaded"
    assert query(db, "SELECT count(*) FROM raw.population_county__revisions") == [(1,)]


def test_a_failure_mid_split_writes_nothing(tmp_path: Path) -> None:
    with start_server(port=0, max_calls=1000, time_window=1.0, max_cells=100) as srv:
        db = tmp_path / "w.duckdb"
        assert run(srv, db, datasets=["population_county"])["population_county"].outcome == "loaded"
        before = contents(db, "population_county")
        srv.touch("TAB638", NEW_UPDATED)
        # 550 cells at 100 a request, 3 calls in 0.3 s: the parts arrive over a second or so.
        srv.set_limits(max_calls=3, time_window=0.3)
        srv.clear_log()
        injector = OnFirstData(srv, [lambda: srv.faults.fail_next(1000, 500)])
        injector.start()
        try:
            with pytest.raises(IngestFailed, match="HTTP 500") as info:
                ingest_dataset(
                    "population_county",
                    db=db,
                    base_url=srv.base_url_v2,
                    progress=False,
                    client_options={"max_retries": 1, "backoff": 0.01},
                )
        finally:
            injector.stop.set()
            injector.join(5)
            srv.faults.reset()
        assert info.value.result is not None and info.value.result.outcome == "failed"
        assert sum(r["status"] == 200 for r in data_calls(srv)) >= 1  # some parts had arrived
        assert contents(db, "population_county") == before
        assert query(db, "SELECT count(*) FROM raw.population_county__revisions") == [(0,)]


def test_unknown_table_fails_naming_it_and_the_rest_load(server, tmp_path: Path) -> None:
    text = (REPO_ROOT / "catalog.yml").read_text(encoding="utf-8")
    text += "\n  ghost:\n    table: TAB99999\n    selection: {Tid: '*'}\n"
    path = tmp_path / "catalog.yml"
    path.write_text(text, encoding="utf-8")
    db = tmp_path / "w.duckdb"
    results = run(server, db, catalog=load_catalog(path))
    ghost = results.pop("ghost")
    assert ghost.outcome == "failed" and "TAB99999" in ghost.message and "\n" not in ghost.message
    assert "not found" in ghost.message
    assert {r.outcome for r in results.values()} == {"loaded"}
    assert query(db, "SELECT outcome FROM raw._load_log WHERE dataset = 'ghost'") == [("failed",)]


def test_unreachable_source_fails_fast_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    started = time.monotonic()
    results = ingest_all(
        db=db,
        base_url=f"http://127.0.0.1:{closed_port()}/api/v2",
        progress=False,
        client_options={"max_retries": 1, "backoff": 0.01},
    )
    assert time.monotonic() - started < 10
    assert [r.outcome for r in results] == ["failed"] * 3
    assert all("\n" not in r.message for r in results)
    assert "cannot reach the server" in results[0].message
    assert all("unreachable" in r.message for r in results[1:])  # not tried one by one
    assert query(db, "SELECT count(*) FROM raw._load_log WHERE outcome = 'failed'") == [(3,)]


def test_bad_names_fail_before_any_request(server, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="unknown dataset 'nope'"):
        ingest_all(db=tmp_path / "w.duckdb", datasets=["nope"], base_url=server.base_url_v2)
    with pytest.raises(ValueError, match="clashes with the schema raw"):
        ingest_all(db=tmp_path / "raw.duckdb", base_url=server.base_url_v2, progress=False)
    assert server.request_log == []
    assert not (tmp_path / "w.duckdb").exists() and not (tmp_path / "raw.duckdb").exists()


# -- `updated` that is not ISO 8601 ---------------------------------------------------------


def test_a_day_first_updated_is_a_known_vintage(server, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    cells = DATASETS["population_county"][2]
    assert run(server, db, datasets=["population_county"])["population_county"].outcome == "loaded"
    server.touch("TAB638", "15/06/2026 08:00:00")  # Stockholm summer time: 06:00 UTC
    server.clear_log()
    moved = run(server, db, datasets=["population_county"])["population_county"]
    assert (moved.outcome, moved.rows, moved.message) == ("unchanged", cells, "")
    assert data_calls(server)  # the vintage moved: fetched, found identical
    assert query(db, "SELECT updated FROM raw._datasets") == [("2026-06-15T06:00:00Z",)]
    assert query(db, "SELECT DISTINCT epoch(_source_updated) FROM raw.population_county") == [
        (datetime(2026, 6, 15, 6, tzinfo=UTC).timestamp(),)
    ]
    server.clear_log()
    again = run(server, db, datasets=["population_county"])["population_county"]
    assert (again.outcome, again.rows) == ("unchanged", 0)
    assert data_calls(server) == []  # same instant as recorded: not re-fetched


def test_an_unreadable_updated_loads_and_is_compared_on_every_run(
    server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "w.duckdb"
    cells = DATASETS["population_county"][2]
    server.touch("TAB638", "September 2016")
    with caplog.at_level(logging.WARNING, logger="ingest.load"):
        first = run(server, db, datasets=["population_county"])["population_county"]
    assert (first.outcome, first.rows, first.source_updated) == ("loaded", cells, "September 2016")
    assert "'September 2016'" in first.message and "vintage unknown" in first.message
    assert [r.getMessage() for r in caplog.records] == [f"population_county: {first.message}"]
    assert query(db, "SELECT updated FROM raw._datasets") == [("September 2016",)]
    assert query(db, "SELECT count(*), count(_source_updated) FROM raw.population_county") == [
        (cells, 0)
    ]
    server.clear_log()
    second = run(server, db, datasets=["population_county"])["population_county"]
    assert (second.outcome, second.rows) == ("unchanged", cells)
    assert data_calls(server)  # re-fetched and compared, not skipped on an unknown vintage
    assert query(db, "SELECT count(*) FROM raw.population_county__revisions") == [(0,)]
    log = query(
        db, "SELECT outcome, source_updated, message FROM raw._load_log ORDER BY fetched_at"
    )
    assert [(o, s) for o, s, _ in log] == [("loaded", None), ("unchanged", None)]
    assert all("'September 2016'" in m for _, _, m in log)
