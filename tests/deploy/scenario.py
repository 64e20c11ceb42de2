"""The deploy test's phases against a running docker-compose deployment (called by run.sh).

Each phase prints its duration; a failed check exits non-zero with one line saying what was
expected. Talks only to the API server on 127.0.0.1 and to containers through `docker`.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx

REPO = Path(__file__).resolve().parents[2]
DAGS = ("cleantech_ingest", "cleantech_transform", "cleantech_report")
WORKERS = 2
# One fully specified cell (every dimension selected, so exactly one value changes) of the EGSS
# table: Stockholm's 2020 export revised by +1 MSEK, within the county-sums-match-national
# tolerance, so the revision passes dbt's tests and is published.
TOUCHED_TABLE = "TAB9001"  # egss_county on the demo server
TOUCHED_DATASET = "egss_county"
TOUCHED_CELL = {"Lan": "01", "ContentsCode": "MI1301EX", "Tid": "2020"}

PHASES: list[tuple[str, float]] = []
MEASURED: dict[str, float] = {}


class Failed(RuntimeError):
    """A deploy-test check failed."""


def check(ok: bool, message: str) -> None:
    """Fail the test with `message` unless `ok`."""
    if not ok:
        raise Failed(message)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 3.0) -> Any:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Compose:
    """`docker compose` (v2) or `docker-compose` (1.29) on this project and env file."""

    def __init__(self, env_file: Path) -> None:
        v2 = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
        self.base = ["docker", "compose"] if v2 else ["docker-compose"]
        self.base += ["--env-file", str(env_file), "--profile", "demo"]
        self.env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)

    def run(self, *args: str, check_rc: bool = True, quiet: bool = False) -> str:
        """Run a compose command in the repo; its output (stderr shown when it fails)."""
        proc = subprocess.run([*self.base, *args], cwd=REPO, capture_output=True, text=True)
        if not quiet and proc.returncode != 0:
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        if check_rc and proc.returncode != 0:
            raise Failed(f"`{' '.join(args[:3])}` exited {proc.returncode}")
        return proc.stdout

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        """`docker inspect` of this project's containers (of one service), running or not."""
        label = f"com.docker.compose.project={project_name(self)}"
        filters = ["--filter", f"label={label}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        ids = subprocess.run(
            ["docker", "ps", "-aq", *filters], capture_output=True, text=True, check=True
        ).stdout.split()
        if not ids:
            return []
        out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True)
        return json.loads(out.stdout or "[]")


def project_name(compose: Compose) -> str:
    return os.environ.get("COMPOSE_PROJECT_NAME", "cleantech-deploytest")


class Api:
    """Airflow's REST API with a token from the API server (POST /auth/token)."""

    def __init__(self, port: str, username: str, password: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.username, self.password = username, password
        self.client = httpx.Client(base_url=self.base, timeout=30)

    def login(self) -> None:
        """Get a JWT for the admin user and send it with every request."""
        resp = self.client.post(
            "/auth/token", json={"username": self.username, "password": self.password}
        )
        check(resp.status_code in (200, 201), f"POST /auth/token answered {resp.status_code}")
        self.client.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        resp = self.client.get(f"/api/v2{path}", params=params)
        check(resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text[:200]}")
        return resp.json()

    def send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        resp = self.client.request(method, f"/api/v2{path}", json=body)
        check(
            resp.status_code in (200, 201), f"{method} {path}: {resp.status_code} {resp.text[:300]}"
        )
        return resp.json()

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of a DAG, oldest first."""
        runs = self.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
        return sorted(runs, key=lambda r: r.get("run_after") or r.get("queued_at") or "")

    def tasks(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)[
            "task_instances"
        ]

    def wait_run(self, dag_id: str, after: set[str], timeout: float) -> dict[str, Any]:
        """The first run of `dag_id` not in `after` to finish; fail unless it succeeded."""

        def finished() -> dict[str, Any] | None:
            new = [r for r in self.runs(dag_id) if r["dag_run_id"] not in after]
            done = [r for r in new if r["state"] in ("success", "failed")]
            return done[0] if done else None

        run = wait_for(f"a new {dag_id} run to finish", finished, timeout)
        if run["state"] != "success":
            self.fail_run(dag_id, run)
        return run

    def task_log(self, dag_id: str, run_id: str, ti: dict[str, Any]) -> str:
        """The end of a task try's log, through the API (the log volume goes with `down -v`)."""
        path = (
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
        )
        params = {"map_index": ti.get("map_index", -1), "full_content": "true"}
        resp = self.client.get(f"/api/v2{path}", params=params)
        if resp.status_code != 200:
            return f"(no log: {resp.status_code})"
        lines = []
        for item in resp.json().get("content") or []:
            if isinstance(item, dict):
                lines.append(f"{item.get('level', '')} {item.get('event', '')}")
                for err in item.get("error_detail") or []:
                    lines.append(f"  {err.get('exc_type')}: {err.get('exc_value')}")
            else:
                lines.append(str(item))
        return "\n".join(lines[-40:])

    def fail_run(self, dag_id: str, run: dict[str, Any]) -> None:
        """Fail the test naming the run's failed tasks; print their logs."""
        bad = [
            t
            for t in self.tasks(dag_id, run["dag_run_id"])
            if t["state"] not in ("success", "skipped")
        ]
        for ti in bad:
            print(f"--- log of {dag_id}.{ti['task_id']} try {ti['try_number']}", file=sys.stderr)
            print(self.task_log(dag_id, run["dag_run_id"], ti), file=sys.stderr)
        names = ", ".join(f"{t['task_id']}[{t.get('map_index')}]={t['state']}" for t in bad)
        raise Failed(f"{dag_id} run {run['dag_run_id']} {run['state']}: {names}")


def phase(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Time a phase and print it."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            print(f"\n== {name}", flush=True)
            started = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds = time.monotonic() - started
                PHASES.append((name, seconds))
                print(f"-- {name}: {seconds:.0f} s", flush=True)

        return timed

    return wrap


def published_file(work: Path) -> Path:
    return work / "warehouse" / "cleantech.duckdb"


def read_only(work: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Query the published warehouse from the host, read-only (as an analyst would)."""
    con = duckdb.connect(str(published_file(work)), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def published_runs(work: Path) -> list[str]:
    """The runs that published (ops.pipeline_runs also holds failed, killed and staged ones)."""
    sql = "select run_id from ops.pipeline_runs where outcome = 'published' order by 1"
    return [r[0] for r in read_only(work, sql)]


def assert_warehouse_whole(work: Path, when: str) -> None:
    """The published file opens read-only and holds the marts (never a partial file)."""
    try:
        rows = read_only(
            work,
            "select count(*) from information_schema.tables where table_schema = 'marts'",
        )
    except duckdb.Error as exc:
        raise Failed(f"{when}: the published warehouse does not open read-only: {exc}") from exc
    check(rows[0][0] > 0, f"{when}: the published warehouse has no marts")
    print(f"   published warehouse opens read-only, {rows[0][0]} marts ({when})")


# ----------------------------------------------------------------------------------------------


@phase("1. build the image, up with two workers and the demo server, wait for health")
def build_and_up(compose: Compose, build_args: list[str]) -> None:
    started = time.monotonic()
    compose.run("build", *build_args, "airflow-init")
    MEASURED["image build (s)"] = time.monotonic() - started
    image = compose.env["CLEANTECH_IMAGE"]
    size = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    MEASURED["image size (MB)"] = int(size) / 1e6
    print(f"   image {image}: {int(size) / 1e6:.0f} MB")
    # A clean slate: the test's project name is its own; volumes of an earlier run (another
    # Postgres password) would break the start.
    compose.run("--profile", "analyst", "--profile", "debug", "down", "-v", "--remove-orphans")
    compose.run("up", "-d", "--no-build", "--scale", f"airflow-worker={WORKERS}")

    def all_healthy() -> bool:
        states = {}
        for c in compose.containers():
            service = c["Config"]["Labels"]["com.docker.compose.service"]
            health = (c["State"].get("Health") or {}).get("Status")
            if service == "airflow-init":
                states[service] = "done" if c["State"]["Status"] == "exited" else "running"
                check(
                    c["State"]["Status"] != "exited" or c["State"]["ExitCode"] == 0,
                    "airflow-init failed: "
                    + compose.run("logs", "airflow-init", quiet=True)[-2000:],
                )
            else:
                states[f"{service}/{c['Name']}"] = health or c["State"]["Status"]
        waiting = {k: v for k, v in states.items() if v not in ("healthy", "done")}
        return len(states) >= 9 and not waiting

    wait_for("every container healthy", all_healthy, timeout=600, every=5)
    workers = compose.containers("airflow-worker")
    check(len(workers) == WORKERS, f"expected {WORKERS} workers, found {len(workers)}")


@phase("2. REST API: unpause the DAGs, first chain ingest -> transform -> report")
def first_chain(api: Api, compose: Compose, work: Path) -> None:
    api.login()
    for dag_id in DAGS:
        wait_for(
            f"{dag_id} parsed",
            lambda d=dag_id: api.client.get(f"/api/v2/dags/{d}").status_code == 200,
            300,
        )
        check(api.get(f"/dags/{dag_id}")["is_paused"], f"{dag_id} should start paused")
    check(not api.runs("cleantech_ingest"), "cleantech_ingest ran before it was unpaused")
    # Downstream first, so nothing the ingest emits is missed; unpausing cleantech_ingest starts
    # its latest nightly slot at once (catchup=False); trigger it only if the scheduler does not.
    for dag_id in ("cleantech_report", "cleantech_transform", "cleantech_ingest"):
        api.send("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    started = time.monotonic()
    try:
        wait_for("the ingest run of the unpause", lambda: api.runs("cleantech_ingest"), 60)
    except Failed:
        api.send("POST", "/dags/cleantech_ingest/dagRuns", {"logical_date": None})
    for dag_id in DAGS:
        run = api.wait_run(dag_id, set(), timeout=900)
        print(f"   {dag_id}: {run['dag_run_id']} success at +{time.monotonic() - started:.0f} s")
    MEASURED["first chain, unpause -> report (s)"] = time.monotonic() - started
    rows = read_only(
        work,
        "select round(pct_change, 1) from marts.cleantech_growth where region_code = '14' "
        "and measure = 'export_msek' and start_year = 2010 and end_year = 2012",
    )
    check(rows == [(64.0,)], f"Västra Götaland export 2010->2012: expected +64.0 %, got {rows}")
    print("   Västra Götaland export 2010->2012: +64.0 % (demo data), read-only from the host")
    out = compose.run("run", "--rm", "--no-deps", "analyst", quiet=True)
    check("cleantech_growth" in out, "the analyst service does not list marts.cleantech_growth")
    print("   analyst service (read-only mount) lists the marts")


def hosts_of_runs(api: Api) -> dict[str, int]:
    """How many task instances succeeded on each worker host, over every run of the three DAGs."""
    hosts: dict[str, int] = {}
    for dag_id in DAGS:
        for run in api.runs(dag_id):
            for ti in api.tasks(dag_id, run["dag_run_id"]):
                if ti.get("hostname") and ti["state"] == "success":
                    hosts[ti["hostname"]] = hosts.get(ti["hostname"], 0) + 1
    return hosts


@phase("3. event path: a table republished on the demo server -> chain runs with no trigger")
def event_path(api: Api, compose: Compose, work: Path) -> None:
    # The watcher records first sightings on its first poll; a touch before that is no change.
    wait_for(
        "the watcher's first sighting of the tables",
        lambda: "first sighting" in compose.run("logs", "airflow-triggerer", quiet=True),
        120,
    )
    before = {d: {r["dag_run_id"] for r in api.runs(d)} for d in DAGS}
    published_before = published_runs(work)
    updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    where = " and ".join(f'"{k}" = ?' for k in TOUCHED_CELL)
    cell = list(TOUCHED_CELL.values())
    query = f"select value from raw.{TOUCHED_DATASET} where {where}"  # noqa: S608
    old = read_only(work, query, cell)[0][0]
    check(old is not None, f"{TOUCHED_DATASET} {TOUCHED_CELL} is empty in the demo data")
    revised_value = old + 1
    selection = {k: [v] for k, v in TOUCHED_CELL.items()}
    body = json.dumps(
        {
            "updated": updated,
            "revise": {"cells": [{"selection": selection, "value": revised_value}]},
        }
    )
    code = (
        "import sys, urllib.request as u; r = u.urlopen(u.Request("
        f"'http://localhost:8123/_control/tables/{TOUCHED_TABLE}/touch', data=sys.argv[1].encode(), "
        "headers={'Content-Type': 'application/json'}), timeout=30); print(r.status)"
    )
    compose.run("exec", "-T", "pxweb-demo", "python", "-c", code, body)
    started = time.monotonic()
    print(f"   touched {TOUCHED_TABLE}: updated={updated}, {TOUCHED_CELL} {old} -> {revised_value}")
    ingest = api.wait_run("cleantech_ingest", before["cleantech_ingest"], timeout=600)
    check(ingest.get("run_type") == "asset_triggered", f"ingest run type {ingest.get('run_type')}")
    for dag_id in ("cleantech_transform", "cleantech_report"):
        run = api.wait_run(dag_id, before[dag_id], timeout=900)
        print(f"   {dag_id}: {run['dag_run_id']} success at +{time.monotonic() - started:.0f} s")
    MEASURED["event path, touch -> report (s)"] = time.monotonic() - started
    latest = f"select epoch(max(_source_updated)) from raw.{TOUCHED_DATASET}"  # noqa: S608
    vintage = read_only(work, latest)[0][0]
    now = read_only(work, query, cell)[0][0]
    check(now == revised_value, f"revised cell: expected {revised_value}, published {now}")
    check(
        len(published_runs(work)) == len(published_before) + 1,
        "the event path did not publish exactly one new run",
    )
    check(
        vintage == calendar.timegm(time.strptime(updated, "%Y-%m-%dT%H:%M:%SZ")),
        f"published vintage of {TOUCHED_DATASET}: {vintage}, expected {updated}",
    )
    print(f"   new vintage published: {TOUCHED_DATASET} updated {updated}, revised cell present")


def container_of(compose: Compose, hostname: str) -> dict[str, Any]:
    for c in compose.containers("airflow-worker"):
        if c["Config"]["Hostname"] == hostname or c["Id"].startswith(hostname):
            return c
    raise Failed(f"no worker container has hostname {hostname}")


def trigger_rebuild(api: Api) -> str:
    """A manual cleantech_transform run: rebuild from a copy of the published warehouse."""
    run = api.send("POST", "/dags/cleantech_transform/dagRuns", {"logical_date": None})
    return run["dag_run_id"]


def wait_task(api: Api, run_id: str, task_id: str, state: str, timeout: float, **match: Any):
    def probe() -> dict[str, Any] | None:
        for ti in api.tasks("cleantech_transform", run_id):
            same = all(ti.get(k) == v for k, v in match.items())
            if ti["task_id"] == task_id and ti["state"] == state and same:
                return ti
        return None

    return wait_for(f"{task_id} {state} {match or ''}", probe, timeout, every=2)


@phase("4a. fault: docker kill the worker running dbt_build")
def kill_worker(api: Api, compose: Compose, work: Path) -> None:
    for _attempt in range(3):
        before = set(published_runs(work))
        run_id = trigger_rebuild(api)
        ti = wait_task(api, run_id, "dbt_build", "running", 600)
        time.sleep(2)  # mid-task: dbt is building
        victim = container_of(compose, ti["hostname"])
        subprocess.run(["docker", "kill", victim["Id"]], check=True, capture_output=True)
        killed = time.monotonic()
        states = {t["task_id"]: t["state"] for t in api.tasks("cleantech_transform", run_id)}
        if states["dbt_build"] == "running" and states["quality_gate"] in (None, "none"):
            break
        # dbt finished before the kill landed: bring the worker back and try with a new run.
        print(f"   dbt_build ended before the kill ({states}); again with a new run")
        compose.run("up", "-d", "--no-build", "--scale", f"airflow-worker={WORKERS}")
        wait_run_finished(api, run_id)
    else:
        raise Failed("dbt_build finished before the worker kill, three times")
    print(
        f"   killed {victim['Name']} (host {ti['hostname']}) during dbt_build try {ti['try_number']}"
    )
    retry = wait_task(api, run_id, "dbt_build", "running", 900, try_number=ti["try_number"] + 1)
    MEASURED["worker killed -> dbt_build retried (s)"] = time.monotonic() - killed
    print(
        f"   dbt_build try {retry['try_number']} on {retry['hostname']} at +{time.monotonic() - killed:.0f} s"
    )
    victim_now = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Running}}", victim["Id"]],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if victim_now != "true":  # the killed worker stays down: the retry must run elsewhere
        check(retry["hostname"] != ti["hostname"], "dbt_build retried on the killed worker's host")
    run = wait_run_finished(api, run_id)
    if run["state"] != "success":
        api.fail_run("cleantech_transform", run)
    MEASURED["worker killed -> run published (s)"] = time.monotonic() - killed
    new = set(published_runs(work)) - before
    check(new == {f"airflow:{run_id}"}, f"expected one publish of {run_id}, got {sorted(new)}")
    assert_warehouse_whole(work, "after the worker kill")
    # Bring the fleet back to two workers for the next fault.
    compose.run("up", "-d", "--no-build", "--scale", f"airflow-worker={WORKERS}")


def wait_run_finished(api: Api, run_id: str) -> dict[str, Any]:
    """A cleantech_transform run once it succeeded or failed."""

    def finished() -> dict[str, Any] | None:
        for r in api.runs("cleantech_transform"):
            if r["dag_run_id"] == run_id and r["state"] in ("success", "failed"):
                return r
        return None

    return wait_for(f"transform run {run_id} to finish", finished, 900)


@phase("4b. fault: restart the scheduler mid-run")
def restart_scheduler(api: Api, compose: Compose, work: Path) -> None:
    before = set(published_runs(work))
    run_id = trigger_rebuild(api)
    wait_task(api, run_id, "dbt_build", "running", 600)
    compose.run("restart", "-t", "10", "airflow-scheduler")
    restarted = time.monotonic()
    print("   scheduler restarted while dbt_build ran")
    run = wait_run_finished(api, run_id)
    if run["state"] != "success":
        api.fail_run("cleantech_transform", run)
    MEASURED["scheduler restarted -> run published (s)"] = time.monotonic() - restarted
    new = set(published_runs(work)) - before
    check(new == {f"airflow:{run_id}"}, f"expected one publish of {run_id}, got {sorted(new)}")
    assert_warehouse_whole(work, "after the scheduler restart")


@phase("5. down -v: remove containers, networks, volumes")
def down(compose: Compose, work: Path) -> None:
    compose.run("--profile", "analyst", "--profile", "debug", "down", "-v", "--remove-orphans")
    left = compose.containers()
    check(not left, f"containers left after down -v: {[c['Name'] for c in left]}")
    volumes = subprocess.run(
        [
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project_name(compose)}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    check(not volumes, f"volumes left after down -v: {volumes}")
    shutil.rmtree(work / "warehouse", ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--setup-seconds", type=float, default=0.0)
    args, build_args = parser.parse_known_args()
    compose = Compose(args.env_file)
    env = compose.env
    api = Api(
        env["AIRFLOW_API_PORT"],
        env["_AIRFLOW_WWW_USER_USERNAME"],
        env["_AIRFLOW_WWW_USER_PASSWORD"],
    )
    PHASES.append(("0. host setup and base images", args.setup_seconds))
    ok = False
    try:
        build_and_up(compose, build_args)
        first_chain(api, compose, args.work)
        event_path(api, compose, args.work)
        kill_worker(api, compose, args.work)
        restart_scheduler(api, compose, args.work)
        hosts = hosts_of_runs(api)
        print(f"\n   task instances per worker host: {hosts}")
        check(len(hosts) >= 2, f"tasks ran on {len(hosts)} worker host(s), expected both")
        ok = True
    except Failed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        for service in ("airflow-scheduler", "airflow-worker", "airflow-triggerer"):
            print(f"--- last log lines of {service}", file=sys.stderr)
            print(
                compose.run("logs", "--tail", "40", service, check_rc=False, quiet=True),
                file=sys.stderr,
            )
    finally:
        if ok or not os.environ.get("CLEANTECH_DEPLOYTEST_KEEP"):
            down(compose, args.work)
        else:
            print("CLEANTECH_DEPLOYTEST_KEEP is set: the failed deployment is left running")
    total = sum(s for _, s in PHASES)
    print("\nphase times:")
    for name, seconds in PHASES:
        print(f"  {seconds:7.0f} s  {name}")
    print(f"  {total:7.0f} s  total")
    for name, value in MEASURED.items():
        print(f"  {name}: {value:.0f}")
    print("deploy test: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
