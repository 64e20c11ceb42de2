"""A thread-safe sliding-window rate limiter shared by every worker thread of a client."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most `max_calls` request starts in any `time_window` seconds; `acquire()` blocks."""

    def __init__(
        self,
        max_calls: int,
        time_window: float,
        *,
        margin: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1 or time_window <= 0 or margin < 0:
            raise ValueError("max_calls must be >= 1, time_window > 0 and margin >= 0")
        self.max_calls = max_calls
        # The margin widens the window: the server counts arrivals, which lag our starts a little.
        self.window = time_window + margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._blocked_until = float("-inf")

    def acquire(self) -> float:
        """Block until a request may start; record the start and return its clock time."""
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.window:
                    self._starts.popleft()
                wait = self._blocked_until - now
                if len(self._starts) >= self.max_calls:
                    wait = max(wait, self._starts[0] + self.window - now)
                if wait <= 0:
                    self._starts.append(now)
                    return now
            # Sleep outside the lock so other threads can penalize or check in meanwhile.
            self._sleep(wait)

    def penalize(self, seconds: float) -> None:
        """Make every thread wait `seconds` from now (a 429 with Retry-After)."""
        if seconds <= 0:
            return
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
