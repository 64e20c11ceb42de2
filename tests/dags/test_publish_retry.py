"""The transform's publish is safe to retry: `holds_run` tells a try whether an earlier one published."""

from __future__ import annotations

import duckdb

from cleantech.orchestration import transform_plan as af


def test_holds_run_reads_ops_pipeline_runs(tmp_path):
    db = tmp_path / "w.duckdb"
    assert not af.holds_run(db, "airflow:x")  # no file yet
    duckdb.connect(str(db)).close()
    assert not af.holds_run(db, "airflow:x")  # no ops.pipeline_runs yet
    con = duckdb.connect(str(db))
    con.execute("create schema ops; create table ops.pipeline_runs (run_id varchar)")
    con.execute("insert into ops.pipeline_runs values (?)", [af.pipeline_run_id("manual__1")])
    con.close()
    assert af.holds_run(db, af.pipeline_run_id("manual__1"))
    assert not af.holds_run(db, af.pipeline_run_id("manual__2"))
