"""Transform tasks that Airflow stops from outside are recorded with their stage, end to end.

1. **Execution timeout.** A manual cleantech_transform run (`dag.test()`, in a subprocess) whose
   `dbt_build` task has a 2 s `execution_timeout` (`CLEANTECH_DBT_TIMEOUT_SECONDS`): Airflow's
   real timeout (SIGALRM → `AirflowTaskTimeout`) fires inside `dbt build`; the task fails and is
   retried (a timeout is not a data-quality failure), and the run is in the run log as failed at
   dbt.
2. **Lost worker.** A run SIGKILLed inside its `quality_gate` task leaves the task instance
   `running` with no one to report it (on its last try: with a try left, Airflow runs the retry
   callback and the retry records the run). The scheduler's own check for task instances without a
   heartbeat (`SchedulerJobRunner._find_and_purge_task_instances_without_heartbeats`) finds it
   and queues the failure callback in the metadata DB; `airflow dag-processor` (the process that
   runs such callbacks in Airflow 3) runs `alerts.on_failure`, which records the run as failed at
   audit.

The published file is unchanged by both, the lock is free, and the next publish has both runs,
with their stage, in `ops.pipeline_runs`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from cleantech.core.pipeline import run_pipeline
from cleantech.core.runlog import read_run_log
from cleantech.layout import Layout
from tests.cleantech.core.test_kill_and_concurrency import (
    DRIVER,
    REPO,
    _env,
    _kill,
    _start,
    _wait_for,
    assert_lock_free,
    held_run,
    sha,
)
from tests.dags.conftest import AIRFLOW_ENV

# `make test-faults` runs these (CI too, .ci/run); `make test` leaves them out (minutes of kills).
pytestmark = [pytest.mark.slow, pytest.mark.faults]

TRANSFORM = ["dag", "cleantech_transform", "{}"]  # no events: rebuild the published warehouse


def _tries(run_id: str) -> dict[str, tuple[str, int]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == "cleantech_transform", TaskInstance.run_id == run_id
            )
        ).all()
        return {ti.task_id: (str(ti.state), ti.try_number) for ti in tis}


def _scheduler_finds_the_task_without_heartbeat(run_id: str, task_id: str) -> int:
    """The scheduler's heartbeat-timeout check, as it runs in `airflow scheduler`; returns how
    many failure callbacks it queued in the metadata DB.

    `dag.test()` ran the task without a scheduler, so the task instance has no `queued_by_job_id`
    and no heartbeat time: both are set as if this scheduler had queued it and the worker's last
    heartbeat were an hour old (a worker lost an hour ago)."""
    from airflow.callbacks.database_callback_sink import DatabaseCallbackSink
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.db_callback_request import DbCallbackRequest
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    job = Job()
    runner = SchedulerJobRunner(job=job)
    with create_session() as session:
        session.add(job)
        session.flush()
        ti = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == "cleantech_transform",
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
            )
        ).one()
        assert str(ti.state) == "running", ti.state  # nobody reported the killed task
        ti.queued_by_job_id = job.id
        ti.last_heartbeat_at = datetime.now(UTC) - timedelta(hours=1)
    runner.executor.callback_sink = DatabaseCallbackSink()
    runner._find_and_purge_task_instances_without_heartbeats()
    with create_session() as session:
        return session.scalar(select(func.count()).select_from(DbCallbackRequest)) or 0


def test_a_timed_out_and_a_lost_transform_task_are_recorded_with_their_stage(
    airflow_db, demo_server, tmp_path: Path
) -> None:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    run_pipeline(published=published, base_url=demo_server.base_url_v2, echo=lambda _: None)
    env = {**_env(published, demo_server.base_url_v2), **AIRFLOW_ENV}
    env["CLEANTECH_STAGING"] = str(published.parent / "staging" / "c.duckdb")
    log = Layout(published).run_log
    before = sha(published)

    # 1. dbt_build stopped by its execution timeout (both tries), recorded failed at dbt
    timed = {
        **env,
        "CLEANTECH_DBT_TIMEOUT_SECONDS": "2",
        "CLEANTECH_TRANSFORM_RETRY_DELAY_SECONDS": "1",
    }
    proc = subprocess.run(
        [*DRIVER, *TRANSFORM], cwd=REPO, env=timed, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["state"] == "failed", proc.stdout[-3000:]
    tries = _tries(summary["run_id"])
    assert tries["dbt_build"] == ("failed", 2), (tries, proc.stdout[-4000:])  # retried: not DQ
    timed_out = f"airflow:{summary['run_id']}"
    record = read_run_log(log)[timed_out]
    assert record["event"] == "finished", record
    assert (record["run"]["outcome"], record["run"]["failed_stage"]) == ("failed", "dbt")
    assert "AirflowTaskTimeout" in record["run"]["reason"], record["run"]["reason"]
    assert sha(published) == before
    assert_lock_free(published)

    # 2. the worker running quality_gate on its last try is lost (SIGKILL mid-audit); with a try
    #    left Airflow would run the retry callback and retry the task, which records the run
    markers = tmp_path / "markers"
    last_try = {**env, "CLEANTECH_TRANSFORM_RETRIES": "0"}
    proc = _start(last_try, tmp_path / "lost.log", held_run("audit", markers, TRANSFORM))
    _wait_for(lambda: any(markers.glob("held-audit-*")), proc, "the run to reach the audit")
    _kill(proc)
    (lost,) = [r for r, rec in read_run_log(log).items() if rec["event"] != "finished"]
    assert read_run_log(log)[lost]["stage"] == "dbt"  # dbt_build done, quality_gate never reported
    assert (
        _scheduler_finds_the_task_without_heartbeat(lost.removeprefix("airflow:"), "quality_gate")
        == 1
    )
    processor = subprocess.run(
        [sys.executable, "-m", "airflow", "dag-processor", "--num-runs", "2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert processor.returncode == 0, processor.stderr[-3000:]
    record = read_run_log(log)[lost]
    assert record["event"] == "finished", (record, processor.stdout[-3000:])
    assert (record["run"]["outcome"], record["run"]["failed_stage"]) == ("failed", "audit")
    assert "lost worker" in record["run"]["reason"]
    assert sha(published) == before
    assert_lock_free(published)

    # 3. the next publish records both with their stage
    run_pipeline(published=published, base_url=demo_server.base_url_v2, echo=lambda _: None)
    with duckdb.connect(str(published), read_only=True) as con:
        runs = dict(
            (r[0], (r[1], r[2]))
            for r in con.execute(
                "select run_id, outcome, failed_stage from ops.pipeline_runs"
            ).fetchall()
        )
    assert runs[timed_out] == ("failed", "dbt")
    assert runs[lost] == ("failed", "audit")
