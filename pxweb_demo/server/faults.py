"""Fault injection for tests: fail, delay or truncate the next N API responses."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

TruncateMode = Literal["short", "cut"]


@dataclass
class FaultPlan:
    """What to do to one API response."""

    fail_status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    truncate: TruncateMode | None = None

    @property
    def names(self) -> list[str]:
        """Names of the faults applied (for the request log)."""
        out = []
        if self.fail_status is not None:
            out.append(f"fail:{self.fail_status}")
        if self.delay:
            out.append(f"delay:{self.delay:g}")
        if self.truncate:
            out.append(f"truncate:{self.truncate}")
        return out


class Faults:
    """Counters of pending faults; each API request consumes one of each kind that is pending."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fail: tuple[int, int, float | None] = (0, 503, None)
        self._delay: tuple[int, float] = (0, 0.0)
        self._truncate: tuple[int, TruncateMode] = (0, "short")

    def fail_next(self, n: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """Answer the next n API requests with this status (and Retry-After, if given)."""
        with self._lock:
            self._fail = (int(n), int(status), retry_after)

    def delay_next(self, n: int = 1, seconds: float = 1.0) -> None:
        """Wait `seconds` before sending each of the next n API responses."""
        with self._lock:
            self._delay = (int(n), float(seconds))

    def truncate_next(self, n: int = 1, mode: TruncateMode = "short") -> None:
        """Truncate the next n bodies: "short" = fewer bytes than Content-Length, "cut" = cut JSON."""
        if mode not in ("short", "cut"):
            raise ValueError(f"truncate mode must be 'short' or 'cut', not {mode!r}")
        with self._lock:
            self._truncate = (int(n), mode)

    def reset(self) -> None:
        """Cancel every pending fault."""
        with self._lock:
            self._fail = (0, 503, None)
            self._delay = (0, 0.0)
            self._truncate = (0, "short")

    def take(self) -> FaultPlan:
        """The faults for the current request (consumes them)."""
        plan = FaultPlan()
        with self._lock:
            n, status, retry_after = self._fail
            if n > 0:
                plan.fail_status, plan.retry_after = status, retry_after
                self._fail = (n - 1, status, retry_after)
            n, seconds = self._delay
            if n > 0:
                plan.delay = seconds
                self._delay = (n - 1, seconds)
            n, mode = self._truncate
            if n > 0:
                plan.truncate = mode
                self._truncate = (n - 1, mode)
        return plan

    def state(self) -> dict[str, Any]:
        """Pending faults as a JSON-able dict."""
        with self._lock:
            return {
                "fail_next": {
                    "n": self._fail[0],
                    "status": self._fail[1],
                    "retry_after": self._fail[2],
                },
                "delay_next": {"n": self._delay[0], "seconds": self._delay[1]},
                "truncate_next": {"n": self._truncate[0], "mode": self._truncate[1]},
            }

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a control-endpoint body such as {"fail_next": {"n": 2, "status": 503}}."""
        if spec.get("reset"):
            self.reset()
        if (f := spec.get("fail_next")) is not None:
            self.fail_next(f.get("n", 1), f.get("status", 503), f.get("retry_after"))
        if (d := spec.get("delay_next")) is not None:
            self.delay_next(d.get("n", 1), d.get("seconds", 1.0))
        if (t := spec.get("truncate_next")) is not None:
            self.truncate_next(t.get("n", 1), t.get("mode", "short"))
