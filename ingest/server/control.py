"""Control endpoints under /_control/ for tests in other processes (no rate limit, not logged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.server.responses import (
    ApiError,
    Response,
    json_object_body,
    json_response,
    problem,
)
from ingest.server.selection import SelectionError
from ingest.server.state import ServerState, utc_now_iso


def touch(state: ServerState, table_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Simulate a new publication of a table: new `updated` (default now) and revised cells."""
    updated = doc.get("updated") or utc_now_iso()
    cells = (doc.get("revise") or {}).get("cells") or []
    try:
        table = state.snapshot.touch(table_id, updated, cells)
    except KeyError:
        raise ApiError(
            problem(404, "Non-existent table", f"Table '{table_id}' does not exist")
        ) from None
    except SelectionError as e:
        raise ApiError(problem(400, e.title, e.detail)) from None
    return dict(table.info)


def route(state: ServerState, method: str, parts: list[str], body: bytes) -> Response:
    """Dispatch a request below /_control."""
    doc = json_object_body(body) if method == "POST" else {}
    match method, parts:
        case "GET", ["health"]:
            return json_response(
                {"ok": True, "url": state.base_url, "snapshot": str(state.snapshot.root)}
            )
        case "GET", ["faults"]:
            return json_response(state.faults.state())
        case "POST", ["faults"]:
            try:
                state.faults.configure(doc)
            except (TypeError, ValueError, AttributeError) as e:
                raise ApiError(problem(400, "Parameter error", str(e))) from None
            return json_response(state.faults.state())
        case "POST", ["reset"]:
            state.reset()
            return json_response({"ok": True})
        case "GET", ["requests"]:
            return json_response(state.request_log())
        case "DELETE", ["requests"]:
            state.clear_log()
            return json_response({"ok": True})
        case "GET", ["limits"]:
            return json_response(state.limits.to_dict())
        case "POST", ["limits"]:
            try:
                return json_response(state.set_limits(**doc).to_dict())
            except (KeyError, TypeError, ValueError) as e:
                raise ApiError(problem(400, "Parameter error", f"Bad limit: {e}")) from None
        case "POST", ["reload"]:
            root = doc.get("snapshot_dir")
            state.snapshot.reload(Path(root) if root else None)
            return json_response({"ok": True, "snapshot": str(state.snapshot.root)})
        case "POST", ["tables", table_id, "touch"]:
            return json_response(touch(state, table_id, doc))
    raise ApiError(
        problem(404, "Not found", f"No control endpoint {method} /_control/{'/'.join(parts)}")
    )
