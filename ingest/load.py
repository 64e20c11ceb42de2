"""DuckDB loader for the raw layer: current vintage, revisions, labels, datasets and load log."""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingest.errors import one_line
from ingest.jsonstat import Dataset, Dimension, index_dtype, long_table
from ingest.pxweb.models import is_zoned_iso, parse_updated
from ingest.sql import column_names, has_table, qualified, quote_literal, rollback_quietly
from ingest.sql import quote_ident as _q

__all__ = [
    "LoadMeta",
    "LoadWriteFailed",
    "LoadResult",
    "SourceVintage",
    "last_loaded_updated",
    "load_dataset",
    "log_failure",
    "source_vintage",
]

log = logging.getLogger(__name__)

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
META_COLUMNS = ("_source_table", "_source_updated", "_loaded_at", "_load_id")
# Names a dimension column may not take (compared case-insensitively, as DuckDB does).
RESERVED = {"value", "status", *META_COLUMNS, "_replaced_at", "_replaced_by_updated"}
# Up to this many parts, overlapping splits are found from code sets (parts x parts matrices);
# beyond, by sorting one key per cell.
MAX_PARTS_PAIRWISE = 2000

DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw._labels (
    dataset VARCHAR, dimension_id VARCHAR, dimension_label VARCHAR, position INTEGER,
    code VARCHAR, label VARCHAR, unit VARCHAR, decimals INTEGER);
CREATE TABLE IF NOT EXISTS raw._datasets (
    dataset VARCHAR, source_table VARCHAR, label VARCHAR, source VARCHAR,
    updated VARCHAR, is_demo BOOLEAN, notes VARCHAR);
CREATE TABLE IF NOT EXISTS raw._load_log (
    load_id VARCHAR, dataset VARCHAR, source_table VARCHAR, source_url VARCHAR,
    source_updated TIMESTAMPTZ, fetched_at TIMESTAMPTZ, rows BIGINT, requests INTEGER,
    bytes BIGINT, seconds DOUBLE, outcome VARCHAR, message VARCHAR);
"""
_LOG = "INSERT INTO raw._load_log VALUES (?, ?, ?, ?, CAST(? AS TIMESTAMPTZ), ?, ?, ?, ?, ?, ?, ?)"


@dataclass
class LoadMeta:
    """Where a load came from: catalog dataset, resolved table, URL, source `updated`, fetch stats."""

    dataset: str
    source_table: str
    source_url: str | None
    source_updated: str | None
    fetched_at: datetime
    requests: int = 0
    bytes: int = 0
    is_demo: bool = False
    label: str | None = None
    source: str | None = None


@dataclass
class LoadResult:
    """What one load did: outcome 'loaded' or 'unchanged', rows, revised cells, duration."""

    load_id: str
    dataset: str
    outcome: str
    rows: int
    revised_cells: int
    seconds: float
    updated: str | None  # the vintage's source `updated`, as written to raw._datasets
    warning: str | None = None  # one line when the source's `updated` could not be read


@dataclass(frozen=True)
class SourceVintage:
    """The source's `updated` as the loader records it.

    `stamp` goes to the TIMESTAMPTZ columns (None: the vintage is unknown), `text` to
    `raw._datasets.updated`, `note` (one line, or None) to the load log's message.
    """

    stamp: datetime | None
    text: str | None
    note: str | None = None

    @property
    def unknown(self) -> bool:
        """Whether the source gave an `updated` that could not be read as a date."""
        return self.stamp is None and self.text is not None


def source_vintage(updated: str | None) -> SourceVintage:
    """How the loader records a source `updated`: its instant, text and load-log note.

    Zoned ISO 8601 is kept as given; naive ISO and the day-first forms
    (ingest.pxweb.models.DAY_FIRST_FORMATS, Stockholm time) are stored as UTC ISO with the source's
    text in the note; anything else is kept as given with the vintage unknown (it never matches,
    so the next run fetches again and compares the content).
    """
    if updated is None or updated == "":
        return SourceVintage(None, None)
    text = str(updated)
    stamp = parse_updated(text)
    if stamp is None:
        return SourceVintage(
            None,
            text,
            f"source 'updated' {text!r} is not a date the loader reads: vintage unknown, "
            "so the next run fetches again and compares the content",
        )
    if is_zoned_iso(text):
        return SourceVintage(stamp, text)
    iso = stamp.isoformat().replace("+00:00", "Z")
    return SourceVintage(stamp, iso, f"source 'updated' {text!r} read as {iso} (Stockholm time)")


def load_dataset(
    db: Path | str | duckdb.DuckDBPyConnection,
    dataset: str,
    parts: Iterable[Dataset],
    meta: LoadMeta,
) -> LoadResult:
    """Load the parts of one response as the new vintage of `raw.<dataset>`, in one transaction."""
    start = time.perf_counter()
    check_dataset_name(dataset)
    if meta.dataset != dataset:
        raise ValueError(f"meta.dataset {meta.dataset!r} does not match dataset {dataset!r}")
    parts = list(parts)
    table, dims = merge_parts(dataset, parts)
    vintage = source_vintage(_source_updated(dataset, parts, meta))
    stamp = vintage.stamp
    ids = [d.id for d in dims]
    load_id = _new_load_id()
    now = datetime.now(UTC)
    view = f"_arrow_{load_id.replace('-', '_')}"
    with _write_errors(f"loading raw.{dataset} into", db), _connect(db) as con:
        con.execute("BEGIN TRANSACTION")
        con.register(view, table)
        try:
            con.execute(DDL)
            _check_existing_columns(con, dataset, ids)
            _create_revisions(con, dataset, ids)
            # Writing the vintage is most of a load: check first whether it is identical.
            unchanged = _identical(con, dataset, ids, view, table.num_rows)
            revised = 0
            if unchanged:
                # A republish without changes: same cells, possibly a newer `updated`. Move the
                # vintage's timestamp with raw._datasets (the freshness check reads this column);
                # no cell was replaced, so nothing goes to revisions.
                _touch_source_updated(con, dataset, stamp)
            else:
                _stage(con, dataset, ids, view, meta.source_table, stamp, now, load_id)
                revised = _revise(con, dataset, ids, stamp, now, load_id)
                _replace_current(con, dataset)
            _comment(con, dataset, meta, parts[0].label)
            _write_labels(con, dataset, dims)
            _write_dataset_row(con, dataset, meta, parts[0], vintage.text)
            outcome = "unchanged" if unchanged else "loaded"
            seconds = time.perf_counter() - start
            _log(con, load_id, meta, stamp, table.num_rows, seconds, outcome, vintage.note)
            con.execute("COMMIT")
        except BaseException:
            rollback_quietly(con)
            raise
        finally:
            con.unregister(view)
    warning = vintage.note if vintage.unknown else None
    if warning:
        log.warning("%s: %s", dataset, warning)
    return LoadResult(
        load_id, dataset, outcome, table.num_rows, revised, seconds, vintage.text, warning
    )


def log_failure(
    db: Path | str | duckdb.DuckDBPyConnection, meta: LoadMeta, message: str, seconds: float = 0.0
) -> None:
    """Append a 'failed' row to `raw._load_log` in its own transaction."""
    _log_outcome(db, meta, "failed", message, seconds)


def log_unchanged(
    db: Path | str | duckdb.DuckDBPyConnection, meta: LoadMeta, message: str, seconds: float = 0.0
) -> None:
    """Append an 'unchanged' row: the source was checked and not re-fetched."""
    _log_outcome(db, meta, "unchanged", message, seconds)


def _log_outcome(
    db: Path | str | duckdb.DuckDBPyConnection,
    meta: LoadMeta,
    outcome: str,
    message: str,
    seconds: float,
) -> None:
    """Append a log row that carries no data, in its own transaction."""
    with _write_errors("writing raw._load_log of", db), _connect(db) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(DDL)
            # Read in Python: logging a failure must not itself fail on a malformed `updated`.
            stamp = source_vintage(meta.source_updated).stamp
            _log(con, _new_load_id(), meta, stamp, 0, seconds, outcome, message)
            con.execute("COMMIT")
        except BaseException:
            rollback_quietly(con)
            raise


def last_loaded_updated(db: Path | str | duckdb.DuckDBPyConnection, dataset: str) -> str | None:
    """The source `updated` of the current vintage of `dataset` (None if never loaded)."""
    if not isinstance(db, duckdb.DuckDBPyConnection) and not Path(db).exists():
        return None
    with _connect(db, read_only=True) as con:
        if not has_table(con, "raw", "_datasets"):
            return None
        row = con.execute(
            "SELECT updated FROM raw._datasets WHERE dataset = ?", [dataset]
        ).fetchone()
    return row[0] if row else None


def check_dataset_name(dataset: str) -> None:
    """Raise ValueError unless `dataset` is a safe raw-table name."""
    if not isinstance(dataset, str) or not DATASET_NAME.match(dataset):
        raise ValueError(f"dataset name {dataset!r} must match {DATASET_NAME.pattern}")
    if dataset.endswith("__revisions"):
        raise ValueError(f"dataset name {dataset!r} collides with a revisions table name")


def merge_parts(dataset: str, parts: list[Dataset]) -> tuple[pa.Table, list[Dimension]]:
    """Concatenate the parts of a split query into one long Arrow table and merged dimensions."""
    if not parts:
        raise ValueError(f"{dataset}: no response parts to load")
    ids = parts[0].ids
    for i, part in enumerate(parts):
        if part.ids != ids:
            raise ValueError(f"{dataset}: part {i} has dimensions {part.ids}, part 0 has {ids}")
        if not pa.types.is_float64(part.values.type):
            raise ValueError(f"{dataset}: part {i} has non-numeric values ({part.values.type})")
    _check_columns(dataset, ids)
    if sum(p.n_cells for p in parts) == 0:
        raise ValueError(f"{dataset}: the response has no cells (a metadata response?)")
    parts = [p for p in parts if p.n_cells]
    if len(parts) == 1:
        return parts[0].to_arrow(), parts[0].dimensions

    dims, remaps = _merge_dimensions(parts)
    positions = [
        np.concatenate([remaps[k][i][p.positions(i)] for k, p in enumerate(parts)])
        for i in range(len(ids))
    ]
    if len(parts) <= MAX_PARTS_PAIRWISE:
        _check_disjoint_parts(dataset, ids, remaps, [d.size for d in dims])
    else:
        _check_unique_cells(dataset, ids, positions, [d.size for d in dims])
    values = pa.concat_arrays([p.values for p in parts])
    status = pa.concat_arrays(
        [p.status if p.status is not None else pa.nulls(p.n_cells, pa.string()) for p in parts]
    )
    return long_table(dims, positions, values, status), dims


def _merge_dimensions(parts: list[Dataset]) -> tuple[list[Dimension], list[list[np.ndarray]]]:
    """Union the categories of each dimension (first-seen order); per part, local->merged maps."""
    dims: list[Dimension] = []
    remaps: list[list[np.ndarray]] = [[] for _ in parts]
    for i, first in enumerate(parts[0].dimensions):
        labels: dict[str, str] = {}
        units = dict(first.units or {})
        for part in parts:
            d = part.dimensions[i]
            for code, label in zip(d.codes, d.labels, strict=True):
                labels.setdefault(code, label)
            units.update({k: v for k, v in (d.units or {}).items() if k not in units})
        where = {code: n for n, code in enumerate(labels)}
        dtype = index_dtype(len(where))
        for k, part in enumerate(parts):
            codes = part.dimensions[i].codes
            remaps[k].append(np.fromiter((where[c] for c in codes), dtype, len(codes)))
        dims.append(
            Dimension(
                id=first.id,
                label=first.label,
                codes=list(labels),
                labels=list(labels.values()),
                role=first.role,
                units=units or None,
                extension=first.extension,
            )
        )
    return dims, remaps


def _check_disjoint_parts(
    dataset: str, ids: list[str], remaps: list[list[np.ndarray]], sizes: list[int]
) -> None:
    """Raise if two parts hold the same cell, from the parts' code sets (no per-cell work).

    Each part is a dense cartesian product of its categories, so two parts share a cell exactly
    when their code sets intersect in every dimension.
    """
    n = len(remaps)
    overlap = ~np.eye(n, dtype=bool)
    members = []
    for i, size in enumerate(sizes):
        m = np.zeros((n, size), dtype=np.float32)
        for k in range(n):
            m[k, remaps[k][i]] = 1.0
        members.append(m)
        overlap &= (m @ m.T) > 0  # parts a, b share a code of dimension i
    pairs = np.argwhere(overlap)
    if len(pairs):
        a, b = (int(x) for x in pairs[0])
        cell = {d: int(np.flatnonzero(m[a] * m[b])[0]) for d, m in zip(ids, members, strict=True)}
        raise ValueError(
            f"{dataset}: a cell appears in more than one part (parts {a} and {b}, positions {cell})"
        )


def _check_unique_cells(
    dataset: str, ids: list[str], positions: list[np.ndarray], sizes: list[int]
) -> None:
    """Raise if two parts hold the same cell (a split that overlapped)."""
    if math.prod(sizes) < 2**62:
        key = np.zeros(len(positions[0]), dtype=np.int64)
        for pos, size in zip(positions, sizes, strict=True):
            key = key * size + pos
        order = np.argsort(key, kind="stable")
        dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    else:  # too many combinations for one int64 key: sort on the columns instead
        order = np.lexsort(positions[::-1])
        same = np.ones(len(order) - 1, dtype=bool)
        for pos in positions:
            same &= pos[order][1:] == pos[order][:-1]
        dup = np.flatnonzero(same)
    if len(dup):
        row = order[dup[0]]
        cell = {i: int(p[row]) for i, p in zip(ids, positions, strict=True)}
        raise ValueError(f"{dataset}: a cell appears in more than one part (positions {cell})")


def _check_columns(dataset: str, ids: list[str]) -> None:
    """Dimension ids become column names: reject empty, reserved and case-insensitive duplicates."""
    lowered = [i.lower() for i in ids]
    bad = [i for i in ids if not i or i.lower() in RESERVED or lowered.count(i.lower()) > 1]
    if bad:
        raise ValueError(f"{dataset}: dimension id {bad[0]!r} cannot be a column name here")


def _source_updated(dataset: str, parts: list[Dataset], meta: LoadMeta) -> str | None:
    """The vintage's `updated`: the data's own (all parts must agree), else meta.source_updated."""
    seen = {p.updated for p in parts if p.updated}
    if len(seen) > 1:
        raise ValueError(
            f"{dataset}: parts have different 'updated' {sorted(seen)}: "
            "the source changed during the fetch; fetch again"
        )
    return seen.pop() if seen else meta.source_updated


def _check_existing_columns(con: duckdb.DuckDBPyConnection, dataset: str, ids: list[str]) -> None:
    """Refuse a vintage whose dimensions differ from the current table's."""
    cols = column_names(con, "raw", dataset)
    if cols and cols[: -2 - len(META_COLUMNS)] != ids:
        raise ValueError(
            f"raw.{dataset} has dimensions {cols[: -2 - len(META_COLUMNS)]} but the new data has "
            f"{ids}: the source table changed shape; load it under a new dataset name"
        )


def _stage(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    ids: list[str],
    view: str,
    source_table: str,
    updated: datetime | None,
    now: datetime,
    load_id: str,
) -> None:
    """Build the new vintage in the staging table from the registered Arrow table.

    `_source_table`, `_loaded_at` and `_load_id` are the same for every row of a vintage (each
    load writes a whole new table), so they are VIRTUAL generated columns: the constant is stored
    once, in the table's definition, instead of once per cell. Same names, types and values for
    readers; a VARCHAR column of 1M cells costs DuckDB ~0.1 CPU s to write whatever it holds
    (docs/BENCHMARKS.md). `_source_updated` stays a stored column: an unchanged republish moves
    it in place (`_touch_source_updated`).
    """
    stage = _table(_stage_name(dataset))
    dims = ", ".join(f"{_q(i)} VARCHAR" for i in ids)
    loaded_at = now.astimezone(UTC).isoformat()
    # The staging table lives in `raw` (not TEMP) so that it can be renamed into place: the
    # vintage is written once. It only exists inside this uncommitted transaction.
    con.execute(f"DROP TABLE IF EXISTS {stage}")
    # Identifiers are quoted by _q and the dataset name is validated. A generated column's
    # expression takes no bound parameters, so its constants are quoted literals.
    con.execute(
        f"CREATE TABLE {stage} ({dims}, value DOUBLE, status VARCHAR, "
        f"_source_table VARCHAR GENERATED ALWAYS AS ({quote_literal(source_table)}) VIRTUAL, "
        "_source_updated TIMESTAMPTZ, "
        "_loaded_at TIMESTAMPTZ GENERATED ALWAYS AS "
        f"(CAST({quote_literal(loaded_at)} AS TIMESTAMPTZ)) VIRTUAL, "
        f"_load_id VARCHAR GENERATED ALWAYS AS ({quote_literal(load_id)}) VIRTUAL)"
    )
    select = ", ".join(f"CAST({_q(i)} AS VARCHAR)" for i in ids)
    con.execute(
        f"INSERT INTO {stage} ({', '.join(map(_q, ids))}, value, status, _source_updated) "  # noqa: S608
        f"SELECT {select}, CAST(value AS DOUBLE), CAST(status AS VARCHAR), "
        f"CAST(? AS TIMESTAMPTZ) FROM {_q(view)}",
        [updated],
    )


def _create_revisions(con: duckdb.DuckDBPyConnection, dataset: str, ids: list[str]) -> None:
    """Create `raw.<dataset>__revisions` if it does not exist."""
    dims = ", ".join(f"{_q(i)} VARCHAR" for i in ids)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {_table(f'{dataset}__revisions')} ({dims}, value DOUBLE, "
        "status VARCHAR, _source_updated TIMESTAMPTZ, _replaced_at TIMESTAMPTZ, "
        "_replaced_by_updated TIMESTAMPTZ, _load_id VARCHAR)"
    )


def _identical(
    con: duckdb.DuckDBPyConnection, dataset: str, ids: list[str], view: str, n_new: int
) -> bool:
    """Whether the new vintage (the registered Arrow table) has exactly the current cells."""
    if not _exists(con, dataset):
        return False  # first load
    current = _table(dataset)
    new = [f"CAST({_q(i)} AS VARCHAR)" for i in ids]
    new += ["CAST(value AS DOUBLE)", "CAST(status AS VARCHAR)"]
    old = [*map(_q, ids), "value", "status"]
    # Cheap filter first (two scans, no join): row count and an order-free sum of row hashes.
    # Different => changed for sure; equal => almost surely identical, confirmed exactly below.
    fingerprint = "SELECT count(*), sum(hash({})) FROM {}"  # noqa: S608 (quoted identifiers)
    old_fp = con.execute(fingerprint.format(", ".join(old), current)).fetchone()
    new_fp = con.execute(fingerprint.format(", ".join(new), _q(view))).fetchone()
    if old_fp is None or new_fp is None:  # an aggregate always returns one row
        raise RuntimeError(f"raw.{dataset}: the fingerprint query returned no row")
    if old_fp != new_fp or old_fp[0] != n_new:
        return False
    # Exact: no current cell lacks an identical new cell (NULL matches NULL), same count.
    same = " AND ".join(
        [f"o.{_q(i)} = n.{_q(i)}" for i in ids]
        + ["o.value IS NOT DISTINCT FROM n.value", "o.status IS NOT DISTINCT FROM n.status"]
    )
    cols = ", ".join(f"{e} AS {c}" for e, c in zip(new, old, strict=True))
    missing = _scalar(
        con,
        f"SELECT count(*) FROM {current} AS o ANTI JOIN "  # noqa: S608
        f"(SELECT {cols} FROM {_q(view)}) AS n ON {same}",
    )
    return missing == 0


def _revise(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    ids: list[str],
    updated: datetime | None,
    now: datetime,
    load_id: str,
) -> int:
    """Copy current cells that the staged vintage changes or drops into revisions; the count."""
    if not _exists(con, dataset):
        return 0  # first load: nothing to revise
    current, revisions = _table(dataset), _table(f"{dataset}__revisions")
    cols = ", ".join(_q(i) for i in ids)
    same_cell = " AND ".join(f"o.{_q(i)} = c.{_q(i)}" for i in ids)
    # EXCEPT compares NULLs as equal (a missing value that stays missing is no revision) and is
    # a single hash pass; cells are unique per vintage, so a semi join on the dimensions is exact.
    # (Table against table: faster here than against the Arrow view, whose strings are rehashed.)
    return _scalar(
        con,
        f"INSERT INTO {revisions} "  # noqa: S608
        f"WITH changed AS (SELECT {cols}, value, status FROM {current} "
        f"EXCEPT SELECT {cols}, value, status FROM {_table(_stage_name(dataset))}) "
        f"SELECT {', '.join(f'o.{_q(i)}' for i in ids)}, o.value, o.status, o._source_updated, "
        "CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ), CAST(? AS VARCHAR) "
        f"FROM {current} AS o SEMI JOIN changed AS c ON {same_cell}",
        [now, updated, load_id],
    )


def _replace_current(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
    """Rename the staged vintage into `raw.<dataset>`, replacing the current one."""
    con.execute(f"DROP TABLE IF EXISTS {_table(dataset)}")
    con.execute(f"ALTER TABLE {_table(_stage_name(dataset))} RENAME TO {_q(dataset)}")


def _touch_source_updated(
    con: duckdb.DuckDBPyConnection, dataset: str, updated: datetime | None
) -> None:
    """Set `_source_updated` of the current vintage to the source's (new) `updated`."""
    con.execute(
        f"UPDATE {_table(dataset)} SET _source_updated = CAST(? AS TIMESTAMPTZ) "  # noqa: S608
        "WHERE _source_updated IS DISTINCT FROM CAST(? AS TIMESTAMPTZ)",
        [updated, updated],
    )


def _comment(
    con: duckdb.DuckDBPyConnection, dataset: str, meta: LoadMeta, label: str | None
) -> None:
    """Describe the table in the catalog; demo data says so."""
    title = meta.label or label
    text = (
        f"{'DEMO DATA (generated, not official statistics). ' if meta.is_demo else ''}"
        f"Current vintage of {dataset} from source table {meta.source_table}"
        f"{': ' + title if title else ''}. "
        "One row per cell; history in the __revisions table."
    )
    # COMMENT ON takes no bound parameters: keep an allow-list of characters, then quote.
    safe = "".join(c for c in text if c.isalnum() or c in " .,:;-_()/%+&")
    con.execute(f"COMMENT ON TABLE {_table(dataset)} IS '{safe}'")


def _write_labels(con: duckdb.DuckDBPyConnection, dataset: str, dims: list[Dimension]) -> None:
    """Replace this dataset's rows in `raw._labels`."""
    rows: dict[str, list] = {
        k: []
        for k in (
            "dimension_id",
            "dimension_label",
            "position",
            "code",
            "label",
            "unit",
            "decimals",
        )
    }
    for d in dims:
        for pos, (code, label) in enumerate(zip(d.codes, d.labels, strict=True)):
            unit = (d.units or {}).get(code) or {}
            decimals = unit.get("decimals")
            rows["dimension_id"].append(d.id)
            rows["dimension_label"].append(d.label)
            rows["position"].append(pos)
            rows["code"].append(code)
            rows["label"].append(label)
            # json-stat.org writes `label` (e.g. "thousands of persons"), PxWeb writes `base`.
            rows["unit"].append(unit.get("label") or unit.get("base"))
            rows["decimals"].append(decimals if isinstance(decimals, int) else None)
    con.execute("DELETE FROM raw._labels WHERE dataset = ?", [dataset])
    # One statement with list parameters (zipped by UNNEST): no per-row round trips.
    con.execute(
        "INSERT INTO raw._labels SELECT CAST(? AS VARCHAR), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), unnest(?::INTEGER[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), unnest(?::INTEGER[])",
        [dataset, *rows.values()],
    )


def _write_dataset_row(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    meta: LoadMeta,
    first: Dataset,
    updated: str | None,
) -> None:
    """Replace this dataset's row in `raw._datasets`."""
    con.execute("DELETE FROM raw._datasets WHERE dataset = ?", [dataset])
    con.execute(
        "INSERT INTO raw._datasets VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            dataset,
            meta.source_table,
            meta.label or first.label,
            meta.source or first.source,
            updated,
            meta.is_demo,
            "\n".join(first.note) if first.note else None,
        ],
    )


def _log(
    con: duckdb.DuckDBPyConnection,
    load_id: str,
    meta: LoadMeta,
    updated: datetime | None,
    rows: int,
    seconds: float,
    outcome: str,
    message: str | None,
) -> None:
    """Append one row to `raw._load_log` (`updated`: the vintage's instant, None when unknown)."""
    con.execute(
        _LOG,
        [
            load_id,
            meta.dataset,
            meta.source_table,
            meta.source_url,
            updated,
            meta.fetched_at,
            rows,
            meta.requests,
            meta.bytes,
            seconds,
            outcome,
            message,
        ],
    )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    """The single integer a statement returns (a count, or an INSERT's row count)."""
    row = con.execute(sql, params or []).fetchone()
    assert row is not None
    return int(row[0])


def _exists(con: duckdb.DuckDBPyConnection, dataset: str) -> bool:
    """Whether `raw.<dataset>` exists."""
    return has_table(con, "raw", dataset)


def _table(name: str) -> str:
    """A quoted `raw.<name>` reference."""
    return qualified("raw", name)


def _stage_name(dataset: str) -> str:
    """The staging table (in `raw`, uncommitted) holding the vintage being loaded."""
    return f"_stage_{dataset}"


def _new_load_id() -> str:
    """A sortable, unique load id: UTC time plus random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


class LoadWriteFailed(RuntimeError):
    """Writing the raw layer failed (a full disk, an I/O error); nothing of the load was kept.
    The message names what was being written and the destination file."""


@contextmanager
def _write_errors(what: str, db: Path | str | duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Turn an I/O failure of a write (DuckDB's IOException, an OSError such as ENOSPC) into one
    line naming `what` and the destination: DuckDB's own message names the file it was writing
    at the time (often the `.wal`), or none."""
    try:
        yield
    except (duckdb.IOException, OSError) as exc:
        where = "the open connection" if isinstance(db, duckdb.DuckDBPyConnection) else str(db)
        raise LoadWriteFailed(f"{what} {where} failed: {one_line(exc)}") from exc


@contextmanager
def _connect(
    db: Path | str | duckdb.DuckDBPyConnection, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Use a given connection as is, or open (and close) the file at `db`."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        yield db
        return
    path = Path(db)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()
