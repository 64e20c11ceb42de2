"""The event trigger against the local PxWeb server: fires once per change, silent otherwise, and a
restart (a new trigger instance on the same asset state store) does not fire again."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from cleantech.orchestration.watcher import PxWebTableUpdatedTrigger, watermark_key

TABLES = 3  # catalog datasets: one watermark read per table per poll


class AssetStateStore:
    """Stands in for Airflow's per-asset store accessor (`aget`/`aset`), persisting across
    trigger instances the way the metadata DB does across triggerer restarts."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.reads = 0
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        assert value is not None
        self.values[key] = value
        self.writes += 1


@pytest.fixture
def server(monkeypatch):
    """A private demo server (this test bumps `updated`; the shared one must stay pristine)."""
    from pxweb_demo.server import start_server

    srv = start_server(port=0, max_calls=10_000)  # polls every 0.2 s: no rate-limit waits
    monkeypatch.setenv("PXWEB_BASE_URL", srv.base_url_v2)
    try:
        yield srv
    finally:
        srv.stop()


def _trigger(store: AssetStateStore, **kwargs) -> PxWebTableUpdatedTrigger:
    kwargs = {"source": "demo", "poll_interval": 0.2, "timeout": 5.0, **kwargs}
    trigger = PxWebTableUpdatedTrigger(**kwargs)
    trigger.asset_state_store = store  # what the triggerer injects for an AssetWatcher
    return trigger


class Running:
    """A trigger driven the way the triggerer drives it: a task iterating `run()` into a queue.
    `stop()` cancels it, as a triggerer shutdown does."""

    def __init__(self, trigger: PxWebTableUpdatedTrigger) -> None:
        self.events: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._consume(trigger))

    async def _consume(self, trigger: PxWebTableUpdatedTrigger) -> None:
        async for event in trigger.run():
            await self.events.put(event)

    async def next(self, timeout: float = 30.0):
        """The next event (fails after `timeout` seconds without one)."""
        return await asyncio.wait_for(self.events.get(), timeout)

    async def quiet(self, store: AssetStateStore, polls: int = 2, timeout: float = 60.0) -> None:
        """Assert that `polls` full polls complete without an event (poll time varies with load)."""
        target = store.reads + polls * TABLES
        deadline = asyncio.get_running_loop().time() + timeout
        while store.reads < target:
            assert self.events.empty(), f"unexpected event: {self.events.get_nowait()}"
            assert not self.task.done(), "the trigger stopped"
            assert asyncio.get_running_loop().time() < deadline, "the trigger stopped polling"
            await asyncio.sleep(0.05)
        assert self.events.empty(), f"unexpected event: {self.events.get_nowait()}"

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def test_fires_once_on_change_silent_otherwise_and_survives_restart(server):
    store = AssetStateStore()

    async def scenario():
        # First start: records a watermark per table, fires nothing.
        first = Running(_trigger(store))
        await first.quiet(store)
        assert set(store.values) == {
            watermark_key(d)
            for d in ("egss_county", "employment_county_industry", "population_county")
        }
        await first.stop()

        # Restart; then SCB republishes TAB638: exactly one event, for that dataset only.
        second = Running(_trigger(store))
        await second.quiet(store)
        server.touch("TAB638", updated="2027-03-20T07:00:00Z")
        event = await second.next()
        changes = event.payload["changes"]
        assert [c["dataset"] for c in changes] == ["population_county"]
        assert changes[0]["table"] == "TAB638"
        assert changes[0]["updated"] == "2027-03-20T07:00:00Z"
        assert changes[0]["previous"] != changes[0]["updated"]
        assert event.payload["source"] == "demo"
        # Keeps polling: no second event for the same timestamp.
        await second.quiet(store)
        assert store.values[watermark_key("population_county")] == "2027-03-20T07:00:00Z"
        await second.stop()

        # Triggerer restart: the watermark comes from the store, so nothing fires again.
        third = Running(_trigger(store))
        await third.quiet(store)

        # The next publication fires again, once.
        server.touch("TAB638", updated="2027-04-01T07:00:00Z")
        event = await third.next()
        assert [c["updated"] for c in event.payload["changes"]] == ["2027-04-01T07:00:00Z"]
        await third.quiet(store)
        await third.stop()

    asyncio.run(scenario())


def test_an_unreachable_source_is_logged_not_fatal(monkeypatch):
    monkeypatch.setenv("PXWEB_BASE_URL", "http://127.0.0.1:9/api/v2")  # nothing listens on 9
    store = AssetStateStore()
    trigger = _trigger(store, timeout=0.5, datasets=["population_county"])
    assert asyncio.run(trigger.poll_once()) == []
    assert store.values == {}


def test_same_instant_in_another_notation_is_not_a_change(server):
    store = AssetStateStore()
    trigger = _trigger(store, datasets=["population_county"])
    asyncio.run(trigger.poll_once())
    stored = store.values[watermark_key("population_county")]
    assert stored.endswith("Z")
    store.values[watermark_key("population_county")] = stored.replace("Z", "+00:00")
    assert asyncio.run(trigger.poll_once()) == []


def test_serializes_to_an_importable_class_path():
    from airflow.sdk._shared.module_loading import import_string

    trigger = PxWebTableUpdatedTrigger(source="scb", datasets=["egss_county"], poll_interval=60)
    classpath, kwargs = trigger.serialize()
    clone = import_string(classpath)(**kwargs)
    assert clone.serialize() == (classpath, kwargs)
    assert kwargs["source"] == "scb" and kwargs["datasets"] == ["egss_county"]


def test_refuses_to_run_without_the_asset_state_store(server):
    trigger = PxWebTableUpdatedTrigger(source="demo", poll_interval=0.2)
    with pytest.raises(RuntimeError, match="asset state store"):
        asyncio.run(trigger.poll_once())
