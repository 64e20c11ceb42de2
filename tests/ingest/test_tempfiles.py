"""Temporary files of a killed write are removed by the next write of the same target; files of
writers still running are kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cleantech.outputs.report import _write_atomically
from ingest import tempfiles


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_report_write_is_cleaned_up_by_the_next_one(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    host = tempfiles._host()
    killed = tmp_path / f".report.html.{host}.{dead_pid()}.abc123.tmp"
    killed.write_bytes(b"x" * 4096)  # what a SIGKILLed writer leaves
    old_style = tmp_path / ".report.html.k2j3h4.tmp"  # name of an older version, two days old
    old_style.write_bytes(b"x")
    two_days = time.time() - 2 * 24 * 3600
    os.utime(old_style, (two_days, two_days))
    recent_style = tmp_path / ".report.html.q9w8e7.tmp"  # unknown writer, recent: kept
    recent_style.write_bytes(b"x")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        running = tmp_path / f".report.html.{host}.{sleeper.pid}.def456.tmp"
        running.write_bytes(b"x")
        other_host = tmp_path / ".report.html.otherhost.1.ghi789.tmp"
        other_host.write_bytes(b"x")
        unrelated = tmp_path / ".other.html.somehost.1.x.tmp"
        unrelated.write_bytes(b"x")

        _write_atomically(out, "<html>new</html>")

        assert out.read_text() == "<html>new</html>"
        assert not killed.exists() and not old_style.exists()
        assert recent_style.exists() and running.exists() and other_host.exists()
        assert unrelated.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert tempfiles.remove_stale(out) == [running]  # its writer is gone now


def test_parquet_exports_use_the_same_cleanup(tmp_path: Path) -> None:
    target = tmp_path / "cleantech_growth.parquet"
    stale = tmp_path / f".cleantech_growth.parquet.{tempfiles._host()}.{dead_pid()}.x.tmp"
    stale.write_bytes(b"x")
    fd, tmp = tempfiles.make_temp(target)
    os.close(fd)
    assert not stale.exists()
    assert tmp.name.startswith(f".cleantech_growth.parquet.{tempfiles._host()}.{os.getpid()}.")
    tmp.unlink()
