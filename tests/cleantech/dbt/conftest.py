"""Fixtures for the dbt tests: the suite-wide demo warehouse (one real `dbt build`, shared)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="session")
def built_db(demo_warehouse: Path) -> Path:
    """The demo raw layer with the whole dbt project built on it (do not mutate)."""
    return demo_warehouse


@pytest.fixture()
def marts(built_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the built warehouse."""
    con = duckdb.connect(str(built_db), read_only=True)
    try:
        yield con
    finally:
        con.close()
