"""End to end through Airflow: the DAGs run with `dag.test()` against the local PxWeb server.

1. cleantech_ingest → cleantech_transform → cleantech_report publish the warehouse with the marts
   and emit the raw and warehouse asset events; a second run with nothing changed re-fetches
   nothing and publishes nothing.
2. A source table answering HTTP 500 to everything fails its mapped task (after a retry); the
   other datasets load; nothing is published.
"""

from __future__ import annotations

import http.server
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from cleantech.layout import Layout
from cleantech.orchestration import local_runs, settings

pytestmark = pytest.mark.slow

MARTS = ("marts.dim_regions", "marts.fct_cleantech_region_year", "marts.cleantech_growth")
DATASETS = ("egss_county", "employment_county_industry", "population_county")


@pytest.fixture
def warehouse_env(tmp_path: Path, monkeypatch, airflow_db) -> Path:
    """A private published path and staging folder for one scenario."""
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    monkeypatch.setenv("CLEANTECH_WAREHOUSE", str(published))
    monkeypatch.setenv("CLEANTECH_STAGING", str(tmp_path / "warehouse" / "staging" / "c.duckdb"))
    monkeypatch.setenv("CLEANTECH_SOURCE", "demo")
    monkeypatch.setenv("CLEANTECH_HTTP_RETRIES", "1")
    return published


def _mapped_states(dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
    """rendered map index (the dataset) → (state, try_number) of the mapped `ingest` task."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == "ingest",
            )
        ).all()
        return {ti.rendered_map_index: (str(ti.state), ti.try_number) for ti in tis}


def test_dags_publish_the_warehouse_then_skip_unchanged_tables(
    warehouse_env, pxweb_server, monkeypatch
):
    monkeypatch.setenv("PXWEB_BASE_URL", pxweb_server.base_url_v2)
    published = warehouse_env

    summary = local_runs.run_dags_locally(source="demo")

    runs = {r["dag_id"]: r for r in summary["runs"]}
    assert summary["outcome"] == "published", summary
    assert [r["state"] for r in summary["runs"]] == ["success"] * 3
    # One mapped task per dataset, named after it, and one raw event each with the contract extra.
    ingest_run = runs["cleantech_ingest"]["run_id"]
    assert _mapped_states("cleantech_ingest", ingest_run) == {d: ("success", 1) for d in DATASETS}
    events = local_runs.run_events("cleantech_ingest", ingest_run)
    assert sorted(e["asset"] for e in events) == [settings.raw_asset_name(d) for d in DATASETS]
    for event in events:
        extra = event["extra"]
        assert event["asset"] == settings.raw_asset_name(extra["dataset"])
        assert extra["outcome"] == "loaded"
        assert extra["source_updated"]
        assert extra["rows"] > 0 and extra["requests"] > 0
    # The published warehouse holds the marts; the warehouse asset says where it is.
    (warehouse_event,) = local_runs.run_events(
        "cleantech_transform", runs["cleantech_transform"]["run_id"]
    )
    assert warehouse_event["asset"] == settings.WAREHOUSE_ASSET
    assert warehouse_event["extra"]["path"] == str(published)
    assert sorted(warehouse_event["extra"]["datasets_loaded"]) == list(DATASETS)
    con = duckdb.connect(str(published), read_only=True)
    try:
        for table in MARTS:
            assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0, table  # noqa: S608
        (runs_logged,) = con.execute(
            "select count(*) from ops.pipeline_runs where run_id like 'airflow:%' "
            "and outcome = 'published'"
        ).fetchone()
        assert runs_logged == 1
    finally:
        con.close()
    assert (published.parent / "quality" / "index.html").exists()
    assert (published.parent / "report.html").exists()
    assert (published.parent / "parquet" / "fct_cleantech_region_year.parquet").exists()
    # The ingest staging was consumed by the build, the build by the publish.
    assert not list(Layout.current().airflow_runs_dir.glob("*.duckdb"))
    published_stat = published.stat()

    # Nothing changed at the source: metadata requests only, nothing rebuilt or published.
    pxweb_server.clear_log()
    again = local_runs.run_dags_locally(source="demo")
    assert again["outcome"].startswith("nothing changed"), again
    assert [r["dag_id"] for r in again["runs"]] == ["cleantech_ingest", "cleantech_transform"]
    assert {e["outcome"] for e in again["datasets"].values()} == {"unchanged"}
    data_requests = [r for r in pxweb_server.request_log if "/data" in r["path"]]
    assert data_requests == []
    assert (published.stat().st_ino, published.stat().st_mtime_ns) == (
        published_stat.st_ino,
        published_stat.st_mtime_ns,
    )


class _FailingTableProxy(http.server.ThreadingHTTPServer):
    """Forwards to the demo server, but answers HTTP 500 to every request about one table."""

    daemon_threads = True

    def __init__(self, upstream: str, table: str) -> None:
        self.upstream, self.table = upstream.rstrip("/"), table

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _forward(self, method: str) -> None:
                server: _FailingTableProxy = self.server  # type: ignore[assignment]
                if re.search(rf"/tables/{server.table}(?:[/?]|$)", self.path):
                    body = b'{"title": "Internal Server Error", "status": 500}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                req = urllib.request.Request(server.upstream + self.path, data=data, method=method)
                for key in ("Content-Type", "Accept"):
                    if self.headers.get(key):
                        req.add_header(key, self.headers[key])
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                        status, headers, body = resp.status, resp.headers, resp.read()
                except urllib.error.HTTPError as err:
                    status, headers, body = err.code, err.headers, err.read()
                self.send_response(status)
                for key in ("Content-Type", "Retry-After"):
                    if headers.get(key):
                        self.send_header(key, headers[key])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_failing_source_table_fails_its_task_and_nothing_is_published(
    warehouse_env, pxweb_server, monkeypatch
):
    proxy = _FailingTableProxy(pxweb_server.url, "TAB900")
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("PXWEB_BASE_URL", f"http://127.0.0.1:{proxy.server_address[1]}/api/v2")
        summary = local_runs.run_dags_locally(source="demo")
    finally:
        proxy.shutdown()
        proxy.server_close()

    published = warehouse_env
    assert summary["outcome"] == "not published: no raw event for employment_county_industry"
    (ingest,) = summary["runs"]  # the transform DAG never starts
    assert ingest["state"] == "failed"
    states = _mapped_states("cleantech_ingest", ingest["run_id"])
    assert states["employment_county_industry"] == ("failed", 2)  # CLEANTECH_INGEST_RETRIES=1
    assert states["egss_county"][0] == "success"
    assert states["population_county"][0] == "success"
    assert sorted(summary["datasets"]) == ["egss_county", "population_county"]
    assert not published.exists()
    # The scheduler's view: the transform DAG waits for *every* raw asset; one has no event.
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.conftest import DAGS_DIR

    transform = DagBag(dag_folder=str(DAGS_DIR)).dags["cleantech_transform"]
    required = {asset.name for asset in transform.timetable.asset_condition.objects}
    emitted = {e["asset"] for e in local_runs.run_events("cleantech_ingest", ingest["run_id"])}
    assert emitted < required
    assert required - emitted == {settings.raw_asset_name("employment_county_industry")}
