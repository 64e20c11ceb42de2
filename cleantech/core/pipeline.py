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

import json
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from cleantech import layout as paths
from cleantech.core.dbt_runner import dbt_build
from cleantech.core.lock import LockFailed, WarehouseLocked, WriterLock
from cleantech.core.publish import next_path, publish, unmark_published, wal_path
from cleantech.layout import Layout
from cleantech.outputs.export import export_parquet
from cleantech.outputs.report import build_report
from expectations.runner import run_gate
from ingest.catalog import load_catalog
from ingest.datasets import ingest_all
from ingest.errors import one_line
from ingest.sql import qualified, relation_names

STAGES = ("prepare", "ingest", "dbt", "audit", "publish")


class PipelineFailed(RuntimeError):
    """A pipeline run failed; the published warehouse is unchanged. `str()` is a one-line reason."""

    def __init__(self, reason: str, *, stage: str, result: PipelineResult | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage
        self.result = result


@dataclass
class PipelineResult:
    """What one run did: outcome, per-stage timings, counts, the gate result and where things are."""

    run_id: str
    published: Path
    staging: Path
    source: str
    full_refresh: bool
    started_at: datetime
    outcome: str = "running"  # 'published' | 'failed'
    failed_stage: str | None = None
    reason: str | None = None
    finished_at: datetime | None = None
    timings: dict[str, float] = field(default_factory=dict)
    ingest: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    gate: Any = None  # expectations.runner.GateResult
    report_index: Path | None = None

    def run_row(self) -> dict[str, Any]:
        """The `ops.pipeline_runs` row for this run."""
        gate = self.gate
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "outcome": self.outcome,
            "failed_stage": self.failed_stage,
            "reason": self.reason,
            "source": self.source,
            "full_refresh": self.full_refresh,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "seconds_total": round(sum(self.timings.values()), 3),
            **{
                f"seconds_{s}": round(self.timings[s], 3) if s in self.timings else None
                for s in STAGES
            },
            "datasets_loaded": sum(1 for r in self.ingest if r.get("outcome") == "loaded"),
            "datasets_unchanged": sum(1 for r in self.ingest if r.get("outcome") == "unchanged"),
            "datasets_failed": sum(1 for r in self.ingest if r.get("outcome") == "failed"),
            "rows_loaded": sum(int(r.get("rows") or 0) for r in self.ingest),
            "expectations_checked": len(gate.results) if gate else None,
            "critical_failures": len(gate.critical_failures) if gate else None,
            "warnings": len(gate.warnings) if gate else None,
            "report_index": str(self.report_index) if self.report_index else None,
            "counts_json": json.dumps({"ingest": self.ingest, "tables": self.counts}, default=str),
        }

    def quality_rows(self) -> list[dict[str, Any]]:
        """The `ops.quality_results` rows: every expectation that failed (critical or warning)."""
        if not self.gate:
            return []
        return [
            {
                "run_id": self.run_id,
                "suite": r.suite,
                "name": r.name,
                "expectation_type": r.expectation_type,
                "table_name": r.table,
                "column_name": r.column,
                "severity": r.severity,
                "success": r.success,
                "detail": r.detail,
                "example": r.example,
            }
            for r in self.gate.results
            if not r.success
        ]


# ----------------------------------------------------------------------------------------------
# Where things live


def staging_for(published: Path) -> Path:
    """The staging build for a published file (`Layout.staging`)."""
    return Layout(published).staging


def report_dir_for(published: Path) -> Path:
    """Where the quality report of each run is written (`Layout.quality_dir`)."""
    return Layout(published).quality_dir


def run_log_for(published: Path) -> Path:
    """The JSON-lines run log beside the published file (`Layout.run_log`)."""
    return Layout(published).run_log


# ----------------------------------------------------------------------------------------------
# Test hook: pause at a named stage so a test can SIGKILL the run there deterministically


def pause_point(stage: str) -> None:
    """If `CLEANTECH_TEST_PAUSE_AT` names `stage`, write `paused-<stage>-<pid>` into
    `CLEANTECH_TEST_PAUSE_DIR` and wait until a `release-<stage>` file appears there."""
    wanted = os.environ.get("CLEANTECH_TEST_PAUSE_AT", "")
    if stage not in [s.strip() for s in wanted.split(",") if s.strip()]:
        return
    folder = Path(os.environ.get("CLEANTECH_TEST_PAUSE_DIR") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"paused-{stage}-{os.getpid()}").write_text(str(os.getpid()), encoding="utf-8")
    release = folder / f"release-{stage}"
    while not release.exists():
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------
# Steps (each usable on its own, e.g. by an Airflow task that holds the pool slot)


def prepare_staging(published: Path, staging: Path) -> Path:
    """Start a fresh build: unlink any stale staging file, then copy the published file (if any)."""
    staging.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging.with_name(staging.name + ".tmp")
    for stale in (staging, wal_path(staging), tmp, wal_path(tmp), next_path(published)):
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


class CopyFailed(OSError):
    """A copy failed; the message names the destination (the source is fine)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "copy failed"


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


_RUN_COLUMNS = {
    "run_id": "varchar", "started_at": "timestamptz", "finished_at": "timestamptz",
    "outcome": "varchar", "failed_stage": "varchar", "reason": "varchar", "source": "varchar",
    "full_refresh": "boolean", "pid": "integer", "host": "varchar", "seconds_total": "double",
    **{f"seconds_{s}": "double" for s in STAGES},
    "datasets_loaded": "integer", "datasets_unchanged": "integer", "datasets_failed": "integer",
    "rows_loaded": "bigint", "expectations_checked": "integer", "critical_failures": "integer",
    "warnings": "integer", "report_index": "varchar", "counts_json": "json",
}  # fmt: skip
_QUALITY_COLUMNS = {
    "run_id": "varchar", "suite": "varchar", "name": "varchar", "expectation_type": "varchar",
    "table_name": "varchar", "column_name": "varchar", "severity": "varchar", "success": "boolean",
    "detail": "varchar", "example": "varchar",
}  # fmt: skip


def _append_log(log: Path, record: dict[str, Any]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _log_finished(log: Path, result: PipelineResult) -> None:
    """Append the run's final record (outcome, timings, failed expectations) to the run log."""
    _append_log(
        log,
        {
            "run_id": result.run_id,
            "event": "finished",
            "run": result.run_row(),
            "quality": result.quality_rows(),
        },
    )


def read_run_log(log: Path) -> dict[str, dict[str, Any]]:
    """The last record per run id in a run log (lines a killed writer left half-written are skipped)."""
    runs: dict[str, dict[str, Any]] = {}
    if not log.exists():
        return runs
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("run_id"):
            runs[rec["run_id"]] = rec
    return runs


def record_runs(db: Path, log: Path, current: PipelineResult) -> None:
    """Write `ops.pipeline_runs` / `ops.quality_results` in `db`: the history it already holds, every
    run of the log it lacks (runs that never finished become 'killed'), and the current run."""
    con = duckdb.connect(str(db))
    try:
        con.execute("create schema if not exists ops")
        cols = ", ".join(f"{c} {t}" for c, t in _RUN_COLUMNS.items())
        con.execute(f"create table if not exists ops.pipeline_runs ({cols})")
        cols = ", ".join(f"{c} {t}" for c, t in _QUALITY_COLUMNS.items())
        con.execute(f"create table if not exists ops.quality_results ({cols})")
        con.execute("comment on table ops.pipeline_runs is 'One row per pipeline run (ingest → dbt → "
                    "quality gate → publish): outcome, timings, counts. Failed runs included.'")  # fmt: skip
        con.execute("comment on table ops.quality_results is 'Expectations that failed in each "
                    "run (critical ones blocked publishing, warnings were published).'")  # fmt: skip
        known = {r[0] for r in con.execute("select run_id from ops.pipeline_runs").fetchall()}
        rows: list[dict[str, Any]] = []
        quality: list[dict[str, Any]] = []
        for run_id, rec in read_run_log(log).items():
            if run_id in known or run_id == current.run_id:
                continue
            run = dict(rec.get("run") or {})
            if rec.get("event") != "finished":
                run.update(outcome="killed", reason="the run stopped without recording an outcome")
            rows.append(run)
            quality += rec.get("quality") or []
        rows.append(current.run_row())
        quality += current.quality_rows()
        for table, columns, data in (
            ("ops.pipeline_runs", _RUN_COLUMNS, rows),
            ("ops.quality_results", _QUALITY_COLUMNS, quality),
        ):
            if not data:
                continue
            names = list(columns)
            con.executemany(
                f"insert into {table} ({', '.join(names)}) values ({', '.join('?' for _ in names)})",  # noqa: S608
                [[r.get(c) for c in names] for r in data],
            )
    finally:
        con.close()


# ----------------------------------------------------------------------------------------------
# The chain


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
    warehouse); raises PipelineFailed with a one-line reason, after recording the run.

    `after_ingest(staging)` runs between ingest and dbt (tests use it to simulate a loader defect
    that JSON-stat cannot carry, such as a duplicated row)."""
    say = echo or (lambda text: print(text, flush=True))  # stderr is for the one error line
    catalog = _checked_catalog(source, datasets)  # bad input: one line, nothing logged or touched
    published = Path(published) if published else paths.published_path()
    published = published.resolve()
    staging = staging_for(published)
    log = run_log_for(published)
    result = PipelineResult(
        run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8],
        published=published,
        staging=staging,
        source=source,
        full_refresh=full_refresh,
        started_at=datetime.now(UTC),
    )

    lock = WriterLock(published, purpose="pipeline run", timeout=lock_timeout)
    try:
        lock.acquire()
    except WarehouseLocked as exc:
        # not recorded: the run log belongs to the lock holder
        raise PipelineFailed(str(exc), stage="lock") from exc
    except LockFailed as exc:
        raise PipelineFailed(
            f"pipeline failed at lock: {exc}; the published warehouse {published} is unchanged",
            stage="lock",
        ) from exc
    with lock:
        pause_point("locked")
        try:
            _append_log(log, {"run_id": result.run_id, "event": "started", "run": result.run_row()})
        except OSError as exc:
            raise PipelineFailed(
                f"pipeline failed at start: cannot write the run log {log}: "
                f"{exc.strerror or exc}; the published warehouse {published} is unchanged",
                stage="start",
            ) from exc
        stage = "prepare"
        t0 = time.monotonic()

        def done(name: str) -> None:
            nonlocal t0
            result.timings[name] = time.monotonic() - t0
            t0 = time.monotonic()

        try:
            prepare_staging(published, staging)
            done("prepare")

            stage = "ingest"
            say(f"[pipeline {result.run_id}] ingest ({source}) → {staging}")
            _ingest(result, staging, catalog, source, full_refresh, base_url, datasets)
            if after_ingest is not None:
                after_ingest(staging)
            done("ingest")

            stage = "dbt"
            pause_point("dbt")
            say(f"[pipeline {result.run_id}] dbt build")
            dbt_error = _dbt(staging, full_refresh, say)
            done("dbt")

            stage = "audit"
            pause_point("audit")
            try:
                result.counts = table_counts(staging)

                gate = run_gate(staging, report_dir=report_dir_for(published))
            except Exception as exc:
                if not dbt_error:
                    raise
                # The first failure is the one reported: the gate's crash (often the same
                # cause, e.g. a full disk) never replaces dbt's error.
                stage = "dbt"
                raise _Stop(
                    f"dbt build failed: {dbt_error} (the quality gate could not run either: "
                    f"{one_line(exc, with_type=True)})"
                ) from exc
            result.gate, result.report_index = gate, gate.report_index
            done("audit")
            print(gate.report(), flush=True)
            if dbt_error:
                stage = "dbt"
                failed_gate = "" if gate.passed else f"; {gate.one_line()}"
                raise _Stop(f"dbt build failed: {dbt_error}{failed_gate}")
            if not gate.passed:
                raise _Stop(gate.one_line() + f" — see {gate.report_index}")

            stage = "publish"
            result.outcome = "published"
            result.finished_at = datetime.now(UTC)
            record_runs(staging, log, result)
            publish(staging, published, before_swap=lambda: pause_point("before_swap"))
            done("publish")
        except BaseException as exc:
            reason = str(exc) if isinstance(exc, _Stop) else one_line(exc, with_type=True)
            result.outcome, result.failed_stage = "failed", stage
            result.reason = f"{stage} failed: {reason}" if not isinstance(exc, _Stop) else reason
            result.finished_at = datetime.now(UTC)
            done(stage)
            unlogged = ""
            try:
                _log_finished(log, result)
            except OSError as log_exc:  # e.g. the same full disk: never replaces the failure
                unlogged = f" (and the run log {log} could not be written: {one_line(log_exc, with_type=True)})"
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt / SystemExit: recorded, then propagate as is
            kept = f" (the failed build is kept at {staging})" if staging.exists() else ""
            raise PipelineFailed(
                f"pipeline failed at {stage}: {result.reason}; the published warehouse "
                f"{published} is unchanged{kept}{unlogged}",
                stage=stage,
                result=result,
            ) from exc
        result.finished_at = datetime.now(UTC)
        _log_finished(log, result)
    say(
        f"[pipeline {result.run_id}] published {published} in {sum(result.timings.values()):.1f} s "
        f"({', '.join(f'{k} {v:.1f} s' for k, v in result.timings.items())})"
    )
    publish_extras(published, say)
    return result


def publish_extras(published: Path, say: Callable[[str], None] = print) -> None:
    """The analyst-facing files beside a new publish: the HTML report and Parquet exports.

    They read the published file read-only, outside the writer lock; a failure here says so in one
    line without pretending the (already published) warehouse failed."""

    try:
        report = build_report(published, paths.report_html_path(published))
        files = export_parquet(published, paths.parquet_dir(published))
    except Exception as exc:
        raise PipelineFailed(
            f"the warehouse {published} was published, but writing the report or Parquet "
            f"exports failed: {one_line(exc, with_type=True)}",
            stage="report",
        ) from exc
    say(f"report: {report}; Parquet: {len(files)} mart tables in {Layout(published).parquet_dir}")


class _Stop(Exception):
    """A stage decided the run must not publish (the message is the reason)."""


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


def _ingest(
    result: PipelineResult,
    staging: Path,
    catalog: Any,
    source: str,
    full_refresh: bool,
    base_url: str | None,
    datasets: list[str] | None,
) -> None:
    """All datasets through one `ingest_all` (one client, one rate limiter, one /config call)."""

    def record(r: Any) -> None:
        result.ingest.append(
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
        if len(result.ingest) == 1:
            pause_point("ingest")  # mid-ingest: one dataset written, the others not yet

    ingest_all(
        db=staging,
        source=source,
        full_refresh=full_refresh,
        datasets=datasets,
        base_url=base_url,
        progress=sys.stderr.isatty(),
        catalog=catalog,
        on_result=record,
    )
    failed = [r for r in result.ingest if r["outcome"] == "failed"]
    if failed:
        # IngestResult messages already name their dataset.
        raise _Stop(f"ingest failed for {len(failed)} dataset(s): {failed[0]['message']}")


def _dbt(staging: Path, full_refresh: bool, say: Callable[[str], None]) -> str | None:
    """Run dbt build on the staging file; return a one-line error instead of raising, so the gate
    can still audit (and report) what was built."""

    try:
        res = dbt_build(staging, full_refresh=full_refresh, quiet=True)
    except Exception as exc:  # DbtFailed, or dbt itself crashing
        return one_line(exc, with_type=True)
    say(res.summary())
    return None
