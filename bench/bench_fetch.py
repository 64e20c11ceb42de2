"""Benchmark: fetch a table that needs ≥30 requests from the local PxWeb server at SCB's rate limit.

The bound a client cannot beat is set by the limit: calls ÷ calls-per-window × window. We measure
the whole fetch (config, table lookup, metadata and every data request all count against the
window, as at SCB) and compare the wall time with that bound, for 4 worker threads and for 1.

    .venv/bin/python bench/bench_fetch.py [--calls-per-window 30] [--window 10] [--max-cells 1000]

The demo population table (TAB638: 22 regions × 4 marital statuses × 7 age bands × 2 sexes ×
2 contents × 25 years = 61,600 cells) is fetched whole; the server's cell limit is lowered so the
planner must split it into ≥30 requests while the rate limit stays SCB's 30 calls per 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

from ingest.pxweb.client import PxWebClient
from pxweb_demo.server import start_server

REPO = Path(__file__).resolve().parents[1]
TABLE = "TAB638"
SELECTION = {
    "Region": "*",
    "Civilstand": "*",
    "Alder": "*",
    "Kon": "*",
    "ContentsCode": "*",
    "Tid": "*",
}


def run(workers: int, args: argparse.Namespace) -> dict:
    """One timed fetch on a fresh server (a fresh rate window)."""
    with start_server(
        port=0, max_cells=args.max_cells, max_calls=args.calls_per_window, time_window=args.window
    ) as server:
        started = time.monotonic()
        with PxWebClient(server.base_url_v2, max_workers=workers) as client:
            plan = client.plan(TABLE, SELECTION)
            cells = sum(_cells(p.body) for p in client.fetch_plan(plan))
            stats = client.stats
        seconds = time.monotonic() - started
        log = [r for r in server.request_log if r.get("api")]
        refused = sum(1 for r in log if r["status"] == 429)
        starts = sorted(r["t"] for r in log)
        busiest = (
            max(sum(1 for t in starts if s <= t < s + args.window) for s in starts) if starts else 0
        )
    calls = stats.requests
    bound = calls / args.calls_per_window * args.window
    return {
        "workers": workers,
        "data_requests": len(plan.requests),
        "calls": calls,
        "cells": cells,
        "seconds": seconds,
        "bound": bound,
        "ratio": seconds / bound,
        "refused_429": refused,
        "busiest_window": busiest,
    }


def _cells(body: bytes) -> int:
    import orjson

    value = orjson.loads(body)["value"]
    return len(value)


def machine() -> str:
    """nproc, CPU model and RAM of this machine, for the report."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return f"{os.cpu_count()} CPUs, {cpu}, {mem_kb / 2**20:.1f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls-per-window", type=int, default=30)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--max-cells", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "fetch.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = [run(4, args), run(1, args)]
    lines = [
        "# Benchmark: a rate-limited split fetch from the local PxWeb server",
        "",
        "Command: `.venv/bin/python bench/bench_fetch.py`  ",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {machine()}",
        "",
        f"Server: the demo TAB638 (61,600 cells) fetched whole; rate limit {args.calls_per_window} "
        f"calls / {args.window:g} s (SCB's), cell limit lowered to {args.max_cells} so the planner "
        "must split it. *Bound* = HTTP calls ÷ calls per window × window; every call (config, "
        "table, metadata, data) counts against the window, as at SCB. Target: within 1.15× of the bound.",
        "",
        "| workers | data requests | HTTP calls | cells | seconds | bound (s) | ratio | 429s | max calls in any window |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['data_requests']} | {r['calls']} | {r['cells']} | "
            f"{r['seconds']:.2f} | {r['bound']:.2f} | {r['ratio']:.3f} | {r['refused_429']} | "
            f"{r['busiest_window']} |"
        )
    worst = max(r["ratio"] for r in rows)
    lines += [
        "",
        f"Target {'met' if worst <= 1.15 else 'NOT met'}: worst ratio {worst:.3f}. The ratio can be "
        "below 1 because a sliding window lets the first window's calls start at once; with "
        "requests this small the limit, not the worker count, sets the pace, so 1 and 4 workers "
        "take the same time, and no request was ever refused.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
