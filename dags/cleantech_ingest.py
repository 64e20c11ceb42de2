"""
### cleantech_ingest — PxWeb tables → `raw.<dataset>` in this run's staging file

Runs **nightly at 02:00 Europe/Stockholm** and **whenever a source table is republished**: the
`pxweb_sources` asset has an `AssetWatcher` (`cleantech.orchestration.watcher.PxWebTableUpdatedTrigger`, run by the
triggerer) that polls every catalog table's `updated` and fires only when it moves.

1. `plan` — the datasets to load (the catalog, or the `datasets` param).
2. `prepare` — core step `prepare` of this run's build (`airflow-ingest:<run id>`): its staging file,
   a fresh copy of the published warehouse, so the incremental state is the last *published* one.
3. `ingest` — **one mapped task per dataset** (map index = dataset name), each core step `ingest`
   for its dataset on the staging file. A table whose source `updated` has not moved is not
   re-fetched (one metadata request; outcome `unchanged`). Retries with exponential backoff.
   Each success emits an asset event on `raw.<dataset>` (through the `raw_tables` alias) whose
   `extra` holds the dataset, the source's `updated`, rows, requests, bytes, seconds, the outcome
   and the staging file.

The run is recorded in `cleantech.runs.jsonl` at each step: once every dataset has reported it
finishes `staged` (the transform run takes its file over), or `failed` at its stage; a task killed
on timeout or lost with its worker is recorded by the failure callback. `ops.pipeline_runs` gets
the run at the next publish.

`cleantech_transform` is scheduled on all `raw.*` assets: it runs once every dataset of a run has
reported; a dataset that fails (after its retries) emits nothing, so nothing is published.
Writers run in the one-slot `duckdb_writer` pool and hold the warehouse lock.

Params: `source` (catalog source: `demo`, `scb`, `scb_v1`; default env `CLEANTECH_SOURCE`),
`full_refresh` (re-fetch even when unchanged), `datasets` (a subset; empty = the whole catalog).
`PXWEB_BASE_URL` overrides every source's base URL. Operations: docs/OPERATIONS.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import (
    Asset,
    AssetAlias,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    Param,
    dag,
    task,
)

from cleantech.orchestration import alerts, settings, tasks
from cleantech.orchestration.watcher import PxWebTableUpdatedTrigger

SOURCES = Asset(
    settings.SOURCES_ASSET,
    watchers=[
        AssetWatcher(
            name="pxweb_table_updated",
            trigger=PxWebTableUpdatedTrigger(
                source=settings.default_source(), poll_interval=settings.watch_interval()
            ),
        )
    ],
)
RAW_TABLES = AssetAlias(settings.RAW_ALIAS)


@dag(
    dag_id="cleantech_ingest",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(settings.NIGHTLY_CRON, timezone=settings.NIGHTLY_TZ),
        assets=SOURCES,
    ),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=settings.TAGS_INGEST,
    default_args={
        "owner": settings.OWNER,
        "retries": settings.ingest_retries(),
        "retry_delay": settings.retry_delay(),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(minutes=10),
        "on_failure_callback": alerts.on_failure,
    },
    params={
        "source": Param(
            settings.default_source(), type="string", description="catalog source name"
        ),
        "full_refresh": Param(False, type="boolean", description="re-fetch unchanged tables"),
        "datasets": Param([], type="array", description="catalog datasets to load; empty = all"),
    },
)
def cleantech_ingest():
    @task
    def plan(params=None, triggering_asset_events=None) -> list[str]:
        """The datasets to load: the param's subset or the whole catalog (validated)."""
        return tasks.plan_ingest(params, triggering_asset_events)

    @task(pool=settings.WRITER_POOL)
    def prepare(datasets: list[str], params=None, run_id=None) -> dict:
        """Step prepare: this run's staging file, a fresh copy of the published warehouse."""
        return tasks.prepare_ingest(datasets, run_id=run_id, params=params)

    @task(
        pool=settings.WRITER_POOL,
        outlets=[RAW_TABLES],
        map_index_template="{{ dataset }}",
        execution_timeout=timedelta(minutes=45),
    )
    def ingest(dataset: str, build: dict, run_id=None, outlet_events=None) -> dict:
        """Step ingest for one catalog dataset into this run's staging file; emit `raw.<dataset>`."""
        return tasks.ingest_dataset(
            dataset, build, run_id=run_id, outlet_events=outlet_events, alias=RAW_TABLES
        )

    datasets = plan()
    ingest.partial(build=prepare(datasets)).expand(dataset=datasets)


cleantech_ingest()
