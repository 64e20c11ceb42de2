"""Server limits (cells, values, calls per window) from v2 /config or v1 ?config, with defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Conservative defaults for servers that do not announce their limits (SCB's documented values).
DEFAULT_MAX_CELLS = 150_000
DEFAULT_MAX_VALUES_V1 = 100_000
DEFAULT_MAX_CALLS = 30
DEFAULT_TIME_WINDOW = 10.0


@dataclass(frozen=True)
class Limits:
    """What one request may hold and how many requests may start per time window."""

    max_cells: int = DEFAULT_MAX_CELLS
    max_values: int | None = None
    max_calls: int = DEFAULT_MAX_CALLS
    time_window: float = DEFAULT_TIME_WINDOW

    def __post_init__(self) -> None:
        if self.max_cells < 1 or self.max_calls < 1 or self.time_window <= 0:
            raise ValueError(f"invalid limits: {self}")
        if self.max_values is not None and self.max_values < 1:
            raise ValueError(f"invalid limits: {self}")

    @property
    def request_cells(self) -> int:
        """The most cells one data request may select (the stricter of cells and values)."""
        if self.max_values is None:
            return self.max_cells
        return min(self.max_cells, self.max_values)

    @classmethod
    def defaults(cls, api: str = "v2") -> Limits:
        """Conservative limits for a server that announces none."""
        if api == "v1":
            return cls(DEFAULT_MAX_VALUES_V1, DEFAULT_MAX_VALUES_V1)
        return cls()

    @classmethod
    def from_v2_config(cls, config: Mapping[str, Any]) -> Limits:
        """Limits from a v2 `GET /config` body (0 or absent means not announced)."""
        return cls(
            max_cells=_positive_int(config.get("maxDataCells")) or DEFAULT_MAX_CELLS,
            max_values=None,
            max_calls=_positive_int(config.get("maxCallsPerTimeWindow")) or DEFAULT_MAX_CALLS,
            time_window=_positive_float(config.get("timeWindow")) or DEFAULT_TIME_WINDOW,
        )

    @classmethod
    def from_v1_config(cls, config: Mapping[str, Any]) -> Limits:
        """Limits from a v1 `?config` body (`maxValues`, `maxCells`, `maxCalls`, `timeWindow`)."""
        max_values = _positive_int(config.get("maxValues"))
        # R-pxweb reads maxCells and falls back to maxValues: they are independent ceilings.
        max_cells = _positive_int(config.get("maxCells")) or max_values or DEFAULT_MAX_VALUES_V1
        return cls(
            max_cells=max_cells,
            max_values=max_values or DEFAULT_MAX_VALUES_V1,
            max_calls=_positive_int(config.get("maxCalls")) or DEFAULT_MAX_CALLS,
            time_window=_positive_float(config.get("timeWindow")) or DEFAULT_TIME_WINDOW,
        )


def _positive_int(value: object) -> int | None:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _positive_float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
