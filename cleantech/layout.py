"""One place for the application's paths: everything is derived from the published warehouse file.

`Layout(published)` names every file beside it (staging build, writer lock, run log, quality
report, HTML report, Parquet folder, the `.next` copy publish swaps in, the Airflow per-run files);
`Layout.current()` starts from `CLEANTECH_WAREHOUSE` (default `warehouse/cleantech.duckdb`). The
module-level helpers below are the same rules for callers that have only a path in hand.

The source catalog is located by `ingest.catalog.catalog_path`, the demo snapshot by
`pxweb_demo.paths.demo_snapshot_dir`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# The repository root: the package is installed editable (uv sync), so this is the checkout.
REPO_ROOT = Path(__file__).resolve().parents[1]


def published_path() -> Path:
    """The published warehouse file analysts read (`CLEANTECH_WAREHOUSE` overrides)."""
    env = os.environ.get("CLEANTECH_WAREHOUSE")
    return Path(env) if env else REPO_ROOT / "warehouse" / "cleantech.duckdb"


def safe_name(run_id: str) -> str:
    """A run id as a file-name part (`scheduled__2025-01-01T02:00:00+00:00` → `scheduled__2025-01-01T02-00-00-00-00`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-.") or "run"


def wal_path(db: Path) -> Path:
    """DuckDB's write-ahead log beside a database file."""
    return db.with_name(db.name + ".wal")


def dbt_artifacts_dir(db: Path) -> Path:
    """The folder holding dbt's target/ and logs/ for one warehouse file (beside the file)."""
    db = Path(db).resolve()
    return db.parent / f".{db.name}.dbt"


@dataclass(frozen=True)
class Layout:
    """The files of one published warehouse (all beside it, on the same filesystem)."""

    published: Path

    @classmethod
    def current(cls) -> Layout:
        """The configured warehouse (`CLEANTECH_WAREHOUSE`)."""
        return cls(published_path())

    @property
    def folder(self) -> Path:
        """The folder beside the published file: staging copy, reports, Parquet exports."""
        return self.published.parent

    @property
    def staging(self) -> Path:
        """The staging build that loads and dbt write before the audit (`CLEANTECH_STAGING`
        overrides)."""
        env = os.environ.get("CLEANTECH_STAGING")
        return Path(env) if env else self.folder / "staging" / self.published.name

    @property
    def lock(self) -> Path:
        """The writer lock file (`cleantech.duckdb` → `cleantech.duckdb.lock`)."""
        return self.published.with_name(self.published.name + ".lock")

    @property
    def run_log(self) -> Path:
        """The JSON-lines run log (`cleantech.runs.jsonl`)."""
        return self.published.with_name(self.published.stem + ".runs.jsonl")

    @property
    def quality_dir(self) -> Path:
        """Where the quality report (GX Data Docs, gate_result.json) of each run is written."""
        return self.folder / "quality"

    @property
    def report_html(self) -> Path:
        """The HTML report written beside the published file."""
        return self.folder / "report.html"

    @property
    def parquet_dir(self) -> Path:
        """The folder of Parquet exports of the marts."""
        return self.folder / "parquet"

    @property
    def next_file(self) -> Path:
        """The hidden copy that publish swaps into place (same filesystem)."""
        return self.published.with_name(f".{self.published.name}.next")

    @property
    def airflow_runs_dir(self) -> Path:
        """Where the DAGs keep their per-run staging and build files (beside the staging file)."""
        return self.staging.parent / "airflow"

    def airflow_ingest_staging(self, run_id: str) -> Path:
        """The staging file one ingest DAG run writes (a fresh copy of the published warehouse)."""
        return self.airflow_runs_dir / f"ingest-{safe_name(run_id)}.duckdb"

    def airflow_build(self, run_id: str) -> Path:
        """The file one transform DAG run builds, audits and publishes."""
        return self.airflow_runs_dir / f"build-{safe_name(run_id)}.duckdb"


def warehouse_dir() -> Path:
    """The folder beside the configured published file."""
    return Layout.current().folder


def report_html_path(published: Path | None = None) -> Path:
    """The HTML report beside a published warehouse (default: the configured one)."""
    return Layout(published or published_path()).report_html


def parquet_dir(published: Path | None = None) -> Path:
    """The Parquet folder beside a published warehouse (default: the configured one)."""
    return Layout(published or published_path()).parquet_dir


def staging_path(published: Path | None = None) -> Path:
    """The staging build beside `published` (default: the configured one); `CLEANTECH_STAGING`
    overrides."""
    return Layout(published or published_path()).staging
