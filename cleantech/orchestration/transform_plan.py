"""What a transform DAG run works on: the per-run files (from `Layout`), the ingest results
carried in asset events and the plan (ingest / catch up / nothing).

Imported by the DAG processor with the DAG files: Airflow, duckdb and the gate are imported inside
the functions that need them (`cleantech.core.pipeline` with duckdb and the gate 0.8 s,
`python -X importtime`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cleantech.layout import Layout
from cleantech.orchestration.settings import env_int


def remove_old_run_files(max_age_hours: float | None = None) -> list[Path]:
    """Delete per-run files (and their dbt artifacts) older than `CLEANTECH_RUN_FILES_MAX_AGE_HOURS` (48)."""
    import shutil
    import time

    hours = (
        max_age_hours
        if max_age_hours is not None
        else env_int("CLEANTECH_RUN_FILES_MAX_AGE_HOURS", 48)
    )
    folder = Layout.current().airflow_runs_dir
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


def result_extra(
    result: Mapping[str, Any], *, source: str, staging: Path | str, run_id: str
) -> dict[str, Any]:
    """The asset-event `extra` for one ingest result (a run record's entry, `steps.ingest`):
    dataset, source `updated`, rows, requests, …"""
    return {
        "dataset": result["dataset"],
        "table": result.get("table"),
        "outcome": result["outcome"],
        "source_updated": result.get("source_updated"),
        "rows": int(result.get("rows") or 0),
        "requests": int(result.get("requests") or 0),
        "bytes": int(result.get("bytes") or 0),
        "seconds": round(float(result.get("seconds") or 0.0), 3),
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


def changed_datasets(events: Mapping[Any, Iterable[Any]]) -> tuple[list[str], list[str]]:
    """From triggering asset events: (datasets loaded anew, datasets reported unchanged)."""
    extras = latest_extras(events)
    loaded = [n for n, e in extras.items() if e.get("outcome") != "unchanged"]
    unchanged = [n for n, e in extras.items() if e.get("outcome") == "unchanged"]
    return loaded, unchanged
