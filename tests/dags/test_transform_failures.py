"""Failed Airflow transform runs are recorded like CLI runs, and the run history survives every path.

With real dbt, Great Expectations and Airflow (`dag.test()`): a transform run that fails at dbt and
one that fails at the gate are each in `cleantech.runs.jsonl` with their stage, are not retried
(data-quality failures: try_number stays 1), and show in `ops.pipeline_runs` after the next
successful publish. Publishes from the CLI and from Airflow, in a row, keep every run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from cleantech.core.pipeline import read_run_log, run_pipeline
from cleantech.layout import Layout

pytestmark = pytest.mark.slow


def _task_tries(dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        return {ti.task_id: (str(ti.state), ti.try_number) for ti in tis}


def _staging_copy(published: Path, name: str, sql: str) -> Path:
    """A staging file for `conf={"staging": ...}`: the published warehouse with `sql` applied."""
    staging = published.parent / "staging" / f"{name}.duckdb"
    staging.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(published, staging)
    with duckdb.connect(str(staging)) as con:
        con.execute(sql)
    return staging


def _pipeline_runs(published: Path) -> dict[str, tuple[str, str | None]]:
    with duckdb.connect(str(published), read_only=True) as con:
        rows = con.execute("select run_id, outcome, failed_stage from ops.pipeline_runs").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_failed_airflow_runs_are_recorded_and_every_publish_keeps_the_history(
    tmp_path: Path, monkeypatch, airflow_db, dagbag, pxweb_server
) -> None:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    monkeypatch.setenv("CLEANTECH_WAREHOUSE", str(published))
    monkeypatch.setenv("CLEANTECH_STAGING", str(tmp_path / "warehouse" / "staging" / "c.duckdb"))
    monkeypatch.setenv("PXWEB_BASE_URL", pxweb_server.base_url_v2)
    log = Layout(published).run_log
    transform = dagbag.dags["cleantech_transform"]

    # 1. The CLI publishes.
    cli_first = run_pipeline(published=published, echo=lambda _: None).run_id

    # 2. Airflow, failing at dbt (a raw table the models read is gone) and at the gate (a year missing
    #    from a source table, which dbt does not test): failed, not retried, recorded with the stage.
    failing = {
        "dbt": _staging_copy(published, "no-population", "drop table raw.population_county"),
        "audit": _staging_copy(
            published,
            "missing-year",
            "delete from raw.employment_county_industry where Tid = '2012'",
        ),
    }
    failed_runs = {}
    for stage, staging in failing.items():
        before = published.read_bytes()
        dr = transform.test(run_conf={"staging": str(staging)})
        assert str(dr.state) == "failed", stage
        tries = _task_tries("cleantech_transform", dr.run_id)
        assert tries["quality_gate"] == ("failed", 1), tries  # data quality: no retry
        assert "publish" not in tries or tries["publish"][0] != "success"
        assert published.read_bytes() == before, f"a run failing at {stage} changed the file"
        record = read_run_log(log)[f"airflow:{dr.run_id}"]
        assert record["event"] == "finished", record
        assert (record["run"]["outcome"], record["run"]["failed_stage"]) == ("failed", stage)
        failed_runs[f"airflow:{dr.run_id}"] = stage

    # 3. Airflow publishes (a rebuild of the published warehouse): the failed runs are in it.
    dr = transform.test(run_conf={})
    assert str(dr.state) == "success"
    airflow_published = f"airflow:{dr.run_id}"
    runs = _pipeline_runs(published)
    assert runs[cli_first] == ("published", None)
    assert runs[airflow_published] == ("published", None)
    for run_id, stage in failed_runs.items():
        assert runs[run_id] == ("failed", stage)

    # 4. The CLI publishes again: every run is still there, and the new one.
    cli_second = run_pipeline(published=published, echo=lambda _: None).run_id
    runs = _pipeline_runs(published)
    assert set(runs) == {cli_first, airflow_published, cli_second, *failed_runs}
    assert runs[cli_second] == ("published", None)
