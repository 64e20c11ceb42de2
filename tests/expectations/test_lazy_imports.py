"""Modules the Airflow DAG processor imports (directly or through DAG helpers) stay light: their
heavy dependencies load on first use, not at import (the DAG file parse budget is small)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

HEAVY = ("duckdb", "yaml", "httpx", "orjson", "pandas", "pyarrow", "great_expectations")


@pytest.mark.parametrize(
    "module",
    [
        "expectations.runner",
        "cleantech.core.publish",
        "ingest.pxweb",
        "cleantech.outputs.export",
        "ingest.sql",
    ],
)
def test_module_imports_no_heavy_dependency(module: str) -> None:
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [], f"import {module} loads {out.stdout.strip()}"


def test_pxweb_names_still_import_from_the_package() -> None:
    import ingest.pxweb as pxweb
    from ingest.pxweb import Limits, PxWebClient, fetch_table_updated
    from ingest.pxweb.client import PxWebClient as Direct

    assert PxWebClient is Direct and callable(fetch_table_updated) and Limits
    assert set(pxweb.__all__) == set(pxweb._EXPORTS)
    assert all(getattr(pxweb, name) is not None for name in pxweb.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = pxweb.nope
    with pytest.raises(ImportError):
        from ingest.pxweb import nope  # noqa: F401
