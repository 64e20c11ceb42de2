"""The published warehouse takes no direct writes: `fetch`, `load-file` and `run` refuse it (by
path, or by the published mark any file the pipeline published carries), in one line that says
how to load instead; a staging copy of it is writable again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import orjson
import pytest

from cleantech.core.pipeline import prepare_staging
from cleantech.core.publish import has_published_mark, is_published_file, mark_published, publish
from tests.cleantech.test_cli import cli, one_error_line

DOC = {
    "version": "2.0",
    "class": "dataset",
    "id": ["Region", "Tid"],
    "size": [2, 1],
    "dimension": {
        "Region": {"category": {"index": ["01", "03"]}},
        "Tid": {"category": {"index": ["2020"]}},
    },
    "value": [1.5, None],
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def jsonstat_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.json"
    path.write_bytes(orjson.dumps(DOC))
    return path


def a_published_file(path: Path, published_at: Path | None = None) -> Path:
    """A small DuckDB file carrying the published mark."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create table marts.t as select 1 as x")
    mark_published(path, published_at or path)
    return path


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"CLEANTECH_WAREHOUSE": str(tmp_path / "wh" / "cleantech.duckdb")}


@pytest.mark.parametrize("command", ["load-file", "fetch", "run"])
def test_the_published_path_is_refused_in_one_line(
    tmp_path: Path, jsonstat_file: Path, command: str
) -> None:
    env = env_for(tmp_path)
    published = Path(env["CLEANTECH_WAREHOUSE"])
    published.parent.mkdir(parents=True)
    with duckdb.connect(str(published)) as con:  # an old published file, without the mark
        con.execute("create table t as select 1 as x")
    before = sha(published)
    args = {
        "load-file": ["load-file", str(jsonstat_file), "--dataset", "x"],
        "fetch": ["fetch", "--base-url", "http://127.0.0.1:9/api/v2", "--table", "TAB1",
                  "--dataset", "x"],
        "run": ["run", "--quiet"],
    }[command]  # fmt: skip
    proc = cli(*args, "--db", str(published), env=env)
    line = one_error_line(proc)
    assert proc.returncode == 2
    assert "is a published warehouse and takes no direct writes" in line
    assert "--db scratch.duckdb" in line and "cleantech pipeline" in line
    assert sha(published) == before


def test_a_file_with_the_published_mark_is_refused_wherever_it_is(
    tmp_path: Path, jsonstat_file: Path
) -> None:
    elsewhere = a_published_file(tmp_path / "mounted" / "cleantech.duckdb")
    before = sha(elsewhere)
    proc = cli("load-file", str(jsonstat_file), "--dataset", "x", "--db", str(elsewhere),
               env=env_for(tmp_path))  # fmt: skip
    assert "is a published warehouse" in one_error_line(proc)
    assert sha(elsewhere) == before


def test_a_scratch_file_loads_and_can_join_the_warehouse_read_only(
    tmp_path: Path, jsonstat_file: Path
) -> None:
    """The documented way to add an ad-hoc table: a scratch file, the warehouse ATTACHed."""
    env = env_for(tmp_path)
    published = a_published_file(Path(env["CLEANTECH_WAREHOUSE"]))
    scratch = tmp_path / "scratch.duckdb"
    proc = cli("load-file", str(jsonstat_file), "--dataset", "adhoc", "--db", str(scratch),
               env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with duckdb.connect(str(scratch)) as con:
        con.execute(f"attach '{published}' as wh (read_only)")
        rows = con.execute(
            "select a.Region, a.value, w.x from raw.adhoc a cross join wh.marts.t w order by 1"
        ).fetchall()
    assert rows == [("01", 1.5, 1), ("03", None, 1)]


def test_publish_marks_the_file_and_the_staging_copy_is_unmarked(tmp_path: Path) -> None:
    staging = tmp_path / "build.duckdb"
    with duckdb.connect(str(staging)) as con:
        con.execute("create schema marts; create table marts.t as select 1 as x")
    published = tmp_path / "wh" / "cleantech.duckdb"
    publish(staging, published, required=["marts.t"])
    assert has_published_mark(published)
    with duckdb.connect(str(published), read_only=True) as con:
        path = con.execute("select published_path from ops.publication").fetchone()
    assert path == (str(published),)

    copy = prepare_staging(published, tmp_path / "wh" / "staging" / "cleantech.duckdb")
    assert not has_published_mark(copy)
    assert not is_published_file(copy, published)
    assert is_published_file(published, tmp_path / "elsewhere.duckdb")  # by its mark


def test_a_failed_swap_leaves_the_build_unmarked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from cleantech.core import publish as publish_mod

    staging = tmp_path / "build.duckdb"
    with duckdb.connect(str(staging)) as con:
        con.execute("create schema marts; create table marts.t as select 1 as x")

    def full(path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(publish_mod, "_fsync_file", full)
    next_file = tmp_path / "wh" / ".cleantech.duckdb.next"
    with pytest.raises(publish_mod.PublishFailed) as caught:
        publish(staging, tmp_path / "wh" / "cleantech.duckdb", required=["marts.t"])
    assert str(caught.value) == f"cannot write {next_file}: No space left on device"
    assert not (tmp_path / "wh" / "cleantech.duckdb").exists()
    assert list((tmp_path / "wh").iterdir()) == []  # the .next copy is removed too
    assert staging.exists() and not has_published_mark(staging)


def test_dbt_runner_refuses_to_build_in_the_published_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    from cleantech.layout import REPO_ROOT

    published = a_published_file(tmp_path / "copy" / "cleantech.duckdb")
    before = sha(published)
    proc = subprocess.run(
        [sys.executable, "-m", "cleantech", "dbt-build", str(published)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "is a published warehouse" in proc.stderr
    assert sha(published) == before
