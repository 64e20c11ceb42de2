"""Edit a copy of the demo snapshot to inject bad data the way a source would publish it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pxweb_demo.paths import demo_snapshot_dir

# The demo snapshot's folder for each catalog dataset.
TABLE_DIRS = {
    "egss_county": "TAB9001",
    "employment_county_industry": "TAB900",
    "population_county": "TAB638",
}
NEW_UPDATED = "2026-06-15T06:00:00Z"


def copy_snapshot(dest: Path) -> Path:
    """A private, editable copy of the demo snapshot."""
    shutil.copytree(demo_snapshot_dir(), dest)
    return dest


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _codes(dim: dict[str, Any]) -> list[str]:
    index = dim["category"]["index"]
    return sorted(index, key=index.__getitem__) if isinstance(index, dict) else list(index)


def _republish(table: Path) -> None:
    """Bump `updated`, as the source does when it publishes a new vintage."""
    for name in ("table.json", "data.json", "metadata.json"):
        doc = _read(table / name)
        if "updated" in doc:
            doc["updated"] = NEW_UPDATED
            _write(table / name, doc)


def set_cell(snapshot: Path, dataset: str, cell: dict[str, str], value: float | None) -> None:
    """Set one cell's value (None = missing) and drop its status symbol."""
    table = snapshot / "tables" / TABLE_DIRS[dataset]
    data = _read(table / "data.json")
    flat = 0
    for dim_id, size in zip(data["id"], data["size"], strict=True):
        codes = _codes(data["dimension"][dim_id])
        flat = flat * size + codes.index(cell[dim_id])
    values = data["value"]
    values[flat] = value
    status = data.get("status")
    if isinstance(status, dict):
        status.pop(str(flat), None)
    elif isinstance(status, list):
        status[flat] = None
    _write(table / "data.json", data)
    _republish(table)


def rename_code(snapshot: Path, dataset: str, dim_id: str, old: str, new: str) -> None:
    """Rename a category code in the table's metadata and data (e.g. an unknown region code)."""
    table = snapshot / "tables" / TABLE_DIRS[dataset]
    for name in ("metadata.json", "data.json"):
        doc = _read(table / name)
        cat = doc["dimension"][dim_id]["category"]
        for key in ("index", "label"):
            if isinstance(cat.get(key), dict):
                cat[key] = {(new if k == old else k): v for k, v in cat[key].items()}
        _write(table / name, doc)
    _republish(table)


def drop_code(snapshot: Path, dataset: str, dim_id: str, code: str) -> None:
    """Remove one category (e.g. a year) from the table: metadata, data values and status."""
    import numpy as np

    table = snapshot / "tables" / TABLE_DIRS[dataset]
    data = _read(table / "data.json")
    axis = data["id"].index(dim_id)
    codes = _codes(data["dimension"][dim_id])
    pos = codes.index(code)
    shape = tuple(data["size"])
    n = int(np.prod(shape))
    values = np.array([np.nan if v is None else v for v in data["value"]], dtype=float).reshape(
        shape
    )
    status = np.array([""] * n, dtype=object)
    raw_status = data.get("status") or {}
    items = raw_status.items() if isinstance(raw_status, dict) else enumerate(raw_status)
    for k, s in items:
        if s:
            status[int(k)] = s
    status = status.reshape(shape)
    values, status = np.delete(values, pos, axis=axis), np.delete(status, pos, axis=axis)
    data["value"] = [None if np.isnan(v) else float(v) for v in values.ravel()]
    data["status"] = {str(i): s for i, s in enumerate(status.ravel()) if s}
    data["size"][axis] -= 1
    kept = [c for c in codes if c != code]
    for doc in (data, meta := _read(table / "metadata.json")):
        cat = doc["dimension"][dim_id]["category"]
        cat["index"] = {c: i for i, c in enumerate(kept)}
        cat["label"] = {c: cat["label"][c] for c in kept}
        if "size" in doc and doc is meta:
            meta["size"][meta["id"].index(dim_id)] -= 1
    _write(table / "data.json", data)
    _write(table / "metadata.json", meta)
    _republish(table)
