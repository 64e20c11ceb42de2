"""Size checks before work: documents too large, with too many containers, or describing far more
cells than their bytes (sparse `value`) are refused in one line before anything is allocated."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import orjson
import pytest

from ingest.jsonstat import JsonStatError, check_cells, parse, parse_file
from tests.cleantech.test_cli import cli, one_error_line


def sparse_doc(sizes: list[int], values: dict[str, float]) -> bytes:
    ids = [f"D{i}" for i in range(len(sizes))]
    return orjson.dumps(
        {
            "version": "2.0",
            "class": "dataset",
            "id": ids,
            "size": sizes,
            "dimension": {
                d: {"category": {"index": [f"c{j}" for j in range(n)]}}
                for d, n in zip(ids, sizes, strict=True)
            },
            "value": values,
        }
    )


def test_a_small_sparse_document_claiming_200_million_cells_is_refused_at_once() -> None:
    raw = sparse_doc([14142, 14142], {"0": 1.0})
    assert 200_000 < len(raw) < 400_000  # the 260 KB file
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(JsonStatError, match=r"implies 199996164 cells, more than the limit"):
        parse(raw)
    assert time.monotonic() - started < 2
    # Nothing near 200M cells (1.6 GB of float64) was allocated.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200 * 1024


def test_sparse_documents_out_of_proportion_to_their_bytes_are_refused() -> None:
    raw = sparse_doc([3000, 3000], {"5": 1.0})  # 9M cells (under the cell limit) in ~40 KB
    with pytest.raises(JsonStatError, match="out of proportion"):
        parse(raw)
    small = sparse_doc([300, 300], {"5": 1.0})  # 90,000 cells: below the sparsity floor
    assert parse(small).n_cells == 90_000


def test_the_cell_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = sparse_doc([10, 10], {str(i): float(i) for i in range(100)})
    assert parse(raw).n_cells == 100
    monkeypatch.setenv("CLEANTECH_MAX_CELLS", "99")
    with pytest.raises(JsonStatError, match="more than the limit of 99"):
        parse(raw)
    with pytest.raises(JsonStatError, match="more than the 50 expected"):
        check_cells([10, 10], [], None, max_cells=50)


def test_a_document_of_nested_arrays_is_refused_before_parsing() -> None:
    raw = b'{"value": [' + b"[]," * 2_100_000 + b"[]]}"
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(JsonStatError, match="arrays/objects, more than"):
        parse(raw)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100 * 1024


def test_files_over_the_document_limit_are_refused_by_their_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(sparse_doc([2], {"0": 1.0}) + b" " * (2 * 1024 * 1024))
    monkeypatch.setenv("CLEANTECH_MAX_JSON_MB", "1")
    with pytest.raises(JsonStatError, match=r"is \d+ bytes, over the JSON document limit"):
        parse_file(path)
    proc = cli("load-file", str(path), "--dataset", "x", "--db", str(tmp_path / "t.duckdb"),
               env={"CLEANTECH_MAX_JSON_MB": "1"})  # fmt: skip
    line = one_error_line(proc)
    assert "over the JSON document limit of 1048576 bytes" in line
    assert "CLEANTECH_MAX_JSON_MB" in line
