"""Crash safety and one writer at a time, with real processes (`cleantech pipeline`).

A run SIGKILLed at any stage leaves the published file the old complete warehouse, the lock free,
the run in the run log without an outcome (`killed` at that stage in `ops.pipeline_runs` after the
next publish), and the next run succeeds. `kill_at_each_stage` is shared with the Airflow path
(tests/dags/test_kill_airflow.py). The production code has no test hooks: each run is started
through `kill_driver`, which holds it inside the step (by wrapping, in the child process only, the
function the step calls there) and writes a marker, so the test kills it exactly there. Two runs
started at once: one publishes, the other stops with a clear message naming the holder of the
lock.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from cleantech.core.lock import WriterLock
from cleantech.core.runlog import read_run_log
from cleantech.layout import Layout

# `make test-faults` runs these (CI too, .ci/run); `make test` leaves them out (minutes of kills).
pytestmark = [pytest.mark.slow, pytest.mark.faults]

REPO = Path(__file__).resolve().parents[3]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _env(published: Path, base_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEANTECH_", "PXWEB_"))}
    env.update(CLEANTECH_WAREHOUSE=str(published), PXWEB_BASE_URL=base_url, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def _start(env: dict[str, str], log: Path, command: list[str] | None = None) -> subprocess.Popen:
    # own session, so a SIGKILL reaches the run and anything it started
    with open(log, "wb") as out:
        return subprocess.Popen(
            command or [sys.executable, "-m", "cleantech", "pipeline"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _assert_complete_warehouse(published: Path) -> None:
    assert not published.with_name(published.name + ".wal").exists()
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_cleantech_region_year").fetchone()[0] > 0
        assert con.execute("select count(*) from raw.egss_county").fetchone()[0] > 0


DRIVER = [sys.executable, "-m", "tests.cleantech.core.kill_driver"]
CLI = ["cli", "pipeline"]


# Steps run one at a time: this process stops after ingest (before dbt), taking no further step.
BETWEEN_STEPS = """
from cleantech.core import steps
from cleantech.core.build import Build
from cleantech.layout import published_path
build = Build.for_cli(published=published_path())
steps.prepare(build)
steps.ingest(build, say=lambda _: None)
"""


def held_run(stage: str, markers: Path, what: list[str]) -> list[str]:
    """The command that runs `what` (`cli …` or `dag DAG_ID [CONF]`) held at `stage`."""
    return [*DRIVER, "--hold", stage, "--markers", str(markers), *what]


def assert_lock_free(published: Path) -> None:
    with WriterLock(published, purpose="test", timeout=0):
        pass  # a killed holder's lock is released with its process


def kill_at_each_stage(
    published: Path, env: dict[str, str], what: list[str], stages: tuple[str, ...], logs: Path
) -> None:
    """Start `what` once per stage, held there by `kill_driver`, SIGKILL it (at dbt: once dbt
    writes its log), and check the published file is byte-identical and complete, and the lock
    free."""
    before = sha(published)
    markers = logs / "markers"
    staging_dir = Layout(published).staging.parent
    for stage in stages:
        for old in staging_dir.rglob("*.dbt"):  # so that the dbt log below is this run's
            shutil.rmtree(old, ignore_errors=True)
        proc = _start(env, logs / f"kill-{stage}.log", held_run(stage, markers, what))
        pattern = f"held-{stage}-*"
        _wait_for(lambda: any(markers.glob(pattern)), proc, f"the run to reach {stage}")  # noqa: B023
        if stage == "dbt":
            # let dbt start writing to the build file, then kill it mid-build
            _wait_for(
                lambda: any(d.rglob("*.log") for d in staging_dir.rglob("*.dbt")),
                proc,
                "dbt to start",
            )
            time.sleep(1.0)
        _kill(proc)
        for marker in markers.glob("held-*"):
            marker.unlink()
        assert sha(published) == before, f"a run killed at {stage} changed the published file"
        _assert_complete_warehouse(published)
        assert_lock_free(published)


def killed_runs(published: Path) -> list[tuple[str, str]]:
    """(run id, stage) of the runs `ops.pipeline_runs` records as killed, oldest first."""
    with duckdb.connect(str(published), read_only=True) as con:
        return con.execute(
            "select run_id, failed_stage from ops.pipeline_runs where outcome = 'killed' "
            "order by started_at"
        ).fetchall()


def test_killed_runs_leave_the_published_file_whole_and_the_next_runs_one_publishes(
    good_published: Path, demo_server, tmp_path: Path
) -> None:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    published.parent.mkdir()
    shutil.copyfile(good_published, published)
    before = sha(published)
    base_url = demo_server.base_url_v2
    kill_at_each_stage(
        published,
        _env(published, base_url),
        CLI,
        ("ingest", "dbt", "audit", "before_swap"),
        tmp_path,
    )
    # between two steps: a process that runs prepare and ingest and stops (as a killed process
    # does between steps: the steps run one at a time, each recorded when it completes)
    between = subprocess.run(
        [sys.executable, "-c", BETWEEN_STEPS], cwd=REPO, env=_env(published, base_url),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert between.returncode == 0, between.stderr[-2000:]
    assert sha(published) == before
    assert_lock_free(published)
    log = Layout(published).run_log
    unfinished = [r for r in read_run_log(log).values() if r["event"] != "finished"]
    assert len(unfinished) == 5, unfinished  # each stopped run is in the run log, no outcome

    # a reader holds the published file open (read-only) across the next publish
    reader = duckdb.connect(str(published), read_only=True)
    runs_before = reader.execute("select count(*) from ops.pipeline_runs").fetchone()[0]

    # two runs at once: one publishes, the other stops at once naming the lock holder
    env = _env(published, base_url, CLEANTECH_LOCK_TIMEOUT="0")
    procs = [_start(env, tmp_path / f"concurrent-{i}.log") for i in range(2)]
    codes = [p.wait(timeout=600) for p in procs]

    # the old reader keeps reading its snapshot, without error, during and after the swap
    assert reader.execute("select count(*) from ops.pipeline_runs").fetchone()[0] == runs_before
    assert reader.execute("select count(*) from marts.fct_cleantech_region_year").fetchone()[0] > 0
    reader.close()
    logs = [(tmp_path / f"concurrent-{i}.log").read_text() for i in range(2)]
    assert sorted(codes) == [0, 1], logs
    loser = logs[codes.index(1)]
    assert "another writer (pid" in loser and ", pipeline run, since" in loser, loser
    assert "holds the warehouse lock" in loser, loser
    assert loser.strip().splitlines()[-1].startswith("error: ")
    winner = procs[codes.index(0)]

    assert sha(published) != before
    _assert_complete_warehouse(published)
    with duckdb.connect(str(published), read_only=True) as con:  # a new reader sees the new data
        runs = con.execute(
            "select outcome, pid from ops.pipeline_runs order by started_at"
        ).fetchall()
    outcomes = [o for o, _ in runs]
    # the first published run, five killed runs (from the run log), and the winner
    assert outcomes.count("killed") == 5, runs
    stages = [stage for _, stage in killed_runs(published)]
    assert stages == ["ingest", "dbt", "audit", "publish", "dbt"], runs
    assert runs[-1] == ("published", winner.pid)
    assert not any(p.name.endswith(".next") for p in published.parent.iterdir())
    assert Layout(published).run_log.exists()
