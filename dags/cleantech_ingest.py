"""
### cleantech_ingest — PxWeb tables → `raw.<dataset>` in this run's staging file

Runs **nightly at 02:00 Europe/Stockholm** and **whenever a source table is republished**: the
`pxweb_sources` asset has an `AssetWatcher` (`cleantech.orchestration.watcher.PxWebTableUpdatedTrigger`, run by the
triggerer) that polls every catalog table's `updated` and fires only when it moves.

1. `plan` — the datasets to load (the catalog, or the `datasets` param).
2. `prepare` — this run's staging file: a fresh copy of the published warehouse
   (`cleantech.core.pipeline.prepare_staging`), so the incremental state is the last *published* one.
3. `ingest` — **one mapped task per dataset** (map index = dataset name) calling
   `ingest.datasets.ingest_dataset` on the staging file. A table whose source `updated` has not moved is
   not re-fetched (one metadata request; outcome `unchanged`). Retries with exponential backoff.
   Each success emits an asset event on `raw.<dataset>` (through the `raw_tables` alias) whose
   `extra` holds the dataset, the source's `updated`, rows, requests, bytes, seconds, the outcome
   and the staging file.

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

from cleantech.orchestration import alerts, settings, transform_plan
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

    @task(pool=settings.WRITER_POOL)
    def prepare(run_id=None) -> str:
        """This run's staging file: a fresh copy of the published warehouse (write–audit–publish)."""
        import duckdb

        from cleantech.core.lock import WriterLock
        from cleantech.core.pipeline import prepare_staging
        from cleantech.layout import published_path

        published = published_path()
        staging = transform_plan.ingest_staging_for(run_id)
        with WriterLock(published, purpose="Airflow task cleantech_ingest.prepare"):
            prepare_staging(published, staging)
            if not staging.exists():  # first run: nothing published yet
                duckdb.connect(str(staging)).close()
        for old in transform_plan.remove_old_run_files():
            print(f"removed old run file {old}")
        print(f"staging: {staging} (from {published if published.exists() else 'empty'})")
        return str(staging)

    @task(
        pool=settings.WRITER_POOL,
        outlets=[RAW_TABLES],
        map_index_template="{{ dataset }}",
        execution_timeout=timedelta(minutes=45),
    )
    def ingest(dataset: str, staging: str, params=None, run_id=None, outlet_events=None) -> dict:
        """Load one catalog dataset into this run's staging file; emit `raw.<dataset>`."""
        from pathlib import Path

        from airflow.sdk import get_current_context

        from cleantech.core.lock import WriterLock
        from cleantech.layout import published_path
        from ingest.datasets import ingest_dataset

        get_current_context()["dataset"] = dataset  # type: ignore[typeddict-unknown-key]
        if not Path(staging).exists():
            raise FileNotFoundError(f"staging file {staging} is gone: run cleantech_ingest again")
        with WriterLock(
            published_path(), purpose=f"Airflow task cleantech_ingest.ingest[{dataset}]"
        ):
            result = ingest_dataset(
                dataset,
                db=Path(staging),
                source=params["source"],
                full_refresh=params["full_refresh"],
                progress=False,
                client_options=settings.client_options(),
            )
        extra = transform_plan.result_extra(
            result, source=params["source"], staging=staging, run_id=run_id
        )
        print(f"{dataset}: {result.outcome} {result.message}".rstrip())
        outlet_events[RAW_TABLES].add(Asset(settings.raw_asset_name(dataset)), extra=extra)
        return extra

    ingest.partial(staging=prepare()).expand(dataset=plan())


cleantech_ingest()
