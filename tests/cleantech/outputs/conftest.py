"""Fixtures for the analyst-side tests: the suite-wide demo warehouse (raw layer + dbt marts)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def marts_db(demo_warehouse: Path) -> Path:
    """A demo warehouse with schema `marts` built by dbt (read it, do not mutate it)."""
    return demo_warehouse
