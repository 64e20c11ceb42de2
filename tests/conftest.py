"""Session fixtures shared by the whole suite: the local PxWeb server and a real ingested raw layer."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real captured PxWeb / JSON-stat responses, committed with their provenance (PROVENANCE.md there).
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "pxweb"
# JSON-stat documents written for this project from the format specification's examples.
SPEC_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "jsonstat"


def pytest_configure(config: pytest.Config) -> None:
    # Tests never touch the developer's real warehouse: point the published path at a scratch
    # folder unless the caller chose one.
    if "CLEANTECH_WAREHOUSE" not in os.environ:
        scratch = Path(tempfile.mkdtemp(prefix="cleantech-test-warehouse-"))
        os.environ["CLEANTECH_WAREHOUSE"] = str(scratch / "cleantech.duckdb")
    os.environ.pop("PXWEB_BASE_URL", None)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Real captured PxWeb / JSON-stat responses (tests/fixtures/pxweb/, in the repository)."""
    return FIXTURES


@pytest.fixture(scope="session")
def demo_server():
    """The project's local PxWeb server with the demo snapshot, on an ephemeral loopback port."""
    from pxweb_demo.server import start_server

    server = start_server(port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def raw_db(tmp_path_factory: pytest.TempPathFactory, demo_server) -> Path:
    """A DuckDB file with every catalog dataset ingested from the local server (do not mutate)."""
    from ingest.datasets import ingest_all

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

    from cleantech.core.dbt_runner import dbt_build

    prebuilt = os.environ.get("CLEANTECH_TEST_MARTS_DB")  # local iteration only
    if prebuilt:
        return Path(prebuilt)
    path = tmp_path_factory.mktemp("warehouse") / "demo_warehouse.duckdb"
    shutil.copyfile(raw_db, path)
    result = dbt_build(path, quiet=True)
    assert result.failed == 0, f"dbt build failed on the demo raw layer: {result}"
    return path
