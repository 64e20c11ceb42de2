"""The writer lock: one holder at a time across processes, released when the holder dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cleantech.core.lock import WarehouseLocked, WriterLock
from cleantech.layout import Layout

HOLD = """
import sys, time
from pathlib import Path
from cleantech.core.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]), purpose="nightly   backfill\\n(test)", timeout=5).acquire()
print("held", flush=True)
time.sleep(60)
"""


def _holder(published: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(published)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_file_sits_beside_the_published_warehouse(tmp_path: Path) -> None:
    published = tmp_path / "cleantech.duckdb"
    assert Layout(published).lock == tmp_path / "cleantech.duckdb.lock"
    with WriterLock(published, timeout=0) as lock:
        assert lock.held
        assert f"pid {os.getpid()}" in lock.path.read_text()
    assert not lock.held


def test_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    published = tmp_path / "cleantech.duckdb"
    with WriterLock(published, timeout=0), pytest.raises(WarehouseLocked):
        WriterLock(published, timeout=0.2).acquire()
    WriterLock(published, timeout=0).acquire().release()


def test_another_process_holding_the_lock_is_named_after_the_timeout(tmp_path: Path) -> None:
    published = tmp_path / "cleantech.duckdb"
    proc = _holder(published)
    try:
        start = time.monotonic()
        with pytest.raises(WarehouseLocked) as info:
            WriterLock(published, timeout=0.5, poll=0.05).acquire()
        assert time.monotonic() - start >= 0.5
        message = str(info.value)
        # The waiting writer learns who holds the lock and what it is doing (one line).
        assert f"another writer (pid {proc.pid} on " in message
        assert ", nightly backfill (test), since " in message
        assert "holds the warehouse lock" in message and "\n" not in message
    finally:
        proc.kill()
        proc.wait()


def test_a_waiting_writer_gets_the_lock_when_the_holder_is_killed(tmp_path: Path) -> None:
    published = tmp_path / "cleantech.duckdb"
    proc = _holder(published)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with WriterLock(published, timeout=2, poll=0.05) as lock:
        assert lock.held


def test_a_pipeline_that_cannot_get_the_lock_fails_with_a_one_line_reason(tmp_path: Path) -> None:
    from cleantech.core.pipeline import PipelineFailed, run_pipeline

    published = tmp_path / "cleantech.duckdb"
    with WriterLock(published, timeout=0), pytest.raises(PipelineFailed) as info:
        run_pipeline(published=published, lock_timeout=0.1, echo=lambda _: None)
    assert info.value.stage == "lock"
    assert f"another writer (pid {os.getpid()} on " in str(info.value)
    assert ", a warehouse writer, since " in str(info.value)
    assert "\n" not in str(info.value)
    assert not published.exists()


# -- CLI writers take the same lock when they write inside the warehouse folder ---------------


def _jsonstat_file(tmp_path: Path) -> Path:
    body = {
        "version": "2.0", "class": "dataset", "label": "t", "source": "test",
        "id": ["Region", "Tid"], "size": [1, 1], "value": [1.0],
        "dimension": {
            "Region": {"category": {"index": {"01": 0}}},
            "Tid": {"category": {"index": {"2024": 0}}},
        },
    }  # fmt: skip
    path = tmp_path / "t.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    monkeypatch.setenv("CLEANTECH_WAREHOUSE", str(published))
    monkeypatch.delenv("CLEANTECH_STAGING", raising=False)
    monkeypatch.setenv("CLEANTECH_LOCK_TIMEOUT", "0.3")
    return published


def test_a_cli_writer_is_named_to_a_pipeline_waiting_for_it(warehouse: Path) -> None:
    from cleantech.cli import writer_lock
    from cleantech.core.pipeline import PipelineFailed, run_pipeline

    with (
        writer_lock(warehouse.parent / "manual.duckdb", "fetch"),
        pytest.raises(PipelineFailed) as info,
    ):
        run_pipeline(published=warehouse, lock_timeout=0.1, echo=lambda _: None)
    assert f"another writer (pid {os.getpid()} on " in str(info.value)
    assert ", cleantech fetch, since " in str(info.value)


def test_load_file_into_staging_waits_for_the_writer_lock_and_fails_in_one_line(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cleantech.cli import main

    file = _jsonstat_file(tmp_path)
    with WriterLock(warehouse, timeout=0):
        code = main(["load-file", str(file), "--dataset", "manual"])
        err = capsys.readouterr().err
        assert code != 0
        assert err.count("\n") == 1 and err.startswith("error: cannot write "), err
        assert "holds the warehouse lock" in err
        assert not Layout(warehouse).staging.exists()
        # a file outside the warehouse folder is not the pipeline's business
        elsewhere = tmp_path / "mine.duckdb"
        assert main(["load-file", str(file), "--dataset", "manual", "--db", str(elsewhere)]) == 0
    assert main(["load-file", str(file), "--dataset", "manual"]) == 0  # lock free: loads
    assert Layout(warehouse).staging.exists()


def test_cli_writers_are_shut_out_while_a_pipeline_holds_the_lock(
    tmp_path: Path, demo_server
) -> None:
    """A real pipeline held mid-ingest (one dataset written, by `kill_driver`): `load-file` and `run`
    into the staging file fail with the lock message instead of slipping a table into the build."""
    from tests.cleantech.core.test_kill_and_concurrency import held_run

    published = tmp_path / "warehouse" / "cleantech.duckdb"
    markers = tmp_path / "markers"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEANTECH_", "PXWEB_"))}
    env.update(CLEANTECH_WAREHOUSE=str(published), PXWEB_BASE_URL=demo_server.base_url_v2,
               CLEANTECH_LOCK_TIMEOUT="0.5")  # fmt: skip
    pipeline = subprocess.Popen(
        held_run("ingest", markers, ["cli", "pipeline"]),
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        marker = markers / f"held-ingest-{pipeline.pid}"
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert pipeline.poll() is None, "the pipeline exited before it was held"
            assert time.monotonic() < deadline, "the pipeline was not held mid-ingest"
            time.sleep(0.05)
        staging = Layout(published).staging
        before = staging.read_bytes()
        for args in (
            ["load-file", str(_jsonstat_file(tmp_path)), "--dataset", "manual"],
            ["run", "--dataset", "population_county"],
        ):
            proc = subprocess.run(
                [sys.executable, "-m", "cleantech", *args],
                env=env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert proc.returncode != 0, proc.stdout
            lines = proc.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: cannot write "), proc.stderr
            assert f"another writer (pid {pipeline.pid} on " in lines[0]
            assert ", pipeline run, since " in lines[0]
        assert staging.read_bytes() == before
    finally:
        os.killpg(pipeline.pid, signal.SIGKILL)
        pipeline.wait()
