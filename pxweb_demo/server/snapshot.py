"""Load a snapshot folder (config.json, tables/<ID>/{table,metadata,data}.json) into memory."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from pxweb_demo.server.model import NO_STATUS, Table, dimensions_from_metadata
from pxweb_demo.server.selection import resolve_cells

DATA_FILES = ("data.json", "data.json.gz")


def read_json(path: Path) -> Any:
    """Read a JSON file (gzip when the name ends in .gz)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return orjson.loads(raw)


def data_path(table_dir: Path) -> Path:
    """The full-table json-stat2 file of a table folder."""
    for name in DATA_FILES:
        if (table_dir / name).exists():
            return table_dir / name
    raise FileNotFoundError(f"no data.json in {table_dir}")


def cube_from_dataset(
    ds: dict[str, Any], shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Dense float values (NaN = missing), uint8 status codes and the symbol list of a dataset."""
    n = int(np.prod(shape))
    raw = ds["value"]
    if isinstance(raw, dict):
        values = np.full(n, np.nan)
        for k, v in raw.items():
            values[int(k)] = np.nan if v is None else float(v)
    else:
        values = np.array(raw, dtype=np.float64)
    if values.size != n:
        raise ValueError(f"value has {values.size} cells, dimensions say {n}")
    symbols = [""]
    status = np.zeros(n, dtype=np.uint8)
    raw_status = ds.get("status") or {}
    if isinstance(raw_status, str):
        raw_status = dict.fromkeys(map(str, range(n)), raw_status)
    elif isinstance(raw_status, list):
        raw_status = {str(i): s for i, s in enumerate(raw_status) if s}
    for k, sym in raw_status.items():
        if sym not in symbols:
            symbols.append(sym)
        status[int(k)] = symbols.index(sym)
    return values.reshape(shape), status.reshape(shape), symbols


def load_table(table_dir: Path) -> Table:
    """Parse one table folder of a snapshot."""
    info = read_json(table_dir / "table.json")
    metadata = read_json(table_dir / "metadata.json")
    ds = read_json(data_path(table_dir))
    dims = dimensions_from_metadata(metadata)
    if ds["id"] != [d.code for d in dims] or ds["size"] != [d.size for d in dims]:
        raise ValueError(f"{table_dir}: data.json must hold the full table in metadata order")
    values, status, symbols = cube_from_dataset(ds, tuple(d.size for d in dims))
    return Table(
        id=info["id"],
        info=info,
        metadata=metadata,
        dims=dims,
        values=values,
        status=status,
        symbols=symbols,
        data_label=ds.get("label", metadata.get("label", "")),
        data_extension=ds.get("extension", metadata.get("extension", {})),
    )


@dataclass
class Overlay:
    """A simulated publication of a table: a new `updated` and revised cells."""

    updated: str
    cells: list[dict[str, Any]] = field(default_factory=list)


class Snapshot:
    """A snapshot folder with per-table caches that reload when the files change."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[tuple[Any, ...], Table]] = {}
        self._overlays: dict[str, list[Overlay]] = {}

    def config(self) -> dict[str, Any]:
        """The snapshot's /config document (limits are filled in by the server)."""
        path = self.root / "config.json"
        return read_json(path) if path.exists() else {}

    def table_dirs(self) -> dict[str, Path]:
        """Table id → folder, for every folder under tables/ that holds a table.json."""
        base = self.root / "tables"
        if not base.is_dir():
            return {}
        return {p.name: p for p in sorted(base.iterdir()) if (p / "table.json").is_file()}

    def _signature(self, table_dir: Path) -> tuple[Any, ...]:
        # mtime and size of every file: a test that edits a copied snapshot sees its edit.
        files = [table_dir / "table.json", table_dir / "metadata.json", data_path(table_dir)]
        return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)

    def get(self, table_id: str) -> Table | None:
        """The table with this id (case-insensitive), loaded or from cache; None if unknown."""
        dirs = self.table_dirs()
        key = next((k for k in dirs if k.lower() == table_id.lower()), None)
        if key is None:
            return None
        with self._lock:
            sig = self._signature(dirs[key])
            cached = self._cache.get(key)
            if cached and cached[0] == sig:
                return cached[1]
            table = load_table(dirs[key])
            for overlay in self._overlays.get(key, []):
                apply_overlay(table, overlay)
            self._cache[key] = (sig, table)
            return table

    def tables(self) -> list[Table]:
        """Every table of the snapshot, in folder-name order."""
        return [t for t in (self.get(k) for k in self.table_dirs()) if t is not None]

    def touch(self, table_id: str, updated: str, cells: list[dict[str, Any]] | None) -> Table:
        """Simulate a new publication: bump `updated` and revise cells (kept until reset)."""
        table = self.get(table_id)
        if table is None:
            raise KeyError(table_id)
        overlay = Overlay(updated=updated, cells=list(cells or []))
        with self._lock:
            apply_overlay(table, overlay)  # validates before the overlay is recorded
            self._overlays.setdefault(table.id, []).append(overlay)
        return table

    def reset(self, root: Path | None = None) -> None:
        """Drop overlays and caches; optionally switch to another snapshot folder."""
        with self._lock:
            if root is not None:
                self.root = Path(root)
            self._cache.clear()
            self._overlays.clear()

    def reload(self, root: Path | None = None) -> None:
        """Re-read every file on next access (overlays are re-applied); optionally switch folder."""
        with self._lock:
            if root is not None:
                self.root = Path(root)
            self._cache.clear()


def apply_overlay(table: Table, overlay: Overlay) -> None:
    """Apply a touch to a loaded table in place."""
    # Resolve every cell first, so a bad selection leaves the table untouched.
    edits = [(np.ix_(*resolve_cells(table, c.get("selection") or {})), c) for c in overlay.cells]
    for grid, cell in edits:
        value = cell.get("value")
        if value is None:
            table.values[grid] = np.nan
            table.status[grid] = table.symbol_code(cell.get("status") or "..")
        else:
            table.values[grid] = float(value)
            sym = cell.get("status")
            table.status[grid] = table.symbol_code(sym) if sym else NO_STATUS
    info = dict(table.info)
    info["updated"] = overlay.updated
    table.info = info
