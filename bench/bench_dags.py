"""Benchmark: DAG file parse time (each file, cold) and the end-to-end `make run` through Airflow.

Usage: .venv/bin/python bench/bench_dags.py [--reps 5] [--no-run] [--no-write]

Parse time: for each file in dags/, `--reps` fresh interpreters each import `airflow.sdk` (what
the DAG processor has loaded already), then time `runpy.run_path(file)` — the file's own cost,
cold (first import of the `ingest` helpers it uses). Also reported: the whole fresh-interpreter
time, and `DagBag` on the folder. End to end: `scripts/airflow_run.sh` (what `make run` calls) on a
fresh SQLite metadata DB and an empty warehouse in a temporary folder, then once more with nothing
changed at the source. Writes the markdown table to docs/benchmarks/dags.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
REPORT = ROOT / "docs" / "benchmarks" / "dags.md"
PY = sys.executable

PARSE_ONE = """
import json, runpy, sys, time
t0 = time.perf_counter()
import airflow.sdk  # noqa: F401  (loaded in the DAG processor already)
t1 = time.perf_counter()
ns = runpy.run_path(sys.argv[1])
t2 = time.perf_counter()
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'dbt', 'great_expectations', 'pandas', 'duckdb', 'pyarrow'})
print(json.dumps({"airflow_import": t1 - t0, "file": t2 - t1, "heavy": heavy}))
"""

DAGBAG = """
import json, sys, time
import airflow.sdk  # noqa: F401
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
t1 = time.perf_counter()
stats = [{"file": s.file, "duration": s.duration.total_seconds(), "dags": s.dag_num, "tasks": s.task_num}
         for s in bag.dagbag_stats]
print(json.dumps({"total": t1 - t0, "errors": len(bag.import_errors), "stats": stats}))
"""


def airflow_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def bench_parse(reps: int, env: dict[str, str]) -> tuple[list[dict], dict]:
    rows = []
    for path in sorted(DAGS.glob("*.py")):
        file_s, total_s, heavy = [], [], set()
        for _ in range(reps):
            started = time.perf_counter()
            out = subprocess.run(
                [PY, "-c", PARSE_ONE, str(path)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            total_s.append(time.perf_counter() - started)
            doc = json.loads(out.stdout.strip().splitlines()[-1])
            file_s.append(doc["file"])
            heavy |= set(doc["heavy"])
        rows.append(
            {
                "file": path.name,
                "file_median": statistics.median(file_s),
                "file_min": min(file_s),
                "total_median": statistics.median(total_s),
                "heavy": sorted(heavy),
            }
        )
    out = subprocess.run(
        [PY, "-c", DAGBAG, str(DAGS)], env=env, capture_output=True, text=True, check=True
    )
    return rows, json.loads(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_run(tmp: Path) -> list[dict]:
    """`scripts/airflow_run.sh` twice on a fresh Airflow DB and warehouse: cold, then unchanged."""
    env = {
        **airflow_env(tmp / "airflow"),
        "CLEANTECH_WAREHOUSE": str(tmp / "warehouse" / "cleantech.duckdb"),
        "CLEANTECH_SOURCE": "demo",
    }
    env.pop("CLEANTECH_STAGING", None)
    env.pop("PXWEB_BASE_URL", None)
    results = []
    for label in ("first run (fresh DB, empty warehouse)", "second run (nothing changed)"):
        started = time.perf_counter()
        proc = subprocess.run(
            ["bash", "scripts/airflow_run.sh", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(
                f"airflow_run.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        dags = {
            m.group(1): float(m.group(2))
            for m in re.finditer(r"^\s+(cleantech_\w+)\s+\w+\s+([\d.]+) s", proc.stdout, re.M)
        }
        outcome = re.search(r"^outcome: (.*)$", proc.stdout, re.M)
        results.append(
            {
                "label": label,
                "seconds": seconds,
                "dags": dags,
                "outcome": outcome.group(1) if outcome else "?",
            }
        )
    return results


def render(parse_rows, dagbag, runs, reps: int) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Benchmark: Airflow DAGs",
        "",
        f"Run `{' '.join(['.venv/bin/python', 'bench/bench_dags.py', *sys.argv[1:]])}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({cpu}), load average {os.getloadavg()[0]:.1f} at the end "
        "(other work shares this machine: treat absolute numbers as upper bounds).",
        "",
        "## DAG file parse time (cold)",
        "",
        f"Each file in a fresh interpreter ({reps} times, median): `import airflow.sdk` first (the "
        "DAG processor has it loaded), then `runpy.run_path(file)` timed alone. "
        '"whole process" is the fresh interpreter\'s wall time including Python and Airflow '
        "start-up. Heavy modules (dbt, great_expectations, pandas, duckdb, pyarrow) imported by the "
        "file: none allowed.",
        "",
        "| file | parse (median) | parse (min) | whole process (median) | heavy imports |",
        "|---|---:|---:|---:|---|",
    ]
    for r in parse_rows:
        lines.append(
            f"| `dags/{r['file']}` | {r['file_median'] * 1000:.0f} ms | {r['file_min'] * 1000:.0f} ms "
            f"| {r['total_median']:.2f} s | {', '.join(r['heavy']) or 'none'} |"
        )
    lines += [
        "",
        f"`DagBag(dag_folder='dags')`: {dagbag['total']:.2f} s for the folder, "
        f"{dagbag['errors']} import errors; per file (DagBag's own stats): "
        + ", ".join(
            f"`{Path(s['file']).name}` {s['duration'] * 1000:.0f} ms ({s['dags']} DAG, {s['tasks']} tasks)"
            for s in dagbag["stats"]
        )
        + ".",
        "",
    ]
    if runs:
        lines += [
            "## End to end: `make run` through Airflow",
            "",
            "`scripts/airflow_run.sh` (what `make run` calls, venv already installed) in a temporary "
            "folder: `airflow db migrate` on a new SQLite DB, the local PxWeb server, then "
            "`cleantech_ingest` → `cleantech_transform` → `cleantech_report` with `dag.test()`; "
            "then the same again with nothing changed at the source (every table `unchanged`: "
            "metadata requests only, the transform stops at `plan`, no report).",
            "",
            "| run | wall time | ingest DAG | transform DAG | report DAG | outcome |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for r in runs:
            cells = [
                f"{r['dags'][k]:.1f} s" if k in r["dags"] else "—"
                for k in ("cleantech_ingest", "cleantech_transform", "cleantech_report")
            ]
            lines.append(
                f"| {r['label']} | {r['seconds']:.1f} s | {' | '.join(cells)} | {r['outcome']} |"
            )
        lines += [
            "",
            "The DAG times include `dag.test()`'s own overhead: syncing the DAG folder to the "
            "metadata DB and starting the in-process execution API before the first task. Inside "
            "the transform, `dbt build` and the Great Expectations gate dominate (see "
            "docs/benchmarks/dbt.md).",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-run", action="store_true", help="skip the end-to-end run")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {REPORT}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(
        prefix="bench-dags-", dir=ROOT / ".airflow" if (ROOT / ".airflow").is_dir() else None
    ) as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "parse-home"
        home.mkdir()
        parse_rows, dagbag = bench_parse(args.reps, airflow_env(home))
        runs = [] if args.no_run else bench_run(tmp_path)
    text = render(parse_rows, dagbag, runs, args.reps)
    print(text)
    if not args.no_write:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(text, encoding="utf-8")
        print(f"\nwritten to {REPORT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
