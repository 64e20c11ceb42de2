"""Make the project's DAGs run on their own in a local Airflow: parse, unpause, register the watcher.

`make run` creates the three DAGs in the metadata DB through `dag.test()`, paused (Airflow's
default). `make airflow` then starts a scheduler on the same DB, where paused DAGs never run and
the source watcher is not started (Airflow registers an asset watcher's trigger only for assets
that an unpaused DAG consumes). This module is the start-up step of `make airflow`: it parses the
DAG folder into the metadata DB, unpauses the project's DAGs and parses again so the watcher's
trigger is registered, then reports what will run by itself.

Deployments (docker-compose) keep Airflow's paused-at-creation default on purpose: an operator
unpauses the DAGs once the source and schedule are right (docs/DEPLOY.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cleantech.orchestration import settings

PROJECT_DAG_IDS = ("cleantech_ingest", "cleantech_transform", "cleantech_report")


class ActivationError(RuntimeError):
    """The project's DAGs could not be made active (a DAG file did not parse, or is missing)."""


@dataclass(frozen=True)
class Activation:
    """What runs on its own after activation: unpaused DAGs, the watcher, the next nightly run."""

    unpaused: list[str]
    watchers: list[str]
    next_nightly: str | None
    nightly_due_now: bool
    source: str
    watch_interval_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)


def _parse_dags_into_db() -> None:
    """Parse every DAG bundle into the metadata DB (what `airflow dags reserialize` does)."""
    from airflow.cli.commands.dag_command import dag_reserialize

    dag_reserialize(argparse.Namespace(bundle_name=None))


def _import_errors() -> list[str]:
    """The DAG files' parse errors Airflow recorded, one line each."""
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(ParseImportError)).all()
        return [f"{row.filename}: {str(row.stacktrace).strip().splitlines()[-1]}" for row in rows]


def activate_dags(dag_ids: tuple[str, ...] = PROJECT_DAG_IDS) -> Activation:
    """Parse the DAG folder into the metadata DB, unpause `dag_ids`, register the source watcher."""
    from airflow.models.asset import AssetModel
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    _parse_dags_into_db()
    with create_session() as session:
        models = session.scalars(select(DagModel).where(DagModel.dag_id.in_(dag_ids))).all()
        missing = sorted(set(dag_ids) - {m.dag_id for m in models})
        if missing:
            errors = _import_errors()
            detail = f" (import errors: {'; '.join(errors)})" if errors else ""
            raise ActivationError(
                f"DAGs not found after parsing the DAG folder: {', '.join(missing)}{detail}"
            )
        for model in models:
            model.is_paused = False
    # Airflow links a watcher's trigger to its asset only while a consuming DAG is unpaused, and
    # does so when it parses: parse once more now that they are.
    _parse_dags_into_db()
    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == settings.SOURCES_ASSET))
        watchers = sorted(str(t.classpath) for t in asset.triggers) if asset is not None else []
        ingest = session.scalar(select(DagModel).where(DagModel.dag_id == "cleantech_ingest"))
        unpaused = sorted(
            m.dag_id
            for m in session.scalars(select(DagModel).where(DagModel.dag_id.in_(dag_ids))).all()
            if not m.is_paused
        )
        next_at = ingest.next_dagrun_create_after if ingest is not None else None
    return Activation(
        unpaused=unpaused,
        watchers=watchers,
        next_nightly=(
            next_at.astimezone(ZoneInfo(settings.NIGHTLY_TZ)).isoformat(timespec="minutes")
            if next_at
            else None
        ),
        nightly_due_now=bool(next_at and next_at <= datetime.now(UTC)),
        source=settings.default_source(),
        watch_interval_seconds=settings.watch_interval(),
    )


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (Airflow's log lines included) to `log` meanwhile.

    Airflow's structlog writes to the file descriptors it found at import, so only a descriptor-level
    redirect keeps its parse logs out of the start-up lines.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def startup_lines(activation: Activation) -> list[str]:
    """What `make airflow` says will run by itself, and how to stop it."""
    nightly = f"cleantech_ingest at {settings.NIGHTLY_CRON!r} {settings.NIGHTLY_TZ}"
    if activation.nightly_due_now:
        first = (
            f"the latest nightly slot ({activation.next_nightly}) has no run yet, so a first "
            "run starts as soon as the scheduler is up"
        )
    else:
        first = f"next run {activation.next_nightly}"
    watcher = "registered" if activation.watchers else "NOT registered (see the triggerer log)"
    return [
        f"DAGs active (unpaused): {', '.join(activation.unpaused)}",
        f"  nightly: {nightly}; {first}",
        f"  watcher: {watcher}; polls every catalog table of source {activation.source!r} "
        f"every {activation.watch_interval_seconds:g} s (CLEANTECH_WATCH_INTERVAL) and starts "
        "cleantech_ingest when a table's `updated` moves",
        "  then: cleantech_transform follows the raw-table events, cleantech_report the publish",
        "  pause: the toggle in the UI, or `.venv/bin/airflow dags pause cleantech_ingest` "
        "(with this AIRFLOW_HOME)",
    ]
