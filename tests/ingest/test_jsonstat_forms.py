"""Conformance on hand-written JSON-stat documents (tests/fixtures/jsonstat): the 1.0x dataset form
(`"class": "dataset"`, no `version`, `id`/`size` inside `dimension`) and non-ISO `updated` values,
parsed and loaded into a real DuckDB file cell by cell."""

# SQL here is built from constant table names, never from input.
# ruff: noqa: S608

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pytest

from ingest.datasets import same_vintage
from ingest.jsonstat import JsonStatError, parse, parse_file
from ingest.load import LoadMeta, load_dataset, source_vintage
from ingest.pxweb.models import parse_updated
from tests.conftest import SPEC_FIXTURES

V10X = SPEC_FIXTURES / "jsonstat1_dataset_class_no_version.json"
DAY_FIRST = SPEC_FIXTURES / "jsonstat2_updated_day_first.json"
UNREADABLE = SPEC_FIXTURES / "jsonstat2_updated_unreadable.json"

# Every cell of the 1.0x document, in flat order (year fastest): area, year, value, status.
V10X_CELLS = [
    ("AU", "2003", 5.9, None),
    ("AU", "2004", 5.4, None),
    ("AU", "2005", None, ".."),
    ("AT", "2003", 4.3, None),
    ("AT", "2004", 4.9, None),
    ("AT", "2005", 5.2, None),
    ("BE", "2003", 7.7, None),
    ("BE", "2004", 7.4, None),
    ("BE", "2005", 8.4, "e"),
]
# Both 2.0 documents: region, year, value, status.
POP_CELLS = [
    ("R1", "2015", 1200.0, None),
    ("R1", "2016", 1250.0, None),
    ("R2", "2015", 3400.0, None),
    ("R2", "2016", None, ".."),
]


def meta(dataset: str = "fixture") -> LoadMeta:
    """Load metadata for a file load (no source `updated` besides the file's own)."""
    return LoadMeta(dataset, "T", None, None, datetime.now(UTC))


def rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def raw_cells(db: Path, dims: str) -> list[tuple]:
    """Every cell of raw.fixture as (dimension codes..., value, status), in load order."""
    return rows(db, f"SELECT {dims}, value, status FROM raw.fixture ORDER BY rowid")


# -- the JSON-stat 1.0x dataset form -------------------------------------------------------


def test_10x_dataset_without_version_parses_exactly() -> None:
    doc = orjson.loads(V10X.read_bytes())
    assert doc["class"] == "dataset" and "version" not in doc and "id" not in doc
    ds = parse_file(V10X)
    assert ds.version == "1.0"
    assert ds.ids == ["concept", "area", "year"] and ds.sizes == [1, 3, 3]
    concept, area, year = ds.dimensions
    assert (concept.role, area.role, year.role) == ("metric", "geo", "time")
    assert concept.codes == ["UNR"] and concept.labels == ["unemployment rate"]
    assert concept.units == {
        "UNR": {
            "type": "ratio",
            "base": "per cent",
            "multiplier": 0,
            "decimals": 1,
            "symbol": "%",
            "position": "end",
        }
    }
    assert area.codes == ["AU", "AT", "BE"] and area.labels == ["Australia", "Austria", "Belgium"]
    assert year.codes == year.labels == ["2003", "2004", "2005"]
    table = ds.to_arrow().to_pylist()
    assert [(r["area"], r["year"], r["value"], r["status"]) for r in table] == V10X_CELLS
    assert {r["concept"] for r in table} == {"UNR"}
    assert ds.label == "Unemployment rate in three OECD countries 2003-2005 (test values)"
    assert ds.updated == "2012-11-27"


def test_10x_dataset_loads_exactly(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    result = load_dataset(db, "fixture", [parse_file(V10X)], meta())
    assert (result.outcome, result.rows, result.warning) == ("loaded", 9, None)
    assert raw_cells(db, "area, year") == V10X_CELLS
    assert rows(db, "SELECT DISTINCT concept FROM raw.fixture") == [("UNR",)]
    labels = rows(
        db,
        "SELECT dimension_id, position, code, label, unit, decimals FROM raw._labels "
        "WHERE dataset = 'fixture' ORDER BY dimension_id, position",
    )
    assert labels == [
        ("area", 0, "AU", "Australia", None, None),
        ("area", 1, "AT", "Austria", None, None),
        ("area", 2, "BE", "Belgium", None, None),
        ("concept", 0, "UNR", "unemployment rate", "per cent", 1),
        ("year", 0, "2003", "2003", None, None),
        ("year", 1, "2004", "2004", None, None),
        ("year", 2, "2005", "2005", None, None),
    ]
    # A date-only `updated` has no zone: midnight Stockholm time (CET in November).
    assert rows(db, "SELECT updated FROM raw._datasets") == [("2012-11-26T23:00:00Z",)]
    stamp = datetime(2012, 11, 26, 23, tzinfo=UTC)
    assert rows(db, "SELECT DISTINCT _source_updated FROM raw.fixture")[0][0] == stamp


def test_the_layout_comes_from_where_id_and_size_are_not_from_class() -> None:
    doc = orjson.loads(V10X.read_bytes())
    # The 1.x wrapper and a bundle of the same dataset read the same.
    inner = {k: v for k, v in doc.items() if k != "class"}
    for wrapped in ({"dataset": inner}, {"oecd": inner}, {"version": "1.02", "x": inner}):
        ds = parse(wrapped)
        assert ds.ids == ["concept", "area", "year"] and ds.n_cells == 9
    # A 2.0 document without `version` is read as 2.0 from its top-level id/size.
    two = parse_file(DAY_FIRST)
    as_2 = orjson.loads(DAY_FIRST.read_bytes())
    del as_2["version"]
    ds = parse(as_2)
    assert ds.version == "2.0" and ds.ids == two.ids and ds.values.equals(two.values)
    # A 2.0 dimension may be called "id" or "size": not mistaken for the 1.x layout.
    named = copy.deepcopy(as_2)
    named["id"] = ["id", "size", "year"]
    named["dimension"]["id"] = named["dimension"].pop("metric")
    named["dimension"]["size"] = named["dimension"].pop("region")
    named["role"] = {"time": ["year"]}
    ds = parse(named)
    assert ds.ids == ["id", "size", "year"] and ds.dimensions[1].codes == ["R1", "R2"]
    assert ds.values.to_pylist() == [c[2] for c in POP_CELLS]


def test_a_dataset_without_id_and_size_anywhere_is_refused_clearly() -> None:
    doc = orjson.loads(V10X.read_bytes())
    del doc["dimension"]["id"], doc["dimension"]["size"]
    with pytest.raises(JsonStatError, match=r"'id' and 'size' are missing: neither at the top"):
        parse(doc)
    doc = orjson.loads(V10X.read_bytes())
    del doc["dimension"]["id"]
    with pytest.raises(JsonStatError, match=r"'id' is missing"):
        parse(doc)


# -- `updated` that is not ISO 8601 --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-29T06:00:00Z", datetime(2026, 5, 29, 6, tzinfo=UTC)),
        ("2026-05-29T08:00:00+02:00", datetime(2026, 5, 29, 6, tzinfo=UTC)),
        ("2026-05-29 08:00:00", datetime(2026, 5, 29, 6, tzinfo=UTC)),  # naive: Stockholm (CEST)
        ("14/09/2016 09:42:12", datetime(2016, 9, 14, 7, 42, 12, tzinfo=UTC)),
        ("14/09/2016 09:42", datetime(2016, 9, 14, 7, 42, tzinfo=UTC)),
        ("14/09/2016", datetime(2016, 9, 13, 22, tzinfo=UTC)),
        ("14.09.2016 09:42:12", datetime(2016, 9, 14, 7, 42, 12, tzinfo=UTC)),
        ("14.09.2016", datetime(2016, 9, 13, 22, tzinfo=UTC)),
        ("14-09-2016 09:42:12", datetime(2016, 9, 14, 7, 42, 12, tzinfo=UTC)),
        ("4/1/2016 9:05", datetime(2016, 1, 4, 8, 5, tzinfo=UTC)),  # winter: CET, day first
        (" 14/09/2016 09:42:12 ", datetime(2016, 9, 14, 7, 42, 12, tzinfo=UTC)),
        ("09/14/2016", None),  # month first: not read
        ("14/09/16", None),  # two-digit year: not read
        ("September 2016", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_updated_reads_iso_and_the_day_first_forms(text, expected) -> None:
    assert parse_updated(text) == expected


def test_an_unreadable_updated_never_matches_itself() -> None:
    assert not same_vintage("September 2016", "September 2016")
    assert same_vintage("14/09/2016 09:42:12", "2016-09-14T07:42:12Z")
    assert source_vintage("September 2016").unknown
    assert not source_vintage(None).unknown


def test_day_first_updated_loads_with_its_instant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "w.duckdb"
    ds = parse_file(DAY_FIRST)
    assert ds.updated == "14/09/2016 09:42:12" and ds.version == "2.0"
    with caplog.at_level(logging.WARNING):
        result = load_dataset(db, "fixture", [ds], meta())
    assert caplog.records == []
    assert (result.outcome, result.rows, result.warning) == ("loaded", 4, None)
    assert result.updated == "2016-09-14T07:42:12Z"
    assert raw_cells(db, "region, year") == POP_CELLS
    stamp = datetime(2016, 9, 14, 7, 42, 12, tzinfo=UTC)
    assert rows(db, "SELECT DISTINCT _source_updated FROM raw.fixture") == [(stamp,)]
    assert rows(db, "SELECT updated FROM raw._datasets") == [("2016-09-14T07:42:12Z",)]
    log = rows(db, "SELECT outcome, source_updated, message FROM raw._load_log")
    assert log == [
        (
            "loaded",
            stamp,
            "source 'updated' '14/09/2016 09:42:12' read as 2016-09-14T07:42:12Z (Stockholm time)",
        )
    ]


def test_unreadable_updated_loads_with_the_vintage_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "w.duckdb"
    ds = parse_file(UNREADABLE)
    with caplog.at_level(logging.WARNING):
        result = load_dataset(db, "fixture", [ds], meta())
    assert (result.outcome, result.rows, result.updated) == ("loaded", 4, "September 2016")
    assert [r.getMessage() for r in caplog.records] == [f"fixture: {result.warning}"]
    assert "'September 2016'" in result.warning and "vintage unknown" in result.warning
    assert "\n" not in result.warning
    assert raw_cells(db, "region, year") == POP_CELLS
    assert rows(db, "SELECT DISTINCT _source_updated FROM raw.fixture") == [(None,)]
    assert rows(db, "SELECT updated FROM raw._datasets") == [("September 2016",)]
    assert rows(db, "SELECT outcome, source_updated, message FROM raw._load_log") == [
        ("loaded", None, result.warning)
    ]

    # The same content again: compared cell by cell, unchanged, nothing revised.
    again = load_dataset(db, "fixture", [parse_file(UNREADABLE)], meta())
    assert again.outcome == "unchanged"
    assert rows(db, "SELECT count(*) FROM raw.fixture__revisions") == [(0,)]

    # New content under the same unreadable `updated`: loaded, the old cell kept as history.
    doc = orjson.loads(UNREADABLE.read_bytes())
    doc["value"][0] = 1300
    changed = load_dataset(db, "fixture", [parse(doc)], meta())
    assert (changed.outcome, changed.revised_cells) == ("loaded", 1)
    assert rows(db, "SELECT region, year, value, _source_updated FROM raw.fixture__revisions") == [
        ("R1", "2015", 1200.0, None)
    ]
    assert [r[0] for r in rows(db, "SELECT outcome FROM raw._load_log ORDER BY fetched_at")] == [
        "loaded",
        "unchanged",
        "loaded",
    ]


def test_a_readable_updated_after_an_unknown_one_is_recorded(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    load_dataset(db, "fixture", [parse_file(UNREADABLE)], meta())
    result = load_dataset(db, "fixture", [parse_file(DAY_FIRST)], meta())
    assert result.outcome == "unchanged"  # same cells; only the vintage became known
    stamp = datetime(2016, 9, 14, 7, 42, 12, tzinfo=UTC)
    assert rows(db, "SELECT DISTINCT _source_updated FROM raw.fixture") == [(stamp,)]
    assert rows(db, "SELECT updated FROM raw._datasets") == [("2016-09-14T07:42:12Z",)]


def test_load_file_says_so_in_one_warning_line(tmp_path: Path) -> None:
    from tests.cleantech.test_cli import cli

    db = tmp_path / "w.duckdb"
    proc = cli("load-file", str(UNREADABLE), "--dataset", "undated", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("undated: loaded, 4 rows")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "'September 2016'" in lines[0] and "vintage unknown" in lines[0]
    proc = cli("load-file", str(V10X), "--dataset", "oecd", "--db", str(db))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("oecd: loaded, 9 rows")
