"""The steps of write–audit–publish, each usable on its own: the CLI's `pipeline` runs them in
order in one process; each Airflow task runs one of them.

Every step takes a `Build`, takes the writer lock it needs (`Build.writer`: the run's own lock when
the CLI holds it), appends its record to the run log (`Layout.run_log`: `step` on success,
`finished` with `failed` and the stage on a failure, `finished` with `published` after the swap),
and returns a small JSON-serialisable dict. A step in another process (an Airflow task) picks up
the run where the previous step left it, from the run log (`runlog.run_from_log`).

Failures raise `PipelineFailed` (one-line reason, `.stage`); a failed dbt test or a critical
expectation raises its subclass `DataQualityFailed` (deterministic: retrying cannot help). A dbt
failure does not stop the run at `transform`: `audit` still runs the gate (its report is what an
operator reads), then reports the dbt failure first.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from cleantech.core.build import Build
from cleantech.core.dbt_runner import dbt_build
from cleantech.core.publish import publish as publish_file
from cleantech.core.publish import unmark_published, wal_path
from cleantech.core.runlog import (
    PipelineResult,
    holds_run,
    log_finished,
    log_started,
    log_step,
    read_run_log,
    record_runs,
    run_from_log,
)
from cleantech.layout import Layout
from cleantech.outputs.export import export_parquet
from cleantech.outputs.report import build_report
from expectations.runner import run_gate
from ingest.datasets import ingest_all
from ingest.errors import one_line
from ingest.sql import qualified, relation_names

T = TypeVar("T")
Say = Callable[[str], None]


class PipelineFailed(RuntimeError):
    """A run failed; the published warehouse is unchanged. `str()` is a one-line reason."""

    def __init__(self, reason: str, *, stage: str, result: PipelineResult | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage
        self.result = result


class DataQualityFailed(PipelineFailed):
    """dbt tests or the quality gate failed: the data is wrong, so a retry cannot succeed."""


class CopyFailed(OSError):
    """A copy failed; the message names the destination (the source is fine)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "copy failed"


class _Stop(Exception):
    """A step decided the run must not publish (the message is the reason)."""

    def __init__(self, reason: str, *, stage: str | None = None, data_quality: bool = False):
        super().__init__(reason)
        self.stage = stage
        self.data_quality = data_quality


def _say(text: str) -> None:
    print(text, flush=True)  # stderr is for the one error line


# ----------------------------------------------------------------------------------------------
# Test hook: pause at a named stage so a test can SIGKILL the run there deterministically


def pause_point(stage: str) -> None:
    """If `CLEANTECH_TEST_PAUSE_AT` names `stage`, write `paused-<stage>-<pid>` into
    `CLEANTECH_TEST_PAUSE_DIR` and wait until a `release-<stage>` file appears there."""
    wanted = os.environ.get("CLEANTECH_TEST_PAUSE_AT", "")
    if stage not in [s.strip() for s in wanted.split(",") if s.strip()]:
        return
    import tempfile

    folder = Path(os.environ.get("CLEANTECH_TEST_PAUSE_DIR") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"paused-{stage}-{os.getpid()}").write_text(str(os.getpid()), encoding="utf-8")
    release = folder / f"release-{stage}"
    while not release.exists():
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------
# File helpers


def prepare_staging(published: Path, staging: Path) -> Path:
    """Start a fresh build: unlink any stale staging file, then copy the published file (if any)."""
    staging.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging.with_name(staging.name + ".tmp")
    for stale in (staging, wal_path(staging), tmp, wal_path(tmp), Layout(published).next_file):
        stale.unlink(missing_ok=True)
    if published.exists():
        try:
            shutil.copyfile(published, tmp)
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # a partial copy is no use to anyone
            raise CopyFailed(
                f"cannot copy the published warehouse to {tmp}: {exc.strerror or exc}"
            ) from exc
        unmark_published(tmp)  # the build is not published (yet): loads may write it
        os.replace(tmp, staging)
    return staging


def table_counts(db: Path) -> dict[str, int]:
    """Row counts of the raw and mart tables of a warehouse file (opened read-only)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            (schema, name)
            for schema in ("marts", "raw")
            for name in relation_names(con, schema, base_tables_only=True)
        ]
        return {
            f"{s}.{t}": int(con.execute(f"select count(*) from {qualified(s, t)}").fetchone()[0])  # type: ignore[index]  # noqa: S608
            for s, t in tables
        }
    finally:
        con.close()


# ----------------------------------------------------------------------------------------------
# The run record


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


def _run_of(build: Build, run: PipelineResult | None) -> PipelineResult:
    """The run record: the caller's, or the one the run log holds, or a new one (first step)."""
    if run is not None:
        return run
    return run_from_log(build.layout.run_log, build.run_id) or start(build)


def _step(
    build: Build, run: PipelineResult, stage: str, body: Callable[[], T], *, final: bool = False
) -> T:
    """Run one step under the writer lock; record it (or its failure, with the stage)."""
    t0 = time.monotonic()
    try:
        with build.writer(stage):
            value = body()
            run.timings[stage] = run.timings.get(stage, 0.0) + time.monotonic() - t0
            if final:
                run.finished_at = datetime.now(UTC)
                log_finished(build.layout.run_log, run)
            else:
                log_step(build.layout.run_log, run, stage)
    except BaseException as exc:
        failed_stage = (exc.stage if isinstance(exc, _Stop) else None) or stage
        run.timings[failed_stage] = run.timings.get(failed_stage, 0.0) + time.monotonic() - t0
        failure = _record_failure(build, run, failed_stage, exc)
        if failure is None:
            raise  # KeyboardInterrupt / SystemExit: recorded, then propagate as is
        raise failure from exc
    return value


def _record_failure(
    build: Build, run: PipelineResult, stage: str, exc: BaseException
) -> PipelineFailed | None:
    """Record a failed run in the run log; the error to raise (None: re-raise `exc` as is)."""
    if isinstance(exc, PipelineFailed) and exc.result is run:
        return exc  # already recorded (a step inside a step)
    reason = str(exc) if isinstance(exc, _Stop) else one_line(exc, with_type=True)
    run.outcome, run.failed_stage = "failed", stage
    run.reason = reason if isinstance(exc, _Stop) else f"{stage} failed: {reason}"
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
    kind = DataQualityFailed if isinstance(exc, _Stop) and exc.data_quality else PipelineFailed
    return kind(
        f"pipeline failed at {stage}: {run.reason}; the published warehouse "
        f"{build.published} is unchanged{kept}{unlogged}",
        stage=stage,
        result=run,
    )


def record_interrupted(build: Build, stage: str, reason: str) -> bool:
    """Record a run stopped from outside (an Airflow task killed on timeout or lost with its
    worker) as failed at `stage`, unless its outcome is already recorded; True when recorded."""
    log = build.layout.run_log
    rec = read_run_log(log).get(build.run_id)
    if not rec or rec.get("event") == "finished" or not rec.get("state"):
        return False
    run = PipelineResult.from_state(build.run_id, rec["state"])
    run.outcome, run.failed_stage, run.reason = "failed", stage, f"{stage} failed: {reason}"
    run.finished_at = datetime.now(UTC)
    log_finished(log, run)
    return True


# ----------------------------------------------------------------------------------------------
# The steps


def prepare(
    build: Build,
    run: PipelineResult | None = None,
    *,
    staging: Path | None = None,
    rebuild: bool = False,
) -> dict[str, Any]:
    """The build file, under the lock: `staging` moved into place (an Airflow ingest run's file),
    or a fresh copy of the published warehouse (`rebuild`: which must exist). Retry-safe: a build
    file already there is kept when it came from `staging`."""
    run = _run_of(build, run)

    def body() -> dict[str, Any]:
        if staging is not None:
            if not build.file.exists():
                if not staging.exists():
                    raise FileNotFoundError(
                        f"staging file {staging} is gone (built by an earlier run?)"
                    )
                build.file.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging, build.file)
            return {"build": str(build.file), "from": str(staging)}
        prepare_staging(build.published, build.file)
        if rebuild and not build.file.exists():
            raise FileNotFoundError(
                f"nothing to rebuild: no published warehouse at {build.published}"
            )
        return {"build": str(build.file), "from": str(build.published)}

    return _step(build, run, "prepare", body)


def ingest(
    build: Build,
    run: PipelineResult | None = None,
    *,
    catalog: Any = None,
    after_ingest: Callable[[Path], None] | None = None,
    say: Say = _say,
) -> dict[str, Any]:
    """Every dataset of the build's source (or `build.datasets`) into the build file, through one
    `ingest_all` (one client, one rate limiter); fails when any dataset failed."""
    run = _run_of(build, run)

    def record(r: Any) -> None:
        run.ingest.append(
            {
                "dataset": r.dataset,
                "outcome": r.outcome,
                "rows": getattr(r, "rows", None),
                "requests": getattr(r, "requests", None),
                "seconds": getattr(r, "seconds", None),
                "source_updated": getattr(r, "source_updated", None),
                "message": getattr(r, "message", None),
            }
        )
        if len(run.ingest) == 1:
            pause_point("ingest")  # mid-ingest: one dataset written, the others not yet

    def body() -> dict[str, Any]:
        say(f"[pipeline {build.run_id}] ingest ({build.source}) → {build.file}")
        ingest_all(
            db=build.file,
            source=build.source,
            full_refresh=build.full_refresh,
            datasets=build.datasets,
            base_url=build.base_url,
            progress=sys.stderr.isatty(),
            catalog=catalog,
            on_result=record,
        )
        failed = [r for r in run.ingest if r["outcome"] == "failed"]
        if failed:
            # IngestResult messages already name their dataset.
            raise _Stop(f"ingest failed for {len(failed)} dataset(s): {failed[0]['message']}")
        if after_ingest is not None:
            after_ingest(build.file)
        return {"datasets": {r["dataset"]: r["outcome"] for r in run.ingest}}

    return _step(build, run, "ingest", body)


def transform(
    build: Build, run: PipelineResult | None = None, *, say: Say = _say
) -> dict[str, Any]:
    """`dbt build` (models, snapshots, tests) on the build file. A failed build is recorded, not
    raised: `audit` still runs the gate and then reports the dbt failure."""
    run = _run_of(build, run)

    def body() -> dict[str, Any]:
        pause_point("dbt")
        say(f"[pipeline {build.run_id}] dbt build")
        try:
            res = dbt_build(build.file, full_refresh=build.full_refresh, quiet=True)
        except Exception as exc:  # DbtFailed, or dbt itself crashing
            run.dbt_error = one_line(exc, with_type=True)
            say(f"dbt build failed: {run.dbt_error}")
            return {"build": str(build.file), "passed": False, "error": run.dbt_error}
        run.dbt_error = None
        say(res.summary())
        return {"build": str(build.file), "passed": True, "summary": res.summary()}

    return _step(build, run, "dbt", body)


def audit(build: Build, run: PipelineResult | None = None) -> dict[str, Any]:
    """The quality gate on the build file (Data Docs in `Layout.quality_dir`); raises
    DataQualityFailed on a critical expectation or an earlier dbt failure (reported first)."""
    run = _run_of(build, run)

    def body() -> dict[str, Any]:
        pause_point("audit")
        dbt_error = run.dbt_error
        try:
            run.counts = table_counts(build.file)
            gate = run_gate(build.file, report_dir=build.layout.quality_dir)
        except Exception as exc:
            if not dbt_error:
                raise
            # The first failure is the one reported: the gate's crash (often the same
            # cause, e.g. a full disk) never replaces dbt's error.
            raise _Stop(
                f"dbt build failed: {dbt_error} (the quality gate could not run either: "
                f"{one_line(exc, with_type=True)})",
                stage="dbt",
                data_quality=True,
            ) from exc
        run.gate, run.report_index = gate, gate.report_index
        print(gate.report(), flush=True)
        if dbt_error:
            failed_gate = "" if gate.passed else f"; {gate.one_line()}"
            raise _Stop(
                f"dbt build failed: {dbt_error}{failed_gate}", stage="dbt", data_quality=True
            )
        if not gate.passed:
            raise _Stop(gate.one_line() + f" — see {gate.report_index}", data_quality=True)
        return {
            "passed": True,
            "checked": len(gate.results),
            "warnings": len(gate.warnings),
            "report_index": str(gate.report_index) if gate.report_index else None,
        }

    return _step(build, run, "audit", body)


def publish(build: Build, run: PipelineResult | None = None) -> dict[str, Any]:
    """Record the run (with the history of the file it replaces and of the run log) in the build's
    `ops.pipeline_runs`, then swap the build onto the published path. Retry-safe: a retried
    publish that finds its run already published only reports it (nothing is published twice)."""
    run = _run_of(build, run)
    published = build.published

    def body() -> dict[str, Any]:
        if holds_run(published, run.run_id):
            # An earlier try swapped the build in and died before finishing.
            build.file.unlink(missing_ok=True)
            counts = table_counts(published)
            run.outcome = "published"
            return {"published": str(published), "already": True, "counts": counts}
        run.outcome = "published"
        run.finished_at = datetime.now(UTC)
        if not run.counts:
            run.counts = table_counts(build.file)
        if not holds_run(build.file, run.run_id):  # not recorded by an earlier try
            record_runs(build.file, build.layout.run_log, run, history_from=published)
        publish_file(build.file, published, before_swap=lambda: pause_point("before_swap"))
        return {"published": str(published), "already": False, "counts": dict(run.counts)}

    return _step(build, run, "publish", body, final=True)


def outputs(published: Path, say: Say = _say) -> dict[str, Any]:
    """The analyst-facing files beside a publish: the HTML report and Parquet exports.

    They read the published file read-only, outside the writer lock, and are not part of the run
    record (the run has published); a failure here says so in one line without pretending the
    (already published) warehouse failed."""
    report = report_step(published, say=None)
    files = parquet_step(published, say=None)
    say(f"report: {report}; Parquet: {len(files)} mart tables in {Layout(published).parquet_dir}")
    return {"report": report, "parquet": files}


def report_step(published: Path, say: Say | None = _say) -> str:
    """The HTML report beside the published warehouse (`Layout.report_html`)."""
    try:
        written = build_report(published, Layout(published).report_html)
    except Exception as exc:
        raise _outputs_failed(published, exc) from exc
    if say:
        say(f"report written to {written}")
    return str(written)


def parquet_step(published: Path, say: Say | None = _say) -> list[str]:
    """Every mart as Parquet beside the published warehouse (`Layout.parquet_dir`)."""
    folder = Layout(published).parquet_dir
    try:
        files = export_parquet(published, folder)
    except Exception as exc:
        raise _outputs_failed(published, exc) from exc
    if say:
        say(f"{len(files)} mart tables exported to {folder}")
    return [str(f) for f in files]


def _outputs_failed(published: Path, exc: BaseException) -> PipelineFailed:
    return PipelineFailed(
        f"the warehouse {published} was published, but writing the report or Parquet "
        f"exports failed: {one_line(exc, with_type=True)}",
        stage="report",
    )
