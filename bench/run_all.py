"""Run every benchmark in bench/ and assemble docs/BENCHMARKS.md from their reports.

    .venv/bin/python bench/run_all.py [--only fetch,dbt]

Each bench_*.py writes docs/benchmarks/<name>.md with its command, machine, date and the
comparison measured in the same run; this script runs them one after another (never in parallel,
so they don't disturb each other) and concatenates the reports.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "docs" / "benchmarks"
# Order of the sections in docs/BENCHMARKS.md: script name → report file.
BENCHES = {
    "parse_load": "parse_load.md",
    "load_breakdown": "load_breakdown.md",
    "fetch": "fetch.md",
    "dbt": "dbt.md",
    "dags": "dags.md",
}


def assemble() -> Path:
    """Write docs/BENCHMARKS.md from the per-benchmark reports that exist."""
    parts = [
        "# Benchmarks",
        "",
        "Reproduce everything with `make bench` (or one with `.venv/bin/python bench/bench_<name>.py`).",
        "Each section below is written by its script: the command, the machine, the date and the",
        "comparison measured in the same run. Machines here are shared 2-core boxes: compare numbers",
        "within a section, not across sections.",
        "",
    ]
    for name, report in BENCHES.items():
        path = REPORTS / report
        if path.exists():
            text = path.read_text(encoding="utf-8").strip()
            # Demote every heading of the report one level, under this page's title.
            parts += [re.sub(r"^(#+ )", r"#\1", text, flags=re.MULTILINE), ""]
        else:
            parts += [
                f"## {name}",
                "",
                f"Not run yet: `.venv/bin/python bench/bench_{name}.py`.",
                "",
            ]
    out = REPO / "docs" / "BENCHMARKS.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHES))
    parser.add_argument("--assemble-only", action="store_true", help="only rebuild BENCHMARKS.md")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHES)
    if not args.assemble_only:
        for name in names:
            if name not in BENCHES:
                print(f"error: unknown benchmark {name!r}", file=sys.stderr)
                return 2
            print(f"== bench_{name}.py", flush=True)
            done = subprocess.run(
                [sys.executable, str(REPO / "bench" / f"bench_{name}.py")], cwd=REPO
            )
            if done.returncode != 0:
                print(f"error: bench_{name}.py failed (exit {done.returncode})", file=sys.stderr)
                return done.returncode
    print(f"wrote {assemble()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
