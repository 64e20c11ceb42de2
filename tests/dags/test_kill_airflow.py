"""The kill-at-each-stage test of the CLI (tests/cleantech/core/test_kill_and_concurrency.py), run
against the Airflow path: DAG runs (`dag.test()`) in a subprocess, held inside a core step by
`kill_driver` and SIGKILLed there. The published file stays byte-identical and the lock free; the
next Airflow runs publish and record every killed run as `killed` at its stage.

- cleantech_transform (a manual run: rebuilds a copy of the published warehouse), killed mid-dbt,
  mid-audit and right before the swap;
- cleantech_ingest, killed mid-ingest (the first dataset written, its step not yet recorded).
"""

from __future__ import annotations

import json
import subprocess
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
    kill_at_each_stage,
    killed_runs,
    sha,
)
from tests.dags.conftest import AIRFLOW_ENV

# `make test-faults` runs these (CI too, .ci/run); `make test` leaves them out (minutes of kills).
pytestmark = [pytest.mark.slow, pytest.mark.faults]

TRANSFORM = ["dag", "cleantech_transform", "{}"]  # no events: rebuild the published warehouse
INGEST = ["dag", "cleantech_ingest", json.dumps({"source": "demo"})]


def test_killed_airflow_runs_leave_the_published_file_whole_and_the_next_runs_publish(
    airflow_db, demo_server, tmp_path: Path
) -> None:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    base_url = demo_server.base_url_v2
    run_pipeline(published=published, base_url=base_url, echo=lambda _: None)
    env = {**_env(published, base_url), **AIRFLOW_ENV}
    env["CLEANTECH_STAGING"] = str(published.parent / "staging" / "c.duckdb")
    log = Layout(published).run_log

    kill_at_each_stage(published, env, TRANSFORM, ("dbt", "audit", "before_swap"), tmp_path)
    kill_at_each_stage(published, env, INGEST, ("ingest",), tmp_path)
    (ingest_rec,) = [r for r in read_run_log(log).values() if r["run_id"].startswith("airflow-")]
    # the killed ingest run: prepared, killed before its first dataset's step was recorded
    assert (ingest_rec["event"], ingest_rec.get("stage")) == ("step", "prepare"), ingest_rec
    before = sha(published)

    # the next runs: an ingest run (every table unchanged: it stages them and the transform would
    # stop early), then a manual transform run that rebuilds and publishes
    for what in (INGEST, TRANSFORM):
        proc = subprocess.run(
            [*DRIVER, *what], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        assert summary["state"] == "success", proc.stdout[-3000:]
    assert sha(published) != before
    with duckdb.connect(str(published), read_only=True) as con:
        runs = con.execute(
            "select run_id, outcome, failed_stage from ops.pipeline_runs order by started_at"
        ).fetchall()
    transform = [(o, s) for r, o, s in runs if r.startswith("airflow:")]
    assert transform == [
        ("killed", "dbt"),
        ("killed", "audit"),
        ("killed", "publish"),
        ("published", None),
    ], runs
    ingest = [(o, s) for r, o, s in runs if r.startswith("airflow-ingest:")]
    assert ingest == [("killed", "ingest"), ("staged", None)], runs
    assert [o for r, o, _ in runs if not r.startswith("airflow")] == ["published"]  # the CLI's
    assert [s for _, s in killed_runs(published)] == ["dbt", "audit", "publish", "ingest"]
    assert not any(p.name.endswith(".next") for p in published.parent.iterdir())
