"""DAG integrity: every file imports, every DAG is well-formed, and DAG files stay light to parse."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys

import pytest

from cleantech.layout import Layout
from cleantech.orchestration import alerts, settings, transform_plan
from tests.dags.conftest import AIRFLOW_ENV, DAGS_DIR

DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
HEAVY = ("dbt", "great_expectations", "pandas", "duckdb", "pyarrow")


def test_every_dag_file_imports_without_errors(dagbag):
    assert DAG_FILES, "no DAG files found"
    assert dagbag.import_errors == {}
    files_with_dags = {dag.fileloc for dag in dagbag.dags.values()}
    for path in DAG_FILES:
        assert str(path) in files_with_dags, f"{path.name} defines no DAG"


def test_the_project_dags_are_there(dagbag):
    assert set(dagbag.dag_ids) == {"cleantech_ingest", "cleantech_transform", "cleantech_report"}


@pytest.mark.parametrize("dag_id", ["cleantech_ingest", "cleantech_transform", "cleantech_report"])
def test_dag_has_tags_owner_retries_docs_and_no_cycles(dagbag, dag_id):
    from airflow.utils.dag_cycle_tester import check_cycle

    dag = dagbag.dags[dag_id]
    assert dag.tags, f"{dag_id} has no tags"
    assert dag.doc_md and dag_id in dag.doc_md
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.default_args.get("owner") not in (None, "", "airflow")
    assert dag.default_args.get("retries", 0) >= 1
    assert dag.default_args.get("on_failure_callback") is alerts.on_failure
    check_cycle(dag)
    for task in dag.tasks:
        assert task.owner == dag.default_args["owner"]
        assert task.execution_timeout is not None, f"{task.task_id} has no timeout"
        assert task.on_failure_callback, f"{task.task_id} has no failure callback"


def test_ingest_dag_is_nightly_and_watched(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    dag = dagbag.dags["cleantech_ingest"]
    schedule = dag.timetable
    assert isinstance(schedule, AssetOrTimeSchedule)
    assert schedule.timetable.expression == "0 2 * * *"
    assert str(schedule.timetable.timezone) == "Europe/Stockholm"
    sources = schedule.asset_condition
    assert sources.name == settings.SOURCES_ASSET
    (watcher,) = sources.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert (
        classpath == "cleantech.orchestration.watcher.PxWebTableUpdatedTrigger"
    )  # importable by the triggerer
    assert kwargs["poll_interval"] >= 5


def test_ingest_task_is_mapped_retried_and_in_the_writer_pool(dagbag):
    dag = dagbag.dags["cleantech_ingest"]
    assert set(dag.task_ids) == {"plan", "prepare", "ingest"}
    assert dag.get_task("ingest").upstream_task_ids == {"plan", "prepare"}
    assert dag.get_task("prepare").pool == settings.WRITER_POOL
    ingest = dag.get_task("ingest")
    assert ingest.is_mapped
    assert ingest.pool == settings.WRITER_POOL
    assert ingest.retries >= 1
    assert ingest.retry_exponential_backoff
    assert [o.name for o in ingest.outlets] == [settings.RAW_ALIAS]


def test_transform_dag_waits_for_every_raw_asset_and_emits_warehouse(dagbag):
    from airflow.sdk import AssetAll

    dag = dagbag.dags["cleantech_transform"]
    condition = dag.timetable.asset_condition
    assert isinstance(condition, AssetAll)
    names = {a.name for a in condition.objects}
    assert names == {settings.raw_asset_name(n) for n in settings.catalog_dataset_names()}
    assert [t.task_id for t in dag.topological_sort()] == [
        "plan",
        "prepare",
        "dbt_build",
        "quality_gate",
        "publish",
    ]
    for task_id in ("prepare", "dbt_build", "quality_gate", "publish"):
        assert dag.get_task(task_id).pool == settings.WRITER_POOL
    publish = dag.get_task("publish")
    # Retried when its worker dies; a retry that finds the run published only emits the event.
    assert publish.retries >= 1
    from cleantech.core import steps

    assert "tasks.publish(" in inspect.getsource(publish.python_callable)
    assert "holds_run(published" in inspect.getsource(steps.publish)
    assert [o.name for o in publish.outlets] == [settings.WAREHOUSE_ASSET]


def test_dag_files_import_no_heavy_modules_at_top_level():
    """dbt, Great Expectations, pandas (and DuckDB, Arrow) load only inside tasks."""
    code = (
        "import json, runpy, sys\n"
        f"for path in {[str(p) for p in DAG_FILES]!r}:\n"
        "    runpy.run_path(path)\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **AIRFLOW_ENV},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"DAG files import {loaded} at top level"


def test_failure_callback_logs_one_line_and_posts_to_webhook(monkeypatch, caplog):
    posted = []
    monkeypatch.setattr(alerts, "post_alert", lambda url, line: posted.append((url, line)))

    class TI:
        dag_id, task_id, map_index, run_id, try_number = "d", "ingest", 2, "r1", 3

    context = {"task_instance": TI(), "exception": RuntimeError("HTTP 500\nfrom TAB900")}
    monkeypatch.delenv("CLEANTECH_ALERT_WEBHOOK", raising=False)
    alerts.on_failure(context)
    assert posted == []
    monkeypatch.setenv("CLEANTECH_ALERT_WEBHOOK", "http://127.0.0.1:9/hook")
    alerts.on_failure(context)
    ((url, line),) = posted
    assert url == "http://127.0.0.1:9/hook"
    assert line == "FAILED d.ingest[2] run=r1 try 3: HTTP 500 from TAB900"
    assert "\n" not in line


def test_alert_webhook_failure_never_raises():
    assert alerts.post_alert("http://127.0.0.1:9/unreachable", "x", timeout=0.5) is False


class Event:
    def __init__(self, minute: int, **extra):
        from datetime import UTC, datetime

        self.timestamp = datetime(2026, 1, 1, 2, minute, tzinfo=UTC)
        self.extra = extra


def _raw(dataset: str, minute: int, outcome: str, run: str = "r2") -> Event:
    return Event(
        minute,
        dataset=dataset,
        outcome=outcome,
        staging=f"/s/ingest-{run}.duckdb",
        ingest_run_id=run,
    )


def test_plan_transform_takes_the_newest_event_per_dataset():
    events = {
        "raw.a": [_raw("a", 1, "loaded", "r1"), _raw("a", 5, "unchanged")],
        "raw.b": [_raw("b", 6, "loaded")],
        "raw_tables": [_raw("b", 6, "loaded")],  # the same event, seen through the alias
        "pxweb_sources": [Event(0, from_trigger=True)],
    }
    plan = transform_plan.plan_transform(events, None, published_exists=True)
    assert plan["mode"] == "ingest"
    assert plan["staging"] == "/s/ingest-r2.duckdb"
    assert {n: e["outcome"] for n, e in plan["datasets"].items()} == {
        "a": "unchanged",
        "b": "loaded",
    }
    assert transform_plan.changed_datasets(events) == (["b"], ["a"])


def test_plan_transform_skips_when_nothing_changed_and_a_warehouse_exists():
    events = {"raw.a": [_raw("a", 1, "unchanged")], "raw.b": [_raw("b", 2, "unchanged")]}
    assert transform_plan.plan_transform(events, None, published_exists=True) is None
    assert transform_plan.plan_transform(events, None, published_exists=False)["mode"] == "ingest"


def test_plan_transform_refuses_events_from_different_ingest_runs():
    # b failed in the newest ingest run r2: its newest event is from r1.
    events = {"raw.a": [_raw("a", 5, "loaded", "r2")], "raw.b": [_raw("b", 1, "loaded", "r1")]}
    with pytest.raises(transform_plan.InconsistentEvents, match="2 ingest runs"):
        transform_plan.plan_transform(events, None, published_exists=True)


def test_plan_transform_manual_runs():
    assert transform_plan.plan_transform({}, {}, published_exists=True)["mode"] == "rebuild"
    plan = transform_plan.plan_transform({}, {"staging": "/x.duckdb"}, published_exists=True)
    assert (plan["mode"], plan["staging"]) == ("conf", "/x.duckdb")
    conf = {"datasets": {"a": {"dataset": "a", "outcome": "loaded", "staging": "/y.duckdb"}}}
    assert transform_plan.plan_transform({}, conf, published_exists=True)["staging"] == "/y.duckdb"


def test_run_files_are_named_per_run():
    run_id = "asset_triggered__2026-11-28T10:00:00+00:00"
    layout = Layout.current()
    assert layout.airflow_ingest_staging(run_id).name == (
        "ingest-asset_triggered__2026-11-28T10-00-00-00-00.duckdb"
    )
    assert layout.airflow_build(run_id).parent == layout.airflow_ingest_staging(run_id).parent


def _task_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    """Functions decorated with `@task` / `@task(...)` / `@task.short_circuit(...)`."""

    def is_task(dec: ast.expr) -> bool:
        node = dec.func if isinstance(dec, ast.Call) else dec
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id == "task"

    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and any(is_task(d) for d in node.decorator_list)
    ]


def test_every_dag_task_body_is_one_call_into_the_core():
    """DAGs are thin: a task body is (a docstring and) `return <one call>` to
    `cleantech.orchestration.tasks`, whose arguments are plain names, constants or keywords."""
    counted = 0
    for path in DAG_FILES:
        for fn in _task_functions(ast.parse(path.read_text(encoding="utf-8"))):
            body = list(fn.body)
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            where = f"{path.name}:{fn.name}"
            assert len(body) == 1 and isinstance(body[0], ast.Return), f"{where}: not one statement"
            call = body[0].value
            assert isinstance(call, ast.Call), f"{where}: does not return a call"
            assert ast.unparse(call.func).startswith("tasks."), (
                f"{where}: calls {ast.unparse(call.func)}"
            )
            calls = [n for n in ast.walk(call) if isinstance(n, ast.Call)]
            assert calls == [call], f"{where}: more than one call"
            counted += 1
    assert counted == 10  # ingest: plan, prepare, ingest; transform: 5; report: 2


def test_failure_callback_records_a_killed_ingest_or_transform_task_with_its_stage(
    tmp_path, monkeypatch
):
    """`record_killed_task` maps each DAG's task to its run's build and stage; `plan` (only reads,
    before any run is recorded) and other DAGs' tasks are not runs."""
    from cleantech.core import steps
    from cleantech.core.build import Build
    from cleantech.core.runlog import read_run_log
    from cleantech.layout import Layout
    from cleantech.orchestration.tasks import record_killed_task

    monkeypatch.setenv("CLEANTECH_WAREHOUSE", str(tmp_path / "w" / "cleantech.duckdb"))
    monkeypatch.setenv("CLEANTECH_STAGING", str(tmp_path / "w" / "staging" / "c.duckdb"))
    steps.start(Build.for_airflow_ingest(run_id="i1", datasets=["a", "b"]))
    steps.start(Build.for_airflow(run_id="t1"))

    class TI:
        def __init__(self, dag_id, task_id, run_id, rendered_map_index=None):
            self.dag_id, self.task_id, self.run_id = dag_id, task_id, run_id
            self.rendered_map_index = rendered_map_index

    def killed(ti, exc=None):
        return record_killed_task({"task_instance": ti, "exception": exc})

    assert not killed(TI("cleantech_ingest", "plan", "i1"))
    assert not killed(TI("cleantech_report", "html_report", "t1"))
    assert killed(TI("cleantech_ingest", "ingest", "i1", "b"), TimeoutError("45 min\nexceeded"))
    assert killed(TI("cleantech_transform", "quality_gate", "t1"))
    assert not killed(TI("cleantech_transform", "publish", "t1"))  # already recorded: kept
    log = read_run_log(Layout.current().run_log)
    ingest, transform = log["airflow-ingest:i1"], log["airflow:t1"]
    assert (ingest["run"]["outcome"], ingest["run"]["failed_stage"]) == ("failed", "ingest")
    assert ingest["run"]["reason"] == "ingest failed: 45 min exceeded"
    assert ingest["state"]["ingest"] == [
        {"dataset": "b", "outcome": "failed", "message": "45 min exceeded"}
    ]
    assert (transform["run"]["outcome"], transform["run"]["failed_stage"]) == ("failed", "audit")
    assert "lost worker" in transform["run"]["reason"]
