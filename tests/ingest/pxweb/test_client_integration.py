"""The client against the project's local PxWeb server over loopback: limits, faults, 429s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ingest.pxweb.client import PxWebClient
from ingest.pxweb.limits import Limits
from ingest.pxweb.models import QueryPlan
from pxweb_demo import server as server_module
from pxweb_demo.paths import demo_snapshot_dir

from .conftest import cells_of

TABLE = "MI1301T04"  # a v1 name: the client resolves it on v2 via /tables?query=
SELECTION = {"Lan": "*", "ContentsCode": "*", "Tid": "*"}
MAX_CALLS, WINDOW, MAX_CELLS = 5, 1.0, 300


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """A demo server with a tight rate limit and cell limit."""
    # The snapshot is committed: its absence is a broken checkout, not a reason to skip.
    assert (demo_snapshot_dir() / "tables").is_dir(), (
        f"demo snapshot missing: {demo_snapshot_dir()}"
    )
    with server_module.start_server(
        port=0, max_cells=MAX_CELLS, max_calls=MAX_CALLS, time_window=WINDOW
    ) as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(server: Any) -> None:
    server.reset()


def fetch_all(client: PxWebClient, plan: QueryPlan) -> dict[tuple[str, ...], Any]:
    cells: dict[tuple[str, ...], Any] = {}
    for part in client.fetch_plan(plan):
        for key, value in cells_of(part.body).items():
            assert key not in cells, "a cell fetched twice"
            cells[key] = value
    return cells


def max_starts_in_window(log: list[dict[str, Any]], window: float) -> int:
    times = sorted(record["t"] for record in log)
    return max(sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times))


def test_faulty_split_fetch_equals_fault_free_and_respects_the_rate_limit(server: Any) -> None:
    with PxWebClient(server.base_url_v2, lang="sv", backoff=0.05) as client:
        assert client.limits() == Limits(MAX_CELLS, None, MAX_CALLS, WINDOW)
        plan = client.plan(TABLE, SELECTION)
        assert len(plan.requests) >= 6 and plan.cells == 22 * 4 * 18
        clean = fetch_all(client, plan)

        # Faults count down per request: the first two fail (503), the next two come back
        # shorter than their Content-Length, and the first three are slow.
        server.faults.fail_next(2, status=503)
        server.faults.truncate_next(4, mode="short")
        server.faults.delay_next(3, seconds=0.3)
        faulty = fetch_all(client, plan)
        assert client.stats.retries >= 4

    assert faulty == clean and len(clean) == plan.cells
    log = server.request_log
    assert not any(r.get("rate_limited") for r in log), "the client tripped the server's limit"
    assert max_starts_in_window(log, WINDOW) <= MAX_CALLS


def test_v1_fetch_matches_v2_and_recovers_from_429(server: Any) -> None:
    with PxWebClient(server.base_url_v2, lang="sv") as client:
        v2_cells = fetch_all(client, client.plan(TABLE, SELECTION))
    server.reset()
    # Claim a looser limit than the server enforces: the server answers 429 + Retry-After,
    # and every worker waits it out.
    loose = Limits(max_cells=MAX_CELLS, max_values=MAX_CELLS, max_calls=50, time_window=WINDOW)
    with PxWebClient(server.base_url_v1, "v1", limits=loose, max_workers=4) as client:
        plan = client.plan(TABLE, SELECTION)
        assert plan.table_id.endswith("/MI1301T04")
        server.faults.truncate_next(2, mode="cut")  # valid length, broken JSON
        v1_cells = fetch_all(client, plan)
        assert client.stats.retries >= 3
    assert any(r.get("status") == 429 for r in server.request_log)
    assert v1_cells == v2_cells
