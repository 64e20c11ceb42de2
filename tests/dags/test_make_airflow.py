"""`make airflow` after `make run`: the start-up step leaves the project's DAGs active.

`make run` creates the DAGs through `dag.test()`, paused (Airflow's default); a paused DAG never
runs on its schedule and its asset watcher is never started. The start-up step of
scripts/airflow_standalone.sh (`cleantech airflow activate`) must unpause all
three and get the watcher's trigger registered, whatever created the DAGs first.

This file runs after test_dags_end_to_end.py, on the same session metadata DB, so the DAG rows it
starts from are the ones the `dag.test()` chain created (when run alone, it creates them by
parsing, also paused).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.conftest import AIRFLOW_ENV, REPO_ROOT

pytestmark = pytest.mark.slow

PROJECT_DAGS = ("cleantech_ingest", "cleantech_report", "cleantech_transform")


def _paused(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select dag_id, is_paused from dag where dag_id in (?, ?, ?)", PROJECT_DAGS
        ).fetchall()
    return dict(rows)


def _watcher_triggers(db: Path) -> list[str]:
    """Trigger class paths linked to the `pxweb_sources` asset (what the triggerer will run)."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select t.classpath from asset a"
            " join asset_watcher w on w.asset_id = a.id"
            " join trigger t on t.id = w.trigger_id"
            " where a.name = 'pxweb_sources'"
        ).fetchall()
    return [r[0] for r in rows]


def _activate(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **AIRFLOW_ENV, "CLEANTECH_WATCH_INTERVAL": "45"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cleantech",
            "airflow",
            "activate",
            "--log",
            str(tmp_path / "a.log"),
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_start_up_step_unpauses_the_dags_that_make_run_created_and_registers_the_watcher(
    airflow_db, tmp_path
):
    if set(_paused(airflow_db)) != set(PROJECT_DAGS):
        # Run alone: let Airflow create the rows the way a parse does (paused at creation).
        from cleantech.orchestration.airflow_activate import _parse_dags_into_db

        _parse_dags_into_db()
    before = _paused(airflow_db)
    assert before == dict.fromkeys(PROJECT_DAGS, 1), (
        "the DAGs should start out paused, as after make run"
    )
    assert _watcher_triggers(airflow_db) == [], "a paused DAG's watcher must not be registered yet"

    proc = _activate(tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert _paused(airflow_db) == dict.fromkeys(PROJECT_DAGS, 0)
    assert _watcher_triggers(airflow_db) == [
        "cleantech.orchestration.watcher.PxWebTableUpdatedTrigger"
    ]
    out = proc.stdout
    # The start-up lines say what runs on its own and how to stop it; Airflow's own log lines
    # went to the log file, not into them.
    assert "DAGs active (unpaused): cleantech_ingest, cleantech_report, cleantech_transform" in out
    assert "'0 2 * * *' Europe/Stockholm" in out
    assert "watcher: registered" in out and "every 45 s" in out and "source 'demo'" in out
    assert "airflow dags pause cleantech_ingest" in out
    assert "[info" not in out and "Filling up the DagBag" in (tmp_path / "a.log").read_text()

    # Idempotent: a second start-up (a second `make airflow`) changes nothing and still succeeds.
    again = _activate(tmp_path)
    assert again.returncode == 0, again.stderr
    assert _paused(airflow_db) == dict.fromkeys(PROJECT_DAGS, 0)
    assert _watcher_triggers(airflow_db) == [
        "cleantech.orchestration.watcher.PxWebTableUpdatedTrigger"
    ]


def test_standalone_script_activates_before_starting_airflow():
    script = (REPO_ROOT / "scripts" / "airflow_standalone.sh").read_text()
    activate = re.search(r"^\"\$py\" -m cleantech airflow activate\b.*\|\|", script, re.M)
    standalone = script.find('"standalone"]')
    assert activate and standalone > activate.start(), (
        "activate must run (and be checked) before standalone starts"
    )
