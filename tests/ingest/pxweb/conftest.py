"""Shared helpers for the PxWeb client tests: fixture files and a fake v2/v1 server."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from ingest.pxweb.models import TableMetadata, Variable
from tests.conftest import FIXTURES


def fixture_json(name: str) -> Any:
    """A captured PxWeb response from `tests/fixtures/pxweb/` (a missing file fails the test)."""
    return orjson.loads((FIXTURES / name).read_bytes())


def make_meta(
    sizes: dict[str, int],
    *,
    time: str | None = None,
    contents: str | None = None,
    eliminable: tuple[str, ...] = (),
    table_id: str = "TAB1",
) -> TableMetadata:
    """Synthetic metadata: variable V with codes V0..V{n-1} (time codes ascending)."""
    variables = [
        Variable(
            code=code,
            label=code.lower(),
            values=[f"{code}{i}" for i in range(n)],
            value_texts=[f"{code} {i}" for i in range(n)],
            elimination=code in eliminable,
            is_time=code == time,
            is_contents=code == contents,
        )
        for code, n in sizes.items()
    ]
    return TableMetadata(table_id=table_id, label="test", updated=None, variables=variables)


def metadata_jsonstat(meta: TableMetadata) -> dict[str, Any]:
    """A v2 metadata body (json-stat2, `value: []`) for synthetic metadata."""
    role: dict[str, list[str]] = {}
    for var in meta.variables:
        if var.is_time:
            role.setdefault("time", []).append(var.code)
        if var.is_contents:
            role.setdefault("metric", []).append(var.code)
    return {
        "version": "2.0",
        "class": "dataset",
        "label": meta.label,
        "updated": "2025-01-01T00:00:00Z",
        "id": [v.code for v in meta.variables],
        "size": [len(v.values) for v in meta.variables],
        "role": role,
        "dimension": {
            v.code: {
                "label": v.label,
                "category": {
                    "index": {c: i for i, c in enumerate(v.values)},
                    "label": dict(zip(v.values, v.value_texts, strict=True)),
                },
                "extension": {"elimination": v.elimination},
            }
            for v in meta.variables
        },
        "extension": {"px": {"tableid": meta.table_id, "matrix": meta.table_id}},
        "value": [],
    }


def cell_value(codes: tuple[str, ...]) -> float:
    """A deterministic value per cell so split and unsplit fetches can be compared."""
    return float(sum((i + 1) * sum(map(ord, c)) for i, c in enumerate(codes)))


def data_jsonstat(selection: dict[str, list[str]]) -> dict[str, Any]:
    """A json-stat2 data body for a selection (values from `cell_value`)."""
    ids = list(selection)
    values = [cell_value(combo) for combo in itertools.product(*selection.values())]
    return {
        "version": "2.0",
        "class": "dataset",
        "id": ids,
        "size": [len(selection[d]) for d in ids],
        "dimension": {
            d: {"category": {"index": {c: i for i, c in enumerate(selection[d])}}} for d in ids
        },
        "value": values,
    }


def cells_of(body: bytes) -> dict[tuple[str, ...], float]:
    """Cells of a json-stat2 data body keyed by code tuple."""
    data = orjson.loads(body)
    codes = [list(data["dimension"][d]["category"]["index"]) for d in data["id"]]
    return dict(zip(itertools.product(*codes), data["value"], strict=True))


class FakeV2:
    """A minimal in-memory PxWeb v2 server for httpx.MockTransport, with fault injection."""

    def __init__(self, meta: TableMetadata, *, max_cells: int = 150_000) -> None:
        self.meta = meta
        self.max_cells = max_cells
        self.log: list[httpx.Request] = []
        self.faults: list[Callable[[httpx.Request], httpx.Response | None]] = []
        self._lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer one request; the first queued fault may answer instead (then it is used up)."""
        with self._lock:
            self.log.append(request)
            if self.faults:
                response = self.faults[0](request)
                if response is not None:
                    self.faults.pop(0)
                    return response
        path = request.url.path
        table = self.meta.table_id
        if path.endswith("/config"):
            return httpx.Response(200, json={"maxDataCells": self.max_cells})
        if path.endswith(f"/tables/{table}/metadata"):
            return httpx.Response(200, json=metadata_jsonstat(self.meta))
        if path.endswith(f"/tables/{table}/data") and request.method == "POST":
            body = orjson.loads(request.content)
            selection = {s["variableCode"]: s["valueCodes"] for s in body["selection"]}
            cells = 1
            for codes in selection.values():
                cells *= len(codes)
            if cells > self.max_cells:
                return problem(400, "Too many cells selected")
            return httpx.Response(200, json=data_jsonstat(selection))
        if path.endswith(f"/tables/{table}"):
            return httpx.Response(200, json={"id": table, "label": "t", "updated": "2025-01-01Z"})
        return problem(404, "Non-existent table")

    def transport(self) -> httpx.MockTransport:
        """A MockTransport bound to this server."""
        return httpx.MockTransport(self.handler)

    def data_requests(self) -> list[httpx.Request]:
        """The data POSTs received so far."""
        return [r for r in self.log if r.url.path.endswith("/data")]


def problem(status: int, title: str, detail: str | None = None) -> httpx.Response:
    """An RFC 7807 problem+json response as PxWebApi sends."""
    body: dict[str, Any] = {"type": "Parameter error", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return httpx.Response(
        status, content=orjson.dumps(body), headers={"content-type": "application/problem+json"}
    )
