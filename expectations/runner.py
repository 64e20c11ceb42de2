"""The quality gate's entry point: `run_gate` validates the versioned suites on a warehouse file.

The gate in four parts, one module each: `suites` (the YAML files and their catalog
placeholders), `derived` (checks that compare rows with each other), `validate` (pandas batches
read from a read-only DuckDB connection, validated in one ephemeral GX context that writes Data
Docs) and `summary_html` (the one-page verdict); `results` holds `GateResult`. This module runs
them in order and writes the report directory: `index.html` (Data Docs), `summary.html`,
`gate_result.json`. `GateResult`, `ExpectationOutcome`, `SuiteError` and `load_suites` are
re-exported so callers keep importing them from here.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb

from expectations.results import ExpectationOutcome, GateResult
from expectations.suites import SUITES_DIR, SuiteError, load_suites
from expectations.summary_html import summary_html

__all__ = [
    "SUITES_DIR",
    "ExpectationOutcome",
    "GateResult",
    "SuiteError",
    "load_suites",
    "run_gate",
]


def _clear_report_dir(report_dir: Path) -> None:
    """Remove the previous run's Data Docs and JSON, so the report is this run's only."""
    for name in ("index.html", "static", "expectations", "validations", "gate_result.json"):
        p = report_dir / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


def run_gate(
    db: Path, *, report_dir: Path, catalog: Any = None, suites_dir: Path = SUITES_DIR
) -> GateResult:
    """Validate every suite against `db` (opened read-only) and write Data Docs under `report_dir`."""
    start = time.monotonic()
    suites = load_suites(catalog, suites_dir)
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    _clear_report_dir(report_dir)
    # Great Expectations (4-6 s) and pandas (0.8-1.0 s; `python -X importtime`, 2026-12) load only
    # when a gate runs: every `cleantech` command and the transform DAG file import this module
    # through cleantech.core.pipeline, and only the gate needs them.
    from expectations import validate

    con = duckdb.connect(str(db), read_only=True)
    try:
        outcomes = validate.validate_suites(con, suites, report_dir)
    except OSError as exc:  # Data Docs on a full disk: name the folder, not just the errno
        with contextlib.suppress(OSError):
            _clear_report_dir(report_dir)  # no half-built Data Docs left to be read as a report
        raise _report_failed(report_dir, exc) from exc
    finally:
        con.close()

    index = report_dir / "index.html"
    result = GateResult(
        results=outcomes,
        report_index=index if index.exists() else None,
        suites=[s["suite"] for s in suites],
        seconds=time.monotonic() - start,
    )
    for name, text in (
        ("gate_result.json", json.dumps(result.to_dict(), indent=2, default=str)),
        ("summary.html", summary_html(result, db)),
    ):
        path = report_dir / name
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            path.unlink(missing_ok=True)  # no half-written verdict for a reader to trust
            raise _report_failed(path, exc) from exc
    return result


def _report_failed(path: Path, exc: OSError) -> OSError:
    """The OSError of a quality-report write, naming the file or folder being written."""
    return OSError(exc.errno, f"cannot write the quality report: {exc.strerror or exc}", str(path))
