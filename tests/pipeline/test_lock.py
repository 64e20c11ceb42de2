"""The writer lock: one holder at a time across processes, released when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.lock import WarehouseLocked, WriterLock, lock_path_for

HOLD = """
import sys, time
from pathlib import Path
from ingest.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]), timeout=5).acquire()
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
    assert lock_path_for(published) == tmp_path / "cleantech.duckdb.lock"
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
        assert f"another pipeline run (pid {proc.pid}" in message
        assert "holds the warehouse lock" in message
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
    from ingest.pipeline import PipelineFailed, run_pipeline

    published = tmp_path / "cleantech.duckdb"
    with WriterLock(published, timeout=0), pytest.raises(PipelineFailed) as info:
        run_pipeline(published=published, lock_timeout=0.1, echo=lambda _: None)
    assert info.value.stage == "lock"
    assert f"another pipeline run (pid {os.getpid()}" in str(info.value)
    assert "\n" not in str(info.value)
    assert not published.exists()
