"""Shared server state: snapshot, limits, rate limiter, faults and the request log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pxweb_demo.paths import demo_snapshot_dir
from pxweb_demo.server.faults import Faults
from pxweb_demo.server.limits import CallWindow, ServerLimits
from pxweb_demo.server.snapshot import Snapshot


def utc_now_iso() -> str:
    """Now in UTC as SCB writes it: 2026-05-29T06:00:00Z."""
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class ServerState:
    """Everything a request handler needs; shared by all handler threads."""

    def __init__(self, snapshot_dir: Path, limits: ServerLimits) -> None:
        self.snapshot = Snapshot(snapshot_dir)
        self.initial_limits = ServerLimits(**limits.to_dict())  # type: ignore[arg-type]
        self.limits = limits
        self.rate = CallWindow(limits)
        self.faults = Faults()
        self.base_url = ""  # set once the socket is bound: http://host:port
        self.control = False  # /_control endpoints answer only when started for tests
        # The snapshot folders /_control/reload may switch between (the one it started with
        # and the project's demo snapshot), never an arbitrary directory.
        self.snapshot_roots = (Path(snapshot_dir).resolve(), demo_snapshot_dir().resolve())
        self._log: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def base_v2(self) -> str:
        """Base URL of API v2."""
        return f"{self.base_url}/api/v2"

    def log(self, record: dict[str, Any]) -> None:
        """Append an API call to the request log."""
        with self._lock:
            record["seq"] = len(self._log) + 1
            self._log.append(record)

    def request_log(self) -> list[dict[str, Any]]:
        """A copy of the request log."""
        with self._lock:
            return [dict(r) for r in self._log]

    def clear_log(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._log.clear()

    def set_limits(self, **changes: Any) -> ServerLimits:
        """Change limits at runtime (tests shrink them); unknown keys are an error."""
        for key, value in changes.items():
            if value is None:
                continue
            if not hasattr(self.limits, key):
                raise KeyError(key)
            setattr(self.limits, key, type(getattr(self.limits, key))(value))
        return self.limits

    def reset(self) -> None:
        """Back to the start: no faults, empty log and rate window, no touches, initial limits."""
        self.faults.reset()
        self.rate.reset()
        self.clear_log()
        self.snapshot.reset()
        self.set_limits(**self.initial_limits.to_dict())
