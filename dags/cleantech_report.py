"""
### cleantech_report — the analysts' files, whenever the warehouse is published

Downstream work scheduled on the **`warehouse`** asset that `cleantech_transform` emits after each
successful publish. It reads the published file read-only and writes what the CLI pipeline writes
beside it: `report.html` (`cleantech.outputs.report.build_report`) and `parquet/<mart>.parquet`
(`cleantech.outputs.export.export_parquet`). It does not write DuckDB, so it does not take the
`duckdb_writer` pool. Your own DAGs can schedule on `Asset("warehouse")` the same way; the event's
`extra` holds the published path, the datasets loaded and the mart row counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task

from cleantech.orchestration import alerts, settings, tasks


@dag(
    dag_id="cleantech_report",
    schedule=[Asset(settings.WAREHOUSE_ASSET)],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=settings.TAGS_REPORT,
    default_args={
        "owner": settings.OWNER,
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(minutes=10),
        "on_failure_callback": alerts.on_failure,
    },
)
def cleantech_report():
    @task
    def html_report() -> str:
        """The self-contained HTML report beside the published warehouse."""
        return tasks.html_report()

    @task
    def parquet_export() -> list[str]:
        """Every mart as a Parquet file beside the published warehouse."""
        return tasks.parquet_export()

    html_report()
    parquet_export()


cleantech_report()
