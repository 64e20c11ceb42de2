"""Phase timings the BI tests record for the terminal summary (conftest.py prints them)."""

from __future__ import annotations

PHASES: list[str] = []


def record(phase: str, seconds: float) -> None:
    """Note one timed phase."""
    PHASES.append(f"{phase}: {seconds:.1f} s")
