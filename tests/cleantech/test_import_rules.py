"""Import rules: the DAG processor's imports stay light, and the layering contract holds.

The DAG processor imports every DAG file, and with it `cleantech.orchestration.settings`, `alerts`
and `transform_plan`, on a small parse budget: those modules (and the watcher, beside Airflow) must not pull in the heavy
dependencies at import. The layering (pyproject `[tool.importlinter]`) is checked by lint-imports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

HEAVY = ("duckdb", "yaml", "pandas", "pyarrow", "great_expectations", "dbt", "expectations")


@pytest.mark.parametrize(
    "module",
    [
        "cleantech.orchestration.settings",
        "cleantech.orchestration.alerts",
        "cleantech.orchestration.transform_plan",
        "cleantech.orchestration.tasks",
    ],
)
def test_dag_helper_module_imports_no_heavy_dependency(module: str) -> None:
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [], f"import {module} loads {out.stdout.strip()}"


def test_layering_contract_holds() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_a_wrong_import_breaks_the_contract(tmp_path: Path) -> None:
    """An ingest module importing the application fails lint-imports (the contract can fail)."""
    for pkg in ("ingest", "expectations", "cleantech", "pxweb_demo", "dags"):
        shutil.copytree(
            REPO_ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.json")
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "ingest" / "wrong.py").write_text("import cleantech.core.pipeline\n")
    lint_imports = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode != 0, out.stdout[-2000:]
    assert "ingest.wrong -> cleantech.core.pipeline" in out.stdout
