"""A full disk at each write site: the error names the stage and the path, the first failure is
the one reported, and the published file is untouched. ENOSPC is injected (no tmpfs is assumed
to be mountable where the suite runs); each injection replaces the one call that writes."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cleantech.core import recording as recording_mod
from cleantech.core import steps as steps_mod
from cleantech.core.lock import LockFailed, WriterLock
from cleantech.core.pipeline import PipelineFailed, prepare_staging, run_pipeline


def enospc(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class DbtFailed(RuntimeError):
    """Stands in for `cleantech.core.dbt_runner.DbtFailed` (same type name in the one-line error)."""


def failing_dbt(message: str) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        raise DbtFailed(message)

    return run


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def published(tmp_path: Path) -> Path:
    path = tmp_path / "wh" / "cleantech.duckdb"
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create table marts.t as select 1 as x")
    return path


def test_copy_to_staging_names_the_destination(
    published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = tmp_path / "wh" / "staging" / "cleantech.duckdb"
    monkeypatch.setattr(steps_mod.shutil, "copyfile", enospc)
    with pytest.raises(OSError) as caught:
        prepare_staging(published, staging)
    assert str(caught.value) == (
        f"cannot copy the published warehouse to {staging}.tmp: No space left on device"
    )


def test_pipeline_reports_the_copy_failure_at_prepare(
    published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sha(published)
    monkeypatch.setattr(steps_mod.shutil, "copyfile", enospc)
    with pytest.raises(PipelineFailed) as caught:
        run_pipeline(published=published, echo=lambda _: None)
    message = str(caught.value)
    assert caught.value.stage == "prepare"
    assert message.startswith("pipeline failed at prepare: prepare failed: CopyFailed: cannot ")
    assert "staging/cleantech.duckdb.tmp: No space left on device" in message
    assert "\n" not in message
    assert sha(published) == before


def test_lock_file_errors_name_the_lock_path(
    published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cleantech.core.lock.os.pwrite", enospc)
    with pytest.raises(LockFailed, match=r"cannot take the warehouse writer lock .*\.lock: No sp"):
        WriterLock(published, timeout=0).acquire()
    before = sha(published)
    with pytest.raises(PipelineFailed) as caught:
        run_pipeline(published=published, echo=lambda _: None)
    assert caught.value.stage == "lock"
    assert f"{published}.lock: No space left on device" in str(caught.value)
    assert sha(published) == before
    monkeypatch.undo()
    WriterLock(published, timeout=0).acquire().release()  # the failed attempt released it


def test_run_log_errors_name_the_log(published: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recording_mod, "log_started", enospc)
    with pytest.raises(PipelineFailed) as caught:
        run_pipeline(published=published, echo=lambda _: None)
    assert caught.value.stage == "start"
    assert "cannot write the run log" in str(caught.value)
    assert "cleantech.runs.jsonl: No space left on device" in str(caught.value)


def test_a_dbt_failure_is_not_replaced_by_the_gate_crashing_after_it(
    published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging on a full disk: dbt fails, then the gate cannot even count the tables. The run
    must report dbt's failure (the first), not "audit failed"."""
    before = sha(published)
    monkeypatch.setattr(steps_mod, "ingest_all", lambda *a, **k: [])
    monkeypatch.setattr(steps_mod, "dbt_build", failing_dbt("IO Error: No space left on device"))
    monkeypatch.setattr(steps_mod, "table_counts", enospc)
    with pytest.raises(PipelineFailed) as caught:
        run_pipeline(published=published, echo=lambda _: None)
    assert caught.value.stage == "dbt"
    assert str(caught.value).startswith(
        "pipeline failed at dbt: dbt build failed: DbtFailed: IO Error: No space left on device "
        "(the quality gate could not run either: OSError: No space left on device)"
    )
    result = caught.value.result
    assert result is not None and result.failed_stage == "dbt"
    assert sha(published) == before


def test_a_failing_run_log_never_replaces_the_runs_failure(
    published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steps_mod, "ingest_all", lambda *a, **k: [])
    monkeypatch.setattr(steps_mod, "dbt_build", failing_dbt("boom"))
    monkeypatch.setattr(steps_mod, "table_counts", enospc)
    monkeypatch.setattr(recording_mod, "log_finished", enospc)
    with pytest.raises(PipelineFailed) as caught:
        run_pipeline(published=published, echo=lambda _: None)
    assert caught.value.stage == "dbt"
    assert "dbt build failed: DbtFailed: boom" in str(caught.value)
    assert "the run log" in str(caught.value) and "could not be written" in str(caught.value)


def test_report_write_errors_name_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cleantech.outputs import report as report_mod

    class Full:
        def __init__(self, fd: int, *a: Any, **k: Any) -> None:
            os.close(fd)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "report.html"
    monkeypatch.setattr(report_mod.os, "fdopen", Full)
    with pytest.raises(OSError) as caught:
        report_mod._write_atomically(out, "<html></html>")
    assert caught.value.filename == str(out)
    assert "cannot write the report: No space left on device" in str(caught.value)
    assert not list(tmp_path.glob(".*.tmp"))
