"""Run the dbt project (`dbt_project/`) on a given DuckDB file: build, docs, parse.

dbt runs in process through `dbtRunner`; it is imported where used (2.4 s to import,
`python -X importtime`), so every `cleantech` command does not pay for it. dbt's artifacts
(target/, logs/) go beside the warehouse file, one folder per file, so the pipeline, the tests and
Airflow never share (or clobber) a target folder.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleantech.layout import REPO_ROOT, dbt_artifacts_dir
from ingest.errors import one_line

PROJECT_DIR = REPO_ROOT / "dbt_project"
DB_ENV = "CLEANTECH_DBT_PATH"

# dbtRunner keeps global state (flags, adapters) and reads the DuckDB path from os.environ:
# one invocation at a time per process.
_LOCK = threading.Lock()

_PASSED = {"success", "pass"}
_FAILED = {"error", "fail", "runtime error"}
_WARNED = {"warn"}
_SKIPPED = {"skipped"}


class DbtFailed(RuntimeError):
    """dbt failed: the one-line message names the failing nodes and where the log is."""

    def __init__(self, message: str, *, failed_nodes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.failed_nodes = list(failed_nodes)


@dataclass(frozen=True)
class DbtResult:
    """Outcome of a dbt invocation: node counts by status, failing/warning node ids, timing."""

    passed: int
    failed: int
    warned: int
    skipped: int
    seconds: float
    failed_nodes: list[str] = field(default_factory=list)
    warned_nodes: list[str] = field(default_factory=list)
    target_path: Path | None = None

    @property
    def total(self) -> int:
        """All nodes dbt reported on (exposures' no-ops excluded)."""
        return self.passed + self.failed + self.warned + self.skipped

    def summary(self) -> str:
        """One line: `dbt build: N passed, N warned, N failed, N skipped in S s`."""
        return (
            f"dbt build: {self.passed} passed, {self.warned} warned, {self.failed} failed, "
            f"{self.skipped} skipped in {self.seconds:.1f} s"
        )


def dbt_build(
    db: Path,
    *,
    full_refresh: bool = False,
    select: str | None = None,
    exclude: str | None = None,
    quiet: bool = False,
    project_dir: Path | None = None,
) -> DbtResult:
    """Run `dbt build` (seeds, models, snapshots, data and unit tests) on `db`; raise DbtFailed."""
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]
    if exclude:
        args += ["--exclude", exclude]
    return _run(Path(db), args, command="dbt build", quiet=quiet, project_dir=project_dir)


def dbt_docs_generate(db: Path, *, quiet: bool = True) -> Path:
    """Run `dbt docs generate` on a built `db`; return the folder with index.html (and a static one)."""
    result = _run(
        Path(db), ["docs", "generate", "--static"], command="dbt docs generate", quiet=quiet
    )
    assert result.target_path is not None
    return result.target_path


def dbt_parse(target_path: Path | None = None) -> Path:
    """Parse the project without a database; return the manifest.json path (for Cosmos, docs)."""
    target = Path(target_path) if target_path else PROJECT_DIR / "target"
    db = os.environ.get(DB_ENV) or str(Path(tempfile.gettempdir()) / "cleantech-dbt-parse.duckdb")
    res = _invoke(["parse", *_common_args(target, target.parent / "logs", quiet=True)], db=Path(db))
    if not res.success:
        raise DbtFailed(f"dbt parse failed: {one_line(res.exception)}")
    return target / "manifest.json"


def _run(
    db: Path, args: list[str], *, command: str, quiet: bool, project_dir: Path | None = None
) -> DbtResult:
    """Invoke dbt on `db` with per-file artifact folders; summarise, raise DbtFailed on failure."""
    if not db.exists():
        raise DbtFailed(f"{command} failed: warehouse file {db} does not exist (run ingest first)")
    folder = dbt_artifacts_dir(db)
    target, logs = folder / "target", folder / "logs"
    started = time.perf_counter()
    res = _invoke([*args, *_common_args(target, logs, quiet=quiet, project_dir=project_dir)], db=db)
    seconds = time.perf_counter() - started
    result = _summarise(res, seconds, target)
    if res.exception is not None and not isinstance(res.exception, Exception):
        # dbtRunner returns even a BaseException as a result: an Airflow task timeout, an
        # interrupt or an exit must stop the caller, not pass as a failed dbt build.
        raise res.exception
    if res.exception is not None:
        raise DbtFailed(
            f"{command} failed on {db.name}: {one_line(res.exception)} (log: {logs / 'dbt.log'})"
        )
    if not res.success or result.failed:
        nodes = ", ".join(result.failed_nodes[:8]) or "unknown nodes"
        more = f" and {len(result.failed_nodes) - 8} more" if len(result.failed_nodes) > 8 else ""
        raise DbtFailed(
            f"{command} failed on {db.name}: {result.failed} failing node(s): {nodes}{more} "
            f"(log: {logs / 'dbt.log'})",
            failed_nodes=result.failed_nodes,
        )
    return result


def _common_args(
    target: Path, logs: Path, *, quiet: bool, project_dir: Path | None = None
) -> list[str]:
    """Project, profile and artifact-location flags shared by every invocation."""
    project = str(project_dir or PROJECT_DIR)
    args = [
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target-path",
        str(target),
        "--log-path",
        str(logs),
    ]
    if quiet:
        args.append("--quiet")
    return args


def _invoke(args: list[str], *, db: Path) -> Any:
    """One dbtRunner invocation with CLEANTECH_DBT_PATH pointing at `db`."""
    from dbt.cli.main import dbtRunner

    with _LOCK, _env({DB_ENV: str(Path(db).resolve()), "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}):
        try:
            return dbtRunner().invoke(args)
        finally:
            _release_duckdb()


def _release_duckdb() -> None:
    """Close dbt-duckdb's process-wide DuckDB connection, which outlives the invocation.

    Left open it holds the file's write lock: the quality gate, publish or a reader in this or
    another process could not open the file afterwards.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        with suppress(Exception):  # best effort: the GC closes it otherwise
            environment.close()


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _summarise(res: Any, seconds: float, target: Path) -> DbtResult:
    """Count dbt's node results by status."""
    passed = failed = warned = skipped = 0
    failed_nodes: list[str] = []
    warned_nodes: list[str] = []
    for node_result in getattr(res.result, "results", None) or []:
        status = str(getattr(node_result.status, "value", node_result.status)).lower()
        node_id = getattr(getattr(node_result, "node", None), "unique_id", "?")
        if status in _PASSED:
            passed += 1
        elif status in _FAILED:
            failed += 1
            failed_nodes.append(node_id)
        elif status in _WARNED:
            warned += 1
            warned_nodes.append(node_id)
        elif status in _SKIPPED:
            skipped += 1
    return DbtResult(
        passed=passed,
        failed=failed,
        warned=warned,
        skipped=skipped,
        seconds=round(seconds, 3),
        failed_nodes=failed_nodes,
        warned_nodes=warned_nodes,
        target_path=target,
    )
