"""Side virtualenvs with DuckDB 1.x readers (the Python package 1.4.x, the 1.5.x CLI from PyPI).

Created with the project's uv under `.bi/` (ignored) and reused while the pin is unchanged: the
second run costs a file check. They prove the published file opens in DuckDB 1.x, which the
project's own DuckDB 2.x cannot show.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SIDE_ROOT = REPO_ROOT / ".bi"

# name → pip requirement; the newest of each 1.x line that PyPI ships
DUCKDB_14 = ("duckdb14", "duckdb==1.4.*")
DUCKDB_CLI_15 = ("duckdbcli15", "duckdb-cli==1.5.*")
# what old BI drivers bundle (DBeaver's default DuckDB driver was 1.0.0): docs/BI.md's v1.0 copy
DUCKDB_10 = ("duckdb10", "duckdb==1.0.0")


def side_env(name: str, requirement: str) -> Path:
    """The virtualenv `.bi/<name>` with `requirement` installed (created once, then reused)."""
    env = SIDE_ROOT / name
    marker = env / f".installed-{requirement.replace('*', 'x').replace('=', '_')}"
    if marker.exists():
        return env
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [str(uv), "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(env)],
        check=True,
    )
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(env / "bin" / "python"),
            requirement,
        ],
        check=True,
    )
    marker.touch()
    return env
