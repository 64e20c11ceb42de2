"""Control endpoints under /_control/ for tests in other processes (no rate limit, not logged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pxweb_demo.server.responses import (
    ApiError,
    Response,
    json_object_body,
    json_response,
    problem,
)
from pxweb_demo.server.selection import SelectionError
from pxweb_demo.server.state import ServerState, utc_now_iso


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


def refuse(method: str, headers: Any, own_origin: str) -> Response | None:
    """The 403/415 problem for a control request a browser on another site could have sent
    (a cross-origin POST with a "simple" content type such as text/plain), else None."""
    origin = headers.get("Origin")
    if origin and origin.rstrip("/") != own_origin.rstrip("/"):
        return problem(403, "Forbidden", f"Control requests from {origin} are not accepted")
    if method == "POST":
        kind = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            return problem(
                415,
                "Unsupported media type",
                f"Control requests need Content-Type: application/json (got {kind or 'none'})",
            )
    return None


def _snapshot_root(state: ServerState, root: Any) -> Path:
    """A snapshot folder reload may switch to: one of the server's known snapshot roots."""
    if not isinstance(root, str):
        raise ApiError(problem(400, "Parameter error", "'snapshot_dir' must be a string"))
    path = Path(root).resolve()
    if path not in state.snapshot_roots:
        allowed = ", ".join(str(p) for p in state.snapshot_roots)
        raise ApiError(
            problem(
                403, "Forbidden", f"reload may only switch between the snapshot folders {allowed}"
            )
        )
    return path


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
            state.snapshot.reload(_snapshot_root(state, root) if root else None)
            return json_response({"ok": True, "snapshot": str(state.snapshot.root)})
        case "POST", ["tables", table_id, "touch"]:
            return json_response(touch(state, table_id, doc))
    raise ApiError(
        problem(404, "Not found", f"No control endpoint {method} /_control/{'/'.join(parts)}")
    )
