"""Server limits (cells, calls per window) and an IP-independent sliding-window call counter.

Named `ServerLimits` / `CallWindow` so they do not shadow the client's `Limits` / `RateLimiter`."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

from ingest.pxweb.limits import (
    DEFAULT_MAX_CALLS,
    DEFAULT_MAX_CELLS,
    DEFAULT_MAX_VALUES_V1,
    DEFAULT_TIME_WINDOW,
)


@dataclass
class ServerLimits:
    """The limits the server enforces and announces in /config and ?config."""

    # Defaults from the client's limits module: the server announces what SCB documents, which is
    # what the client assumes for a server that announces nothing.
    max_cells: int = DEFAULT_MAX_CELLS
    max_values_v1: int = DEFAULT_MAX_VALUES_V1
    max_calls: int = DEFAULT_MAX_CALLS
    time_window: float = DEFAULT_TIME_WINDOW

    def to_dict(self) -> dict[str, float]:
        """The limits as a JSON-able dict."""
        return asdict(self)


@dataclass
class Verdict:
    """The rate limiter's answer for one call."""

    allowed: bool
    remaining: int
    retry_after: float  # seconds until a slot frees (0 when allowed)

    @property
    def retry_after_header(self) -> str:
        """Whole seconds for the Retry-After header (at least 1 when refused)."""
        return str(max(1, math.ceil(self.retry_after))) if not self.allowed else "0"


class CallWindow:
    """At most `max_calls` accepted calls in any `time_window` seconds (refused calls don't count)."""

    def __init__(self, limits: ServerLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def check(self) -> Verdict:
        """Record a call if a slot is free; otherwise say how long to wait."""
        max_calls, window = self.limits.max_calls, self.limits.time_window
        if max_calls <= 0 or window <= 0:
            return Verdict(True, 0, 0.0)
        with self._lock:
            now = self._clock()
            while self._calls and self._calls[0] <= now - window:
                self._calls.popleft()
            if len(self._calls) >= max_calls:
                return Verdict(False, 0, self._calls[0] + window - now)
            self._calls.append(now)
            return Verdict(True, max_calls - len(self._calls), 0.0)

    def reset(self) -> None:
        """Forget every recorded call."""
        with self._lock:
            self._calls.clear()
