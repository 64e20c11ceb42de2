"""The kill-at-each-stage test of the CLI (tests/cleantech/core/test_kill_and_concurrency.py), run
against the Airflow path: a manual cleantech_transform run (`dag.test()`, rebuilding the published
warehouse) in a subprocess, SIGKILLed at each stage of the core steps its tasks call. The published file stays byte-identical, and the
next Airflow run publishes and records every killed run as `killed`.

The Airflow ingest DAG loads through its own mapped tasks (not the `ingest` step), so its stages
here are those of the transform: dbt, audit and the moment before the swap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cleantech.core.pipeline import run_pipeline
from tests.cleantech.core.test_kill_and_concurrency import REPO, _env, kill_at_each_stage, sha
from tests.dags.conftest import AIRFLOW_ENV

pytestmark = pytest.mark.slow

# A manual cleantech_transform run (no events: rebuilds a copy of the published warehouse).
AIRFLOW_RUN = [
    sys.executable,
    "-c",
    "import json; from airflow.configuration import conf; "
    "from airflow.dag_processing.dagbag import DagBag; "
    "from cleantech.orchestration.local_runs import ensure_pool; ensure_pool(); "
    "bag = DagBag(dag_folder=conf.get('core', 'dags_folder')); "
    "dr = bag.dags['cleantech_transform'].test(run_conf={}); "
    "print(json.dumps({'state': str(dr.state)}))",
]


def test_killed_airflow_runs_leave_the_published_file_whole_and_the_next_run_publishes(
    airflow_db, demo_server, tmp_path: Path
) -> None:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    base_url = demo_server.base_url_v2
    run_pipeline(published=published, base_url=base_url, echo=lambda _: None)
    env = {**_env(published, base_url), **AIRFLOW_ENV}
    # a new source vintage is not needed: a full refresh makes every dataset `loaded`, so the
    # transform runs (it stops early when every dataset is unchanged)
    env["CLEANTECH_STAGING"] = str(published.parent / "staging" / "c.duckdb")
    full = [
        *AIRFLOW_RUN[:2],
        AIRFLOW_RUN[2].replace("source='demo'", "source='demo', full_refresh=True"),
    ]
    stages = ("dbt", "audit", "before_swap")
    kill_at_each_stage(published, env, full, stages, tmp_path)
    before = sha(published)

    proc = subprocess.run(full, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["state"] == "success", proc.stdout[-3000:]
    assert sha(published) != before
    with duckdb.connect(str(published), read_only=True) as con:
        runs = con.execute(
            "select run_id, outcome from ops.pipeline_runs order by started_at"
        ).fetchall()
    airflow_runs = [(r, o) for r, o in runs if r.startswith("airflow:")]
    assert [o for _, o in airflow_runs] == ["killed"] * len(stages) + ["published"], runs
    assert [o for r, o in runs if not r.startswith("airflow:")] == ["published"]  # the CLI's
    assert not any(p.name.endswith(".next") for p in published.parent.iterdir())
    assert os.path.exists(published)
