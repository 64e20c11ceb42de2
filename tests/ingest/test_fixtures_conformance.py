"""Conformance of the parser (and loader) on every real captured response in tests/fixtures/pxweb."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingest.jsonstat import Dataset, JsonStatError, parse_file
from ingest.load import LoadMeta, load_dataset
from tests.conftest import FIXTURES

# JSON-stat datasets: file -> (version prefix, ids, sizes, cells). Metadata responses have 0 cells.
DATASETS = {
    "scb_v2_TAB6471_data_jsonstat2.json": (
        "2",
        ["Region", "Alder", "Kon", "ContentsCode", "Tid"],
        [21, 11, 3, 1, 4],
        2772,
    ),
    "scb_v2_TAB6471_metadata.json": (
        "2",
        ["Region", "Alder", "Kon", "ContentsCode", "Tid"],
        [312, 134, 3, 1, 16],
        0,
    ),
    "pxwebapi_v2_testdb_MetadataById_tab004_js2.json": (
        "2",
        ["SECTOR", "GREENHOUSEGAS", "ContentsCode", "TIME"],
        [14, 11, 1, 28],
        0,
    ),
    "scb_v1_jsonstat1_HS0301_statswe.json": (
        "1",
        ["Region", "Dodsorsak", "Alder", "Kon", "ContentsCode", "Tid"],
        [1, 1, 20, 2, 1, 28],
        1120,
    ),
    "ssb_v0_jsonstat1_29843_status_dot.json": (
        "1",
        ["PKoder", "ContentsCode", "Tid"],
        [20, 6, 312],
        37440,
    ),
    "jsonstat_org_oecd.json": ("2", ["concept", "area", "year"], [1, 36, 12], 432),
    "jsonstat_org_canada.json": (
        "2",
        ["country", "year", "age", "concept", "sex"],
        [1, 1, 20, 2, 3],
        120,
    ),
    "jsonstat_org_hierarchy.json": ("2", ["commodity"], [132], 132),
    "jsonstat_org_order.json": ("2", ["A", "B", "C"], [3, 2, 4], 24),
}
# Not datasets: PxWeb config, table lists, table info, code lists. Skipped by name, on purpose.
NOT_DATASETS = {
    "scb_v2_config.json",
    "scb_v2_tables_page1.json",
    "scb_v2_tables_search.json",
    "scb_v2_codelist_agg_Alder10arJ.json",
    "pxwebapi_v2_testdb_ListAllTables.json",
    "pxwebapi_v2_testdb_TableById_tab004.json",
}
TEXT_VALUED = {"jsonstat_org_order.json"}


def load(name: str) -> Dataset:
    """Parse one fixture."""
    return parse_file(FIXTURES / name)


def cell(ds: Dataset, **codes: str) -> tuple[float | str | None, str | None]:
    """Value and status of one cell, located by the JSON-stat flat-index formula."""
    idx = 0
    for dim in ds.dimensions:
        idx = idx * dim.size + dim.codes.index(codes[dim.id])
    status = ds.status[idx].as_py() if ds.status is not None else None
    return ds.values[idx].as_py(), status


def test_every_fixture_is_classified() -> None:
    files = {p.name for p in FIXTURES.glob("*.json")}
    assert files, f"no fixtures in {FIXTURES}"
    assert files == set(DATASETS) | NOT_DATASETS, "classify new fixtures in DATASETS/NOT_DATASETS"


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dataset_fixture_parses(name: str) -> None:
    version, ids, sizes, cells = DATASETS[name]
    ds = load(name)
    assert ds.version.startswith(version)
    assert ds.ids == ids and ds.sizes == sizes and ds.n_cells == cells
    table = ds.to_arrow()
    assert table.num_rows == cells
    assert table.column_names == [*ids, "value", "status"]
    for dim in ds.dimensions:
        assert len(dim.codes) == len(dim.labels) == dim.size
        assert len(set(dim.codes)) == dim.size


@pytest.mark.parametrize("name", sorted(NOT_DATASETS))
def test_non_dataset_fixture_is_rejected_clearly(name: str) -> None:
    with pytest.raises(JsonStatError, match=f"{name}: not a JSON-stat dataset"):
        load(name)


def test_scb_tab6471_known_cell() -> None:
    ds = load("scb_v2_TAB6471_data_jsonstat2.json")
    assert cell(ds, Region="01", Alder="0-9", Kon="1", ContentsCode="000007SF", Tid="2026M01") == (
        125373,
        None,
    )
    assert ds.values[4].as_py() == 125373  # (((0*11 + 0)*3 + 1)*1 + 0)*4 + 0: Kon '1' is 2nd
    row = ds.to_arrow().slice(4, 1).to_pylist()[0]
    assert row == {
        "Region": "01",
        "Alder": "0-9",
        "Kon": "1",
        "ContentsCode": "000007SF",
        "Tid": "2026M01",
        "value": 125373,
        "status": None,
    }
    assert ds.updated == "2026-06-08T06:00:00Z" and ds.status is None
    contents = ds.dimensions[3]
    assert contents.role == "metric" and contents.units == {
        "000007SF": {"base": "antal", "decimals": 0}
    }
    assert ds.dimensions[4].role == "time"
    assert ds.dimensions[2].extension["eliminationValueCode"] == "TotSa"
    assert ds.values.null_count == 0


def test_ssb_missing_values_keep_their_dot_status() -> None:
    ds = load("ssb_v0_jsonstat1_29843_status_dot.json")
    assert ds.values.null_count == 7200
    values, status = ds.values.to_pylist(), ds.status.to_pylist()
    # Status "." exactly where the value is missing, nowhere else.
    assert all(
        (v is None) == (s == ".") and s in (None, ".") for v, s in zip(values, status, strict=True)
    )
    assert ds.status.null_count == 37440 - 7200
    assert ds.updated == "2016-02-13T14:00:25Z"


def test_oecd_sparse_status_object() -> None:
    ds = load("jsonstat_org_oecd.json")
    assert ds.status.null_count == 432 - 72 and set(ds.status.drop_null().to_pylist()) == {"e"}
    assert ds.status[10].as_py() == "e" and ds.status[0].as_py() is None
    assert ds.dimensions[0].codes == ["UNR"]  # constant dimension without an index
    assert ds.dimensions[2].codes[:2] == ["2003", "2004"]  # index object without labels
    assert ds.dimensions[0].units["UNR"]["decimals"] == 9
    assert ds.values.null_count == 0


def test_canada_deprecated_one_element_status() -> None:
    ds = load("jsonstat_org_canada.json")
    assert ds.status.to_pylist() == ["a"] * 120
    assert ds.dimensions[0].codes == ["CA"] and ds.dimensions[0].labels == ["Canada"]
    assert cell(ds, country="CA", year="2012", age="T", concept="POP", sex="T") == (34880.5, "a")
    assert ds.dimensions[3].units["POP"]["label"] == "thousands of persons"


def test_hierarchy_sparse_value_object() -> None:
    ds = load("jsonstat_org_hierarchy.json")
    assert ds.n_cells == 132 and ds.values.null_count == 132
    assert ds.dimensions[0].codes[:3] == ["T", "1", "1.1"]


def test_order_array_index_and_text_values() -> None:
    ds = load("jsonstat_org_order.json")
    assert ds.values.type == pa.string()
    # Position 11 holds a typo in the official sample ("A1B1C4"); check the others.
    for flat, row in enumerate(ds.to_arrow().to_pylist()):
        if flat != 11:
            assert row["value"] == f"A{row['A']}B{row['B']}C{row['C']}"


def test_scb_v1_jsonstat1_statswe() -> None:
    ds = load("scb_v1_jsonstat1_HS0301_statswe.json")
    assert ds.dimensions[5].role == "time" and ds.dimensions[4].role == "metric"
    assert ds.dimensions[0].labels == ["25 Norrbottens län"]
    assert ds.dimensions[4].units == {"HS0301A1": {"base": "antal"}}
    assert ds.dimensions[2].codes[:3] == ["0", "1-4", "5-9"]


def test_metadata_responses_have_labels_but_no_cells() -> None:
    ds = load("scb_v2_TAB6471_metadata.json")
    assert ds.n_cells == 0 and ds.to_arrow().num_rows == 0
    region = ds.dimensions[0]
    assert region.size == 312 and region.codes[0] == "00"
    assert ds.dimensions[1].extension["elimination"] is False


@pytest.mark.parametrize(
    "name", sorted(n for n, spec in DATASETS.items() if spec[3] and n not in TEXT_VALUED)
)
def test_numeric_dataset_fixture_round_trips_through_duckdb(name: str, tmp_path: Path) -> None:
    ds = load(name)
    db = tmp_path / "w.duckdb"
    meta = LoadMeta("fixture", "T", None, None, datetime.now(UTC))
    result = load_dataset(db, "fixture", [ds], meta)
    assert result.outcome == "loaded" and result.rows == ds.n_cells
    dims = ", ".join('"' + i + '"' for i in ds.ids)
    with duckdb.connect(str(db), read_only=True) as con:
        table = con.sql(f"SELECT {dims}, value, status FROM raw.fixture").fetch_arrow_table()  # noqa: S608
    assert table.num_rows == ds.n_cells
    # Same cells in the same (flat) order; NULL stays NULL, status kept.
    assert table.column("value").to_pylist() == ds.values.to_pylist()
    expected_status = ds.status.to_pylist() if ds.status is not None else [None] * ds.n_cells
    assert table.column("status").to_pylist() == expected_status
    for i, dim in enumerate(ds.dimensions):
        assert table.column(dim.id).to_pylist() == ds.to_arrow().column(i).to_pylist()


@pytest.mark.parametrize("name", ["jsonstat_org_order.json", "scb_v2_TAB6471_metadata.json"])
def test_loader_refuses_text_and_metadata_fixtures(name: str, tmp_path: Path) -> None:
    meta = LoadMeta("fixture", "T", None, None, datetime.now(UTC))
    with pytest.raises(ValueError, match="non-numeric|no cells"):
        load_dataset(tmp_path / "w.duckdb", "fixture", [load(name)], meta)
