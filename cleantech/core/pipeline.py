"""Write–audit–publish: ingest → dbt build → quality gate → publish, one writer at a time.

Files, for a published warehouse `warehouse/cleantech.duckdb` (`CLEANTECH_WAREHOUSE`):

- `warehouse/cleantech.duckdb.lock`: the writer lock (`cleantech.core.lock`); a second run waits
  (`CLEANTECH_LOCK_TIMEOUT`, default 600 s) and then fails naming the holder.
- `warehouse/staging/cleantech.duckdb` (`CLEANTECH_STAGING`): the build. Every run starts it afresh
  as a copy of the published file, so the incremental state (load log, `updated` of each vintage,
  revisions) carries over from the last *good* build, and a failed or killed run never poisons the
  next one: a stale staging file (and its `.wal`) is unlinked first, even if an orphaned process
  still holds it. A failed build stays there for inspection until the next run.
- `warehouse/quality/index.html`: the Great Expectations Data Docs of the last audit, plus
  `gate_result.json`.
- `warehouse/cleantech.runs.jsonl`: the run log, one JSON line per event (`started`, `finished`),
  written for every run, failed ones included, because a failed run must leave the published file
  byte-identical. Before each publish the log is merged into the build's `ops.pipeline_runs` and
  `ops.quality_results`, so the published warehouse holds the history of every run up to and
  including the one that published it (runs that stopped without an outcome show as `killed`).

A run only replaces the published file through `cleantech.core.publish.publish` (CHECKPOINT, verify
read-only, `os.replace`): the published path is always the previous or the new complete warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cleantech.core import steps
from cleantech.core.build import Build
from cleantech.core.lock import LockFailed, WarehouseLocked
from cleantech.core.runlog import STAGES, PipelineResult, read_run_log, record_runs
from cleantech.core.steps import (
    CopyFailed,
    DataQualityFailed,
    PipelineFailed,
    prepare_staging,
    table_counts,
)
from cleantech.layout import published_path
from ingest.catalog import load_catalog
from ingest.errors import one_line

__all__ = [
    "STAGES",
    "CopyFailed",
    "DataQualityFailed",
    "PipelineFailed",
    "PipelineResult",
    "prepare_staging",
    "publish_extras",
    "read_run_log",
    "record_runs",
    "run_pipeline",
    "table_counts",
]


def run_pipeline(
    *,
    source: str = "demo",
    full_refresh: bool = False,
    base_url: str | None = None,
    published: Path | None = None,
    datasets: list[str] | None = None,
    lock_timeout: float | None = None,
    echo: Callable[[str], None] | None = None,
    after_ingest: Callable[[Path], None] | None = None,
) -> PipelineResult:
    """Ingest → dbt build → quality gate → publish into `published` (default: the configured
    warehouse), the steps of `cleantech.core.steps` in order under one writer lock; raises
    PipelineFailed with a one-line reason, after recording the run.

    `after_ingest(staging)` runs between ingest and dbt (tests use it to simulate a loader defect
    that JSON-stat cannot carry, such as a duplicated row)."""
    say = echo or (lambda text: print(text, flush=True))  # stderr is for the one error line
    catalog = _checked_catalog(source, datasets)  # bad input: one line, nothing logged or touched
    build = Build.for_cli(
        published=Path(published) if published else published_path(),
        source=source,
        full_refresh=full_refresh,
        datasets=datasets,
        base_url=base_url,
        lock_timeout=lock_timeout,
    )
    try:
        lock = build.hold()
    except WarehouseLocked as exc:
        # not recorded: the run log belongs to the lock holder
        raise PipelineFailed(str(exc), stage="lock") from exc
    except LockFailed as exc:
        raise PipelineFailed(
            f"pipeline failed at lock: {exc}; the published warehouse {build.published} is unchanged",
            stage="lock",
        ) from exc
    with lock:
        run = steps.start(build)
        steps.prepare(build, run)
        steps.ingest(build, run, catalog=catalog, after_ingest=after_ingest, say=say)
        steps.transform(build, run, say=say)
        steps.audit(build, run)
        steps.publish(build, run)
    say(
        f"[pipeline {run.run_id}] published {build.published} in {sum(run.timings.values()):.1f} s "
        f"({', '.join(f'{k} {v:.1f} s' for k, v in run.timings.items())})"
    )
    steps.outputs(build.published, say)
    return run


def publish_extras(published: Path, say: Callable[[str], None] = print) -> None:
    """The analyst-facing files beside a new publish (`steps.outputs`)."""
    steps.outputs(published, say)


def _checked_catalog(source: str, datasets: list[str] | None) -> Any:
    """The catalog, with the source and the datasets checked (before the lock and the run log)."""

    try:
        catalog = load_catalog()
        catalog.source(source)
        for name in datasets or []:
            catalog.dataset(name)
    except Exception as exc:
        raise PipelineFailed(one_line(exc), stage="config") from exc
    return catalog
