"""Fixtures for the pipeline tests: one warehouse published by the real chain, shared read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from cleantech.core.pipeline import run_pipeline


@pytest.fixture(scope="session")
def good_published(tmp_path_factory: pytest.TempPathFactory, demo_server) -> Path:
    """A warehouse the real chain (server → ingest → dbt → gate → publish) published from the demo
    snapshot, with its run log beside it. Copy it before changing anything."""
    published = tmp_path_factory.mktemp("good") / "cleantech.duckdb"
    result = run_pipeline(
        base_url=demo_server.base_url_v2, published=published, echo=lambda _: None
    )
    assert result.outcome == "published"
    return published
