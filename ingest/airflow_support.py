"""Small helpers the Airflow DAGs share: asset and pool names, settings from env, failure alerts.

Nothing here imports Airflow, dbt, Great Expectations or pandas: the DAG processor imports this
module every time it parses a DAG file, and the tests use it without Airflow.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
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
    from ingest.paths import catalog_path

    path = catalog_path()
    try:
        return list(_dataset_names(str(path), path.stat().st_mtime))
    except (OSError, ValueError, AttributeError) as exc:
        # A broken catalog must not break DAG parsing: the ingest task reports it properly.
        log.warning("cannot read dataset names from %s: %s", path, exc)
        return []


def safe_name(run_id: str) -> str:
    """A run id as a file-name part (`scheduled__2025-01-01T02:00:00+00:00` → `scheduled__2025-01-01T02-00-00-00-00`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-.") or "run"


def runs_dir() -> Path:
    """Where the DAGs keep their per-run staging and build files (beside the staging file)."""
    from ingest.paths import staging_path

    return staging_path().parent / "airflow"


def ingest_staging_for(run_id: str) -> Path:
    """The staging file one ingest run writes (a fresh copy of the published warehouse)."""
    return runs_dir() / f"ingest-{safe_name(run_id)}.duckdb"


def build_for(run_id: str) -> Path:
    """The file one transform run builds, audits and publishes (moved from an ingest staging)."""
    return runs_dir() / f"build-{safe_name(run_id)}.duckdb"


def remove_old_run_files(max_age_hours: float | None = None) -> list[Path]:
    """Delete per-run files (and their dbt artifacts) older than `CLEANTECH_RUN_FILES_MAX_AGE_HOURS` (48)."""
    import shutil
    import time

    hours = (
        max_age_hours
        if max_age_hours is not None
        else env_int("CLEANTECH_RUN_FILES_MAX_AGE_HOURS", 48)
    )
    folder = runs_dir()
    if not folder.is_dir():
        return []
    cutoff = time.time() - hours * 3600
    removed = []
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        except FileNotFoundError:
            continue
    return removed


def result_extra(result: Any, *, source: str, staging: Path | str, run_id: str) -> dict[str, Any]:
    """The asset-event `extra` for one ingest result: dataset, source `updated`, rows, requests, …"""
    return {
        "dataset": result.dataset,
        "table": result.table_id,
        "outcome": result.outcome,
        "source_updated": result.source_updated,
        "rows": int(result.rows),
        "requests": int(result.requests),
        "bytes": int(result.bytes),
        "seconds": round(float(result.seconds), 3),
        "source": source,
        "staging": str(staging),
        "ingest_run_id": run_id,
    }


class InconsistentEvents(RuntimeError):
    """The triggering raw events come from different ingest runs: no one staging file holds them all."""


def latest_extras(events: Mapping[Any, Iterable[Any]]) -> dict[str, dict[str, Any]]:
    """The newest ingest-event `extra` per dataset among triggering asset events (others ignored)."""
    latest: dict[str, tuple[Any, dict[str, Any]]] = {}
    for asset_events in events.values():
        for event in asset_events:
            extra = dict(getattr(event, "extra", None) or {})
            dataset = extra.get("dataset")
            if not dataset:
                continue
            stamp = getattr(event, "timestamp", None)
            previous = latest.get(dataset)
            if previous is None or stamp is None or previous[0] is None or stamp >= previous[0]:
                latest[dataset] = (stamp, extra)
    return {name: extra for name, (_, extra) in sorted(latest.items())}


def plan_transform(
    events: Mapping[Any, Iterable[Any]], conf: Mapping[str, Any] | None, *, published_exists: bool
) -> dict[str, Any] | None:
    """What a transform run builds: an ingest staging file, or (manual run) a copy of the published
    warehouse; None when every dataset is unchanged and a warehouse is already published."""
    conf = dict(conf or {})
    if conf.get("staging"):
        return {"mode": "conf", "staging": str(conf["staging"]), "datasets": {}}
    # `conf={"datasets": {name: extra}}` stands in for the events when no scheduler runs (dag.test).
    extras = latest_extras(events) or dict(conf.get("datasets") or {})
    if not extras:
        return {"mode": "rebuild", "staging": None, "datasets": {}}
    stagings = {extra.get("staging") for extra in extras.values()}
    if len(stagings) != 1 or None in stagings:
        runs = sorted({str(extra.get("ingest_run_id")) for extra in extras.values()})
        raise InconsistentEvents(
            f"the latest raw events come from {len(runs)} ingest runs ({', '.join(runs)}): a dataset "
            "failed in the newest run; not building. Fix the source and run cleantech_ingest again"
        )
    loaded = [name for name, extra in extras.items() if extra.get("outcome") != "unchanged"]
    if not loaded and published_exists:
        return None
    return {"mode": "ingest", "staging": stagings.pop(), "datasets": extras}


def pipeline_run_id(run_id: str) -> str:
    """The `ops.pipeline_runs.run_id` a transform run records (`airflow:<Airflow run id>`)."""
    return f"airflow:{run_id}"


def holds_run(db: Path, run_id: str) -> bool:
    """Whether the warehouse file `db` records `run_id` in `ops.pipeline_runs` (read-only; False
    when the file or the table does not exist)."""
    import duckdb

    if not Path(db).exists():
        return False
    con = duckdb.connect(str(db), read_only=True)
    try:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'ops' and table_name = 'pipeline_runs'"
        ).fetchone()
        if not found or not found[0]:
            return False
        row = con.execute(
            "select count(*) from ops.pipeline_runs where run_id = ?", [run_id]
        ).fetchone()
        return bool(row and row[0])
    finally:
        con.close()


def changed_datasets(events: Mapping[Any, Iterable[Any]]) -> tuple[list[str], list[str]]:
    """From triggering asset events: (datasets loaded anew, datasets reported unchanged)."""
    extras = latest_extras(events)
    loaded = [n for n, e in extras.items() if e.get("outcome") != "unchanged"]
    unchanged = [n for n, e in extras.items() if e.get("outcome") == "unchanged"]
    return loaded, unchanged


def pipeline_result(
    audited: Mapping[str, Any],
    *,
    run_id: str,
    published: Path,
    full_refresh: bool,
    dag_run: Any = None,
) -> Any:
    """An `ingest.pipeline.PipelineResult` for a transform run about to publish (for `ops.pipeline_runs`)."""
    from datetime import UTC, datetime

    from expectations.runner import ExpectationOutcome, GateResult
    from ingest.pipeline import PipelineResult

    extras = dict(audited.get("datasets") or {})
    gate_doc = audited.get("gate") or {}
    gate = GateResult(
        results=[ExpectationOutcome(**r) for r in gate_doc.get("results") or []],
        report_index=Path(gate_doc["report_index"]) if gate_doc.get("report_index") else None,
        suites=list(gate_doc.get("suites") or []),
        seconds=float(gate_doc.get("seconds") or 0.0),
    )
    sources = {e.get("source") for e in extras.values() if e.get("source")}
    started = getattr(dag_run, "start_date", None) or datetime.now(UTC)
    result = PipelineResult(
        run_id=pipeline_run_id(run_id),
        published=published,
        staging=Path(audited["build"]),
        source=",".join(sorted(sources)) or "published",
        full_refresh=full_refresh,
        started_at=started,
        outcome="published",
        finished_at=datetime.now(UTC),
        ingest=list(extras.values()),
        gate=gate,
        report_index=gate.report_index,
    )
    result.timings = {
        "ingest": sum(float(e.get("seconds") or 0.0) for e in extras.values()),
        "dbt": float(audited.get("dbt_seconds") or 0.0),
        "audit": gate.seconds,
    }
    return result


def failure_reason(context: Mapping[str, Any]) -> str:
    """One line: which task of which run failed, and why."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    run_id = getattr(ti, "run_id", None) or context.get("run_id", "?")
    try_number = getattr(ti, "try_number", None)
    exc = context.get("exception")
    reason = " ".join(str(exc).split()) if exc else "no exception recorded"
    if exc is not None and not str(exc).strip():
        reason = type(exc).__name__
    where = f"{dag_id}.{task_id}" + (f"[{map_index}]" if map_index not in (None, -1) else "")
    attempt = f" try {try_number}" if try_number else ""
    return f"FAILED {where} run={run_id}{attempt}: {reason[:500]}"


def on_failure(context: Mapping[str, Any]) -> None:
    """Failure callback: log a one-line reason; POST it to `CLEANTECH_ALERT_WEBHOOK` when set."""
    line = failure_reason(context)
    log.error(line)
    url = os.environ.get("CLEANTECH_ALERT_WEBHOOK")
    if url:
        post_alert(url, line)


def post_alert(url: str, line: str, *, timeout: float = 10.0) -> bool:
    """POST `{"text": line}` (Slack/Teams/Mattermost-compatible) to a webhook; never raises."""
    import httpx

    try:
        resp = httpx.post(
            url,
            content=json.dumps({"text": line}),
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        )
        resp.raise_for_status()
        return True
    except Exception as exc:  # an alert that fails must not hide the original failure
        log.warning("alert webhook failed: %s", " ".join(str(exc).split())[:200])
        return False


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

    from ingest.catalog import load_catalog
    from ingest.paths import published_path

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


def _print_summary(summary: dict[str, Any]) -> None:
    from ingest.paths import parquet_dir, published_path, report_html_path
    from ingest.pipeline import report_dir_for

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
    print(f"quality report: {report_dir_for(published) / 'index.html'}")
    print(f"HTML report:    {report_html_path(published)}")
    print(f"Parquet marts:  {parquet_dir(published)}/")
    print(
        f"Airflow home:   {os.environ.get('AIRFLOW_HOME', '~/airflow')} (`make airflow` shows these runs)"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m ingest.airflow_support pool|activate|run [--source S] [--full-refresh]`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m ingest.airflow_support")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("pool", help="create the one-slot DuckDB writer pool")
    activate = sub.add_parser(
        "activate", help="parse the DAGs into the metadata DB and unpause them"
    )
    activate.add_argument("--log", type=Path, help="where Airflow's own log lines go")
    run = sub.add_parser("run", help="run the DAGs in order with dag.test()")
    run.add_argument("--source", default=None)
    run.add_argument("--full-refresh", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "pool":
        ensure_pool()
        print(f"pool {WRITER_POOL}: 1 slot")
        return 0
    if args.command == "activate":
        import contextlib

        from ingest.airflow_activate import ActivationError, activate_dags, output_to, startup_lines

        quiet = output_to(args.log) if args.log else contextlib.nullcontext()
        try:
            with quiet:
                activation = activate_dags()
        except ActivationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(startup_lines(activation)))
        return 0
    summary = run_dags_locally(source=args.source, full_refresh=args.full_refresh)
    _print_summary(summary)
    ok = summary["outcome"].startswith("published") or summary["outcome"].startswith("nothing")
    if not ok:
        print(f"error: {summary['outcome']}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
