"""Fixtures for the analyst-side tests: a real demo warehouse (raw layer + dbt marts)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def marts_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo warehouse with schema `marts` built by dbt (read it, do not mutate it).

    Reuses a suite-wide `demo_warehouse` fixture when one exists; else copies `raw_db` and runs
    `dbt build` on the copy. `CLEANTECH_TEST_MARTS_DB` points at an already built warehouse instead
    (local iteration only: CI builds it).
    """
    prebuilt = os.environ.get("CLEANTECH_TEST_MARTS_DB")
    if prebuilt:
        return Path(prebuilt)
    try:
        return Path(request.getfixturevalue("demo_warehouse"))
    except pytest.FixtureLookupError:
        pass
    from ingest.dbt_runner import dbt_build

    raw_db = Path(request.getfixturevalue("raw_db"))
    path = tmp_path_factory.mktemp("marts") / "cleantech.duckdb"
    shutil.copyfile(raw_db, path)
    dbt_build(path)
    return path
