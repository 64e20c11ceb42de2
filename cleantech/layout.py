"""Where the warehouse and its staging copy, reports and exports live (env vars override).

The source catalog is located by `ingest.catalog.catalog_path`, the demo snapshot by
`pxweb_demo.paths.demo_snapshot_dir`."""

from __future__ import annotations

import os
from pathlib import Path

# The repository root: the package is installed editable (uv sync), so this is the checkout.
REPO_ROOT = Path(__file__).resolve().parents[1]


def published_path() -> Path:
    """The published warehouse file analysts read (`CLEANTECH_WAREHOUSE` overrides)."""
    env = os.environ.get("CLEANTECH_WAREHOUSE")
    return Path(env) if env else REPO_ROOT / "warehouse" / "cleantech.duckdb"


def warehouse_dir() -> Path:
    """The folder beside the published file: staging copy, reports, Parquet exports."""
    return published_path().parent


def report_html_path(published: Path | None = None) -> Path:
    """The HTML report written beside a published warehouse (default: the configured one)."""
    return (published or published_path()).parent / "report.html"


def parquet_dir(published: Path | None = None) -> Path:
    """The folder of Parquet exports beside a published warehouse (default: the configured one)."""
    return (published or published_path()).parent / "parquet"


def staging_path(published: Path | None = None) -> Path:
    """The staging build that loads and dbt write before the audit, beside `published` (default:
    the published warehouse); `CLEANTECH_STAGING` overrides."""
    env = os.environ.get("CLEANTECH_STAGING")
    if env:
        return Path(env)
    published = published or published_path()
    return published.parent / "staging" / published.name
