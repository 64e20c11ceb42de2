"""The run log and the run history: one JSON line per event in `Layout.run_log`
(`cleantech.runs.jsonl`), merged into `ops.pipeline_runs` / `ops.quality_results` at publish.

Events: `started` (a run took the lock), `step` (a step finished; the record is the run so far) and
`finished` (the outcome: `published`, `failed` with the stage, or `staged`: an Airflow ingest run
handed its file to the transform run). A run whose last event is not
`finished` stopped without an outcome (killed) and shows as `killed` in `ops.pipeline_runs`, at the
first of its stages that did not complete.
The run log is written for every run, failed ones included, because a failed run must leave the
published file byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from expectations.runner import ExpectationOutcome, GateResult
from ingest.errors import one_line
from ingest.sql import has_table, rollback_quietly

STAGES = ("prepare", "ingest", "dbt", "audit", "publish")


class RecordRunsFailed(RuntimeError):
    """The run history could not be written into the build (nothing of it was kept)."""


@dataclass
class PipelineResult:
    """What one run did: outcome, per-stage timings, counts, the gate result and where things are."""

    run_id: str
    published: Path
    staging: Path
    source: str
    full_refresh: bool
    started_at: datetime
    outcome: str = "running"  # 'published' | 'failed' | 'staged' (an Airflow ingest run)
    failed_stage: str | None = None
    reason: str | None = None
    finished_at: datetime | None = None
    timings: dict[str, float] = field(default_factory=dict)
    ingest: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    gate: Any = None  # expectations.runner.GateResult
    report_index: Path | None = None
    dbt_error: str | None = None  # a failed dbt build, reported by the audit step
    stages: list[str] = field(default_factory=lambda: list(STAGES))  # this run's steps, in order

    def state(self) -> dict[str, Any]:
        """What the next step (perhaps another process: an Airflow task) needs to carry on."""
        return {
            "published": str(self.published),
            "staging": str(self.staging),
            "source": self.source,
            "full_refresh": self.full_refresh,
            "started_at": self.started_at.isoformat(),
            "timings": self.timings,
            "ingest": self.ingest,
            "counts": self.counts,
            "gate": self.gate.to_dict() if self.gate is not None else None,
            "dbt_error": self.dbt_error,
            "stages": self.stages,
        }

    @classmethod
    def from_state(cls, run_id: str, state: dict[str, Any]) -> PipelineResult:
        """The inverse of `state()`."""
        gate_doc = state.get("gate")
        gate = None
        if gate_doc:
            gate = GateResult(
                results=[ExpectationOutcome(**r) for r in gate_doc.get("results") or []],
                report_index=Path(gate_doc["report_index"])
                if gate_doc.get("report_index")
                else None,
                suites=list(gate_doc.get("suites") or []),
                seconds=float(gate_doc.get("seconds") or 0.0),
            )
        return cls(
            run_id=run_id,
            published=Path(state["published"]),
            staging=Path(state["staging"]),
            source=state.get("source") or "demo",
            full_refresh=bool(state.get("full_refresh")),
            started_at=datetime.fromisoformat(state["started_at"]),
            timings=dict(state.get("timings") or {}),
            ingest=list(state.get("ingest") or []),
            counts=dict(state.get("counts") or {}),
            gate=gate,
            report_index=gate.report_index if gate else None,
            dbt_error=state.get("dbt_error"),
            stages=list(state.get("stages") or STAGES),
        )

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


def append_record(log: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to the run log, durably and whole: a write that fails part-way (a
    full disk) is cut back off, so the next record starts on a line of its own. An OSError
    names the log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(log, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        if end and os.pread(fd, 1, end - 1) != b"\n":
            data = b"\n" + data  # a killed writer's half line stays alone (and is skipped)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise OSError(exc.errno, exc.strerror or str(exc), str(log)) from exc
    finally:
        os.close(fd)


def log_finished(log: Path, result: PipelineResult) -> None:
    """Append the run's final record (outcome, timings, failed expectations) to the run log."""
    append_record(
        log,
        {
            "run_id": result.run_id,
            "event": "finished",
            "run": result.run_row(),
            "quality": result.quality_rows(),
            "state": result.state(),
        },
    )


def log_started(log: Path, result: PipelineResult) -> None:
    """Append a run's `started` record (its state so far)."""
    append_record(
        log,
        {
            "run_id": result.run_id,
            "event": "started",
            "run": result.run_row(),
            "state": result.state(),
        },
    )


def log_step(log: Path, result: PipelineResult, stage: str) -> None:
    """Append the record of a finished step: the run so far, and the state the next step reads."""
    append_record(
        log,
        {
            "run_id": result.run_id,
            "event": "step",
            "stage": stage,
            "run": result.run_row(),
            "state": result.state(),
        },
    )


def run_from_log(log: Path, run_id: str) -> PipelineResult | None:
    """The run as its last record left it (None when the log has no state for it)."""
    rec = read_run_log(log).get(run_id)
    if not rec or not rec.get("state"):
        return None
    return PipelineResult.from_state(run_id, rec["state"])


def holds_run(db: Path, run_id: str) -> bool:
    """Whether the warehouse file `db` records `run_id` in `ops.pipeline_runs` (read-only; False
    when the file or the table does not exist)."""
    if not Path(db).exists():
        return False
    con = duckdb.connect(str(db), read_only=True)
    try:
        if not has_table(con, "ops", "pipeline_runs"):
            return False
        row = con.execute(
            "select count(*) from ops.pipeline_runs where run_id = ?", [run_id]
        ).fetchone()
        return bool(row and row[0])
    finally:
        con.close()


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


def record_runs(
    db: Path, log: Path, current: PipelineResult, *, history_from: Path | None = None
) -> None:
    """Write `ops.pipeline_runs` / `ops.quality_results` in `db`: the history it already holds, the
    rows of `history_from` (the file about to be replaced) it lacks, every run of the log it lacks
    (runs that never finished become 'killed'), and the current run.

    `history_from` carries the history forward when `db` was not copied from the file it replaces
    (two overlapping Airflow runs: the second must not drop the first one's published record).

    One transaction: on a failure (a full disk) `db` keeps none of it, and the error
    (RecordRunsFailed) names `db`."""
    try:
        con = duckdb.connect(str(db))
    except (duckdb.IOException, OSError) as exc:
        raise RecordRunsFailed(f"cannot open {db} to record the run: {one_line(exc)}") from exc
    try:
        con.execute("begin transaction")
        _write_runs(con, log, current, history_from)
        con.execute("commit")
    except BaseException as exc:
        rollback_quietly(con)
        if isinstance(exc, (duckdb.IOException, OSError)):
            raise RecordRunsFailed(
                f"cannot write ops.pipeline_runs into {db}: {one_line(exc)}"
            ) from exc
        raise
    finally:
        con.close()


def killed_run(rec: dict[str, Any]) -> dict[str, Any]:
    """The outcome of a run whose last record is not `finished`: `killed`, at the first of its
    stages that did not complete (each step records when it completes)."""
    state = rec.get("state") or {}
    stages = list(state.get("stages") or STAGES)
    done = rec.get("stage") if rec.get("event") == "step" else None
    at = stages.index(done) + 1 if done in stages else 0
    stopped = stages[min(at, len(stages) - 1)]
    after = f"after step {done}" if done else "before its first step completed"
    return {
        "outcome": "killed",
        "failed_stage": stopped,
        "reason": f"the run stopped at {stopped} without recording an outcome ({after})",
    }


def _write_runs(
    con: duckdb.DuckDBPyConnection, log: Path, current: PipelineResult, history_from: Path | None
) -> None:
    """The body of record_runs, inside its transaction."""
    con.execute("create schema if not exists ops")
    cols = ", ".join(f"{c} {t}" for c, t in _RUN_COLUMNS.items())
    con.execute(f"create table if not exists ops.pipeline_runs ({cols})")
    cols = ", ".join(f"{c} {t}" for c, t in _QUALITY_COLUMNS.items())
    con.execute(f"create table if not exists ops.quality_results ({cols})")
    con.execute("comment on table ops.pipeline_runs is 'One row per pipeline run (ingest → dbt → "
                "quality gate → publish): outcome, timings, counts. Failed, killed and staged "
                "(Airflow ingest) runs included.'")  # fmt: skip
    con.execute("comment on table ops.quality_results is 'Expectations that failed in each "
                "run (critical ones blocked publishing, warnings were published).'")  # fmt: skip
    if history_from is not None and Path(history_from).exists():
        _carry_history(con, Path(history_from))
    logged = read_run_log(log)
    # A run recorded as 'killed' by an earlier publish (it had no outcome then: an Airflow run
    # between two tasks) that has since finished gets its real outcome.
    stale = [
        r[0]
        for r in con.execute(
            "select run_id from ops.pipeline_runs where outcome = 'killed'"
        ).fetchall()
        if (logged.get(r[0]) or {}).get("event") == "finished"
    ]
    if stale:
        marks = ", ".join("?" for _ in stale)
        for table in ("ops.pipeline_runs", "ops.quality_results"):
            con.execute(f"delete from {table} where run_id in ({marks})", stale)  # noqa: S608
    known = {r[0] for r in con.execute("select run_id from ops.pipeline_runs").fetchall()}
    rows: list[dict[str, Any]] = []
    quality: list[dict[str, Any]] = []
    for run_id, rec in logged.items():
        if run_id in known or run_id == current.run_id:
            continue
        run = dict(rec.get("run") or {})
        if rec.get("event") != "finished":
            run.update(killed_run(rec))
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


def _carry_history(con: duckdb.DuckDBPyConnection, source: Path) -> None:
    """Copy the runs (and their failed expectations) that `source` records and `con` lacks."""
    con.execute("attach ? as prev (read_only)", [str(source)])
    try:
        _copy_history(con)
    except BaseException:
        # An aborted transaction refuses the DETACH too: never replace the error with that.
        with contextlib.suppress(duckdb.Error):
            con.execute("detach prev")
        raise
    con.execute("detach prev")


def _copy_history(con: duckdb.DuckDBPyConnection) -> None:
    """The body of _carry_history, with `prev` attached."""
    if not _prev_has(con, "pipeline_runs"):
        return
    names = ", ".join(_RUN_COLUMNS)
    con.execute(
        f"insert into ops.pipeline_runs ({names}) select {names} from prev.ops.pipeline_runs "  # noqa: S608
        "where run_id not in (select run_id from ops.pipeline_runs)"
    )
    if _prev_has(con, "quality_results"):
        names = ", ".join(_QUALITY_COLUMNS)
        con.execute(
            f"insert into ops.quality_results ({names}) select {names} "  # noqa: S608
            "from prev.ops.quality_results where run_id not in "
            "(select distinct run_id from ops.quality_results)"
        )


def _prev_has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "select 1 from duckdb_tables() where database_name = 'prev' and schema_name = 'ops' "
        "and table_name = ?",
        [table],
    ).fetchone()
    return row is not None
