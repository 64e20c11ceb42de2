"""One build of the warehouse: what a run works on (run id, the Layout's paths, the build file, the
source, full refresh) and how its steps take the writer lock.

The CLI's `pipeline` holds the lock for the whole run (`Build.hold`); an Airflow task runs one
step, which takes the lock for itself (`Build.writer`). A `Build` travels between Airflow tasks as
`to_dict()` (XCom) and comes back with `Build.from_dict`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cleantech.core.lock import WriterLock
from cleantech.core.runlog import STAGES
from cleantech.layout import Layout


def new_run_id() -> str:
    """A fresh run id for a CLI run (`20260101T020000Z-1a2b3c4d`)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


@dataclass
class Build:
    """What one run builds, audits and publishes."""

    run_id: str
    published: Path
    file: Path  # the build (staging) file the steps write
    source: str = "demo"
    full_refresh: bool = False
    lock_purpose: str = "pipeline run"
    lock_timeout: float | None = None
    datasets: list[str] | None = None
    base_url: str | None = None
    stages: tuple[str, ...] = STAGES  # the steps this run goes through, in order
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _held: WriterLock | None = field(default=None, repr=False, compare=False)

    @property
    def publishes(self) -> bool:
        """False for an ingest-only run (the Airflow ingest DAG): it finishes `staged`."""
        return "publish" in self.stages

    @property
    def layout(self) -> Layout:
        """The files beside the published warehouse."""
        return Layout(self.published)

    @classmethod
    def for_cli(
        cls,
        *,
        published: Path,
        source: str = "demo",
        full_refresh: bool = False,
        datasets: list[str] | None = None,
        base_url: str | None = None,
        lock_timeout: float | None = None,
    ) -> Build:
        """A `cleantech pipeline` run: a fresh run id, building `Layout.staging`."""
        published = Path(published).resolve()
        return cls(
            run_id=new_run_id(),
            published=published,
            file=Layout(published).staging,
            source=source,
            full_refresh=full_refresh,
            datasets=datasets,
            base_url=base_url,
            lock_timeout=lock_timeout,
        )

    @classmethod
    def for_airflow(
        cls, *, run_id: str, source: str = "published", full_refresh: bool = False
    ) -> Build:
        """A transform DAG run on the configured warehouse: builds `Layout.airflow_build(run_id)`
        and records as `airflow:<run id>`."""
        layout = Layout.current()
        return cls(
            run_id=f"airflow:{run_id}",
            published=layout.published,
            file=layout.airflow_build(run_id),
            source=source,
            full_refresh=full_refresh,
            lock_purpose=f"Airflow run {run_id}",
            stages=("prepare", "dbt", "audit", "publish"),
        )

    @classmethod
    def for_airflow_ingest(
        cls,
        *,
        run_id: str,
        source: str = "demo",
        full_refresh: bool = False,
        datasets: list[str] | None = None,
    ) -> Build:
        """An ingest DAG run on the configured warehouse: steps prepare and ingest only, into
        `Layout.airflow_ingest_staging(run_id)`, recorded as `airflow-ingest:<run id>`; it
        finishes `staged` and a transform run takes its file over."""
        layout = Layout.current()
        return cls(
            run_id=f"airflow-ingest:{run_id}",
            published=layout.published,
            file=layout.airflow_ingest_staging(run_id),
            source=source,
            full_refresh=full_refresh,
            datasets=datasets,
            lock_purpose=f"Airflow ingest run {run_id}",
            stages=("prepare", "ingest"),
        )

    def lock(self, purpose: str | None = None) -> WriterLock:
        """A (not yet taken) writer lock on the published warehouse."""
        return WriterLock(
            self.published, purpose=purpose or self.lock_purpose, timeout=self.lock_timeout
        )

    def hold(self) -> WriterLock:
        """Take the writer lock for the whole run (the CLI); steps then run under it."""
        lock = self.lock().acquire()
        self._held = lock
        return lock

    @contextlib.contextmanager
    def writer(self, step: str) -> Iterator[None]:
        """The writer lock a step needs: the run's own when `hold` took it, else one for the step."""
        if self._held is not None and self._held.held:
            yield
            return
        with self.lock(f"{self.lock_purpose}, step {step}"):
            yield

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (XCom)."""
        return {
            "run_id": self.run_id,
            "published": str(self.published),
            "file": str(self.file),
            "source": self.source,
            "full_refresh": self.full_refresh,
            "lock_purpose": self.lock_purpose,
            "lock_timeout": self.lock_timeout,
            "datasets": self.datasets,
            "base_url": self.base_url,
            "stages": list(self.stages),
            "started_at": self.started_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Build:
        """The inverse of `to_dict`."""
        return cls(
            run_id=doc["run_id"],
            published=Path(doc["published"]),
            file=Path(doc["file"]),
            source=doc.get("source") or "demo",
            full_refresh=bool(doc.get("full_refresh")),
            lock_purpose=doc.get("lock_purpose") or "pipeline run",
            lock_timeout=doc.get("lock_timeout"),
            datasets=doc.get("datasets"),
            base_url=doc.get("base_url"),
            stages=tuple(doc.get("stages") or STAGES),
            started_at=datetime.fromisoformat(doc["started_at"]),
        )
