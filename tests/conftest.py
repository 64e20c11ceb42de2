"""Session fixtures shared by the whole suite: the local PxWeb server and a real ingested raw layer."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CLEANTECH_SHARED", REPO_ROOT.parent / "shared"))
FIXTURES = SHARED / "reference" / "pxweb-fixtures"


def pytest_configure(config: pytest.Config) -> None:
    # Tests never touch the developer's real warehouse: point the published path at a scratch
    # folder unless the caller chose one.
    if "CLEANTECH_WAREHOUSE" not in os.environ:
        scratch = Path(tempfile.mkdtemp(prefix="cleantech-test-warehouse-"))
        os.environ["CLEANTECH_WAREHOUSE"] = str(scratch / "cleantech.duckdb")
    os.environ.pop("PXWEB_BASE_URL", None)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only `../shared` folder beside the repo (CLEANTECH_SHARED overrides)."""
    if not SHARED.is_dir():
        pytest.fail(f"shared reference folder not found at {SHARED} (set CLEANTECH_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir: Path) -> Path:
    """Real captured PxWeb / JSON-stat responses."""
    return shared_dir / "reference" / "pxweb-fixtures"


@pytest.fixture(scope="session")
def demo_server():
    """The project's local PxWeb server with the demo snapshot, on an ephemeral loopback port."""
    from ingest.server import start_server

    server = start_server(port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def raw_db(tmp_path_factory: pytest.TempPathFactory, demo_server) -> Path:
    """A DuckDB file with every catalog dataset ingested from the local server (do not mutate)."""
    from ingest.run import ingest_all

    # Not "raw.duckdb": DuckDB names the database after the file, and a database called `raw`
    # makes every `raw.<table>` reference ambiguous with the schema.
    path = tmp_path_factory.mktemp("raw") / "raw_layer.duckdb"
    results = ingest_all(db=path, source="demo", base_url=demo_server.base_url_v2, progress=False)
    failed = [r.message for r in results if r.outcome != "loaded"]
    assert not failed, f"demo ingest failed: {failed}"
    return path


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory, raw_db: Path) -> Path:
    """A copy of `raw_db` with `dbt build` run on it: raw + staging + marts (do not mutate).

    One dbt build serves every test module that reads the marts; copy it before writing.
    """
    import shutil

    from ingest.dbt_runner import dbt_build

    prebuilt = os.environ.get("CLEANTECH_TEST_MARTS_DB")  # local iteration only
    if prebuilt:
        return Path(prebuilt)
    path = tmp_path_factory.mktemp("warehouse") / "demo_warehouse.duckdb"
    shutil.copyfile(raw_db, path)
    result = dbt_build(path, quiet=True)
    assert result.failed == 0, f"dbt build failed on the demo raw layer: {result}"
    return path
