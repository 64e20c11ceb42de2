"""Loader tests: raw-layer contract, split parts, revisions, atomicity, failures, safety."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pytest

import ingest.load as load_mod
from ingest.jsonstat import Dataset, JsonStatError, parse
from ingest.load import LoadMeta, last_loaded_updated, load_dataset, log_failure

REGIONS = ["00", "01", "03", "04"]
YEARS = ["2019", "2020", "2021"]
T1 = "2026-01-15T06:00:00Z"
T2 = "2026-03-15T06:00:00Z"


def make_doc(
    regions: list[str] = REGIONS,
    years: list[str] = YEARS,
    updated: str = T1,
    value: list | None = None,
    status: object = None,
) -> dict:
    """An SCB-shaped JSON-stat 2.0 response: Region x ContentsCode x Tid."""
    n = len(regions) * len(years)
    doc = {
        "version": "2.0",
        "class": "dataset",
        "label": "Employed in cleantech by county",
        "source": "SCB",
        "updated": updated,
        "note": ["Preliminary", "Revised yearly"],
        "role": {"time": ["Tid"], "metric": ["ContentsCode"]},
        "id": ["Region", "ContentsCode", "Tid"],
        "size": [len(regions), 1, len(years)],
        "dimension": {
            "Region": {
                "label": "region",
                "category": {
                    "index": {r: i for i, r in enumerate(regions)},
                    "label": {r: f"County {r}" for r in regions},
                },
            },
            "ContentsCode": {
                "label": "contents",
                "category": {
                    "index": {"MI1301SY": 0},
                    "label": {"MI1301SY": "Employed"},
                    "unit": {"MI1301SY": {"base": "antal", "decimals": 0}},
                },
            },
            "Tid": {
                "label": "year",
                "category": {
                    "index": {y: i for i, y in enumerate(years)},
                    "label": {y: y for y in years},
                },
            },
        },
        "value": value if value is not None else [1000.0 + i for i in range(n)],
    }
    if status is not None:
        doc["status"] = status
    return doc


def meta(dataset: str = "egss", **kw: object) -> LoadMeta:
    """LoadMeta with test defaults."""
    base = dict(
        dataset=dataset,
        source_table="MI1301T04",
        source_url="http://127.0.0.1:8123/api/v2/tables/MI1301T04/data",
        source_updated=None,
        fetched_at=datetime(2026, 3, 16, 6, 0, tzinfo=UTC),
        requests=1,
        bytes=1234,
    )
    base.update(kw)
    return LoadMeta(**base)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A fresh warehouse path (the file does not exist yet)."""
    return tmp_path / "wh" / "staging.duckdb"


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Run a read-only query on the file."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def current(db: Path, table: str = "egss") -> list[tuple]:
    """The cells of raw.<table>, sorted."""
    cols = '"Region", "ContentsCode", "Tid", value, status'
    return query(db, f"SELECT {cols} FROM raw.{table} ORDER BY ALL")  # noqa: S608


def split_by_region(doc: dict, groups: list[list[str]]) -> list[dict]:
    """Cut a response into parts by Region codes, as a split query would return them."""
    regions = doc["dimension"]["Region"]["category"]["index"]
    per_region = len(doc["value"]) // len(regions)
    parts = []
    for codes in groups:
        part = make_doc(regions=codes, years=YEARS, updated=doc["updated"])
        part["value"] = [
            v
            for r in codes
            for v in doc["value"][regions[r] * per_region : (regions[r] + 1) * per_region]
        ]
        parts.append(part)
    return parts


def test_per_vintage_metadata_is_stored_once_and_read_per_row(db: Path) -> None:
    # _source_table, _loaded_at and _load_id are constant per vintage: generated columns, so the
    # file holds them once; readers still see them on every row. A table id with quotes and SQL
    # in it (it comes from the catalog or the command line) is stored verbatim.
    odd = "TAB'1\\'; DROP TABLE raw._load_log; --"
    first = load_dataset(db, "egss", [parse(make_doc())], meta(source_table=odd))
    generated = query(
        db,
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' AND "
        "table_name = 'egss' AND column_default IS NOT NULL ORDER BY column_index",
    )
    assert generated == [("_source_table",), ("_loaded_at",), ("_load_id",)]
    rows = query(
        db, "SELECT DISTINCT _source_table, _load_id, _loaded_at IS NOT NULL FROM raw.egss"
    )
    assert rows == [(odd, first.load_id, True)]
    assert query(db, "SELECT count(*) FROM raw._load_log") == [(1,)]
    # The next changed vintage carries its own load's constants; the old ones went with it.
    revised = make_doc(updated=T2)
    revised["value"] = [v + 1 for v in revised["value"]]
    second = load_dataset(db, "egss", [parse(revised)], meta())
    assert query(db, "SELECT DISTINCT _source_table, _load_id FROM raw.egss") == [
        ("MI1301T04", second.load_id)
    ]


def test_round_trip_schema_and_contract_tables(db: Path) -> None:
    result = load_dataset(db, "egss", [parse(make_doc())], meta(is_demo=True))
    assert result.outcome == "loaded" and result.rows == 12 and result.revised_cells == 0
    cols = query(
        db,
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'raw' "
        "AND table_name = 'egss' ORDER BY column_index",
    )
    assert cols == [
        ("Region", "VARCHAR"),
        ("ContentsCode", "VARCHAR"),
        ("Tid", "VARCHAR"),
        ("value", "DOUBLE"),
        ("status", "VARCHAR"),
        ("_source_table", "VARCHAR"),
        ("_source_updated", "TIMESTAMP WITH TIME ZONE"),
        ("_loaded_at", "TIMESTAMP WITH TIME ZONE"),
        ("_load_id", "VARCHAR"),
    ]
    assert current(db)[:2] == [
        ("00", "MI1301SY", "2019", 1000.0, None),
        ("00", "MI1301SY", "2020", 1001.0, None),
    ]
    (meta_row,) = query(
        db,
        "SELECT DISTINCT _source_table, _source_updated = TIMESTAMPTZ '2026-01-15 06:00:00+00', _load_id FROM raw.egss",
    )
    assert meta_row == ("MI1301T04", True, result.load_id)
    assert query(db, "SELECT count(*) FROM raw.egss__revisions") == [(0,)]
    labels = query(db, "SELECT * FROM raw._labels WHERE dimension_id = 'ContentsCode'")
    assert labels == [("egss", "ContentsCode", "contents", 0, "MI1301SY", "Employed", "antal", 0)]
    assert query(db, "SELECT count(*) FROM raw._labels WHERE dataset = 'egss'") == [(4 + 1 + 3,)]
    assert query(db, "SELECT * FROM raw._datasets") == [
        (
            "egss",
            "MI1301T04",
            "Employed in cleantech by county",
            "SCB",
            T1,
            True,
            "Preliminary\nRevised yearly",
        )
    ]
    (log,) = query(
        db, "SELECT load_id, dataset, rows, requests, bytes, outcome, message FROM raw._load_log"
    )
    assert log == (result.load_id, "egss", 12, 1, 1234, "loaded", None)
    (comment,) = query(db, "SELECT comment FROM duckdb_tables() WHERE table_name = 'egss'")
    assert "DEMO DATA" in comment[0] and "MI1301T04" in comment[0]
    assert last_loaded_updated(db, "egss") == T1


def test_comment_without_demo(db: Path) -> None:
    load_dataset(db, "egss", [parse(make_doc())], meta())
    (comment,) = query(db, "SELECT comment FROM duckdb_tables() WHERE table_name = 'egss'")
    assert "DEMO" not in comment[0]


def test_nulls_stay_null_with_status(db: Path) -> None:
    values = [None, 1.0, 2.0] + [3.0] * 9
    load_dataset(db, "egss", [parse(make_doc(value=values, status={"0": ".."}))], meta())
    assert current(db)[0] == ("00", "MI1301SY", "2019", None, "..")
    assert query(db, "SELECT count(*) FROM raw.egss WHERE value IS NULL OR status IS NOT NULL") == [
        (1,)
    ]


def test_split_parts_equal_one_whole_response(tmp_path: Path) -> None:
    whole = make_doc()
    load_dataset(tmp_path / "a.duckdb", "egss", [parse(whole)], meta())
    parts = split_by_region(whole, [["01", "03"], ["00"], ["04"]])
    result = load_dataset(tmp_path / "b.duckdb", "egss", [parse(p) for p in parts], meta())
    assert result.rows == 12
    assert current(tmp_path / "a.duckdb") == current(tmp_path / "b.duckdb")
    # Labels merged across parts, one row per code.
    labels = query(
        tmp_path / "b.duckdb",
        "SELECT code, label FROM raw._labels WHERE dimension_id = 'Region' ORDER BY code",
    )
    assert labels == [(r, f"County {r}") for r in sorted(REGIONS)]


def test_duplicate_cell_across_parts_rejected_and_previous_intact(db: Path) -> None:
    load_dataset(db, "egss", [parse(make_doc())], meta())
    before = current(db)
    parts = split_by_region(make_doc(updated=T2), [["00", "01"], ["01", "03", "04"]])
    with pytest.raises(ValueError, match="appears in more than one part"):
        load_dataset(db, "egss", [parse(p) for p in parts], meta())
    assert current(db) == before


def test_inconsistent_dimensions_across_parts_rejected(db: Path) -> None:
    other = make_doc()
    other["id"] = ["ContentsCode", "Region", "Tid"]
    other["size"] = [1, 4, 3]
    with pytest.raises(ValueError, match="part 1 has dimensions"):
        load_dataset(db, "egss", [parse(make_doc()), parse(other)], meta())


def test_parts_from_different_vintages_rejected(db: Path) -> None:
    a, b = split_by_region(make_doc(), [["00", "01"], ["03", "04"]])
    b["updated"] = T2
    with pytest.raises(ValueError, match="different 'updated'"):
        load_dataset(db, "egss", [parse(a), parse(b)], meta())


def bad_value_count() -> bytes:
    """A response whose size implies 12 cells but holds 11 values."""
    return orjson.dumps(make_doc(value=[1.0] * 11))


def unknown_dimension() -> bytes:
    """A response listing a dimension id it does not describe."""
    doc = make_doc()
    doc["id"][1] = "Sektor"
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (bad_value_count, r"'value' has 11 entries but size \[4, 1, 3\] implies 12 cells"),
        (lambda: b'{"version": "2.0", "class": "dataset", "value": [1,', r"malformed JSON"),
        (unknown_dimension, r"dimension 'Sektor' is listed in 'id' but has no entry"),
    ],
)
def test_bad_response_fails_clearly_and_previous_intact(db: Path, raw, message: str) -> None:
    load_dataset(db, "egss", [parse(make_doc())], meta())
    before = current(db)
    good = make_doc(updated=T2, regions=["00", "01"])

    def parts() -> Iterator[Dataset]:
        # Parts are parsed lazily, as a client streams them: the bad one fails mid-load.
        yield parse(good)
        yield parse(raw())

    with pytest.raises(JsonStatError, match=message):
        load_dataset(db, "egss", parts(), meta())
    assert current(db) == before
    assert last_loaded_updated(db, "egss") == T1


def test_reload_identical_changes_nothing(db: Path) -> None:
    first = load_dataset(db, "egss", [parse(make_doc())], meta())
    snapshot = query(db, "SELECT * FROM raw.egss ORDER BY ALL")
    again = load_dataset(db, "egss", [parse(make_doc())], meta())
    assert again.outcome == "unchanged" and again.revised_cells == 0 and again.rows == 12
    assert query(db, "SELECT * FROM raw.egss ORDER BY ALL") == snapshot  # same _load_id too
    assert query(db, "SELECT DISTINCT _load_id FROM raw.egss") == [(first.load_id,)]
    assert query(db, "SELECT count(*) FROM raw.egss__revisions") == [(0,)]
    assert query(db, "SELECT outcome FROM raw._load_log ORDER BY load_id") == [
        ("loaded",),
        ("unchanged",),
    ]


def test_reload_identical_with_nulls_is_unchanged(db: Path) -> None:
    doc = make_doc(value=[None] + [1.0] * 11, status={"0": "."})
    load_dataset(db, "egss", [parse(doc)], meta())
    assert load_dataset(db, "egss", [parse(doc)], meta()).outcome == "unchanged"
    assert query(db, "SELECT count(*) FROM raw.egss__revisions") == [(0,)]


def test_republish_without_changes_moves_source_updated(db: Path) -> None:
    """Same cells, newer `updated`: still 'unchanged' and no revisions, but the vintage's
    `_source_updated` follows raw._datasets (else the freshness check would warn wrongly)."""
    first = load_dataset(db, "egss", [parse(make_doc(updated=T1))], meta())
    again = load_dataset(db, "egss", [parse(make_doc(updated=T2))], meta())
    assert again.outcome == "unchanged" and again.revised_cells == 0
    assert query(db, "SELECT count(*) FROM raw.egss__revisions") == [(0,)]
    assert query(db, "SELECT updated FROM raw._datasets WHERE dataset = 'egss'") == [(T2,)]
    assert query(
        db, "SELECT DISTINCT _source_updated = CAST(? AS TIMESTAMPTZ) FROM raw.egss", [T2]
    ) == [(True,)]
    assert query(db, "SELECT DISTINCT _load_id FROM raw.egss") == [(first.load_id,)]
    assert last_loaded_updated(db, "egss") == T2
    # a later real revision records the republished vintage as the one it replaced
    changed = make_doc(updated="2026-05-15T06:00:00Z", value=[5.0] * 12)
    assert load_dataset(db, "egss", [parse(changed)], meta()).revised_cells == 12
    assert query(
        db,
        "SELECT DISTINCT _source_updated = CAST(? AS TIMESTAMPTZ) FROM raw.egss__revisions",
        [T2],
    ) == [(True,)]


def test_revised_vintage_keeps_old_values_in_revisions(db: Path) -> None:
    load_dataset(db, "egss", [parse(make_doc())], meta())
    revised = make_doc(updated=T2, years=["2019", "2020"])  # 2021 dropped by the source
    revised["value"] = [1000.0, 1001.0, 1003.0, 9999.0, 1006.0, 1007.0, 1009.0, 1010.0]
    revised["status"] = {"1": "p"}  # status change only: 00/2020 keeps its value
    result = load_dataset(db, "egss", [parse(revised)], meta())
    assert result.outcome == "loaded" and result.rows == 8
    # changed: 00/2020 (status), 01/2020 (value); removed: the four 2021 cells.
    assert result.revised_cells == 6
    assert ("01", "MI1301SY", "2020", 9999.0, None) in current(db)
    assert ("00", "MI1301SY", "2020", 1001.0, "p") in current(db)
    assert len(current(db)) == 8
    revisions = query(
        db,
        'SELECT "Region", "Tid", value, status, _source_updated = ?::TIMESTAMPTZ, '
        "_replaced_by_updated = ?::TIMESTAMPTZ, _load_id = ? FROM raw.egss__revisions ORDER BY ALL",
        [T1, T2, result.load_id],
    )
    assert revisions == [
        ("00", "2020", 1001.0, None, True, True, True),
        ("00", "2021", 1002.0, None, True, True, True),
        ("01", "2020", 1004.0, None, True, True, True),
        ("01", "2021", 1005.0, None, True, True, True),
        ("03", "2021", 1008.0, None, True, True, True),
        ("04", "2021", 1011.0, None, True, True, True),
    ]
    assert last_loaded_updated(db, "egss") == T2


def test_failure_mid_load_rolls_back_and_is_logged(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_dataset(db, "egss", [parse(make_doc())], meta())
    before = query(db, "SELECT * FROM raw.egss ORDER BY ALL")

    def boom(*args: object) -> None:
        raise RuntimeError("disk full")

    # After staging and revisions, before the swap: everything must roll back.
    monkeypatch.setattr(load_mod, "_replace_current", boom)
    revised = make_doc(updated=T2, value=[5.0] * 12)
    with pytest.raises(RuntimeError, match="disk full"):
        load_dataset(db, "egss", [parse(revised)], meta())
    log_failure(db, meta(source_updated=T2), "RuntimeError: disk full", seconds=0.5)

    assert query(db, "SELECT * FROM raw.egss ORDER BY ALL") == before
    assert query(db, "SELECT count(*) FROM raw.egss__revisions") == [(0,)]
    assert query(db, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%stage%'") == []
    assert query(db, "SELECT outcome, message, rows FROM raw._load_log ORDER BY load_id") == [
        ("loaded", None, 12),
        ("failed", "RuntimeError: disk full", 0),
    ]
    assert query(db, "SELECT seconds FROM raw._load_log WHERE outcome = 'failed'") == [(0.5,)]
    assert last_loaded_updated(db, "egss") == T1


def test_log_failure_on_new_file_and_bad_updated(db: Path) -> None:
    log_failure(db, meta(source_updated="not a date"), "HTTP 503 from source")
    assert query(db, "SELECT dataset, outcome, message, source_updated FROM raw._load_log") == [
        ("egss", "failed", "HTTP 503 from source", None)
    ]


@pytest.mark.parametrize(
    "name", ["Egss", "1egss", "egss;drop table x", "eg-ss", "", "_labels", "egss__revisions"]
)
def test_dataset_name_is_validated(db: Path, name: str) -> None:
    with pytest.raises(ValueError, match="dataset name"):
        load_dataset(db, name, [parse(make_doc())], meta(dataset=name))
    assert not db.exists()


def test_dimension_ids_are_quoted_identifiers(db: Path) -> None:
    doc = make_doc()
    evil = 'Re"gion"); DROP TABLE raw._load_log; --'
    doc["id"][0] = evil
    doc["dimension"][evil] = doc["dimension"].pop("Region")
    load_dataset(db, "egss", [parse(doc)], meta())
    cols = query(
        db,
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'egss' ORDER BY column_index",
    )
    assert cols[0] == (evil,)
    assert query(db, "SELECT count(*) FROM raw._load_log") == [(1,)]
    # And a second load (revisions path) works with the same identifier.
    assert load_dataset(db, "egss", [parse(doc)], meta()).outcome == "unchanged"


@pytest.mark.parametrize("dim", ["value", "STATUS", "_load_id"])
def test_dimension_clashing_with_a_value_column_is_rejected(db: Path, dim: str) -> None:
    doc = make_doc()
    doc["id"][1] = dim
    doc["dimension"][dim] = doc["dimension"].pop("ContentsCode")
    with pytest.raises(ValueError, match=f"dimension id '{dim}' cannot be a column name"):
        load_dataset(db, "egss", [parse(doc)], meta())


def test_shape_change_rejected_and_previous_intact(db: Path) -> None:
    load_dataset(db, "egss", [parse(make_doc())], meta())
    before = current(db)
    doc = make_doc(updated=T2)
    doc["id"][1] = "Tabellinnehall"
    doc["dimension"]["Tabellinnehall"] = doc["dimension"].pop("ContentsCode")
    with pytest.raises(ValueError, match="changed shape"):
        load_dataset(db, "egss", [parse(doc)], meta())
    assert current(db) == before


def test_metadata_only_and_text_values_refused(db: Path) -> None:
    with pytest.raises(ValueError, match="no cells"):
        load_dataset(db, "egss", [parse(make_doc(value=[]))], meta())
    with pytest.raises(ValueError, match="non-numeric"):
        load_dataset(db, "egss", [parse(make_doc(value=["x"] * 12))], meta())


def test_unreadable_updated_loads_with_the_vintage_unknown(db: Path) -> None:
    result = load_dataset(db, "egss", [parse(make_doc(updated="VALUE_HAS_BEEN_REPLACED"))], meta())
    assert result.outcome == "loaded" and "vintage unknown" in (result.warning or "")
    assert last_loaded_updated(db, "egss") == "VALUE_HAS_BEEN_REPLACED"
    assert query(db, "SELECT count(*), count(_source_updated) FROM raw.egss") == [(12, 0)]


def test_meta_source_updated_used_when_response_has_none(db: Path) -> None:
    doc = make_doc()
    del doc["updated"]
    load_dataset(db, "egss", [parse(doc)], meta(source_updated=T2))
    assert last_loaded_updated(db, "egss") == T2


def test_last_loaded_updated_without_data(db: Path) -> None:
    assert last_loaded_updated(db, "egss") is None  # no file
    log_failure(db, meta(), "x")
    assert last_loaded_updated(db, "egss") is None  # file, but never loaded


def test_accepts_an_open_connection_and_other_datasets_untouched(db: Path) -> None:
    db.parent.mkdir(parents=True)
    with duckdb.connect(str(db)) as con:
        load_dataset(con, "egss", [parse(make_doc())], meta())
        load_dataset(con, "population", [parse(make_doc(updated=T2))], meta(dataset="population"))
        load_dataset(con, "egss", [parse(make_doc(value=[7.0] * 12, updated=T2))], meta())
        assert con.execute("SELECT count(*) FROM raw._datasets").fetchone() == (2,)
        assert con.execute(
            "SELECT DISTINCT value FROM raw.population WHERE \"Tid\" = '2019' ORDER BY 1"
        ).fetchall()[0] == (1000.0,)
        assert con.execute(
            "SELECT count(*) FROM raw._labels WHERE dataset = 'population'"
        ).fetchone() == (8,)
    assert last_loaded_updated(db, "population") == T2


def test_meta_dataset_must_match(db: Path) -> None:
    with pytest.raises(ValueError, match="does not match"):
        load_dataset(db, "egss", [parse(make_doc())], meta(dataset="other"))


def cube(regions: list[str], years: list[str], updated: str = T1) -> dict:
    """A response whose value depends only on the cell, so that any split of it agrees."""
    values = [float(int(r) * 10_000 + int(y)) for r in regions for y in years]
    return make_doc(regions=regions, years=years, updated=updated, value=values)


def test_parts_split_along_two_dimensions(tmp_path: Path) -> None:
    """Parts that share codes in some dimensions but not all are disjoint and load as one."""
    load_dataset(tmp_path / "a.duckdb", "egss", [parse(cube(REGIONS, YEARS))], meta())
    parts = [
        cube(["00", "01"], ["2019", "2020"]),
        cube(["00", "01"], ["2021"]),
        cube(["03", "04"], YEARS),
    ]
    result = load_dataset(tmp_path / "b.duckdb", "egss", [parse(p) for p in parts], meta())
    assert result.rows == 12
    assert current(tmp_path / "a.duckdb") == current(tmp_path / "b.duckdb")


@pytest.mark.parametrize("pairwise", [True, False])
def test_overlap_in_every_dimension_is_rejected(
    db: Path, monkeypatch: pytest.MonkeyPatch, pairwise: bool
) -> None:
    """Both duplicate checks (code sets per part pair, and the per-cell sort) find one shared cell."""
    if not pairwise:
        monkeypatch.setattr(load_mod, "MAX_PARTS_PAIRWISE", 0)
    parts = [
        cube(["00", "01"], ["2019", "2020"]),
        cube(["01", "03"], ["2020", "2021"]),  # shares exactly 01/2020 with the first part
        cube(["04"], YEARS),
    ]
    with pytest.raises(ValueError, match="appears in more than one part"):
        load_dataset(db, "egss", [parse(p) for p in parts], meta())
    assert not db.exists()  # refused before the warehouse is touched


def test_same_shape_with_one_changed_value_is_a_revision(db: Path) -> None:
    """Same cell count, one value changed: not 'unchanged' (the fingerprint and join must see it)."""
    load_dataset(db, "egss", [parse(make_doc())], meta())
    values = [1000.0 + i for i in range(12)]
    values[5] = None  # a value that becomes missing
    result = load_dataset(db, "egss", [parse(make_doc(updated=T2, value=values))], meta())
    assert result.outcome == "loaded" and result.revised_cells == 1
    assert query(db, 'SELECT "Region", "Tid", value FROM raw.egss__revisions') == [
        ("01", "2021", 1005.0)
    ]
    again = load_dataset(db, "egss", [parse(make_doc(updated=T2, value=values))], meta())
    assert again.outcome == "unchanged" and again.revised_cells == 0
