"""A full disk at every write site of a run, through the command a user runs (`cleantech ...`,
in-process): it exits non-zero with ONE line that names the stage and the destination path, the
published file is unchanged, no temporary or half-written file is left, and the next run succeeds.

The disk fills where a real one would surface: DuckDB raises `IOException` from the statement
that writes (the connection's `execute` fails for that SQL), a file write raises
`OSError(ENOSPC)`. The injected DuckDB message names no file on purpose: DuckDB names whichever
file it was writing (often the `.wal`), or none, so the path in the line must come from our
code. test_out_of_space.py covers the staging copy, the lock file, the run log's first record
and the first-failure rule; this module the rest.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cleantech import cli
from cleantech.core import publish as publish_mod
from cleantech.core import runlog as runlog_mod
from cleantech.layout import Layout
from ingest import load as load_mod

FULL = "IO Error: No space left on device"  # what DuckDB says, minus the file it was writing
ENOSPC = os.strerror(errno.ENOSPC)


class FullDiskConnection:
    """A real DuckDB connection whose statements matching `pattern` fail as on a full disk."""

    def __init__(self, con: duckdb.DuckDBPyConnection, pattern: re.Pattern[str]) -> None:
        self._con = con
        self._pattern = pattern

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        if self._pattern.search(sql):
            raise duckdb.IOException(FULL)
        return self._con.execute(sql, *args, **kwargs)

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        if self._pattern.search(sql):
            raise duckdb.IOException(FULL)
        return self._con.executemany(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def __enter__(self) -> FullDiskConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()


def fill_disk_for(m: pytest.MonkeyPatch, module: types.ModuleType, sql: str) -> None:
    """Make `module`'s DuckDB connections fail the statements matching `sql` (a regex)."""
    pattern = re.compile(sql, re.IGNORECASE)
    real = duckdb.connect

    def connect(*args: Any, **kwargs: Any) -> FullDiskConnection:
        return FullDiskConnection(real(*args, **kwargs), pattern)

    shim = types.SimpleNamespace(**vars(duckdb))
    shim.connect = connect
    m.setattr(module, "duckdb", shim)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`cleantech ARGS` in-process: (exit code, stderr)."""
    capsys.readouterr()
    rc = cli.main(list(args))
    return rc, capsys.readouterr().err


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


def leftovers(folder: Path) -> list[str]:
    """Temporary or half-written files a failed write could leave in the warehouse folder."""
    names = [p.name for p in folder.rglob("*") if p.is_file()]
    return sorted(n for n in names if n.endswith((".tmp", ".next", ".wal")) or ".next" in n)


def run_log_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of the run log, each one whole JSON (json.loads fails on a half line)."""
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def warehouse(
    good_published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A copy of a published warehouse as the configured one (CLEANTECH_WAREHOUSE)."""
    published = tmp_path / "wh" / "cleantech.duckdb"
    published.parent.mkdir()
    published.write_bytes(good_published.read_bytes())
    monkeypatch.setenv("CLEANTECH_WAREHOUSE", str(published))
    monkeypatch.delenv("CLEANTECH_STAGING", raising=False)
    yield published


def pipeline_runs(db: Path) -> list[tuple[str, str, str | None]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select run_id, outcome, failed_stage from ops.pipeline_runs order by started_at"
        ).fetchall()
    finally:
        con.close()


def fails_then_recovers(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    published: Path,
    base_url: str,
    inject: Callable[[pytest.MonkeyPatch], None],
    *,
    stage: str,
    path: Path,
    extra: tuple[str, ...] = (),
    after_failure: Callable[[], None] | None = None,
) -> str:
    """Run `cleantech pipeline` on a full disk (`inject`), check the one line (stage, path),
    the published file and the leftovers; then run again on a disk with room. The line."""
    before = sha(published)
    with monkeypatch.context() as m:
        inject(m)
        rc, err = run_cli(capsys, "pipeline", "--base-url", base_url, *extra)
    line = one_error_line(err)
    assert rc == 1
    assert line.startswith(f"error: pipeline failed at {stage}: "), line
    assert f"{path}" in line and ENOSPC in line, line
    assert f"the published warehouse {published} is unchanged" in line, line
    assert sha(published) == before
    assert leftovers(published.parent) == []
    failed_run = run_log_lines(Layout(published).run_log)[-1]["run_id"]
    if after_failure is not None:
        after_failure()

    rc, err = run_cli(capsys, "pipeline", "--base-url", base_url)
    assert rc == 0, err
    assert sha(published) != before
    runs = {run_id: (outcome, failed) for run_id, outcome, failed in pipeline_runs(published)}
    assert runs[failed_run][0] in ("failed", "killed")  # killed: its outcome could not be logged
    assert list(runs.values())[-1] == ("published", None)
    assert leftovers(published.parent) == []
    return line


def test_raw_load_into_the_build(
    warehouse: Path, demo_server: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    build = Layout(warehouse).staging
    line = fails_then_recovers(
        capsys, monkeypatch, warehouse, demo_server.base_url_v2,
        lambda m: fill_disk_for(m, load_mod, r"^\s*insert into raw\."),
        stage="ingest", path=build, extra=("--full-refresh",),
    )  # fmt: skip
    assert re.search(rf"loading raw\.\w+ into {re.escape(str(build))} failed: {FULL}", line), line
    # The failure log row hit the same full disk: said, in the same line.
    assert f"the failure could not be logged: writing raw._load_log of {build} failed" in line


def test_recording_the_run_history_into_the_build(
    warehouse: Path, demo_server: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    build = Layout(warehouse).staging

    def nothing_half_written() -> None:
        # One transaction: the kept build holds the history it was copied with, no row more
        # (neither the carried-forward rows nor this run's).
        assert pipeline_runs(build) == pipeline_runs(warehouse)

    line = fails_then_recovers(
        capsys, monkeypatch, warehouse, demo_server.base_url_v2,
        lambda m: fill_disk_for(m, runlog_mod, r"^\s*insert into ops\.quality_results"),
        stage="publish", path=build, after_failure=nothing_half_written,
    )  # fmt: skip
    assert f"RecordRunsFailed: cannot write ops.pipeline_runs into {build}: {FULL}" in line


def test_a_run_log_append(
    warehouse: Path, demo_server: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    log = Layout(warehouse).run_log
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        # Every record after `started` hits the full disk after half of it was written.
        if b'"event": "started"' not in bytes(data):
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, ENOSPC)
        return real_write(fd, data)

    def inject(m: pytest.MonkeyPatch) -> None:
        shim = types.SimpleNamespace(**vars(os))
        shim.write = half_then_full
        m.setattr(runlog_mod, "os", shim)

    line = fails_then_recovers(
        capsys, monkeypatch, warehouse, demo_server.base_url_v2, inject, stage="prepare", path=log
    )
    assert f"prepare done, but the run log {log} could not be written: OSError: {log}: " in line
    assert f"(and the run log {log} could not be written: OSError: {log}: {ENOSPC})" in line
    # No half line was left: every record of the failed and the next run parses (the failed
    # run's only record is `started`: the next publish records it as killed).
    records = run_log_lines(log)
    assert records[-1]["event"] == "finished" and records[-1]["run"]["outcome"] == "published"


def test_the_run_logs_last_record_after_the_swap(
    warehouse: Path, demo_server: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """The swap is done when the run log's `finished` record hits the full disk: the line says
    the warehouse was published (never "unchanged"), and the run log gets no `failed` record."""
    log = Layout(warehouse).run_log
    real_write = os.write

    def full_for_the_published_record(fd: int, data: Any) -> int:
        if b'"outcome": "published"' in bytes(data):
            raise OSError(errno.ENOSPC, ENOSPC)
        return real_write(fd, data)

    before = sha(warehouse)
    with monkeypatch.context() as m:
        shim = types.SimpleNamespace(**vars(os))
        shim.write = full_for_the_published_record
        m.setattr(runlog_mod, "os", shim)
        rc, err = run_cli(capsys, "pipeline", "--base-url", demo_server.base_url_v2)
    line = one_error_line(err)
    assert rc == 1
    assert line.startswith(f"error: the warehouse {warehouse} was published (run "), line
    assert f"but the run log {log} could not be written: OSError: {log}: {ENOSPC}" in line
    assert "unchanged" not in line
    assert sha(warehouse) != before and leftovers(warehouse.parent) == []
    published_run = run_log_lines(log)[-1]["run_id"]
    assert all(r.get("run", {}).get("outcome") != "failed" for r in run_log_lines(log))
    assert (published_run, "published", None) in pipeline_runs(warehouse)

    # The next run keeps the record the published file holds (not 'killed', as the log alone says).
    rc, err = run_cli(capsys, "pipeline", "--base-url", demo_server.base_url_v2)
    assert rc == 0, err
    assert (published_run, "published", None) in pipeline_runs(warehouse)


def test_the_quality_data_docs(
    warehouse: Path, demo_server: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from great_expectations.data_context.store import tuple_store_backend

    quality = Layout(warehouse).quality_dir

    class FullFile:
        """A file opened for writing on a full disk: created, but no write gets through."""

        def __init__(self, fh: Any) -> None:
            self._fh = fh

        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, ENOSPC)

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self._fh.close()

    def full_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = open(file, mode, *args, **kwargs)  # noqa: SIM115
        return FullFile(fh) if any(c in mode for c in "wax") else fh

    def no_half_built_docs() -> None:
        assert not (quality / "index.html").exists()
        assert not (quality / "validations").exists()

    line = fails_then_recovers(
        capsys, monkeypatch, warehouse, demo_server.base_url_v2,
        lambda m: m.setattr(tuple_store_backend, "open", full_open, raising=False),
        stage="audit", path=quality, after_failure=no_half_built_docs,
    )  # fmt: skip
    assert f"audit failed: OSError: {quality}: cannot write the quality report: {ENOSPC}" in line
    assert (quality / "index.html").exists()  # the next run's Data Docs


def raw_contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
        ).fetchall()
        return {
            t: con.execute(f'select * from raw."{t}" order by all').fetchall()  # noqa: S608
            for (t,) in tables
        }
    finally:
        con.close()


def test_load_file_into_a_scratch_file(
    fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    db = tmp_path / "scratch" / "w.duckdb"
    source = fixtures_dir / "scb_v2_TAB6471_data_jsonstat2.json"
    rc, err = run_cli(capsys, "load-file", str(source), "--dataset", "first", "--db", str(db))
    assert rc == 0, err
    before = raw_contents(db)

    with monkeypatch.context() as m:
        fill_disk_for(m, load_mod, r"^\s*insert into raw\.")
        rc, err = run_cli(capsys, "load-file", str(source), "--dataset", "second", "--db", str(db))
    line = one_error_line(err)
    assert rc == 1
    assert line == f"error: loading raw.second into {db} failed: {FULL}"
    assert raw_contents(db) == before  # nothing of the load was kept
    assert leftovers(db.parent) == []

    rc, err = run_cli(capsys, "load-file", str(source), "--dataset", "second", "--db", str(db))
    assert rc == 0, err
    assert len(raw_contents(db)["second"]) == 2772


def test_the_parquet_export(
    good_published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from cleantech.outputs import export as export_mod

    out = tmp_path / "parquet"
    rc, err = run_cli(capsys, "export", "--db", str(good_published), "--out", str(out))
    assert rc == 0, err
    before = {p.name: sha(p) for p in out.iterdir()}

    with monkeypatch.context() as m:
        fill_disk_for(m, export_mod, r"^\s*copy \(select")
        rc, err = run_cli(capsys, "export", "--db", str(good_published), "--out", str(out))
    line = one_error_line(err)
    assert rc == 1
    assert re.fullmatch(
        rf"error: cannot write the Parquet export {re.escape(str(out))}/\w+\.parquet: {FULL}", line
    ), line
    assert {p.name: sha(p) for p in out.iterdir()} == before  # no temp file; the last export kept

    rc, err = run_cli(capsys, "export", "--db", str(good_published), "--out", str(out))
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(before)


def test_the_html_report(
    good_published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from cleantech.outputs import report as report_mod

    out = tmp_path / "site" / "report.html"
    out.parent.mkdir()
    out.write_text("the last report", encoding="utf-8")
    real_fdopen = os.fdopen

    def full_fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        fh = real_fdopen(fd, *args, **kwargs)

        def write(text: str) -> int:
            fh.buffer.write(text[: len(text) // 2].encode())  # part of it reached the disk
            raise OSError(errno.ENOSPC, ENOSPC)

        fh.write = write
        return fh

    with monkeypatch.context() as m:
        shim = types.SimpleNamespace(**vars(os))
        shim.fdopen = full_fdopen
        m.setattr(report_mod, "os", shim)
        rc, err = run_cli(capsys, "report", "--db", str(good_published), "--out", str(out))
    line = one_error_line(err)
    assert rc == 1
    assert line == f"error: {out}: cannot write the report: {ENOSPC}"
    assert out.read_text(encoding="utf-8") == "the last report"
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file

    rc, err = run_cli(capsys, "report", "--db", str(good_published), "--out", str(out))
    assert rc == 0, err
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_failed_unmark_leaves_no_staging_copy(
    good_published: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    from cleantech.core.steps import prepare_staging

    published = tmp_path / "cleantech.duckdb"
    published.write_bytes(good_published.read_bytes())
    staging = tmp_path / "staging" / "cleantech.duckdb"
    fill_disk_for(monkeypatch, publish_mod, r"^\s*drop table if exists ops\.publication")
    with pytest.raises(publish_mod.PublishFailed, match="cannot drop the published mark"):
        prepare_staging(published, staging)
    assert list(staging.parent.iterdir()) == []


# The publish module's DuckDB writes: (where the full disk hits, the stage, the file the line names,
# the line's message). Each through `cleantech pipeline`, as fails_then_recovers checks.
PUBLISH_WRITES = {
    "the published mark": (
        r"^\s*create or replace table ops\.publication", "publish", "build",
        "PublishFailed: cannot write the published mark into {path}",
    ),
    "the copy in the published storage version": (
        r"^\s*copy from database", "publish", "next",
        "PublishFailed: could not write {path} in storage version v1.4.0",
    ),
    "dropping the published mark from the staging copy": (
        r"^\s*drop table if exists ops\.publication", "prepare", "tmp",
        "PublishFailed: cannot drop the published mark from {path}",
    ),
    "the checkpoint of the build": (
        r"^\s*checkpoint", "publish", "build", "PublishFailed: cannot checkpoint {path}",
    ),
}  # fmt: skip


@pytest.mark.parametrize("site", list(PUBLISH_WRITES))
def test_a_publish_write(
    site: str,
    warehouse: Path,
    demo_server: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
) -> None:
    sql, stage, kind, message = PUBLISH_WRITES[site]
    layout = Layout(warehouse)
    path = {
        "build": layout.staging,
        "next": layout.next_file,
        "tmp": layout.staging.with_name("cleantech.duckdb.tmp"),
    }[kind]
    line = fails_then_recovers(
        capsys, monkeypatch, warehouse, demo_server.base_url_v2,
        lambda m: fill_disk_for(m, publish_mod, sql), stage=stage, path=path,
    )  # fmt: skip
    assert f"{message.format(path=path)}: {FULL}" in line
    # The destination is named, never the source it was copied from.
    assert f"staging{os.sep}cleantech.duckdb in storage" not in line
