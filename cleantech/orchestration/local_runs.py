"""Run the DAGs in order without a scheduler (`dag.test()`, `cleantech airflow run`), the writer
pool, and the summary `make run` prints. Airflow is imported inside the functions (2.6 s,
`python -X importtime`): the DAG processor imports the modules beside this one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cleantech.layout import Layout
from cleantech.orchestration.settings import (
    WRITER_POOL,
    WRITER_POOL_DESCRIPTION,
    default_source,
)

# ----------------------------------------------------------------------------------------------
# Running the DAGs without a scheduler (`make run`, the end-to-end test): `dag.test()` in order


def ensure_pool() -> None:
    """Create (or resize to 1) the DuckDB writer pool in the configured metadata DB."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(
        WRITER_POOL, slots=1, description=WRITER_POOL_DESCRIPTION, include_deferred=False
    )


def run_events(dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The asset events one DAG run emitted: asset name and `extra`, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id)
            .order_by(AssetEvent.timestamp)
        ).all()
    out: list[dict[str, Any]] = []
    for name, extra in rows:
        out.append({"asset": str(name), "extra": extra if isinstance(extra, dict) else {}})
    return out


def failed_tasks(dag_run: Any) -> list[str]:
    """`task_id[map_index]` of the failed or upstream-failed task instances of a DAG run."""
    out = []
    for ti in dag_run.get_task_instances():
        if str(ti.state) in ("failed", "upstream_failed"):
            suffix = f"[{ti.map_index}]" if ti.map_index is not None and ti.map_index >= 0 else ""
            out.append(f"{ti.task_id}{suffix} ({ti.state})")
    return sorted(out)


def run_dags_locally(
    *, source: str | None = None, full_refresh: bool = False, dags_folder: Path | None = None
) -> dict[str, Any]:
    """Run cleantech_ingest, then — as the scheduler would, once every dataset reported —
    cleantech_transform and cleantech_report, each with `dag.test()`; return what happened."""
    import time

    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    from cleantech.layout import published_path
    from ingest.catalog import load_catalog

    ensure_pool()
    folder = Path(dags_folder or conf.get("core", "dags_folder"))
    bag = DagBag(dag_folder=str(folder))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    source = source or default_source()
    summary: dict[str, Any] = {"published": str(published_path()), "runs": []}

    def run(dag_id: str, run_conf: dict[str, Any]) -> Any:
        started = time.monotonic()
        dr = bag.dags[dag_id].test(run_conf=run_conf)
        seconds = time.monotonic() - started
        entry = {"dag_id": dag_id, "run_id": dr.run_id, "state": str(dr.state), "seconds": seconds}
        entry["failed"] = failed_tasks(dr) if entry["state"] != "success" else []
        summary["runs"].append(entry)
        return dr

    ingest_run = run("cleantech_ingest", {"source": source, "full_refresh": full_refresh})
    extras = {
        e["extra"]["dataset"]: e["extra"]
        for e in run_events("cleantech_ingest", ingest_run.run_id)
        if e["extra"].get("dataset")
    }
    summary["datasets"] = extras
    missing = sorted(set(load_catalog().datasets) - set(extras))
    if missing:
        # The transform DAG waits for every raw asset: the scheduler would not start it.
        summary["outcome"] = f"not published: no raw event for {', '.join(missing)}"
        return summary
    transform_run = run("cleantech_transform", {"datasets": extras})
    if str(transform_run.state) != "success":
        summary["outcome"] = "not published: cleantech_transform failed"
        return summary
    published = run_events("cleantech_transform", transform_run.run_id)
    if not published:
        summary["outcome"] = "nothing changed: the published warehouse is current"
        return summary
    summary["outcome"] = "published"
    report_run = run("cleantech_report", {})
    if str(report_run.state) != "success":
        summary["outcome"] = "published; the HTML report failed"
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    from cleantech.layout import parquet_dir, published_path, report_html_path

    print()
    print("DAG runs (dag.test):")
    for r in summary["runs"]:
        failed = f"  failed: {', '.join(r['failed'])}" if r["failed"] else ""
        print(f"  {r['dag_id']:<22} {r['state']:<8} {r['seconds']:6.1f} s  {r['run_id']}{failed}")
    for name, e in summary.get("datasets", {}).items():
        print(
            f"  raw.{name:<32} {e.get('outcome'):<10} rows {e.get('rows'):>7}  "
            f"requests {e.get('requests'):>3}  source updated {e.get('source_updated')}"
        )
    published = published_path()
    print(f"outcome: {summary['outcome']}")
    print(f"warehouse:      {published}")
    print(f"quality report: {Layout(published).quality_dir / 'index.html'}")
    print(f"HTML report:    {report_html_path(published)}")
    print(f"Parquet marts:  {parquet_dir(published)}/")
    print(
        f"Airflow home:   {os.environ.get('AIRFLOW_HOME', '~/airflow')} (`make airflow` shows these runs)"
    )
