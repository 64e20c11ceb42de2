"""Parquet export of the marts, for BI tools and notebooks that prefer files to a DuckDB database.

`export_parquet(db, out_dir)` writes every table and view of schema `marts` to
`out_dir/<table>.parquet`. Each file is written to a temporary name and renamed into place, so a
reader sees either the previous export or the new one, never a half-written file.
`python -m ingest.export [DB] [OUT_DIR]` runs it by hand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SCHEMA = "marts"


def mart_tables(con: object) -> list[str]:
    """The tables and views of schema `marts` in the connected database, sorted by name."""
    rows = con.execute(  # type: ignore[attr-defined]
        "select table_name from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? order by table_name",
        [SCHEMA],
    ).fetchall()
    return [r[0] for r in rows]


def export_parquet(db: Path, out_dir: Path) -> list[Path]:
    """Write every table in schema `marts` of `db` (opened read-only) to `out_dir/<table>.parquet`."""
    import duckdb

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
        for table in tables:
            target = out_dir / f"{table}.parquet"
            tmp = out_dir / f".{table}.parquet.tmp"
            try:
                con.table(f"{SCHEMA}.{_quote(table)}").write_parquet(str(tmp), compression="zstd")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(target)
    finally:
        con.close()
    return written


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def main(argv: list[str] | None = None) -> int:
    """`python -m ingest.export [DB] [OUT_DIR]`: defaults to the published warehouse and parquet/ beside it."""
    from ingest.paths import published_path, warehouse_dir

    args = sys.argv[1:] if argv is None else argv
    db = Path(args[0]) if args else published_path()
    out = Path(args[1]) if len(args) > 1 else warehouse_dir() / "parquet"
    try:
        paths = export_parquet(db, out)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
