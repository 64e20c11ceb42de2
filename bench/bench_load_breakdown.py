"""Where parse + load time goes: the loader against bare DuckDB inserts of the same Arrow table.

    .venv/bin/python bench/bench_load_breakdown.py   (after bench_parse_load.py made the input)

Prints seconds for: parse + to_arrow; CREATE TABLE AS SELECT into an in-memory DuckDB; the same
into a new file without and with the four load-metadata columns; and `ingest.load.load_dataset`.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ingest import load
from ingest.jsonstat import parse
from ingest.sql import quote_ident

INPUT = Path(__file__).resolve().parent / ".data" / "scb_like_1m.json"
META_COLUMNS = (
    ", 'TAB1' as _source_table, TIMESTAMPTZ '2026-01-01' as _source_updated,"
    " now() as _loaded_at, '20261128T000000Z-0000' as _load_id"
)


def ctas(target: str, table, with_meta: bool) -> float:
    """Seconds for one CREATE TABLE AS SELECT of the Arrow table into `target`."""
    started = time.perf_counter()
    con = duckdb.connect(target)
    con.register("arrow_input", table)
    cols = ", ".join(
        f"{quote_ident(c)}::VARCHAR as {quote_ident(c)}"
        if c not in ("value", "status")
        else quote_ident(c)
        for c in table.column_names
    )
    extra = META_COLUMNS if with_meta else ""
    con.execute(f"create table t as select {cols} {extra} from arrow_input")  # noqa: S608 (quoted)
    con.close()
    return time.perf_counter() - started


def main() -> None:
    if not INPUT.exists():
        raise SystemExit(f"error: {INPUT} not found: run bench/bench_parse_load.py first")
    body = INPUT.read_bytes()
    started = time.perf_counter()
    dataset = parse(body)
    table = dataset.to_arrow()
    rows = [("parse + to_arrow", time.perf_counter() - started)]
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            ("CTAS into an in-memory DuckDB (contract columns)", ctas(":memory:", table, True))
        )
        rows.append(
            (
                "CTAS into a new file, no load-metadata columns",
                ctas(f"{tmp}/a.duckdb", table, False),
            )
        )
        rows.append(
            ("CTAS into a new file, with them (the contract)", ctas(f"{tmp}/b.duckdb", table, True))
        )
        meta = load.LoadMeta(
            dataset="big",
            source_table="TAB1",
            source_url=None,
            source_updated="2026-01-01T00:00:00Z",
            fetched_at=datetime.now(UTC),
        )
        started = time.perf_counter()
        load.load_dataset(Path(tmp) / "c.duckdb", "big", [dataset], meta)
        rows.append(("ingest.load.load_dataset into a new file", time.perf_counter() - started))
    print(f"| step ({table.num_rows:,} rows) | seconds |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
