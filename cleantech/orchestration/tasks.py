"""What each Airflow task does: one function per task, each one call from the DAG file into the core
steps (`cleantech.core.steps`), with the Airflow context values it needs passed in.

An ingest run is a `Build` of two steps (`Build.for_airflow_ingest`: `airflow-ingest:<run id>`,
`Layout.airflow_ingest_staging`; prepare, then ingest once per mapped task) that finishes `staged`;
a transform run is a `Build` (`Build.for_airflow`: `airflow:<run id>`, `Layout.airflow_build`) that
takes the ingest run's file over. A build's dict travels in XCom from task to task, and the run
record in the run log, so a failure at any task is recorded with its stage. Data-quality failures
(dbt tests, the gate) raise `AirflowFailException`: retrying cannot fix the data. Anything else
(a lost worker, a lock held too long, a timeout) raises as is and is retried.

The DAG processor imports this module with the DAG files: the core (duckdb, dbt, the gate; 0.8 s,
`python -X importtime`) and Airflow are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from cleantech.layout import Layout
from cleantech.orchestration import settings, transform_plan

T = TypeVar("T")

# The run-log stage of each task that works on a run's build (what `on_failure` records when the
# task is killed). `plan` only reads: a bad param fails there, before any run is recorded.
TASK_STAGES = {
    "cleantech_ingest": {"prepare": "prepare", "ingest": "ingest"},
    "cleantech_transform": {
        "prepare": "prepare",
        "dbt_build": "dbt",
        "quality_gate": "audit",
        "publish": "publish",
    },
}


def _data_quality_fails(call: Callable[[], T]) -> T:
    """Run a core step; a data-quality failure fails the task without a retry."""
    from airflow.sdk.exceptions import AirflowFailException

    from cleantech.core.steps import DataQualityFailed

    try:
        return call()
    except DataQualityFailed as exc:
        raise AirflowFailException(str(exc)) from exc


# ----------------------------------------------------------------------------------------------
# cleantech_ingest


def plan_ingest(params: Mapping[str, Any], triggering_asset_events: Any = None) -> list[str]:
    """The datasets to load: the param's subset or the whole catalog (validated)."""
    from ingest.catalog import load_catalog

    catalog = load_catalog()
    names = list(params.get("datasets") or catalog.datasets)
    for name in names:
        catalog.dataset(name)  # a typo fails here, before any fetch
    source = catalog.source(params["source"])
    print(f"source {source.name}: {source.base_url} ({source.api}); datasets: {names}")
    for events in (triggering_asset_events or {}).values():
        for event in events:
            for change in ((event.extra or {}).get("payload") or {}).get("changes", []):
                print(
                    f"watcher: {change.get('dataset')} ({change.get('table')}) updated "
                    f"{change.get('previous')} -> {change.get('updated')}"
                )
    return names


def prepare_ingest(
    datasets: list[str], *, run_id: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Step `prepare` of this ingest run's `Build` (`Build.for_airflow_ingest`): its staging file,
    a fresh copy of the published warehouse, under the lock. Returns the build (XCom)."""
    from cleantech.core import steps
    from cleantech.core.build import Build

    build = Build.for_airflow_ingest(
        run_id=run_id,
        source=params["source"],
        full_refresh=bool(params.get("full_refresh")),
        datasets=list(datasets),
    )
    steps.prepare(build)
    for old in transform_plan.remove_old_run_files():
        print(f"removed old run file {old}")
    origin = build.published if build.published.exists() else "empty"
    print(f"staging: {build.file} (from {origin})")
    return build.to_dict()


def ingest_dataset(
    dataset: str,
    build: Mapping[str, Any],
    *,
    run_id: str,
    outlet_events: Any,
    alias: Any,
) -> dict[str, Any]:
    """Step `ingest` for one dataset of this ingest run's `Build`; emit `raw.<dataset>` through
    `alias` (the last dataset to report finishes the run `staged`)."""
    from airflow.sdk import Asset, get_current_context

    from cleantech.core import steps
    from cleantech.core.build import Build

    get_current_context()["dataset"] = dataset  # type: ignore[typeddict-unknown-key]
    ingest_build = Build.from_dict(dict(build))
    done = steps.ingest(
        ingest_build,
        datasets=[dataset],
        client_options=settings.client_options(),
        say=lambda _: None,
    )
    (result,) = done["results"]
    extra = transform_plan.result_extra(
        result, source=ingest_build.source, staging=ingest_build.file, run_id=run_id
    )
    print(f"{dataset}: {result['outcome']} {result.get('message') or ''}".rstrip())
    outlet_events[alias].add(Asset(settings.raw_asset_name(dataset)), extra=extra)
    return extra


# ----------------------------------------------------------------------------------------------
# cleantech_transform


def plan_build(dag_run: Any, triggering_asset_events: Any) -> dict[str, Any] | bool:
    """What to build (from the triggering raw events), or False to stop if nothing changed."""
    plan = transform_plan.plan_transform(
        triggering_asset_events or {},
        dag_run.conf if dag_run else None,
        published_exists=Layout.current().published.exists(),
    )
    if plan is None:
        print("no source table changed since the published warehouse: nothing to do")
        return False
    for name, extra in plan["datasets"].items():
        print(f"{name}: {extra.get('outcome')} (source updated {extra.get('source_updated')})")
    print(f"mode {plan['mode']}: staging {plan['staging'] or '(copy of the published file)'}")
    return plan


def prepare_build(
    plan: Mapping[str, Any], *, run_id: str, params: Mapping[str, Any], dag_run: Any = None
) -> dict[str, Any]:
    """Step `prepare` of this transform run's `Build` (started in the run log with the ingest
    results the plan carries): the ingest run's staging file becomes the build file, or a copy of
    the published warehouse when there is none (a manual rebuild). Returns the build (XCom)."""
    from datetime import UTC, datetime

    from cleantech.core import steps
    from cleantech.core.build import Build

    extras = dict(plan.get("datasets") or {})
    sources = sorted({e.get("source") for e in extras.values() if e.get("source")})
    build = Build.for_airflow(
        run_id=run_id,
        source=",".join(sources) or "published",
        full_refresh=bool(params.get("full_refresh")),
    )
    build.started_at = getattr(dag_run, "start_date", None) or datetime.now(UTC)
    run = steps.start(
        build,
        ingest=list(extras.values()),
        timings={"ingest": sum(float(e.get("seconds") or 0.0) for e in extras.values())},
    )
    staging = Path(plan["staging"]) if plan.get("staging") else None
    prepared = steps.prepare(build, run, staging=staging, rebuild=staging is None)
    return {"build": build.to_dict(), "datasets": extras, "prepare": prepared}


def transform(prepared: Mapping[str, Any]) -> dict[str, Any]:
    """Step `transform` (one `dbt build`) of this run's `Build`. A failed dbt build is recorded,
    not raised: the gate still audits and then reports it."""
    from cleantech.core import steps
    from cleantech.core.build import Build

    build = Build.from_dict(prepared["build"])
    return {**prepared, "transform": steps.transform(build)}


def audit(built: Mapping[str, Any]) -> dict[str, Any]:
    """Step `audit` (the quality gate) of this run's `Build`; no retry on a data-quality failure."""
    from cleantech.core import steps
    from cleantech.core.build import Build

    build = Build.from_dict(built["build"])
    return {**built, "audit": _data_quality_fails(lambda: steps.audit(build))}


def publish(audited: Mapping[str, Any], *, outlet_events: Any, warehouse: Any) -> dict[str, Any]:
    """Step `publish` of this run's `Build`, then the `warehouse` asset event (retry-safe: a try
    that finds the run already published only emits the event)."""
    from cleantech.core import steps
    from cleantech.core.build import Build

    build = Build.from_dict(audited["build"])
    result = steps.publish(build)
    marts = {k: v for k, v in result["counts"].items() if k.startswith("marts.")}
    if result["already"]:
        print(f"{build.published} already holds run {build.run_id}: published by an earlier try")
    outlet_events[warehouse].extra = {
        "path": str(build.published),
        "run_id": build.run_id.removeprefix("airflow:"),
        "datasets_loaded": sorted(
            n for n, e in (audited.get("datasets") or {}).items() if e.get("outcome") == "loaded"
        ),
        "marts": marts,
    }
    print(f"published {build.published}: {marts}")
    return {"published": str(build.published), "marts": marts}


def record_killed_task(context: Mapping[str, Any]) -> bool:
    """From a failure callback: record a task of an ingest or transform run that died without
    recording its outcome (killed on timeout, lost worker) in the run log, with its stage."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id, task_id = getattr(ti, "dag_id", None), getattr(ti, "task_id", "")
    stage = (TASK_STAGES.get(dag_id) or {}).get(task_id)  # type: ignore[arg-type]
    if stage is None:
        return False
    from cleantech.core import steps
    from cleantech.core.build import Build

    run_id = getattr(ti, "run_id", None) or str(context.get("run_id"))
    exc = context.get("exception")
    # no exception: the scheduler found the task without a heartbeat (its worker was lost)
    reason = (
        " ".join(str(exc).split()) if exc else "the task stopped without reporting (lost worker)"
    )
    if dag_id == "cleantech_ingest":
        build = Build.for_airflow_ingest(run_id=run_id)
        dataset = getattr(ti, "rendered_map_index", None) if task_id == "ingest" else None
        return steps.record_interrupted(build, stage, reason[:500], dataset=dataset)
    return steps.record_interrupted(Build.for_airflow(run_id=run_id), stage, reason[:500])


# ----------------------------------------------------------------------------------------------
# cleantech_report


def html_report() -> str:
    """Step `outputs`, part one: the HTML report beside the published warehouse."""
    from cleantech.core import steps

    return steps.report_step(Layout.current().published)


def parquet_export() -> list[str]:
    """Step `outputs`, part two: every mart as Parquet beside the published warehouse."""
    from cleantech.core import steps

    return steps.parquet_step(Layout.current().published)
