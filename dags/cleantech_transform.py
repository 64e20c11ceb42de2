"""
### cleantech_transform — dbt build → quality gate → publish (write–audit–publish)

Scheduled on **all** `raw.<dataset>` assets (one per catalog dataset, emitted by
`cleantech_ingest`), so it runs once every dataset has reported; a dataset that failed emits no
event and nothing is built or published. The events name the ingest run's staging file.

1. `plan` — reads the triggering events: the newest event of each dataset must come from the same
   ingest run (else the run fails: a dataset failed in the newest ingest). If every dataset is
   `unchanged` and a warehouse is published, the run stops here (short-circuit). A manual run
   without events rebuilds from a copy of the published warehouse (e.g. after a dbt change);
   `conf={"staging": PATH}` builds a given staging file.
2. `dbt_build` — moves the staging file to this run's build file, then one `dbt build` (models,
   snapshots, tests) on it (`cleantech.core.dbt_runner.dbt_build`).
3. `quality_gate` — Great Expectations suites on raw and marts (`expectations.runner.run_gate`);
   Data Docs in `warehouse/quality/`; a critical failure fails the task and nothing is published.
4. `publish` — records the run in `ops.pipeline_runs`, then swaps the audited build onto the
   published path (`cleantech.core.publish.publish`: CHECKPOINT, verify read-only, `os.replace`) and emits
   the **`warehouse`** asset. Safe to retry (a worker lost mid-publish): a try that finds this
   run already in the published warehouse only emits the event; the build is never published twice.

Writers take the one-slot `duckdb_writer` pool and the warehouse lock (`cleantech.core.lock`).
Downstream work schedules on `Asset("warehouse")`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetAll, Param, dag, task

from cleantech.orchestration import alerts, settings, transform_plan

RAW_ASSETS = [Asset(settings.raw_asset_name(name)) for name in settings.catalog_dataset_names()]
WAREHOUSE = Asset(settings.WAREHOUSE_ASSET)


@dag(
    dag_id="cleantech_transform",
    schedule=AssetAll(*RAW_ASSETS) if RAW_ASSETS else None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=settings.TAGS_TRANSFORM,
    default_args={
        "owner": settings.OWNER,
        "retries": 1,
        # A lost worker is detected after the heartbeat timeout (docker-compose.yml); retry soon.
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": alerts.on_failure,
    },
    params={
        "full_refresh": Param(False, type="boolean", description="dbt build --full-refresh"),
    },
)
def cleantech_transform():
    @task.short_circuit(execution_timeout=timedelta(minutes=2), retries=0)
    def plan(dag_run=None, triggering_asset_events=None):
        """What to build (from the triggering raw events), or stop if nothing changed."""
        from cleantech.layout import published_path

        plan = transform_plan.plan_transform(
            triggering_asset_events or {},
            dag_run.conf if dag_run else None,
            published_exists=published_path().exists(),
        )
        if plan is None:
            print("no source table changed since the published warehouse: nothing to do")
            return False
        for name, extra in plan["datasets"].items():
            print(f"{name}: {extra.get('outcome')} (source updated {extra.get('source_updated')})")
        print(f"mode {plan['mode']}: staging {plan['staging'] or '(copy of the published file)'}")
        return plan

    @task(pool=settings.WRITER_POOL, priority_weight=10)
    def dbt_build(plan: dict, params=None, run_id=None) -> dict:
        """Move the staging file to this run's build file; `dbt build` on it."""
        import os
        import time
        from pathlib import Path

        from cleantech.core.dbt_runner import dbt_build as run_dbt_build
        from cleantech.core.lock import WriterLock
        from cleantech.core.pipeline import prepare_staging
        from cleantech.layout import published_path

        published = published_path()
        build = transform_plan.build_for(run_id)
        with WriterLock(published, purpose="Airflow task cleantech_transform.dbt_build"):
            if not build.exists():  # (on a retry the build file is already there)
                build.parent.mkdir(parents=True, exist_ok=True)
                if plan["staging"]:
                    staging = Path(plan["staging"])
                    if not staging.exists():
                        raise FileNotFoundError(
                            f"staging file {staging} is gone (built by an earlier run?)"
                        )
                    os.replace(staging, build)
                else:
                    prepare_staging(published, build)
                    if not build.exists():
                        raise FileNotFoundError(
                            f"nothing to rebuild: no published warehouse at {published}"
                        )
            started = time.monotonic()
            result = run_dbt_build(build, full_refresh=params["full_refresh"])
        print(f"dbt build: {result.passed} passed, {result.warned} warned on {build}")
        return {**plan, "build": str(build), "dbt_seconds": time.monotonic() - started}

    @task(pool=settings.WRITER_POOL, priority_weight=10, execution_timeout=timedelta(minutes=15))
    def quality_gate(built: dict) -> dict:
        """Great Expectations on raw and marts of the build; fail on a critical expectation."""
        from pathlib import Path

        from cleantech.core.lock import WriterLock
        from cleantech.core.pipeline import report_dir_for
        from cleantech.layout import published_path
        from expectations.runner import run_gate

        published = published_path()
        with WriterLock(published, purpose="Airflow task cleantech_transform.quality_gate"):
            gate = run_gate(Path(built["build"]), report_dir=report_dir_for(published))
        print(gate.report())
        if not gate.passed:
            raise RuntimeError(f"{gate.one_line()} — see {gate.report_index}")
        return {**built, "gate": gate.to_dict()}

    @task(
        pool=settings.WRITER_POOL,
        priority_weight=10,
        outlets=[WAREHOUSE],
        retries=2,
        execution_timeout=timedelta(minutes=5),
    )
    def publish(audited: dict, params=None, dag_run=None, run_id=None, outlet_events=None) -> dict:
        """Record the run in `ops.pipeline_runs`, swap the build onto the published path."""
        from pathlib import Path

        from cleantech.core.lock import WriterLock
        from cleantech.core.pipeline import record_runs, run_log_for, table_counts
        from cleantech.core.publish import publish as publish_file
        from cleantech.layout import published_path

        published = published_path()
        build = Path(audited["build"])
        with WriterLock(published, purpose="Airflow task cleantech_transform.publish"):
            if transform_plan.holds_run(published, transform_plan.pipeline_run_id(run_id)):
                # An earlier try swapped the build in and died before finishing: do not publish
                # again, only emit the event (and drop the build file it may have left).
                print(f"{published} already holds run {run_id}: published by an earlier try")
                build.unlink(missing_ok=True)
                counts = table_counts(published)
            else:
                result = transform_plan.pipeline_result(
                    audited,
                    run_id=run_id,
                    published=published,
                    full_refresh=params["full_refresh"],
                    dag_run=dag_run,
                )
                counts = result.counts = table_counts(build)
                # not recorded by an earlier try
                if not transform_plan.holds_run(build, result.run_id):
                    record_runs(build, run_log_for(published), result)
                publish_file(build, published)
        marts = {k: v for k, v in counts.items() if k.startswith("marts.")}
        outlet_events[WAREHOUSE].extra = {
            "path": str(published),
            "run_id": run_id,
            "datasets_loaded": sorted(
                n for n, e in audited["datasets"].items() if e.get("outcome") == "loaded"
            ),
            "marts": marts,
        }
        print(f"published {published}: {marts}")
        return {"published": str(published), "marts": marts}

    publish(quality_gate(dbt_build(plan())))


cleantech_transform()
