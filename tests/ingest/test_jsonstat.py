"""Unit tests for the JSON-stat parser: forms of index/value/status, 1.x, validation, flat order."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.jsonstat import Dataset, JsonStatError, parse, parse_file

REPO = Path(__file__).resolve().parents[2]


def doc2(sizes: dict[str, int] | None = None, value: object = None, status: object = None) -> dict:
    """A JSON-stat 2.0 dataset with dimensions named by `sizes` and codes like 'A0', 'A1'."""
    sizes = sizes or {"A": 2, "B": 3}
    n = math.prod(sizes.values())
    out = {
        "version": "2.0",
        "class": "dataset",
        "label": "t",
        "updated": "2026-01-01T00:00:00Z",
        "id": list(sizes),
        "size": list(sizes.values()),
        "dimension": {
            d: {
                "label": d.lower(),
                "category": {
                    "index": [f"{d}{i}" for i in range(s)],
                    "label": {f"{d}{i}": f"label {d}{i}" for i in range(s)},
                },
            }
            for d, s in sizes.items()
        },
        "value": list(range(n)) if value is None else value,
    }
    if status is not None:
        out["status"] = status
    return out


def rows(ds: Dataset) -> list[dict]:
    """The long table as Python rows (test-side only)."""
    return ds.to_arrow().to_pylist()


def test_dense_v2_flat_order_last_dimension_fastest() -> None:
    ds = parse(doc2({"A": 2, "B": 3}))
    assert ds.ids == ["A", "B"] and ds.sizes == [2, 3] and ds.n_cells == 6
    assert ds.version == "2.0" and ds.updated == "2026-01-01T00:00:00Z"
    got = [(r["A"], r["B"], r["value"]) for r in rows(ds)]
    assert got == [
        ("A0", "B0", 0.0),
        ("A0", "B1", 1.0),
        ("A0", "B2", 2.0),
        ("A1", "B0", 3.0),
        ("A1", "B1", 4.0),
        ("A1", "B2", 5.0),
    ]
    table = ds.to_arrow()
    assert table.column_names == ["A", "B", "value", "status"]
    assert table.schema.field("value").type == pa.float64()
    assert table.column("status").null_count == 6


def test_accepts_bytes_str_and_dict() -> None:
    d = doc2()
    for raw in (d, json.dumps(d), orjson.dumps(d)):
        assert parse(raw).values.to_pylist() == [0, 1, 2, 3, 4, 5]


def test_index_object_is_ordered_by_position_not_key_order() -> None:
    d = doc2({"A": 3})
    d["dimension"]["A"]["category"]["index"] = {"x": 2, "y": 0, "z": 1}
    d["dimension"]["A"]["category"]["label"] = {"x": "X", "y": "Y", "z": "Z"}
    dim = parse(d).dimensions[0]
    assert dim.codes == ["y", "z", "x"] and dim.labels == ["Y", "Z", "X"]


def test_index_absent_for_constant_dimension_uses_label_key() -> None:
    d = doc2({"A": 2, "C": 1})
    d["dimension"]["C"]["category"] = {"label": {"CA": "Canada"}}
    ds = parse(d)
    assert ds.dimensions[1].codes == ["CA"] and ds.dimensions[1].labels == ["Canada"]
    assert {r["C"] for r in rows(ds)} == {"CA"}


def test_missing_label_falls_back_to_code() -> None:
    d = doc2({"A": 2})
    del d["dimension"]["A"]["category"]["label"]
    assert parse(d).dimensions[0].labels == ["A0", "A1"]


def test_dense_nulls_stay_null() -> None:
    ds = parse(doc2({"A": 3}, value=[1.5, None, 3]))
    assert ds.values.to_pylist() == [1.5, None, 3.0]
    assert ds.values.null_count == 1


def test_sparse_value_object_expands_to_dense_with_nulls() -> None:
    ds = parse(doc2({"A": 2, "B": 2}, value={"1": 7, "3": None}))
    assert ds.n_cells == 4
    assert ds.values.to_pylist() == [None, 7.0, None, None]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("e", ["e", "e", "e"]),
        (["a"], ["a", "a", "a"]),  # deprecated 1-element array applies to all
        (["a", None, "b"], ["a", None, "b"]),
        ({"2": ".."}, [None, None, ".."]),
    ],
)
def test_status_forms(status: object, expected: list) -> None:
    ds = parse(doc2({"A": 3}, value=[1, 2, None], status=status))
    assert ds.status is not None and ds.status.type == pa.string()
    assert ds.status.to_pylist() == expected


@given(
    st.lists(
        st.one_of(st.none(), st.sampled_from(["..", ".", "-", "e", "ä", "provisional €"])),
        min_size=1,
        max_size=60,
    )
)
@settings(max_examples=150, deadline=None)
def test_status_array_round_trips_any_mix_of_symbols_and_nulls(status: list) -> None:
    # The status column is built from raw Arrow buffers (offsets, bytes, validity bitmap), so
    # multi-byte symbols, nulls between symbols and all-null arrays must all come out intact.
    ds = parse(doc2({"A": len(status)}, value=[1] * len(status), status=status))
    assert ds.status is not None
    ds.status.validate(full=True)
    assert ds.status.to_pylist() == status
    assert ds.status.null_count == status.count(None)


def test_parse_does_not_import_pyarrow_compute_or_numpy_ma() -> None:
    # Each costs ~0.1 s on first use and every Airflow task is a fresh process: parse avoids
    # both (no Array.take, no np.unique). A fresh interpreter shows what a first parse imports.
    code = (
        "import sys, json; from ingest.jsonstat import parse; "
        "d = {'version': '2.0', 'class': 'dataset', 'id': ['A'], 'size': [3], "
        "'dimension': {'A': {'category': {'index': {'x': 0, 'y': 1, 'z': 2}}}}, "
        "'value': [1, None, 3], 'status': {'1': '..'}}; "
        "parse(json.dumps(d)).to_arrow(); "
        "print(json.dumps(sorted(m for m in ('pyarrow.compute', 'numpy.ma') if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_roles_units_extension_kept_as_given() -> None:
    d = doc2({"Tid": 2, "ContentsCode": 1})
    d["role"] = {"time": ["Tid"], "metric": ["ContentsCode"]}
    unit = {"ContentsCode0": {"base": "antal", "decimals": 0}}
    d["dimension"]["ContentsCode"]["category"]["unit"] = unit
    d["dimension"]["Tid"]["extension"] = {"show": "code"}
    ds = parse(d)
    tid, contents = ds.dimensions
    assert tid.role == "time" and contents.role == "metric"
    assert contents.units == unit and tid.extension == {"show": "code"}


def test_json_stat_1x_wrapper_and_bundle() -> None:
    d = doc2({"A": 2, "B": 1})
    inner = {k: v for k, v in d.items() if k not in ("version", "class", "id", "size")}
    inner["dimension"] = {
        **d["dimension"],
        "id": ["A", "B"],
        "size": [2, 1],
        "role": {"time": ["A"]},
    }
    wrapped = parse({"dataset": inner})
    bundle = parse({"mytable": inner})
    for ds in (wrapped, bundle):
        assert ds.ids == ["A", "B"] and ds.n_cells == 2 and ds.version.startswith("1")
        assert ds.dimensions[0].role == "time"
    with pytest.raises(JsonStatError, match="2 datasets"):
        parse({"one": inner, "two": inner})


def test_metadata_response_is_zero_cells_with_dimensions() -> None:
    ds = parse(doc2({"A": 4, "B": 5}, value=[]))
    assert ds.n_cells == 0 and ds.sizes == [4, 5]
    assert ds.to_arrow().num_rows == 0


def test_text_values_are_kept_as_strings() -> None:
    ds = parse(doc2({"A": 2}, value=["x", None]))
    assert ds.values.type == pa.string() and ds.values.to_pylist() == ["x", None]


def test_numeric_strings_become_numbers() -> None:
    assert parse(doc2({"A": 2}, value=["1.5", None])).values.to_pylist() == [1.5, None]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(value=[1, 2, 3]), r"'value' has 3 entries but size \[2, 3\] implies 6"),
        (lambda d: d.update(id=["A", "Nope"]), r"dimension 'Nope' is listed in 'id'"),
        (lambda d: d.update(size=[2, 4]), r"dimension 'B': size is 4 but it has 3 categories"),
        (lambda d: d.update(size=[2]), r"'id' has 2 entries but 'size' has 1"),
        (lambda d: d.update(id=["A", "A"]), r"'id' repeats a dimension"),
        (lambda d: d.pop("value"), r"'value' is missing"),
        (lambda d: d.update(value=[1, 2, 3, 4, 5, {"x": 1}]), r"'value' entry 5"),
        (lambda d: d.update(value=[1, 2, 3, 4, "x", 6]), r"'value' entry 4 is 'x'"),
        (lambda d: d.update(value=[[1, 2]] * 6), r"'value' entry 0 is \[1, 2\]"),
        (lambda d: d.update(value={"6": 1}), r"'value' has flat index 6 outside 0..5"),
        (lambda d: d.update(value={"a": 1}), r"'value' object keys must be integer"),
        (lambda d: d.update(status=["a", "b"]), r"'status' has 2 entries but 'value' has 6"),
        (lambda d: d.update(status={"0": 5}), r"'status' entry 5 is not a string"),
        (lambda d: d.update(status={"-1": "x"}), r"'status' has flat index -1"),
        (
            lambda d: d["dimension"]["B"]["category"].update(index={"B0": 0, "B1": 2, "B2": 3}),
            r"dimension 'B': 'category.index' positions are not 0..2",
        ),
        (
            lambda d: d["dimension"]["B"]["category"].update(index=["B0", "B0", "B1"]),
            r"dimension 'B': 'category.index' repeats a code",
        ),
        (
            lambda d: d["dimension"]["A"]["category"]["label"].update(Q="q"),
            r"dimension 'A': 'category.label' has codes not in the index",
        ),
        (lambda d: d["dimension"]["A"].pop("category"), r"dimension 'A': 'category' is missing"),
        (lambda d: d.update({"class": "collection"}), r"collection"),
    ],
)
def test_validation_errors_name_the_problem(mutate, message: str) -> None:
    d = doc2()
    mutate(d)
    with pytest.raises(JsonStatError, match=message):
        parse(d)


def test_malformed_json() -> None:
    with pytest.raises(JsonStatError, match="malformed JSON"):
        parse(b'{"version": "2.0", "class": "dataset", ')
    with pytest.raises(JsonStatError, match="top level"):
        parse(b"[1, 2]")


def test_parse_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"language": "sv", "tables": []}')
    with pytest.raises(JsonStatError, match=r"bad\.json: not a JSON-stat dataset"):
        parse_file(bad)
    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps(doc2()))
    assert parse_file(good).n_cells == 6


def test_error_is_a_value_error() -> None:
    assert issubclass(JsonStatError, ValueError)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_flat_index_matches_the_spec_formula(sizes: list[int], data: st.DataObject) -> None:
    names = [f"D{i}" for i in range(len(sizes))]
    n = math.prod(sizes)
    values = data.draw(st.lists(st.none() | st.floats(-1e6, 1e6), min_size=n, max_size=n))
    ds = parse(doc2(dict(zip(names, sizes, strict=True)), value=values))
    for flat, row in enumerate(rows(ds)):
        idx = 0
        for name, size in zip(names, sizes, strict=True):
            idx = idx * size + int(row[name][len(name) :])
        assert idx == flat
        assert row["value"] == values[flat]


def test_parse_does_not_import_pandas() -> None:
    # pyarrow's pa.array() imports pandas on first use (seconds on a cold machine): the hot path
    # builds arrays from buffers instead.
    code = (
        "import sys; from ingest.jsonstat import parse; "
        f"d = parse({json.dumps(json.dumps(doc2(value=[1, None, 3, 4, 5, 6], status={'1': '..'})))}); "
        "d.to_arrow(); assert 'pandas' not in sys.modules, 'pandas imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
