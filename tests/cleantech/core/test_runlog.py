"""The run history at publish: carried forward from the replaced file, killed runs corrected."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cleantech.core.runlog import STAGES, PipelineResult, log_finished, log_started, record_runs


def _run(run_id: str, tmp_path: Path, outcome: str = "published") -> PipelineResult:
    run = PipelineResult(
        run_id=run_id,
        published=tmp_path / "p.duckdb",
        staging=tmp_path / "s.duckdb",
        source="demo",
        full_refresh=False,
        started_at=datetime.now(UTC),
    )
    run.outcome, run.finished_at = outcome, datetime.now(UTC)
    return run


def _runs(db: Path) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("select run_id, outcome from ops.pipeline_runs").fetchall())


def test_history_of_the_replaced_file_is_carried_into_a_build_that_lacks_it(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    published, build = tmp_path / "published.duckdb", tmp_path / "build.duckdb"
    duckdb.connect(str(build)).close()  # built before `first` was published: no history
    record_runs(published, log, _run("first", tmp_path))  # what the replaced file holds
    record_runs(build, log, _run("second", tmp_path), history_from=published)
    assert _runs(build) == {"first": "published", "second": "published"}


def test_a_run_recorded_as_killed_gets_its_outcome_once_the_log_has_it(tmp_path: Path) -> None:
    log, db = tmp_path / "runs.jsonl", tmp_path / "w.duckdb"
    in_flight = _run("airflow:r1", tmp_path, outcome="running")
    log_started(log, in_flight)  # between two Airflow tasks when another run publishes
    record_runs(db, log, _run("cli-1", tmp_path))
    assert _runs(db)["airflow:r1"] == "killed"
    in_flight.outcome = "failed"
    log_finished(log, in_flight)
    record_runs(db, log, _run("cli-2", tmp_path))
    assert _runs(db) == {"airflow:r1": "failed", "cli-1": "published", "cli-2": "published"}


def test_a_killed_run_is_recorded_at_the_first_stage_that_did_not_complete(tmp_path: Path) -> None:
    from cleantech.core.runlog import log_step

    log, db = tmp_path / "runs.jsonl", tmp_path / "w.duckdb"
    cases = {
        "cli-started": (None, list(STAGES), "prepare"),  # killed before prepare completed
        "cli-after-ingest": ("ingest", list(STAGES), "dbt"),
        "cli-after-audit": ("audit", list(STAGES), "publish"),
        "airflow:after-prepare": ("prepare", ["prepare", "dbt", "audit", "publish"], "dbt"),
        "airflow-ingest:mid": ("ingest", ["prepare", "ingest"], "ingest"),
    }
    for run_id, (done, stages, _) in cases.items():
        run = _run(run_id, tmp_path, outcome="running")
        run.stages = stages
        log_started(log, run)
        if done:
            log_step(log, run, done)
    record_runs(db, log, _run("publisher", tmp_path))
    with duckdb.connect(str(db), read_only=True) as con:
        rows = {
            r[0]: (r[1], r[2], r[3])
            for r in con.execute(
                "select run_id, outcome, failed_stage, reason from ops.pipeline_runs"
            ).fetchall()
        }
    for run_id, (done, _, stage) in cases.items():
        outcome, failed_stage, reason = rows[run_id]
        assert (outcome, failed_stage) == ("killed", stage), (run_id, rows[run_id])
        assert (f"after step {done}" if done else "before its first step") in reason
