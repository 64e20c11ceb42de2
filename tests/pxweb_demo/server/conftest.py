"""Fixtures: one demo server and its httpx clients per module; state reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pxweb_demo.server import DemoServer, start_server

# The suite makes many calls: lift the rate limit except in the tests that are about it.
MANY_CALLS = 100_000


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    """A demo server on a free port, with the committed snapshot and /_control enabled."""
    with start_server(port=0, max_calls=MANY_CALLS, control=True) as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").reset()


def client(base_url: str = "") -> httpx.Client:
    """An httpx client (plain HTTP only: skipping the TLS context makes it cheap to create)."""
    return httpx.Client(base_url=base_url, timeout=10, verify=False)


@pytest.fixture(scope="module")
def http(server: DemoServer) -> Iterator[httpx.Client]:
    """An httpx client on the server root."""
    with client(server.url) as c:
        yield c


@pytest.fixture(scope="module")
def v2(server: DemoServer) -> Iterator[httpx.Client]:
    """An httpx client on /api/v2."""
    with client(server.base_url_v2) as c:
        yield c


@pytest.fixture(scope="module")
def v1(server: DemoServer) -> Iterator[httpx.Client]:
    """An httpx client on /api/v1/sv/ssd."""
    with client(server.base_url_v1) as c:
        yield c
