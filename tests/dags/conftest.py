"""Airflow fixtures: a throw-away AIRFLOW_HOME with a migrated SQLite DB, and the project's DagBag.

Airflow reads its configuration when first imported, so the environment is set here at import
time (pytest imports this file before any test module under tests/dags/). Each session gets its
own home under the ignored `.airflow/` folder, removed at the end, so concurrent sessions and
`make run` never share a metadata DB.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO_ROOT / "dags"
AIRFLOW_HOME = Path(
    os.environ.get("CLEANTECH_TEST_AIRFLOW_HOME") or REPO_ROOT / ".airflow" / f"test-{os.getpid()}"
)

if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(AIRFLOW_HOME):
    # Too late to point Airflow elsewhere: refuse rather than touch someone's real metadata DB.
    raise RuntimeError("airflow was imported before tests/dags/conftest.py could set AIRFLOW_HOME")

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(AIRFLOW_HOME / "logs"),
    # The ingest DAG reads these at parse time: fast retries in tests.
    "CLEANTECH_INGEST_RETRIES": "1",
    "CLEANTECH_RETRY_DELAY_SECONDS": "1",
    "CLEANTECH_LOCK_TIMEOUT": "60",
    # One key for this session's processes: triggers that a subprocess (`make airflow`'s activate)
    # encrypts must decrypt in this process's later `dag.test()` (a throw-away DB, a throw-away key).
    "AIRFLOW__CORE__FERNET_KEY": os.environ.get("CLEANTECH_TEST_FERNET_KEY")
    or base64.urlsafe_b64encode(os.urandom(32)).decode(),
}
AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
os.environ.update(AIRFLOW_ENV)
os.environ.pop("CLEANTECH_ALERT_WEBHOOK", None)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """`airflow db migrate` on this session's SQLite DB (~6 s), plus the DuckDB writer pool."""
    started = time.monotonic()
    env = {**os.environ, **AIRFLOW_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    from airflow.models.pool import Pool

    from cleantech.orchestration import settings

    Pool.create_or_update_pool(
        settings.WRITER_POOL,
        slots=1,
        description=settings.WRITER_POOL_DESCRIPTION,
        include_deferred=False,
    )
    print(f"airflow db migrate: {time.monotonic() - started:.1f} s")
    yield AIRFLOW_HOME / "airflow.db"


@pytest.fixture
def pxweb_server():
    """A fresh local PxWeb server (demo snapshot) for one test: its request log and faults are its own."""
    from pxweb_demo.server import start_server

    srv = start_server(port=0)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def dagbag():
    """The project's DAG folder, parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("CLEANTECH_TEST_AIRFLOW_HOME"):
        shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
