"""The publish step is safe to retry: `holds_run` tells a try whether an earlier one published."""

from __future__ import annotations

import duckdb

from cleantech.core.build import Build
from cleantech.core.runlog import holds_run


def test_holds_run_reads_ops_pipeline_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CLEANTECH_WAREHOUSE", str(tmp_path / "cleantech.duckdb"))
    first = Build.for_airflow(run_id="manual__1").run_id
    second = Build.for_airflow(run_id="manual__2").run_id
    assert first == "airflow:manual__1"
    db = tmp_path / "w.duckdb"
    assert not holds_run(db, first)  # no file yet
    duckdb.connect(str(db)).close()
    assert not holds_run(db, first)  # no ops.pipeline_runs yet
    con = duckdb.connect(str(db))
    con.execute("create schema ops; create table ops.pipeline_runs (run_id varchar)")
    con.execute("insert into ops.pipeline_runs values (?)", [first])
    con.close()
    assert holds_run(db, first)
    assert not holds_run(db, second)
