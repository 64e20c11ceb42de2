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
2. `prepare` — core step `prepare`: the ingest run's staging file becomes this run's build file
   (or, for a manual rebuild, a copy of the published warehouse). Safe to retry.
3. `dbt_build` — core step `transform` (one `dbt build`: models, snapshots, tests). A failed dbt
   build is recorded and the gate still audits, as in the CLI.
4. `quality_gate` — core step `audit`: Great Expectations on raw and marts; Data Docs in
   `warehouse/quality/`. A critical failure (or dbt's, reported first) fails the task without a
   retry (`AirflowFailException`) and nothing is published.
5. `publish` — core step `publish`: records the run in `ops.pipeline_runs` (with the history of the
   file it replaces), swaps the audited build onto the published path and emits the **`warehouse`**
   asset. Safe to retry: a try that finds this run already published only emits the event.

Every task body is one call to `cleantech.orchestration.tasks`; the run (`airflow:<run id>`) is
recorded in `cleantech.runs.jsonl` at each step, failures with their stage.
Writers take the one-slot `duckdb_writer` pool and the warehouse lock (`cleantech.core.lock`).
Downstream work schedules on `Asset("warehouse")`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetAll, Param, dag, task

from cleantech.orchestration import alerts, settings, tasks

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
        "retries": settings.transform_retries(),
        # A lost worker is detected after the heartbeat timeout (docker-compose.yml); retry soon.
        "retry_delay": settings.transform_retry_delay(),
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
        return tasks.plan_build(dag_run, triggering_asset_events)

    @task(pool=settings.WRITER_POOL, priority_weight=10, execution_timeout=timedelta(minutes=10))
    def prepare(plan: dict, params=None, run_id=None, dag_run=None) -> dict:
        """Step prepare: the ingest run's staging file becomes this run's build file."""
        return tasks.prepare_build(plan, run_id=run_id, params=params, dag_run=dag_run)

    @task(pool=settings.WRITER_POOL, priority_weight=10, execution_timeout=settings.dbt_timeout())
    def dbt_build(prepared: dict) -> dict:
        """Step transform: one `dbt build` (models, snapshots, tests) on the build file."""
        return tasks.transform(prepared)

    @task(pool=settings.WRITER_POOL, priority_weight=10, execution_timeout=timedelta(minutes=15))
    def quality_gate(built: dict) -> dict:
        """Step audit: Great Expectations on the build; a critical failure (or dbt's) fails it."""
        return tasks.audit(built)

    @task(
        pool=settings.WRITER_POOL,
        priority_weight=10,
        outlets=[WAREHOUSE],
        retries=settings.transform_retries() + 1,
        execution_timeout=timedelta(minutes=5),
    )
    def publish(audited: dict, outlet_events=None) -> dict:
        """Step publish: record the run in `ops.pipeline_runs`, swap the build onto the published path."""
        return tasks.publish(audited, outlet_events=outlet_events, warehouse=WAREHOUSE)

    publish(quality_gate(dbt_build(prepare(plan()))))


cleantech_transform()
