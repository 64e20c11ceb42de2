"""How a step records itself: the run record it carries, the errors it raises, and the run-log
records it writes (`step` on success, `finished` with the outcome, or `failed` with the stage).

`run_step` is the one wrapper every step in `cleantech.core.steps` goes through: it takes the
writer lock the step needs, times it and records it, so a step cannot forget to. A run stopped from
outside (an Airflow task killed on timeout or lost with its worker) is recorded by
`record_interrupted`, from the task's failure callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from cleantech.core.build import Build
from cleantech.core.runlog import (
    PipelineResult,
    log_finished,
    log_started,
    log_step,
    read_run_log,
    run_from_log,
)
from ingest.errors import one_line

T = TypeVar("T")


class PipelineFailed(RuntimeError):
    """A run failed; the published warehouse is unchanged. `str()` is a one-line reason."""

    def __init__(self, reason: str, *, stage: str, result: PipelineResult | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage
        self.result = result


class DataQualityFailed(PipelineFailed):
    """dbt tests or the quality gate failed: the data is wrong, so a retry cannot succeed."""


class StepStopped(Exception):
    """A step decided the run must not publish (the message is the reason)."""

    def __init__(self, reason: str, *, stage: str | None = None, data_quality: bool = False):
        super().__init__(reason)
        self.stage = stage
        self.data_quality = data_quality


def start(
    build: Build,
    *,
    ingest: list[dict[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
) -> PipelineResult:
    """Record that the run started (`started` in the run log); the run record the steps carry.
    `ingest`/`timings`: what happened before this build (an Airflow ingest run's results)."""
    result = PipelineResult(
        run_id=build.run_id,
        published=build.published,
        staging=build.file,
        source=build.source,
        full_refresh=build.full_refresh,
        started_at=build.started_at,
        ingest=list(ingest or []),
        timings=dict(timings or {}),
        stages=list(build.stages),
    )
    log = build.layout.run_log
    try:
        log_started(log, result)
    except OSError as exc:
        raise PipelineFailed(
            f"pipeline failed at start: cannot write the run log {log}: "
            f"{exc.strerror or exc}; the published warehouse {build.published} is unchanged",
            stage="start",
        ) from exc
    return result


def run_of(build: Build, run: PipelineResult | None) -> PipelineResult:
    """The run record: the caller's, or the one the run log holds, or a new one (first step)."""
    if run is not None:
        return run
    return run_from_log(build.layout.run_log, build.run_id) or start(build)


def run_step(build: Build, run: PipelineResult, stage: str, body: Callable[[], T]) -> T:
    """Run one step under the writer lock; record it (or its failure, with the stage). A body that
    sets `run.outcome` (publish: `published`; the Airflow ingest run: `staged` or `failed`)
    finishes the run."""
    t0 = time.monotonic()
    log = build.layout.run_log
    try:
        with build.writer(stage):
            value = body()
            run.timings[stage] = run.timings.get(stage, 0.0) + time.monotonic() - t0
            try:
                if run.outcome != "running":
                    run.finished_at = run.finished_at or datetime.now(UTC)
                    log_finished(log, run)
                else:
                    log_step(log, run, stage)
            except OSError as exc:
                if run.outcome == "published":
                    # The swap is done and ops.pipeline_runs in the published file records the
                    # run: say so, never "unchanged" (and never log it as failed).
                    raise PipelineFailed(
                        f"the warehouse {build.published} was published (run {run.run_id}, "
                        f"recorded in ops.pipeline_runs), but the run log {log} could not be "
                        f"written: {one_line(exc, with_type=True)}",
                        stage=stage,
                        result=run,
                    ) from exc
                raise StepStopped(
                    f"{stage} done, but the run log {log} could not be written: "
                    f"{one_line(exc, with_type=True)}"
                ) from exc
    except BaseException as exc:
        failed_stage = (exc.stage if isinstance(exc, StepStopped) else None) or stage
        run.timings[failed_stage] = run.timings.get(failed_stage, 0.0) + time.monotonic() - t0
        failure = _record_failure(build, run, failed_stage, exc)
        if failure is None:
            raise  # KeyboardInterrupt / SystemExit / Airflow's timeout: recorded, then as is
        raise failure from exc
    return value


def _record_failure(
    build: Build, run: PipelineResult, stage: str, exc: BaseException
) -> PipelineFailed | None:
    """Record a failed run in the run log; the error to raise (None: re-raise `exc` as is)."""
    if isinstance(exc, PipelineFailed) and exc.result is run:
        return exc  # already recorded (a step inside a step)
    reason = str(exc) if isinstance(exc, StepStopped) else one_line(exc, with_type=True)
    run.outcome, run.failed_stage = "failed", stage
    run.reason = reason if isinstance(exc, StepStopped) else f"{stage} failed: {reason}"
    run.finished_at = datetime.now(UTC)
    log = build.layout.run_log
    unlogged = ""
    try:
        log_finished(log, run)
    except OSError as log_exc:  # e.g. the same full disk: never replaces the failure
        unlogged = (
            f" (and the run log {log} could not be written: {one_line(log_exc, with_type=True)})"
        )
    if not isinstance(exc, Exception):
        return None
    kept = f" (the failed build is kept at {build.file})" if build.file.exists() else ""
    kind = (
        DataQualityFailed if isinstance(exc, StepStopped) and exc.data_quality else PipelineFailed
    )
    return kind(
        f"pipeline failed at {stage}: {run.reason}; the published warehouse "
        f"{build.published} is unchanged{kept}{unlogged}",
        stage=stage,
        result=run,
    )


def record_interrupted(
    build: Build, stage: str, reason: str, *, dataset: str | None = None
) -> bool:
    """Record a run stopped from outside (an Airflow task killed on timeout or lost with its
    worker) as failed at `stage`, unless its outcome is already recorded; True when recorded.
    `dataset`: the dataset a killed ingest task was loading (recorded as failed)."""
    log = build.layout.run_log
    rec = read_run_log(log).get(build.run_id)
    if not rec or rec.get("event") == "finished" or not rec.get("state"):
        return False
    run = PipelineResult.from_state(build.run_id, rec["state"])
    if dataset:
        run.ingest = [r for r in run.ingest if r.get("dataset") != dataset]
        run.ingest.append({"dataset": dataset, "outcome": "failed", "message": reason})
    run.outcome, run.failed_stage, run.reason = "failed", stage, f"{stage} failed: {reason}"
    run.finished_at = datetime.now(UTC)
    log_finished(log, run)
    return True
