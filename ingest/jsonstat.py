"""JSON-stat 1.x / 2.0 parser: one response to a columnar `Dataset` (values and codes as Arrow)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from ingest.env import positive_number

__all__ = [
    "Dataset",
    "Dimension",
    "JsonStatError",
    "check_cells",
    "check_document",
    "parse",
    "parse_file",
]

ROLES = ("time", "geo", "metric")
# A sparse `value` object expands to a dense array of product(size) cells: refuse absurd sizes
# (a typo'd size would otherwise allocate gigabytes before failing).
MAX_DENSE_CELLS = 200_000_000


class JsonStatError(ValueError):
    """A response that is not valid JSON-stat (the message says what is wrong and where)."""


@dataclass(frozen=True)
class Dimension:
    """One dimension: its category codes and labels in index order, role, units and extension."""

    id: str
    label: str
    codes: list[str]
    labels: list[str]
    role: str | None = None
    units: dict[str, dict] | None = None
    extension: dict | None = None

    @property
    def size(self) -> int:
        """Number of categories."""
        return len(self.codes)


@dataclass
class Dataset:
    """A parsed JSON-stat dataset; `values`/`status` are flat (row-major, last dimension fastest)."""

    label: str | None
    source: str | None
    updated: str | None
    dimensions: list[Dimension]
    # float64, null where missing; a string array only for text-valued datasets (JSON-stat
    # allows them, e.g. json-stat.org's order.json), which the DuckDB loader refuses.
    values: pa.Array
    status: pa.Array | None = None
    note: list[str] | None = None
    extension: dict | None = None
    version: str | None = None

    @property
    def ids(self) -> list[str]:
        """Dimension ids in order."""
        return [d.id for d in self.dimensions]

    @property
    def sizes(self) -> list[int]:
        """Dimension sizes in order."""
        return [d.size for d in self.dimensions]

    @property
    def n_cells(self) -> int:
        """Number of cells (0 for a metadata response with `value: []`)."""
        return len(self.values)

    def positions(self, i: int) -> np.ndarray:
        """Category position of dimension `i` for every cell, in flat order (smallest int type)."""
        sizes = self.sizes
        dtype = index_dtype(sizes[i])
        if self.n_cells == 0:
            return np.empty(0, dtype=dtype)
        before, after = math.prod(sizes[:i]), math.prod(sizes[i + 1 :])
        grid = np.arange(sizes[i], dtype=dtype).reshape(1, -1, 1)
        # broadcast_to is a view; reshape(-1) materialises it once, in C.
        return np.broadcast_to(grid, (before, sizes[i], after)).reshape(-1)

    def to_arrow(self) -> pa.Table:
        """Long table: one dictionary-encoded code column per dimension, then `value`, `status`."""
        clash = {"value", "status"} & set(self.ids)
        if clash:
            raise JsonStatError(f"dimension id {sorted(clash)[0]!r} clashes with a value column")
        positions = [self.positions(i) for i in range(len(self.dimensions))]
        return long_table(self.dimensions, positions, self.values, self.status)


def long_table(
    dimensions: list[Dimension],
    positions: list[np.ndarray],
    values: pa.Array,
    status: pa.Array | None,
) -> pa.Table:
    """The long table of cells: per dimension a dictionary column (its category positions into its
    codes), then `value` and `status` (all null when None)."""
    columns = [
        pa.DictionaryArray.from_arrays(int_array(pos), string_array(d.codes))
        for pos, d in zip(positions, dimensions, strict=True)
    ]
    if status is None:
        status = pa.nulls(len(values), pa.string())
    names = [d.id for d in dimensions]
    return pa.Table.from_arrays([*columns, values, status], names=[*names, "value", "status"])


def parse_file(path: Path | str) -> Dataset:
    """Parse a JSON-stat file (its size checked before it is read)."""
    try:
        return parse(read_document(path))
    except JsonStatError as exc:
        raise JsonStatError(f"{path}: {exc}") from None


def parse(raw: bytes | str | dict, *, max_cells: int | None = None) -> Dataset:
    """Parse a JSON-stat 2.0 dataset or a 1.x response (wrapper/bundle with one dataset);
    `max_cells` (default `max_document_cells()`) bounds the cells it may describe."""
    nbytes = None if isinstance(raw, dict) else len(raw)
    if isinstance(raw, dict):
        doc = raw
    else:
        check_document(raw)
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise JsonStatError(f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise JsonStatError(f"expected a JSON object at the top level, got {type(doc).__name__}")
    ds, version = _find_dataset(doc)
    dim_obj = ds.get("dimension")
    if not isinstance(dim_obj, dict):
        raise JsonStatError("'dimension' is missing or not an object")
    ids, sizes, roles, version = _layout(ds, dim_obj, version)
    ids, sizes = _check_ids_sizes(ids, sizes)
    check_cells(sizes, ds.get("value"), nbytes, max_cells=max_cells)
    role_of = _roles(roles)

    dimensions = []
    for dim_id, size in zip(ids, sizes, strict=True):
        spec = dim_obj.get(dim_id)
        if not isinstance(spec, dict):
            raise JsonStatError(
                f"dimension {dim_id!r} is listed in 'id' but has no entry in 'dimension'"
            )
        dimensions.append(_dimension(dim_id, size, spec, role_of.get(dim_id)))

    n = math.prod(sizes)
    values = _values(ds.get("value"), n, sizes)
    status = _status(ds.get("status"), len(values))
    note = ds.get("note")
    return Dataset(
        label=ds.get("label"),
        source=ds.get("source"),
        updated=ds.get("updated"),
        dimensions=dimensions,
        values=values,
        status=status,
        note=[note] if isinstance(note, str) else note,
        extension=ds.get("extension"),
        version=version,
    )


def _find_dataset(doc: dict) -> tuple[dict, str | None]:
    """Locate the dataset object and its declared JSON-stat version (None when not declared)."""
    cls = doc.get("class")
    if cls == "dataset":
        # 2.0 requires `version`; 1.0x responses also say "class": "dataset" but carry none.
        return doc, _declared_version(doc.get("version"))
    if "error" in doc and "dimension" not in doc:
        raise JsonStatError(f"response is an error, not a dataset: {str(doc['error'])[:200]}")
    if cls == "collection":
        raise JsonStatError("response is a JSON-stat collection; fetch one dataset instead")
    if cls not in (None, "bundle"):
        raise JsonStatError(f"unsupported JSON-stat class {cls!r} (expected 'dataset')")
    # 1.x: {"dataset": {...}} or a bundle {"name": {...}, ...}; either way exactly one dataset.
    found = [v for v in doc.values() if isinstance(v, dict) and "dimension" in v]
    if len(found) != 1:
        what = "no dataset" if not found else f"{len(found)} datasets"
        raise JsonStatError(f"not a JSON-stat dataset: found {what} (keys: {list(doc)[:8]})")
    return found[0], _declared_version(found[0].get("version", doc.get("version")))


def _declared_version(version: Any) -> str | None:
    """A `version` member as text (None when absent)."""
    return None if version is None else str(version)


def _layout(ds: dict, dim_obj: dict, version: str | None) -> tuple[Any, Any, Any, str]:
    """`id`, `size`, `role` and the version, read from where `id`/`size` are, not from `class`.

    JSON-stat 2.0 puts them at the top of the dataset; 1.x (1.00-1.03, also the 1.0x responses
    with `"class": "dataset"` and no `version`) puts them inside `dimension`. A 2.0 dimension may
    be called "id" or "size", so the 1.x form counts only when those are arrays.
    """
    if "id" in ds or "size" in ds:
        return ds.get("id"), ds.get("size"), ds.get("role"), version or "2.0"
    if isinstance(dim_obj.get("id"), list) or isinstance(dim_obj.get("size"), list):
        return dim_obj.get("id"), dim_obj.get("size"), dim_obj.get("role"), version or "1.0"
    raise JsonStatError(
        "'id' and 'size' are missing: neither at the top of the dataset (JSON-stat 2.0) "
        "nor inside 'dimension' (1.x)"
    )


def _check_ids_sizes(ids: Any, sizes: Any) -> tuple[list[str], list[int]]:
    """Validate the `id` and `size` arrays."""
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise JsonStatError("'id' is missing or not an array of strings")
    if not isinstance(sizes, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes
    ):
        raise JsonStatError("'size' is missing or not an array of non-negative integers")
    if len(ids) != len(sizes):
        raise JsonStatError(f"'id' has {len(ids)} entries but 'size' has {len(sizes)}")
    if len(set(ids)) != len(ids):
        raise JsonStatError(f"'id' repeats a dimension: {ids}")
    return ids, sizes


def _roles(roles: Any) -> dict[str, str]:
    """Map dimension id -> role from a `role` object."""
    if roles is None:
        return {}
    if not isinstance(roles, dict):
        raise JsonStatError("'role' is not an object")
    return {d: r for r in ROLES for d in roles.get(r) or []}


def _dimension(dim_id: str, size: int, spec: dict, role: str | None) -> Dimension:
    """Build one Dimension, checking its category index against `size`."""
    cat = spec.get("category")
    if not isinstance(cat, dict):
        raise JsonStatError(f"dimension {dim_id!r}: 'category' is missing or not an object")
    labels = cat.get("label") or {}
    if not isinstance(labels, dict):
        raise JsonStatError(f"dimension {dim_id!r}: 'category.label' is not an object")
    index = cat.get("index")
    if index is None:
        # Allowed for size-1 dimensions (the id is the label key); label order otherwise.
        codes = list(labels)
    elif isinstance(index, list):
        codes = index
        if len(set(codes)) != len(codes):
            raise JsonStatError(f"dimension {dim_id!r}: 'category.index' repeats a code")
    elif isinstance(index, dict):
        codes = _codes_from_positions(dim_id, index)
    else:
        raise JsonStatError(f"dimension {dim_id!r}: 'category.index' is neither array nor object")
    if not all(isinstance(c, str) for c in codes):
        raise JsonStatError(f"dimension {dim_id!r}: category ids must be strings")
    if len(codes) != size:
        raise JsonStatError(
            f"dimension {dim_id!r}: size is {size} but it has {len(codes)} categories"
        )
    unknown = set(labels) - set(codes)
    if unknown:
        raise JsonStatError(
            f"dimension {dim_id!r}: 'category.label' has codes not in the index: {sorted(unknown)[:5]}"
        )
    units = cat.get("unit")
    return Dimension(
        id=dim_id,
        label=str(spec.get("label", dim_id)),
        codes=list(codes),
        labels=[str(labels.get(c, c)) for c in codes],
        role=role,
        units=units if isinstance(units, dict) else None,
        extension=spec.get("extension"),
    )


def _codes_from_positions(dim_id: str, index: dict) -> list[str]:
    """Order the codes of an `{id: position}` index, which must be a permutation of 0..n-1."""
    n = len(index)
    pos = list(index.values())
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in pos):
        raise JsonStatError(f"dimension {dim_id!r}: 'category.index' positions must be integers")
    arr = np.asarray(pos, dtype=np.int64)
    # bincount, not np.unique: np.unique imports numpy.ma on first use (~0.1 s per process).
    if n and (arr.min() < 0 or arr.max() >= n or np.count_nonzero(np.bincount(arr)) != n):
        raise JsonStatError(
            f"dimension {dim_id!r}: 'category.index' positions are not 0..{n - 1} without gaps"
        )
    codes: list[str] = [""] * n
    for code, p in zip(index, pos, strict=True):
        codes[p] = code
    return codes


def _values(value: Any, n: int, sizes: list[int]) -> pa.Array:
    """The flat float64 value array (null where missing)."""
    if isinstance(value, list):
        if not value:
            return _float_array(np.empty(0))  # metadata response: dimensions only
        if len(value) != n:
            raise JsonStatError(
                f"'value' has {len(value)} entries but size {sizes} implies {n} cells"
            )
        return _floats(value)
    if isinstance(value, dict):
        _check_dense(n, sizes)
        pos = _flat_positions(value, n, "value")
        try:
            present = np.array(list(value.values()), dtype=np.float64)
        except (ValueError, TypeError):
            raise JsonStatError("'value' object holds non-numeric entries") from None
        dense = np.full(n, np.nan)
        dense[pos] = present
        return _float_array(dense)
    raise JsonStatError("'value' is missing or neither an array nor an object")


def _floats(items: list) -> pa.Array:
    """JSON numbers/nulls to float64 in C; all-text values (allowed by JSON-stat) stay strings."""
    try:
        # numpy turns None into NaN in C; JSON has no NaN, so NaN <=> null exactly.
        floats = np.array(items, dtype=np.float64)
        if floats.ndim == 1:  # nested arrays would give a 2-D result
            return _float_array(floats)
    except (ValueError, TypeError, OverflowError):
        pass
    if all(isinstance(v, str | None) for v in items):
        return string_array(items)  # text-valued dataset (json-stat.org order.json)
    i, v = next(
        ((i, v) for i, v in enumerate(items) if not isinstance(v, int | float | None)),
        (0, items[0]),
    )
    raise JsonStatError(f"'value' entry {i} is {v!r}: not a number or null")


def _status(status: Any, n: int) -> pa.Array | None:
    """The flat status array aligned to values (null where none), or None when absent."""
    if status is None:
        return None
    if isinstance(status, str) or (isinstance(status, list) and len(status) == 1 and n != 1):
        # A string, or the deprecated 1-element array: one symbol for every cell.
        symbols, _ = _encode([status if isinstance(status, str) else status[0]])
        return _take(symbols, np.zeros(n, dtype=np.int32))
    if isinstance(status, list):
        if len(status) != n:
            raise JsonStatError(f"'status' has {len(status)} entries but 'value' has {n}")
        symbols, idx = _encode(status)
        return _take(symbols, idx)
    if isinstance(status, dict):
        if n == 0:
            return None
        pos = _flat_positions(status, n, "status")
        symbols, codes = _encode(list(status.values()))
        idx = np.full(n, -1, dtype=np.int32)
        idx[pos] = codes
        return _take(symbols, idx)
    raise JsonStatError("'status' is neither a string, an array nor an object")


def _encode(items: list) -> tuple[list[str], np.ndarray]:
    """Dictionary-encode status symbols: (distinct symbols, int32 codes with -1 for null)."""
    symbols = [s for s in dict.fromkeys(items) if s is not None]
    if not all(isinstance(s, str) for s in symbols):
        bad = next(s for s in symbols if not isinstance(s, str))
        raise JsonStatError(f"'status' entry {bad!r} is not a string")
    codes = np.full(len(items), -1, dtype=np.int32)
    cells = np.array(items, dtype=object)
    for k, s in enumerate(symbols):  # a handful of symbols: one C-level pass each
        codes[cells == s] = k
    return symbols, codes


def _take(symbols: list[str], idx: np.ndarray) -> pa.Array:
    """Expand symbol codes (-1 = null) into a string array, building Arrow's buffers in numpy.

    Not `Array.take`: that imports pyarrow.compute on first use (~0.1 s in every process).
    """
    n = len(idx)
    if not symbols:
        return pa.nulls(n, pa.string())
    encoded = [s.encode("utf-8") for s in symbols]
    # One length per symbol plus a trailing 0 that code -1 (null) picks up as index -1.
    lengths = np.array([len(b) for b in encoded] + [0], dtype=np.int64)
    cell_lengths = lengths[idx]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cell_lengths, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    # Only cells with a symbol get bytes (often a few percent of a table).
    cells = np.flatnonzero(idx >= 0)
    starts, codes = offsets[cells], idx[cells]
    for k, symbol in enumerate(encoded):  # a handful of symbols of a few bytes each
        at = starts[codes == k]
        for j, byte in enumerate(symbol):
            data[at + j] = byte
    # 32-bit offsets unless the symbols of all cells together pass 2 GiB.
    if offsets[-1] > np.iinfo(np.int32).max:
        kind = pa.large_string()
    else:
        kind, offsets = pa.string(), offsets.astype(np.int32)
    valid = None if len(cells) == n else pa.py_buffer(np.packbits(idx >= 0, bitorder="little"))
    return pa.Array.from_buffers(kind, n, [valid, pa.py_buffer(offsets), pa.py_buffer(data)])


def index_dtype(size: int) -> type[np.signedinteger]:
    """The smallest signed integer type that indexes `size` categories (less memory per cell)."""
    return next(t for t in (np.int8, np.int16, np.int32, np.int64) if size <= np.iinfo(t).max)


def int_array(a: np.ndarray) -> pa.Array:
    """A signed-integer Arrow array over a numpy buffer (no pandas import, unlike pa.array)."""
    a = np.ascontiguousarray(a)
    return pa.Array.from_buffers(pa.from_numpy_dtype(a.dtype), len(a), [None, pa.py_buffer(a)])


def _float_array(a: np.ndarray) -> pa.Array:
    """A float64 Arrow array over a numpy buffer, NaN as null (no pandas import, unlike pa.array)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(a), [_bitmap(~np.isnan(a)), pa.py_buffer(a)])


def string_array(items: list) -> pa.Array:
    """A string Arrow array from a short Python list (None as null), built from buffers."""
    data = [b"" if s is None else str(s).encode() for s in items]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    valid = np.fromiter((s is not None for s in items), bool, len(items))
    buffers = [_bitmap(valid), pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    return pa.Array.from_buffers(pa.string(), len(data), buffers)


def _bitmap(valid: np.ndarray) -> pa.Buffer | None:
    """An Arrow validity bitmap, or None when every entry is valid."""
    return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))


def _flat_positions(obj: dict, n: int, field: str) -> np.ndarray:
    """Flat indices from the keys of a sparse `{"flatIndex": x}` object, range-checked."""
    try:
        # numpy parses the key strings in C; one array, no per-key Python ints.
        pos = np.asarray(list(obj), dtype=np.str_).astype(np.int64)
    except ValueError:
        raise JsonStatError(f"'{field}' object keys must be integer flat indices") from None
    if len(pos) and (pos.min() < 0 or pos.max() >= n):
        bad = pos[(pos < 0) | (pos >= n)][0]
        raise JsonStatError(f"'{field}' has flat index {bad} outside 0..{n - 1}")
    return pos


def _check_dense(n: int, sizes: list[int]) -> None:
    """Refuse to expand a sparse value object into an absurdly large dense array."""
    if n > MAX_DENSE_CELLS:
        raise JsonStatError(f"size {sizes} implies {n} cells, more than {MAX_DENSE_CELLS}")


# -- size checks before work -------------------------------------------------------------------
# orjson reads a whole document into Python objects (~10–30 bytes of memory per byte of JSON for
# arrays of small numbers or nested containers), and a sparse `value` object expands to
# product(size) cells. Both are refused before the work, with one line that names the limit.
DEFAULT_MAX_DOCUMENT_MB = 64.0
DEFAULT_MAX_CELLS = 10_000_000
# JSON-stat holds a handful of arrays and objects per dimension and per category (index, label,
# unit): a document made of millions of them is not a dataset, and would cost ~60 bytes each.
MAX_CONTAINERS = 2_000_000
# A sparse `value` object may leave most cells empty, but not claim more cells than this many
# per byte of the document (a 260 KB file claiming 200 million cells is an error, not data).
MAX_CELLS_PER_BYTE = 64
_SPARSE_FLOOR = 100_000  # below this many cells, any sparsity is accepted


def _env_number(name: str, default: float) -> float:
    try:
        return positive_number(name, default)
    except ValueError as exc:
        raise JsonStatError(str(exc)) from None


def max_document_bytes() -> int:
    """The largest JSON document read (`CLEANTECH_MAX_JSON_MB` overrides, default 64 MB)."""
    return int(_env_number("CLEANTECH_MAX_JSON_MB", DEFAULT_MAX_DOCUMENT_MB) * 1024 * 1024)


def max_document_cells() -> int:
    """The most cells one document may describe (`CLEANTECH_MAX_CELLS` overrides, default 10M)."""
    return int(_env_number("CLEANTECH_MAX_CELLS", DEFAULT_MAX_CELLS))


def read_document(path: Path | str) -> bytes:
    """A JSON file's bytes, refused by its size on disk before it is read."""
    path = Path(path)
    size = path.stat().st_size
    limit = max_document_bytes()
    if size > limit:
        raise JsonStatError(
            f"{path} is {size} bytes, over the JSON document limit of {limit} bytes "
            "(CLEANTECH_MAX_JSON_MB raises it)"
        )
    return path.read_bytes()


def check_document(raw: bytes | str) -> None:
    """Refuse a JSON text too large, or made of too many arrays/objects, before parsing it."""
    limit = max_document_bytes()
    if len(raw) > limit:
        raise JsonStatError(
            f"the JSON document is {len(raw)} bytes, over the limit of {limit} bytes "
            "(CLEANTECH_MAX_JSON_MB raises it)"
        )
    data = raw.encode() if isinstance(raw, str) else raw
    containers = data.count(b"[") + data.count(b"{")
    if containers > MAX_CONTAINERS:
        raise JsonStatError(
            f"the JSON document holds {containers} arrays/objects, more than the "
            f"{MAX_CONTAINERS} a JSON-stat dataset of this size can have: not a dataset"
        )


def check_cells(
    sizes: list[int], value: Any, nbytes: int | None, *, max_cells: int | None = None
) -> None:
    """Refuse a dataset whose `size` implies more cells than `max_cells`, or (sparse `value`)
    far more cells than its bytes can describe, before any array is allocated."""
    n = math.prod(sizes)
    limit = max_document_cells() if max_cells is None else max_cells
    if n > limit:
        what = (
            f"the limit of {limit} (CLEANTECH_MAX_CELLS raises it)"
            if max_cells is None
            else f"the {limit} expected"
        )
        raise JsonStatError(f"size {sizes} implies {n} cells, more than {what}")
    if isinstance(value, dict) and n > _SPARSE_FLOOR:
        budget = MAX_CELLS_PER_BYTE * (nbytes if nbytes is not None else 16 * (len(value) + 1))
        if n > budget:
            source = f"{nbytes} bytes" if nbytes is not None else "as given"
            raise JsonStatError(
                f"size {sizes} implies {n} cells but the document ({source}) holds "
                f"{len(value)} values: out of proportion, refused before expanding it"
            )
