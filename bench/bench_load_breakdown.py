"""Where parse + load time goes: the loader against bare DuckDB inserts of the same Arrow table.

    .venv/bin/python bench/bench_load_breakdown.py [--reps 3] [--no-write]

Runs after bench_parse_load.py (which generates the input). In one process, for the same parsed
Arrow table, it times `json.loads` (the floor), `parse` + `to_arrow`, bare
`CREATE TABLE AS SELECT`s into DuckDB (in memory; into a file with and without the load-metadata
columns; the loader's layout with generated constants; two layouts the raw-table contract does
not allow: codes as ENUM, codes as integer positions) and `ingest.load.load_dataset`. Wall and CPU seconds (all threads) per step, medians
of --reps fresh files. Writes docs/benchmarks/load_breakdown.md.

The question it answers: can *any* DuckDB-backed load of this schema reach "parse + load within
2x of json.loads"? Each row adds the parse time to the step and compares with 2x json.loads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_parse_load import DATA, _cpu, machine  # noqa: E402 (needs the path above)

from ingest import load  # noqa: E402
from ingest.jsonstat import parse  # noqa: E402
from ingest.sql import quote_ident  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "benchmarks" / "load_breakdown.md"
# The four load-metadata columns of the raw contract today, as constants.
META_NOW = (
    "'TAB1' as _source_table, TIMESTAMPTZ '2026-01-01' as _source_updated,"
    " now() as _loaded_at, '20261128T000000Z-0000' as _load_id"
)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - wall, _cpu() - cpu


def ctas(target: str, table, select: str, setup: str = "") -> None:
    """One CREATE TABLE AS SELECT of the registered Arrow table `a` into `target`."""
    con = duckdb.connect(target)
    if setup:
        con.execute(setup)
    con.register("a", table)
    con.execute(f"create table t as select {select} from a")  # noqa: S608 (quoted)
    con.close()


def generated(target: str, table: pa.Table, dims: list[str]) -> None:
    """The loader's layout: per-vintage constants as VIRTUAL generated columns, then INSERT."""
    con = duckdb.connect(target)
    con.register("a", table)
    cols = ", ".join(f"{quote_ident(c)} VARCHAR" for c in dims)
    con.execute(
        f"create table t ({cols}, value DOUBLE, status VARCHAR, "
        "_source_table VARCHAR GENERATED ALWAYS AS ('TAB1') VIRTUAL, _source_updated TIMESTAMPTZ, "
        "_loaded_at TIMESTAMPTZ GENERATED ALWAYS AS (TIMESTAMPTZ '2026-11-28 00:00:00+00') VIRTUAL, "
        "_load_id VARCHAR GENERATED ALWAYS AS ('20261128T000000Z-0000') VIRTUAL)"
    )
    select = ", ".join(f"{quote_ident(c)}::VARCHAR" for c in dims)
    con.execute(
        f"insert into t ({', '.join(map(quote_ident, dims))}, value, status, _source_updated) "  # noqa: S608
        f"select {select}, value, status, TIMESTAMPTZ '2026-01-01' from a"
    )
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"error: {DATA} not found: run bench/bench_parse_load.py first")
    body = DATA.read_bytes()
    load_before = os.getloadavg()

    dataset = parse(body)
    table = dataset.to_arrow()
    dims = dataset.ids
    codes = ", ".join(f"{quote_ident(c)}::VARCHAR as {quote_ident(c)}" for c in dims)
    contract = f"{codes}, value, status"
    enum_types = "; ".join(
        f"create type {quote_ident('e_' + c)} as enum "
        f"({', '.join(repr(v) for v in table[c].combine_chunks().dictionary.to_pylist())})"
        for c in dims
    )
    enums = ", ".join(
        f"{quote_ident(c)}::VARCHAR::{quote_ident('e_' + c)} as {quote_ident(c)}" for c in dims
    )
    # The dictionary indices are the category positions: the cube's coordinates as integers.
    positions = pa.table(
        {c: table[c].combine_chunks().indices for c in dims}
        | {"value": table["value"], "status": table["status"]}
    )

    def new_file(tmp: str, i: int) -> str:
        """A path for a fresh DuckDB file (each CTAS writes a new one)."""
        return f"{tmp}/{i}.duckdb"

    steps: list[tuple[str, Callable[[str, int], object]]] = [
        ("`json.loads` of the input (the floor)", lambda tmp, i: json.loads(body)),
        (
            "`parse` + `to_arrow` (the parse step of every row below)",
            lambda tmp, i: parse(body).to_arrow(),
        ),
        (
            "CTAS into an **in-memory** DuckDB: codes, value, status + the 4 metadata columns",
            lambda tmp, i: ctas(":memory:", table, f"{contract}, {META_NOW}"),
        ),
        (
            "CTAS into a new **file**: codes, value, status only (the contract's floor)",
            lambda tmp, i: ctas(new_file(tmp, i), table, contract),
        ),
        (
            "CTAS into a file: + the 4 metadata columns stored on every row (the loader until now)",
            lambda tmp, i: ctas(new_file(tmp, i), table, f"{contract}, {META_NOW}"),
        ),
        (
            "CREATE + INSERT into a file: + the metadata, 3 of them as VIRTUAL generated "
            "constants (the loader's layout)",
            lambda tmp, i: generated(new_file(tmp, i), table, dims),
        ),
        (
            "CTAS into a file: codes as ENUM, no metadata (outside the contract)",
            lambda tmp, i: ctas(new_file(tmp, i), table, f"{enums}, value, status", enum_types),
        ),
        (
            "CTAS into a file: codes as integer positions, no metadata (outside the contract)",
            lambda tmp, i: ctas(new_file(tmp, i), positions, "*"),
        ),
        (
            "`ingest.load.load_dataset` into a new file (the loader: + revisions check, labels, log)",
            lambda tmp, i: load.load_dataset(
                Path(tmp) / f"{i}.duckdb",
                "big",
                [dataset],
                load.LoadMeta(
                    dataset="big",
                    source_table="TAB1",
                    source_url=None,
                    source_updated="2026-01-01T00:00:00Z",
                    fetched_at=datetime.now(UTC),
                ),
            ),
        ),
    ]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in steps}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for k, (name, fn) in enumerate(steps):
                samples[name].append(timed(lambda fn=fn, i=rep * 100 + k: fn(tmp, i)))
                print(f"rep {rep + 1}/{args.reps}: {name[:60]}", file=sys.stderr, flush=True)
    load_after = os.getloadavg()

    med = {
        n: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
        for n, s in samples.items()
    }
    floor_wall, floor_cpu = med[steps[0][0]]
    parse_wall, parse_cpu = med[steps[1][0]]
    lines = [
        "| step | wall s | CPU s | parse + step, wall s | x json.loads | "
        "lower bound on 2 cores: (parse + step CPU) / 2, x json.loads |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, (name, _) in enumerate(steps):
        wall, cpu = med[name]
        if k < 2:
            lines.append(f"| {name} | {wall:.3f} | {cpu:.3f} | | {wall / floor_wall:.2f} | |")
            continue
        total = parse_wall + wall
        bound = (parse_cpu + cpu) / 2
        lines.append(
            f"| {name} | {wall:.3f} | {cpu:.3f} | {total:.3f} | {total / floor_wall:.2f} "
            f"| {bound / floor_wall:.2f} |"
        )
    table_md = "\n".join(lines)
    print(table_md)
    if args.no_write:
        return
    REPORT.write_text(
        "# Benchmark: where the parse + load time goes\n\n"
        f"Command: `.venv/bin/python bench/bench_load_breakdown.py --reps {args.reps}`  \n"
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  \n"
        f"Machine: {machine()}  \n"
        f"Load average (1/5/15 min) before the run: "
        f"{' / '.join(f'{x:.1f}' for x in load_before)}, after: "
        f"{' / '.join(f'{x:.1f}' for x in load_after)}\n\n"
        f"Input: the same `bench/.data/{DATA.name}` ({table.num_rows:,} cells, "
        f"{len(body) / 1e6:.1f} MB). One process, steps taken in turn, medians of {args.reps}; "
        "each CTAS writes a fresh file; *CPU s* counts all threads (DuckDB uses two).\n\n"
        f"{table_md}\n\n"
        "Reading it: the last column is a lower bound that even perfect overlap of parsing and "
        'DuckDB\'s two threads could not beat. "Parse + load within 2x of json.loads" needs the '
        "wall column <= 2.00; a row whose lower bound is near or above 2 cannot get there by "
        "engineering the loader. The contract's floor row (no metadata at all, bare CTAS) is the "
        "best any loader of this schema can do on this machine.\n",
        encoding="utf-8",
    )
    print(f"wrote {REPORT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
