"""The published warehouse opens in DuckDB 1.x: the 1.4 Python package and the 1.5 CLI from PyPI
(side virtualenvs under .bi/) open it read-only and run the README's sample query."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from cleantech.core.publish import PUBLISHED_STORAGE_VERSION, publish, storage_version
from tests.cleantech.outputs.side_envs import DUCKDB_14, DUCKDB_CLI_15, REPO_ROOT, side_env

pytestmark = pytest.mark.slow


def readme_sample_query() -> str:
    """The first ```sql block of README.md (the sample query analysts copy)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```sql\n(.*?)```", text, re.S)
    assert match, "README.md has no sql block"
    return match.group(1).strip()


@pytest.fixture(scope="module")
def published(marts_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo build published the way the pipeline publishes it."""
    folder = tmp_path_factory.mktemp("published")
    staging = folder / "staging" / "cleantech.duckdb"
    staging.parent.mkdir()
    shutil.copyfile(marts_db, staging)
    target = folder / "cleantech.duckdb"
    publish(staging, target)
    return target


def _expected(rows: list[dict[str, object]]) -> None:
    by_region = {str(r["region_code"]): r for r in rows}
    assert set(by_region) == {"14", "01", "12"}
    vg = by_region["14"]
    assert (float(vg["start_value"]), float(vg["end_value"])) == (5000.0, 8200.0)  # type: ignore[arg-type]
    assert float(vg["abs_change"]) == 3200.0  # type: ignore[arg-type]
    assert round(float(vg["pct_change"]), 1) == 64.0  # type: ignore[arg-type]


def test_published_file_is_in_the_v1_4_storage_format(published: Path) -> None:
    assert storage_version(published) == PUBLISHED_STORAGE_VERSION + "+"


def test_duckdb_1_4_python_opens_the_published_file(published: Path) -> None:
    env = side_env(*DUCKDB_14)
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "cur = con.execute(sys.argv[2])\n"
        "names = [d[0] for d in cur.description]\n"
        "rows = [dict(zip(names, r)) for r in cur.fetchall()]\n"
        "try:\n"
        "    con.execute('create table marts.scratch as select 1 as x')\n"
        "    refused = ''\n"
        "except duckdb.Error as exc:\n"
        "    refused = str(exc)\n"
        "print(json.dumps({'version': duckdb.__version__, 'rows': rows, 'refused': refused}))\n"
    )
    out = subprocess.run(
        [str(env / "bin" / "python"), "-c", script, str(published), readme_sample_query()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["version"].startswith("1.4."), result["version"]
    _expected(result["rows"])
    assert "read-only" in result["refused"]


def test_duckdb_1_5_cli_opens_the_published_file(published: Path) -> None:
    env = side_env(*DUCKDB_CLI_15)
    cli = env / "bin" / "duckdb"
    version = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("v1.5."), version.stdout
    out = subprocess.run(
        [str(cli), "-readonly", "-json", str(published), "-c", readme_sample_query()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    _expected(json.loads(out.stdout))


def test_duckdb_1_5_cli_refuses_the_duckdb_2_storage_format(marts_db: Path) -> None:
    """Why the publish converts: the build itself (DuckDB 2.0's format) does not open in 1.5."""
    with duckdb.connect(str(marts_db), read_only=True) as con:
        tag = con.execute(
            "select tags['storage_version'] from duckdb_databases() "
            "where database_name = current_database()"
        ).fetchone()
    assert tag is not None and not str(tag[0]).startswith("v1.")
    cli = side_env(*DUCKDB_CLI_15) / "bin" / "duckdb"
    out = subprocess.run(
        [str(cli), "-readonly", str(marts_db), "-c", "select 1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0 and "version number" in out.stderr + out.stdout
