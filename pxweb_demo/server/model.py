"""In-memory table model the local PxWeb server slices: dimensions plus a dense value cube."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Status symbol codes are stored as uint8 in a cube beside the values; 0 means "no symbol".
NO_STATUS = 0


@dataclass
class CubeDimension:
    """One variable of a table: codes in table order, labels, units and elimination rules."""

    code: str
    label: str
    codes: list[str]
    labels: list[str]
    elimination: bool
    elimination_code: str | None
    is_time: bool
    units: dict[str, Any] | None = None
    note: list[str] | None = None
    # The dimension extension as it appears in data responses (no codelists).
    extension: dict[str, Any] = field(default_factory=dict)
    # The dimension extension as it appears in the metadata response (with codelists).
    meta_extension: dict[str, Any] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {c: i for i, c in enumerate(self.codes)}

    @property
    def size(self) -> int:
        """Number of values."""
        return len(self.codes)


@dataclass
class Table:
    """A served table: SCB Table info, json-stat2 metadata, dimensions and the full cube."""

    id: str
    info: dict[str, Any]
    metadata: dict[str, Any]
    dims: list[CubeDimension]
    values: np.ndarray  # float64, shape = dim sizes, NaN where missing
    status: np.ndarray  # uint8, same shape, index into `symbols`
    symbols: list[str]
    data_label: str
    data_extension: dict[str, Any]

    @property
    def matrix(self) -> str:
        """The v1 name (extension.px.matrix) of the table."""
        return str(self.metadata.get("extension", {}).get("px", {}).get("matrix", self.id))

    @property
    def updated(self) -> str:
        """The table's `updated` timestamp (UTC ISO with Z)."""
        return str(self.info["updated"])

    @property
    def v1_path(self) -> list[str]:
        """Folder ids (from `paths[0]`) followed by the v1 table name."""
        paths = self.info.get("paths") or [[]]
        return [p["id"] for p in paths[0]] + [self.matrix]

    def dim(self, code: str) -> CubeDimension | None:
        """The dimension with this code (case-insensitive), or None."""
        low = code.lower()
        for d in self.dims:
            if d.code.lower() == low:
                return d
        return None

    def symbol_code(self, symbol: str) -> int:
        """The uint8 code for a status symbol, adding it to the table's symbols if new."""
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        return self.symbols.index(symbol)


def dimensions_from_metadata(metadata: dict[str, Any]) -> list[CubeDimension]:
    """Build the dimensions of a json-stat2 metadata document (SCB shape)."""
    time_ids = set(metadata.get("role", {}).get("time", []))
    dims = []
    for code in metadata["id"]:
        d = metadata["dimension"][code]
        cat = d["category"]
        index = cat.get("index")
        if isinstance(index, dict):
            codes = sorted(index, key=index.__getitem__)
        elif isinstance(index, list):
            codes = list(index)
        else:
            codes = list(cat["label"])
        labels = [cat.get("label", {}).get(c, c) for c in codes]
        ext = dict(d.get("extension") or {})
        data_ext = {k: v for k, v in ext.items() if k != "codelists"}
        dims.append(
            CubeDimension(
                code=code,
                label=d.get("label", code),
                codes=codes,
                labels=labels,
                elimination=bool(ext.get("elimination", False)),
                elimination_code=ext.get("eliminationValueCode"),
                is_time=code in time_ids,
                units=cat.get("unit"),
                note=d.get("note"),
                extension=data_ext,
                meta_extension=ext,
            )
        )
    return dims
