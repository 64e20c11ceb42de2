"""Build SCB-shaped JSON-stat 2.0 (and v1's JSON-stat 1.x) documents from a sliced cube."""

from __future__ import annotations

from typing import Any

import numpy as np

from pxweb_demo.server.model import NO_STATUS, CubeDimension, Table


def values_to_list(values: np.ndarray) -> list[Any]:
    """Flatten a float cube to JSON values: ints when integral, None where missing (NaN)."""
    flat = values.reshape(-1)
    missing = np.isnan(flat)
    filled = np.where(missing, 0.0, flat)
    out: list[Any]
    # Integral cubes are the common case (counts, MSEK); write 12342, not 12342.0, as SCB does.
    if np.all(filled == np.round(filled)) and np.all(np.abs(filled) < 2**53):
        out = filled.astype(np.int64).tolist()
    else:
        out = filled.tolist()
    for i in np.flatnonzero(missing).tolist():
        out[i] = None
    return out


def status_to_object(status: np.ndarray, symbols: list[str]) -> dict[str, str] | None:
    """The sparse `status` object {"flatIndex": symbol}, or None when no cell has a symbol."""
    flat = status.reshape(-1)
    hits = np.flatnonzero(flat != NO_STATUS)
    if hits.size == 0:
        return None
    return {str(i): symbols[int(flat[i])] for i in hits.tolist()}


def dimension_doc(dim: CubeDimension, idx: np.ndarray) -> dict[str, Any]:
    """The json-stat2 `dimension[X]` object for the selected positions of one dimension."""
    codes = [dim.codes[i] for i in idx.tolist()]
    category: dict[str, Any] = {
        "index": {c: n for n, c in enumerate(codes)},
        "label": {c: dim.labels[dim.index[c]] for c in codes},
    }
    if dim.units:
        category["unit"] = {c: dim.units[c] for c in codes if c in dim.units}
    doc: dict[str, Any] = {"label": dim.label}
    if dim.note:
        doc["note"] = dim.note
    doc["category"] = category
    doc["extension"] = dict(dim.extension)
    return doc


def dataset_doc(
    table: Table,
    kept: list[tuple[CubeDimension, np.ndarray]],
    values: np.ndarray,
    status: np.ndarray,
) -> dict[str, Any]:
    """A json-stat2 dataset in SCB's data-response shape for the kept dimensions and cube."""
    meta = table.metadata
    ids = [d.code for d, _ in kept]
    role = {k: [x for x in v if x in ids] for k, v in (meta.get("role") or {}).items()}
    doc: dict[str, Any] = {
        "version": "2.0",
        "class": "dataset",
        "label": table.data_label,
        "source": meta.get("source"),
        "updated": table.updated,
    }
    if meta.get("note"):
        doc["note"] = meta["note"]
    doc["role"] = {k: v for k, v in role.items() if v}
    doc["id"] = ids
    doc["size"] = [int(idx.size) for _, idx in kept]
    doc["dimension"] = {d.code: dimension_doc(d, idx) for d, idx in kept}
    doc["extension"] = table.data_extension
    doc["value"] = values_to_list(values)
    st = status_to_object(status, table.symbols)
    if st is not None:
        doc["status"] = st
    return doc


def jsonstat1_doc(ds: dict[str, Any]) -> dict[str, Any]:
    """Convert a json-stat2 dataset to the json-stat 1.x `{"dataset": ...}` shape PxWeb v1 serves."""
    dimension: dict[str, Any] = {k: dict(v) for k, v in ds["dimension"].items()}
    for v in dimension.values():
        v.pop("extension", None)
    dimension["id"] = ds["id"]
    dimension["size"] = ds["size"]
    if ds.get("role"):
        dimension["role"] = ds["role"]
    inner: dict[str, Any] = {
        "dimension": dimension,
        "label": ds["label"],
        "source": ds.get("source"),
        "updated": ds.get("updated"),
        "value": ds["value"],
    }
    if "status" in ds:
        inner["status"] = ds["status"]
    return {"dataset": inner}


def metadata_doc(table: Table) -> dict[str, Any]:
    """The `/tables/{id}/metadata` json-stat2 document with the current `updated`."""
    doc = dict(table.metadata)
    doc["updated"] = table.updated
    return doc
