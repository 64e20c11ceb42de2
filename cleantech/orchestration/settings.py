"""What the Airflow DAGs share: asset and pool names, owner/tags/schedule, settings from env.

Nothing here imports Airflow, dbt, Great Expectations or pandas at import time: the DAG processor
imports this module every time it parses a DAG file (tests/cleantech/test_import_rules.py). The
imports inside functions are measured (`python -X importtime`): `cleantech.core.pipeline` with
duckdb and the gate 0.8 s, yaml 0.06 s, Airflow's models 2.6 s; this module itself imports in 24 ms.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# One slot: every task that writes a DuckDB file (ingest, dbt build, the gate's audit, publish)
# takes it, so there is one writer at a time across all DAGs and runs (DESIGN decision 5).
WRITER_POOL = "duckdb_writer"
WRITER_POOL_DESCRIPTION = "One writer at a time for the staging and published DuckDB files"

# Asset names (contract for downstream DAGs: `schedule=[Asset("warehouse")]`).
SOURCES_ASSET = "pxweb_sources"  # updated by the watcher when a source table's `updated` moves
WAREHOUSE_ASSET = "warehouse"  # updated by the transform DAG after a successful publish
RAW_ALIAS = "raw_tables"  # the ingest tasks emit `raw.<dataset>` events through this alias

OWNER = "data-platform"
TAGS_INGEST = ["cleantech", "ingest", "pxweb"]
TAGS_TRANSFORM = ["cleantech", "dbt", "quality", "publish"]
TAGS_REPORT = ["cleantech", "report"]

NIGHTLY_CRON = "0 2 * * *"
NIGHTLY_TZ = "Europe/Stockholm"


def raw_asset_name(dataset: str) -> str:
    """The asset name of a dataset's raw table (`raw.<dataset>`)."""
    return f"raw.{dataset}"


def default_source() -> str:
    """The catalog source the DAGs load from: env `CLEANTECH_SOURCE` (default `demo`)."""
    return os.environ.get("CLEANTECH_SOURCE", "demo")


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment, `default` when unset or not a number."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def ingest_retries() -> int:
    """Retries per ingest task (env `CLEANTECH_INGEST_RETRIES`, default 3)."""
    return max(0, env_int("CLEANTECH_INGEST_RETRIES", 3))


def retry_delay() -> timedelta:
    """First retry delay; doubles on each retry (env `CLEANTECH_RETRY_DELAY_SECONDS`, default 60)."""
    return timedelta(seconds=max(1, env_int("CLEANTECH_RETRY_DELAY_SECONDS", 60)))


def dbt_timeout() -> timedelta:
    """The transform's `dbt_build` task is stopped (and recorded failed at dbt) after this long:
    env `CLEANTECH_DBT_TIMEOUT_SECONDS`, default 1800."""
    return timedelta(seconds=max(1, env_int("CLEANTECH_DBT_TIMEOUT_SECONDS", 1800)))


def transform_retries() -> int:
    """Retries of a transform task (a lost worker, a lock held too long; never a data-quality
    failure): env `CLEANTECH_TRANSFORM_RETRIES`, default 1 (publish: one more)."""
    return max(0, env_int("CLEANTECH_TRANSFORM_RETRIES", 1))


def transform_retry_delay() -> timedelta:
    """Delay before a transform task's retry (a lost worker is detected after the heartbeat
    timeout): env `CLEANTECH_TRANSFORM_RETRY_DELAY_SECONDS`, default 30."""
    return timedelta(seconds=max(1, env_int("CLEANTECH_TRANSFORM_RETRY_DELAY_SECONDS", 30)))


def client_options() -> dict[str, Any]:
    """PxWeb client settings for ingest tasks: env `CLEANTECH_HTTP_RETRIES` (retries per request)."""
    value = os.environ.get("CLEANTECH_HTTP_RETRIES", "").strip()
    return {"max_retries": max(0, int(value))} if value.isdigit() else {}


def watch_interval() -> float:
    """Seconds between two polls of the source tables (env `CLEANTECH_WATCH_INTERVAL`, default 900)."""
    return float(max(5, env_int("CLEANTECH_WATCH_INTERVAL", 900)))


@lru_cache(maxsize=8)
def _dataset_names(path: str, mtime: float) -> tuple[str, ...]:
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return tuple(str(name) for name in (raw.get("datasets") or {}))


def catalog_dataset_names() -> list[str]:
    """The dataset names in the catalog, read cheaply (no validation) for DAG-file parsing."""
    from ingest.catalog import catalog_path

    path = catalog_path()
    try:
        return list(_dataset_names(str(path), path.stat().st_mtime))
    except (OSError, ValueError, AttributeError) as exc:
        # A broken catalog must not break DAG parsing: the ingest task reports it properly.
        log.warning("cannot read dataset names from %s: %s", path, exc)
        return []
