"""Parquet export of the marts, for BI tools and notebooks that prefer files to a DuckDB database.

`export_parquet(db, out_dir)` writes every table and view of schema `marts` to
`out_dir/<table>.parquet`. Each file is written to its own uniquely named temporary file in
`out_dir` and renamed into place, so a reader sees either the previous export or the new one,
never a half-written file, and several exports running at once (two publishes, a manual
`make export` beside the DAG) do not write through each other's temporary files.

Every file carries Parquet key-value metadata saying what it is, read from `marts.data_vintage`:
`cleantech.table` (the mart), `cleantech.is_demo` (`true` when the figures are the demo snapshot,
not official statistics), `cleantech.source_updated` (JSON object: dataset → the source's `updated`
of the vintage exported) and `cleantech.exported_at`. `cleantech export [--db DB] [--out DIR]`
runs it by hand.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from ingest.errors import one_line
from ingest.sql import qualified, quote_literal, relation_names
from ingest.tempfiles import make_temp

SCHEMA = "marts"
VINTAGE_TABLE = "data_vintage"
METADATA_PREFIX = "cleantech."


def mart_tables(con: object) -> list[str]:
    """The tables and views of schema `marts` in the connected database, sorted by name."""
    return relation_names(con, SCHEMA)


def vintage_metadata(con: Any, tables: list[str]) -> dict[str, str]:
    """The demo flag and source vintages from `marts.data_vintage` (empty if that mart is absent)."""
    if VINTAGE_TABLE not in tables:
        return {}
    rows = con.execute(
        f"select dataset, cast(source_updated as varchar), coalesce(is_demo, false) "  # noqa: S608
        f"from {qualified(SCHEMA, VINTAGE_TABLE)} order by dataset"
    ).fetchall()
    return {
        "is_demo": "true" if any(r[2] for r in rows) else "false",
        "source_updated": json.dumps({r[0]: r[1] for r in rows}, sort_keys=True),
    }


def export_parquet(db: Path, out_dir: Path) -> list[Path]:
    """Write every table in schema `marts` of `db` (opened read-only) to `out_dir/<table>.parquet`."""

    db, out_dir = Path(db), Path(out_dir)
    if not db.exists():
        raise FileNotFoundError(f"warehouse file not found: {db}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = mart_tables(con)
        if not tables:
            raise RuntimeError(
                f"{db}: schema {SCHEMA} has no tables; build the marts with dbt first"
            )
        common = vintage_metadata(con, tables)
        common["exported_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        for table in tables:
            target = out_dir / f"{table}.parquet"
            meta = {**common, "table": f"{SCHEMA}.{table}"}
            _write_one(con, table, target, meta)
            written.append(target)
    finally:
        con.close()
    return written


def _write_one(con: Any, table: str, target: Path, meta: dict[str, str]) -> None:
    """COPY one mart to a unique temporary file beside `target`, then rename it into place."""
    fd, tmp = make_temp(target, ".tmp")  # also removes what a killed writer left
    os.close(fd)
    kv = ", ".join(
        f"{quote_literal(METADATA_PREFIX + key)}: {quote_literal(value)}"
        for key, value in meta.items()
    )
    try:
        con.execute(
            f"COPY (SELECT * FROM {qualified(SCHEMA, table)}) TO {quote_literal(str(tmp))} "  # noqa: S608
            f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{kv}}})"
        )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the exports are meant to be shared
        os.replace(tmp, target)
    except OSError as exc:  # e.g. a full disk: name the export being written, not the temp
        reason = exc.strerror or str(exc)
        raise OSError(exc.errno, f"cannot write the export: {reason}", str(target)) from exc
    except Exception as exc:  # duckdb's IO errors (COPY onto a full disk)
        raise RuntimeError(f"cannot write the Parquet export {target}: {one_line(exc)}") from exc
    finally:
        tmp.unlink(missing_ok=True)  # gone after a successful rename; removed after a failure


def read_export_metadata(path: Path) -> dict[str, str]:
    """The `cleantech.*` key-value metadata of an exported Parquet file, without the prefix."""

    raw = pq.read_metadata(path).metadata or {}
    out = {}
    for key, value in raw.items():
        k = key.decode("utf-8")
        if k.startswith(METADATA_PREFIX):
            out[k.removeprefix(METADATA_PREFIX)] = value.decode("utf-8")
    return out
