"""The steps of write–audit–publish, each usable on its own: the CLI's `pipeline` runs them in
order in one process; each Airflow task runs one of them.

Every step takes a `Build`, takes the writer lock it needs (`Build.writer`: the run's own lock when
the CLI holds it), appends its record to the run log (`Layout.run_log`: `step` on success,
`finished` with `failed` and the stage on a failure, `finished` with `published` after the swap),
and returns a small JSON-serialisable dict, through `recording.run_step`. A step in another process
(an Airflow task) picks up the run where the previous step left it, from the run log
(`runlog.run_from_log`). The Airflow ingest run is a build of two steps (prepare, then ingest once
per dataset) that finishes `staged`: a transform run takes its file over.

Failures raise `PipelineFailed` (one-line reason, `.stage`); a failed dbt test or a critical
expectation raises its subclass `DataQualityFailed` (deterministic: retrying cannot help). A dbt
failure does not stop the run at `transform`: `audit` still runs the gate (its report is what an
operator reads), then reports the dbt failure first.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from cleantech.core.build import Build
from cleantech.core.dbt_runner import dbt_build
from cleantech.core.publish import publish as publish_file
from cleantech.core.publish import unmark_published, wal_path
from cleantech.core.recording import (
    DataQualityFailed,
    PipelineFailed,
    StepStopped,
    record_interrupted,
    run_of,
    run_step,
    start,
)
from cleantech.core.runlog import PipelineResult, holds_run, record_runs, run_from_log
from cleantech.layout import Layout
from cleantech.outputs.export import export_parquet
from cleantech.outputs.report import build_report
from expectations.runner import run_gate
from ingest.datasets import IngestResult, ingest_all
from ingest.errors import one_line
from ingest.sql import qualified, relation_names

__all__ = [
    "CopyFailed",
    "DataQualityFailed",
    "PipelineFailed",
    "audit",
    "ingest",
    "outputs",
    "parquet_step",
    "prepare",
    "prepare_staging",
    "publish",
    "record_interrupted",
    "report_step",
    "start",
    "table_counts",
    "transform",
]

Say = Callable[[str], None]


class CopyFailed(OSError):
    """A copy failed; the message names the destination (the source is fine)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "copy failed"


def _say(text: str) -> None:
    print(text, flush=True)  # stderr is for the one error line


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
            try:
                shutil.copyfile(published, tmp)
            except OSError as exc:
                raise CopyFailed(
                    f"cannot copy the published warehouse to {tmp}: {exc.strerror or exc}"
                ) from exc
            unmark_published(tmp)  # the build is not published (yet): loads may write it
        except BaseException:
            for partial in (tmp, wal_path(tmp)):  # a half-made copy is no use to anyone
                partial.unlink(missing_ok=True)
            raise
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
    run = run_of(build, run)

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
        if not build.publishes and not build.file.exists():
            # an ingest-only run's tasks check their file is still there: create it
            duckdb.connect(str(build.file)).close()
        if rebuild and not build.file.exists():
            raise FileNotFoundError(
                f"nothing to rebuild: no published warehouse at {build.published}"
            )
        return {"build": str(build.file), "from": str(build.published)}

    return run_step(build, run, "prepare", body)


def ingest(
    build: Build,
    run: PipelineResult | None = None,
    *,
    datasets: list[str] | None = None,
    catalog: Any = None,
    client_options: dict[str, Any] | None = None,
    after_ingest: Callable[[Path], None] | None = None,
    say: Say = _say,
) -> dict[str, Any]:
    """`datasets` (default: the build's, or every dataset of its source) into the build file,
    through one `ingest_all` (one client, one rate limiter); fails when one of them failed.

    A build that does not publish (the Airflow ingest run, one call per dataset) keeps every
    dataset's latest result in its run record and finishes the run once every dataset reported:
    `staged` (the transform run takes the file over), or `failed` at ingest."""
    run = run_of(build, run)
    wanted = list(datasets or build.datasets or [])

    def record(r: IngestResult) -> None:
        # the latest result per dataset (a retried Airflow task replaces its failed try's)
        run.ingest = [e for e in run.ingest if e.get("dataset") != r.dataset]
        run.ingest.append(
            {
                "dataset": r.dataset,
                "table": r.table_id,
                "outcome": r.outcome,
                "rows": r.rows,
                "requests": r.requests,
                "bytes": r.bytes,
                "seconds": r.seconds,
                "source_updated": r.source_updated,
                "message": r.message,
            }
        )

    def body() -> dict[str, Any]:
        if not build.publishes:
            if not build.file.exists():
                raise FileNotFoundError(
                    f"staging file {build.file} is gone (taken by a transform run, or removed): "
                    "run cleantech_ingest again"
                )
            # Other tasks of this run recorded their datasets since this one read the run.
            latest = run_from_log(build.layout.run_log, build.run_id)
            if latest is not None:
                run.ingest, run.timings = latest.ingest, latest.timings
        say(f"[pipeline {build.run_id}] ingest ({build.source}) → {build.file}")
        results = ingest_all(
            db=build.file,
            source=build.source,
            full_refresh=build.full_refresh,
            datasets=wanted or None,
            base_url=build.base_url,
            progress=sys.stderr.isatty(),
            catalog=catalog,
            client_options=client_options,
            on_result=record,
        )
        mine = [e for e in run.ingest if e["dataset"] in {r.dataset for r in results}]
        failed = [e for e in mine if e["outcome"] == "failed"]
        if failed:
            # IngestResult messages already name their dataset.
            raise StepStopped(f"ingest failed for {len(failed)} dataset(s): {failed[0]['message']}")
        if after_ingest is not None:
            after_ingest(build.file)
        if not build.publishes:
            _finish_staged_run(build, run)
        return {"datasets": {e["dataset"]: e["outcome"] for e in mine}, "results": mine}

    return run_step(build, run, "ingest", body)


def _finish_staged_run(build: Build, run: PipelineResult) -> None:
    """The outcome of an ingest-only run once every dataset reported (else it stays running):
    `failed` at ingest if one of them failed, else `staged` for the transform run."""
    results = {e["dataset"]: e for e in run.ingest}
    failed = [e for e in results.values() if e.get("outcome") == "failed"]
    if failed:  # another task's dataset failed for good: the run stays failed
        run.outcome, run.failed_stage = "failed", "ingest"
        run.reason = f"ingest failed for {len(failed)} dataset(s): {failed[0].get('message')}"
    elif set(build.datasets or []) <= set(results):
        loaded = sum(1 for e in results.values() if e.get("outcome") == "loaded")
        run.outcome, run.failed_stage = "staged", None
        run.reason = (
            f"{loaded} dataset(s) loaded, {len(results) - loaded} unchanged, in {build.file} "
            "for the transform run"
        )


def transform(
    build: Build, run: PipelineResult | None = None, *, say: Say = _say
) -> dict[str, Any]:
    """`dbt build` (models, snapshots, tests) on the build file. A failed build is recorded, not
    raised: `audit` still runs the gate and then reports the dbt failure."""
    run = run_of(build, run)

    def body() -> dict[str, Any]:
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

    return run_step(build, run, "dbt", body)


def audit(build: Build, run: PipelineResult | None = None) -> dict[str, Any]:
    """The quality gate on the build file (Data Docs in `Layout.quality_dir`); raises
    DataQualityFailed on a critical expectation or an earlier dbt failure (reported first)."""
    run = run_of(build, run)

    def body() -> dict[str, Any]:
        dbt_error = run.dbt_error
        try:
            run.counts = table_counts(build.file)
            gate = run_gate(build.file, report_dir=build.layout.quality_dir)
        except Exception as exc:
            if not dbt_error:
                raise
            # The first failure is the one reported: the gate's crash (often the same
            # cause, e.g. a full disk) never replaces dbt's error.
            raise StepStopped(
                f"dbt build failed: {dbt_error} (the quality gate could not run either: "
                f"{one_line(exc, with_type=True)})",
                stage="dbt",
                data_quality=True,
            ) from exc
        run.gate, run.report_index = gate, gate.report_index
        print(gate.report(), flush=True)
        if dbt_error:
            failed_gate = "" if gate.passed else f"; {gate.one_line()}"
            raise StepStopped(
                f"dbt build failed: {dbt_error}{failed_gate}", stage="dbt", data_quality=True
            )
        if not gate.passed:
            raise StepStopped(gate.one_line() + f" — see {gate.report_index}", data_quality=True)
        return {
            "passed": True,
            "checked": len(gate.results),
            "warnings": len(gate.warnings),
            "report_index": str(gate.report_index) if gate.report_index else None,
        }

    return run_step(build, run, "audit", body)


def publish(build: Build, run: PipelineResult | None = None) -> dict[str, Any]:
    """Record the run (with the history of the file it replaces and of the run log) in the build's
    `ops.pipeline_runs`, then swap the build onto the published path. Retry-safe: a retried
    publish that finds its run already published only reports it (nothing is published twice)."""
    run = run_of(build, run)
    published = build.published

    def body() -> dict[str, Any]:
        if holds_run(published, run.run_id):
            # An earlier try swapped the build in and died before finishing.
            build.file.unlink(missing_ok=True)
            counts = table_counts(published)
            run.outcome = "published"
            return {"published": str(published), "already": True, "counts": counts}
        run.outcome = "published"  # as the build's ops.pipeline_runs records it
        run.finished_at = datetime.now(UTC)
        if not run.counts:
            run.counts = table_counts(build.file)
        if not holds_run(build.file, run.run_id):  # not recorded by an earlier try
            record_runs(build.file, build.layout.run_log, run, history_from=published)
        publish_file(build.file, published)
        return {"published": str(published), "already": False, "counts": dict(run.counts)}

    return run_step(build, run, "publish", body)


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
