"""PxWeb API v1 routes: ?config, folder navigation, table metadata (GET) and data (POST)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from pxweb_demo.server.jsonstat_writer import dataset_doc, jsonstat1_doc
from pxweb_demo.server.model import Table
from pxweb_demo.server.responses import (
    V1_PARAMETER_ERROR,
    V1_TOO_MANY_VALUES,
    ApiError,
    Response,
    json_response,
    v1_error,
)
from pxweb_demo.server.selection import SelectionError, cell_count, plan_selection, slice_cube
from pxweb_demo.server.state import ServerState

LANGUAGES = ("sv", "en")
DATABASE = "ssd"

try:  # v1 shows `updated` as naive local time (Europe/Stockholm at SCB)
    from zoneinfo import ZoneInfo

    LOCAL_TZ: Any = ZoneInfo("Europe/Stockholm")
except Exception:  # pragma: no cover - no tz database: fall back to the machine's zone
    LOCAL_TZ = None


def local_naive(updated: str) -> str:
    """UTC `2026-05-29T06:00:00Z` → local `2026-05-29T08:00:00` (no zone), as v1 lists it."""
    dt = datetime.fromisoformat(updated.replace("Z", "+00:00")).astimezone(LOCAL_TZ)
    return dt.replace(tzinfo=None).isoformat(timespec="seconds")


def not_found() -> ApiError:
    """v1's 404 for a wrong path or table."""
    return ApiError(v1_error(404, "Not found"))


def config(state: ServerState) -> dict[str, Any]:
    """The `?config` document with the live limits."""
    window = state.limits.time_window
    return {
        "maxValues": state.limits.max_values_v1,
        "maxCells": state.limits.max_cells,
        "maxCalls": state.limits.max_calls,
        "timeWindow": int(window) if float(window).is_integer() else window,
        "CORS": True,
    }


def route(
    state: ServerState, method: str, parts: list[str], query: list[tuple[str, str]], body: bytes
) -> Response:
    """Dispatch a request below /api/v1 (parts are the decoded path segments after it)."""
    parts = [p for p in parts if p]
    if not parts or parts[0] not in LANGUAGES:
        raise not_found()
    if any(k.lower() == "config" for k, _ in query):
        return json_response(config(state))
    if len(parts) == 1:
        return json_response([{"dbid": DATABASE, "text": "DEMO: Statistikdatabasen (syntetisk)"}])
    if parts[1] != DATABASE:
        raise not_found()
    path = parts[2:]
    if path[:1] == ["START"]:  # SCB paths appear with and without the START level
        path = path[1:]
    for table in state.snapshot.tables():
        if [p.lower() for p in table.v1_path] == [p.lower() for p in path]:
            if method == "GET":
                return json_response(meta_table(state, table))
            if method == "POST":
                return data(state, table, body)
    if method == "GET":
        nodes = folder(state, path)
        if nodes is not None:
            return json_response(nodes)
    raise not_found()


def folder(state: ServerState, path: list[str]) -> list[dict[str, Any]] | None:
    """The nodes below a folder path, or None when no table lives under it."""
    nodes: dict[str, dict[str, Any]] = {}
    depth = len(path)
    for table in state.snapshot.tables():
        folders = (table.info.get("paths") or [[]])[0]
        ids = [f["id"] for f in folders]
        if [i.lower() for i in ids[:depth]] != [p.lower() for p in path]:
            continue
        if depth < len(folders):
            f = folders[depth]
            nodes.setdefault(f["id"], {"id": f["id"], "type": "l", "text": f["label"]})
        elif depth == len(folders):
            nodes[table.matrix] = {
                "id": table.matrix,
                "type": "t",
                "text": table.info.get("label", table.matrix),
                "updated": local_naive(table.updated),
            }
    if not nodes:
        return None
    return [nodes[k] for k in sorted(nodes)]


def meta_table(state: ServerState, table: Table) -> dict[str, Any]:
    """MetaTable: title and variables (values null when over maxValues, as v1 does)."""
    too_many = state.limits.max_values_v1
    return {
        "title": table.metadata.get("label", table.id),
        "variables": [
            {
                "code": d.code,
                "text": d.label,
                "values": None if d.size > too_many else d.codes,
                "valueTexts": None if d.size > too_many else d.labels,
                "elimination": d.elimination,
                "time": d.is_time,
            }
            for d in table.dims
        ],
    }


def _expressions(item: dict[str, Any]) -> list[str]:
    sel = item.get("selection") or {}
    flt = str(sel.get("filter", "item")).lower()
    values = [str(v) for v in sel.get("values") or []]
    if flt == "top":
        if len(values) != 1 or not values[0].isdigit():
            raise SelectionError("Illegal selection expression", "top needs one count")
        return [f"top({values[0]})"]
    if flt == "all":
        return values
    if flt.startswith(("agg:", "vs:")):
        raise SelectionError("Non-existent codelist", f"The demo has no {flt}")
    # "item" (and anything unrecognised, as in PxWeb) is a list of plain codes.
    if any("*" in v or "(" in v for v in values):
        raise SelectionError("Non-existent value", "item takes plain codes")
    return values


def data(state: ServerState, table: Table, body: bytes) -> Response:
    """POST on a table: the v1 query → json-stat2 or json-stat 1.x."""
    try:
        doc = orjson.loads(body)
        items = doc["query"]
        fmt = str((doc.get("response") or {}).get("format", "json-stat2")).lower()
        if not isinstance(items, list) or not all(_well_shaped(item) for item in items):
            raise ValueError("not a v1 query")
    except Exception:
        raise ApiError(v1_error(400, V1_PARAMETER_ERROR)) from None
    if fmt not in ("json-stat2", "json-stat"):
        raise ApiError(v1_error(400, V1_PARAMETER_ERROR))
    selection: dict[str, list[str]] = {}
    for item in items:
        code = str(item.get("code", ""))
        if table.dim(code) is None:
            raise ApiError(v1_error(400, V1_PARAMETER_ERROR))
        try:
            selection[code] = _expressions(item)
        except SelectionError:
            raise ApiError(v1_error(400, _variable_error(code))) from None
    try:
        plans = plan_selection(table, selection, omitted_mandatory="all")
    except SelectionError as e:
        raise ApiError(v1_error(400, _variable_error(e.variable or ""))) from None
    if cell_count(plans) > state.limits.max_values_v1:
        raise ApiError(v1_error(403, V1_TOO_MANY_VALUES))
    kept, values, status = slice_cube(table, plans)
    ds = dataset_doc(table, kept, values, status)
    return json_response(ds if fmt == "json-stat2" else jsonstat1_doc(ds))


def _well_shaped(item: Any) -> bool:
    """A query item {code, selection: {filter, values: [str]}} (types only)."""
    if not isinstance(item, dict) or not isinstance(item.get("code"), str):
        return False
    sel = item.get("selection")
    if sel is None:
        return True
    if not isinstance(sel, dict) or not isinstance(sel.get("filter", "item"), str):
        return False
    values = sel.get("values")
    return values is None or (isinstance(values, list) and all(isinstance(v, str) for v in values))


def _variable_error(code: str) -> str:
    return f"The request for variable '{code}' has an error. Please check your query."
