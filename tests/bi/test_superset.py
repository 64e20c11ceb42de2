"""`make bi` for real: Superset from .bi/venv against a freshly published demo warehouse, through its
REST API (login, dashboard, chart data with the demo's values, writes refused, a publish under the
running server seen by the next query, Ctrl-C leaves nothing running). Run by `make test-bi`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cleantech.core.publish import publish
from tests.bi import timings

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS = {
    "Cleantech employment by county",
    "Cleantech export by county (MSEK)",
    "Growth between two years (pick the years and the measure above)",
    "Cleantech share of jobs and per 1,000 inhabitants",
    "Data vintage (is_demo = true: synthetic demo figures, not SCB's)",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Superset:
    """A logged-in REST client (JWT + the session cookie and CSRF token SQL Lab wants)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.headers: dict[str, str] = {}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, method=method, data=data)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in self.headers.items():
            req.add_header(key, value)
        try:
            with self.opener.open(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            try:
                return exc.code, json.loads(text)
            except json.JSONDecodeError:
                return exc.code, text

    def login(self, password: str) -> None:
        status, body = self.call(
            "POST",
            "/api/v1/security/login",
            {"username": "admin", "password": password, "provider": "db", "refresh": False},
        )
        assert status == 200, body
        self.headers = {"Authorization": f"Bearer {body['access_token']}", "Referer": self.base}
        status, body = self.call("GET", "/api/v1/security/csrf_token/")
        assert status == 200, body
        self.headers["X-CSRFToken"] = body["result"]


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"make bi exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"Superset not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _record_script_phases(log: Path, label: str) -> None:
    """Keep make bi's own `[bi +Ns] …` progress lines for the phase summary."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("[bi +"):
            timings.PHASES.append(f"{label}: {line}")


def _start_bi(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            ["make", "--no-print-directory", "bi", f"BI_PORT={port}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C is sent to the group
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _skane_employed_2020(api: Superset) -> float:
    rows = _chart_rows(api, "Cleantech employment by county")
    return _by_region_year(rows, "employed (persons)")[("Skåne County", 2020)]


def _publish_with_more_skane_jobs(published: Path, folder: Path, extra: int) -> None:
    """A publish (cleantech.core.publish, as the pipeline does) of the warehouse with changed figures."""
    staging = folder / f"staging-{extra}.duckdb"
    shutil.copyfile(published, staging)
    with duckdb.connect(str(staging)) as con:
        con.execute(
            "update marts.fct_cleantech_region_year set employed = employed + ? "
            "where region_code = '12' and year = 2020",
            [extra],
        )
    publish(staging, published)


@pytest.fixture(scope="module")
def published(demo_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo build published the way the pipeline publishes it (v1.4 storage, atomic swap)."""
    started = time.monotonic()
    folder = tmp_path_factory.mktemp("bi-warehouse")
    staging = folder / "staging" / "cleantech.duckdb"
    staging.parent.mkdir()
    shutil.copyfile(demo_warehouse, staging)
    target = folder / "cleantech.duckdb"
    publish(staging, target)
    timings.record("fresh demo publish (v1.4 storage copy + swap)", time.monotonic() - started)
    return target


@pytest.fixture(scope="module")
def bi(published: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`make bi` on a free loopback port with fresh state (metadata DB, secret, admin)."""
    port = _free_port()
    state = tmp_path_factory.mktemp("bi-state")
    log = state / "make-bi.log"
    env = {
        **os.environ,
        "CLEANTECH_WAREHOUSE": str(published),
        "CLEANTECH_BI_HOME": str(state),
        "BI_PORT": str(port),
    }
    started = time.monotonic()
    proc = _start_bi(env, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc, log, timeout=900)
        timings.record(
            "make bi: start to ready (install/init if not cached)", time.monotonic() - started
        )
        text = log.read_text()
        match = re.search(r"login 'admin', password '([^']+)' \(shown only now\)", text)
        assert match, f"no admin password printed:\n{text[-2000:]}"
        yield {
            "base": base,
            "proc": proc,
            "log": log,
            "password": match.group(1),
            "state": state,
            "published": published,
            "env": env,
        }
    finally:
        _stop(proc)
        _record_script_phases(log, "first start")


@pytest.fixture(scope="module")
def api(bi: dict[str, Any]) -> Superset:
    client = Superset(bi["base"])
    client.login(bi["password"])
    return client


def _charts(api: Superset) -> dict[str, dict[str, Any]]:
    status, body = api.call("GET", "/api/v1/dashboard/cleantech/charts")
    assert status == 200, body
    return {c["slice_name"]: c for c in body["result"]}


def _chart_rows(
    api: Superset, name: str, extra_filters: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Run a chart's saved query (as the dashboard does) through the chart-data API."""
    chart_id = _charts(api)[name]["id"]
    if not extra_filters:
        status, body = api.call("GET", f"/api/v1/chart/{chart_id}/data/")
    else:
        status, chart = api.call("GET", f"/api/v1/chart/{chart_id}")
        assert status == 200, chart
        context = json.loads(chart["result"]["query_context"])
        for query in context["queries"]:
            query["filters"] = [*query.get("filters", []), *extra_filters]
        status, body = api.call("POST", "/api/v1/chart/data", context)
    assert status == 200, body
    return body["result"][0]["data"]


def _by_region_year(rows: list[dict[str, Any]], metric: str) -> dict[tuple[str, int], float]:
    out = {}
    for row in rows:
        year = time.gmtime(row["period_date"] / 1000).tm_year
        out[(row["region_name_en"], year)] = row[metric]
    return out


def test_admin_password_is_printed_once_and_the_secret_is_private(bi: dict[str, Any]) -> None:
    assert bi["log"].read_text().count("(shown only now)") == 1
    secret = bi["state"] / "secret_key"
    assert secret.stat().st_mode & 0o077 == 0 and len(secret.read_text().strip()) >= 40
    assert (bi["state"] / "superset.db").exists()
    second = subprocess.run(
        [str(REPO_ROOT / ".bi/venv/bin/python"), "bi/superset_setup.py", "admin"],
        cwd=REPO_ROOT,
        env={**bi["env"], "SUPERSET_CONFIG_PATH": str(REPO_ROOT / "bi/superset_config.py")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "shown only now" not in second.stdout and "exists" in second.stdout


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses (hex, as /proc/net shows them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


def test_listens_on_loopback_only(bi: dict[str, Any]) -> None:
    port = int(bi["base"].rsplit(":", 1)[1])
    assert _listening_addresses(port) == {"0100007F"}, "bound to something other than 127.0.0.1"
    addrs = {
        a
        for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
        if ":" not in a and not a.startswith("127.")
    }
    for addr in addrs:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((addr, port)) != 0, f"Superset answers on {addr}:{port}"


def test_anonymous_requests_see_nothing(bi: dict[str, Any]) -> None:
    anonymous = Superset(bi["base"])
    for path in ("/api/v1/dashboard/cleantech", "/api/v1/chart/", "/api/v1/database/"):
        status, _ = anonymous.call("GET", path)
        assert status == 401, path
    status, _ = anonymous.call(
        "POST",
        "/api/v1/security/login",
        {"username": "admin", "password": "admin", "provider": "db", "refresh": False},
    )
    assert status == 401, "the default password must not work"


def test_dashboard_and_datasets(api: Superset) -> None:
    status, body = api.call("GET", "/api/v1/dashboard/cleantech")
    assert status == 200, body
    assert body["result"]["dashboard_title"] == "Regional cleantech: employment, export, growth"
    assert set(_charts(api)) == CHARTS
    status, body = api.call("GET", "/api/v1/dataset/?q=(page_size:100)")
    assert status == 200, body
    datasets = {d["table_name"]: d for d in body["result"]}
    assert set(datasets) >= {"fct_cleantech_region_year", "cleantech_growth_named", "data_vintage"}
    status, fct = api.call("GET", f"/api/v1/dataset/{datasets['fct_cleantech_region_year']['id']}")
    assert fct["result"]["main_dttm_col"] == "period_date"
    assert fct["result"]["schema"] == "marts"
    dttm = {c["column_name"]: c["type"] for c in fct["result"]["columns"] if c["is_dttm"]}
    assert dttm["period_date"] == "DATE"


def test_each_chart_returns_the_demo_values(api: Superset) -> None:
    started = time.monotonic()
    employed = _by_region_year(
        _chart_rows(api, "Cleantech employment by county"), "employed (persons)"
    )
    assert employed[("Skåne County", 2020)] == 18109
    assert employed[("Skåne County", 2010)] == 12342
    export = _by_region_year(_chart_rows(api, "Cleantech export by county (MSEK)"), "export (MSEK)")
    assert (export[("Västra Götaland County", 2010)], export[("Västra Götaland County", 2012)]) == (
        5000,
        8200,
    )

    # the growth table with the dashboard's default filters (export, 2010 → 2012)
    status, dash = api.call("GET", "/api/v1/dashboard/cleantech")
    native = json.loads(dash["result"]["json_metadata"])["native_filter_configuration"]
    defaults = [
        f for n in native for f in n["defaultDataMask"].get("extraFormData", {}).get("filters", [])
    ]
    assert {(f["col"], f["val"][0]) for f in defaults} == {
        ("start_year", 2010),
        ("end_year", 2012),
        ("measure", "export_msek"),
    }
    growth = {
        r["region_name_en"]: r
        for r in _chart_rows(
            api, "Growth between two years (pick the years and the measure above)", defaults
        )
    }
    assert len(growth) == 21
    vg = growth["Västra Götaland County"]
    assert (vg["start_value"], vg["end_value"], vg["abs_change"]) == (5000, 8200, 3200)
    assert round(vg["pct_change"], 1) == 64.0
    # any two years: 2011 → 2012
    other = [
        {"col": "start_year", "op": "IN", "val": [2011]},
        {"col": "end_year", "op": "IN", "val": [2012]},
        {"col": "measure", "op": "IN", "val": ["employed"]},
    ]
    skane = {
        r["region_name_en"]: r
        for r in _chart_rows(
            api, "Growth between two years (pick the years and the measure above)", other
        )
    }["Skåne County"]
    assert (skane["start_value"], skane["end_value"]) == (12639, 13191)

    shares = {
        (r["region_name_en"], r["year"]): r
        for r in _chart_rows(api, "Cleantech share of jobs and per 1,000 inhabitants")
    }
    top = shares[("Skåne County", 2018)]
    assert round(top["cleantech_share_of_employment_pct"], 2) == 2.64
    assert round(top["cleantech_employed_per_1000_inhabitants"], 1) == 12.8
    assert (
        shares[("Skåne County", 2020)]["cleantech_share_of_employment_pct"] is None
    )  # NULL, not 0

    vintage = _chart_rows(api, "Data vintage (is_demo = true: synthetic demo figures, not SCB's)")
    assert {r["dataset"] for r in vintage} == {
        "egss_county",
        "employment_county_industry",
        "population_county",
    }
    assert all(r["is_demo"] is True for r in vintage)
    timings.record("five chart queries", time.monotonic() - started)


def _database_id(api: Superset) -> int:
    status, body = api.call("GET", "/api/v1/database/")
    assert status == 200, body
    (db,) = [d for d in body["result"] if d["database_name"] == "cleantech warehouse"]
    return int(db["id"])


def _sqllab(api: Superset, sql: str) -> tuple[int, Any]:
    return api.call(
        "POST",
        "/api/v1/sqllab/execute/",
        {"database_id": _database_id(api), "sql": sql, "schema": "marts", "runAsync": False},
    )


def test_writes_through_the_registered_database_are_refused(
    api: Superset, bi: dict[str, Any]
) -> None:
    status, body = _sqllab(api, "select count(*) as n from marts.dim_regions")
    assert status == 200 and body["data"] == [{"n": 22}], body
    for sql in ("create table marts.probe as select 1 as x", "delete from marts.dim_regions"):
        status, body = _sqllab(api, sql)
        assert status >= 400 and "DML" in json.dumps(body), (sql, body)
    # statements Superset does not see as writes: DuckDB itself refuses them
    leak = bi["state"] / "leak.csv"
    for sql in (
        f"copy (select 1 as x) to '{leak}'",
        "select * from read_csv('/etc/hostname')",
        "set enable_external_access = true",
    ):
        status, body = _sqllab(api, sql)
        assert status >= 400, (sql, body)
    assert not leak.exists()
    # the engine Superset builds for the database: DuckDB refuses the write (read-only file)
    out = subprocess.run(
        [str(REPO_ROOT / ".bi/venv/bin/python"), "bi/superset_setup.py", "readonly-check"],
        cwd=REPO_ROOT,
        env={**bi["env"], "SUPERSET_CONFIG_PATH": str(REPO_ROOT / "bi/superset_config.py")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "read-only" in out.stdout, out.stdout + out.stderr
    with duckdb.connect(str(bi["published"]), read_only=True) as con:
        assert con.execute("select count(*) from marts.dim_regions").fetchone() == (22,)


def test_a_publish_under_the_running_superset_is_seen_by_the_next_query(
    api: Superset, bi: dict[str, Any], tmp_path: Path
) -> None:
    before = _skane_employed_2020(api)
    started = time.monotonic()
    _publish_with_more_skane_jobs(bi["published"], tmp_path, 1000)
    after = _skane_employed_2020(api)
    timings.record("publish + next chart query", time.monotonic() - started)
    assert after == before + 1000


def test_ctrl_c_stops_it_and_leaves_nothing_running(bi: dict[str, Any]) -> None:
    proc = bi["proc"]
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)
    timings.record("Ctrl-C to stopped", time.monotonic() - started)
    time.sleep(0.5)
    left = subprocess.run(
        ["pgrep", "-g", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    assert left == [], f"processes left in make bi's group: {left}"
    port = int(bi["base"].rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the port still answers"


def test_rerunning_make_bi_after_a_publish_shows_the_new_data(
    bi: dict[str, Any], tmp_path: Path
) -> None:
    """Warm start: same state (no new password), new import, the file as published now."""
    assert bi["proc"].poll() is not None, "runs after the Ctrl-C test"
    client = Superset(bi["base"])
    _publish_with_more_skane_jobs(bi["published"], tmp_path, 2000)
    with duckdb.connect(str(bi["published"]), read_only=True) as con:
        expected = con.execute(
            "select employed from marts.fct_cleantech_region_year "
            "where region_code = '12' and year = 2020"
        ).fetchone()[0]
    log = bi["state"] / "make-bi-rerun.log"
    port = int(bi["base"].rsplit(":", 1)[1])
    started = time.monotonic()
    proc = _start_bi(bi["env"], port, log)
    try:
        _wait_ready(bi["base"], proc, log, timeout=300)
        timings.record("make bi: warm start to ready", time.monotonic() - started)
        assert "shown only now" not in log.read_text()
        client.login(bi["password"])
        assert _skane_employed_2020(client) == expected == 18109 + 1000 + 2000
    finally:
        _stop(proc)
        _record_script_phases(log, "warm start")
