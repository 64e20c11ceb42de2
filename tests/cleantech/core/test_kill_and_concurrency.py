"""Crash safety and one writer at a time, with real processes (`cleantech pipeline`).

A run SIGKILLed at any stage leaves the published file the old complete warehouse, and the next
run succeeds. `kill_at_each_stage` is shared with the Airflow path (tests/dags/test_kill_airflow.py).
Kill points are made deterministic by the core steps' test hook: with
`CLEANTECH_TEST_PAUSE_AT=<stage>` a run stops at that stage and writes a marker file, so the test
kills it exactly there. Two runs started at once: one publishes, the other stops with a clear
message naming the holder of the lock.
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

from cleantech.layout import Layout

pytestmark = pytest.mark.slow

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


CLI = [sys.executable, "-m", "cleantech", "pipeline"]


def kill_at_each_stage(
    published: Path, env: dict[str, str], command: list[str], stages: tuple[str, ...], logs: Path
) -> None:
    """Start `command` once per stage, paused there by the core's test hook, SIGKILL it (at dbt:
    once dbt writes its log), and check the published file is byte-identical and complete."""
    before = sha(published)
    pauses = logs / "pauses"
    staging_dir = Layout(published).staging.parent
    for stage in stages:
        run_env = {**env, "CLEANTECH_TEST_PAUSE_AT": stage, "CLEANTECH_TEST_PAUSE_DIR": str(pauses)}
        proc = _start(run_env, logs / f"kill-{stage}.log", command)
        pattern = f"paused-{stage}-*"
        _wait_for(lambda: any(pauses.glob(pattern)), proc, f"the run to pause at {stage}")  # noqa: B023
        if stage == "dbt":
            # let dbt start writing to the build file, then kill it mid-build
            for old in staging_dir.rglob("*.dbt"):
                shutil.rmtree(old, ignore_errors=True)
            (pauses / "release-dbt").touch()
            _wait_for(
                lambda: any(d.rglob("*.log") for d in staging_dir.rglob("*.dbt")),
                proc,
                "dbt to start",
            )
            time.sleep(1.0)
        _kill(proc)
        (pauses / "release-dbt").unlink(missing_ok=True)
        for marker in pauses.glob("paused-*"):
            marker.unlink()
        assert sha(published) == before, f"a run killed at {stage} changed the published file"
        _assert_complete_warehouse(published)


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
    # the first published run, four killed runs (from the run log), and the winner
    assert outcomes.count("killed") == 4, runs
    assert runs[-1] == ("published", winner.pid)
    assert not any(p.name.endswith(".next") for p in published.parent.iterdir())
    assert Layout(published).run_log.exists()
