"""Event trigger for Airflow's AssetWatcher: fires when a catalog table's source `updated` moves.

The triggerer imports this class by its dotted path, so it lives in the installed package (not in
`dags/`). It polls every catalog dataset's table metadata asynchronously (v2 `/tables/{id}`, v1
folder listing, via `ingest.pxweb.aio.fetch_table_updated`) and yields one `TriggerEvent` per
poll in which at least one table's `updated` differs from the watermark kept in the asset state
store. The first sighting of a table only records the watermark (the nightly run covers it).
Watermarks are written after the event is handed to the triggerer, so a crash in between fires
again (at least once) rather than losing a change; a duplicate ingest run is cheap because
unchanged tables are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from ingest.catalog import load_catalog
from ingest.pxweb.aio import fetch_table_updated
from ingest.pxweb.models import same_vintage

log = logging.getLogger(__name__)

WATERMARK_PREFIX = "updated:"


def watermark_key(dataset: str) -> str:
    """The asset-state-store key holding a dataset's last seen source `updated`."""
    return f"{WATERMARK_PREFIX}{dataset}"


class PxWebTableUpdatedTrigger(BaseEventTrigger):
    """Poll the catalog's PxWeb tables and fire only when a table's `updated` changes."""

    def __init__(
        self,
        *,
        source: str = "demo",
        datasets: list[str] | None = None,
        poll_interval: float = 900.0,
        timeout: float = 30.0,
        max_concurrency: int = 2,
    ) -> None:
        super().__init__()
        self.source = source
        self.datasets = list(datasets) if datasets else None
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.max_concurrency = max(1, int(max_concurrency))

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs: the triggerer re-creates the trigger from these."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "source": self.source,
                "datasets": self.datasets,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "max_concurrency": self.max_concurrency,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield an event for each poll that saw at least one changed table."""
        while True:
            changes = await self.poll_once()
            if changes:
                yield TriggerEvent({"source": self.source, "changes": changes})
                # Persist only after the event was handed over: at least once, never lost.
                await self._save(changes)
            await asyncio.sleep(self.poll_interval)

    async def poll_once(self) -> list[dict[str, Any]]:
        """One pass over the tables: record first sightings, return the changed ones."""
        # Reading and validating catalog.yml is blocking file I/O: off the triggerer's event loop,
        # which every other trigger shares.
        targets = await asyncio.to_thread(self._targets)
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def check(dataset: str, table: str, base_url: str, api: str, lang: str | None):
            async with semaphore:
                updated = await self._fetch_updated(base_url, api, table, lang)
            return dataset, table, updated

        results = await asyncio.gather(*(check(*t) for t in targets))
        changes: list[dict[str, Any]] = []
        for dataset, table, updated in results:
            if not updated:
                continue
            previous = await self._load(dataset)
            if previous is None:
                log.info("watcher: first sighting of %s (%s) updated=%s", dataset, table, updated)
                await self._store_set(watermark_key(dataset), updated)
            elif not _same(previous, updated):
                log.info("watcher: %s (%s) updated %s -> %s", dataset, table, previous, updated)
                changes.append(
                    {"dataset": dataset, "table": table, "previous": previous, "updated": updated}
                )
        return changes

    def _targets(self) -> list[tuple[str, str, str, str, str | None]]:
        # Read each poll: a table added to the catalog is watched without a restart.
        catalog = load_catalog()
        src = catalog.source(self.source)  # applies PXWEB_BASE_URL
        names = self.datasets or list(catalog.datasets)
        return [
            (name, catalog.dataset(name).table, src.base_url, src.api, src.lang) for name in names
        ]

    async def _fetch_updated(self, base_url: str, api: str, table: str, lang: str | None):
        try:
            return await fetch_table_updated(base_url, api, table, lang=lang, timeout=self.timeout)
        except Exception as exc:  # a flaky source must not kill the watcher: try next poll
            log.warning("watcher: cannot read updated of %s at %s: %s", table, base_url, exc)
            return None

    async def _save(self, changes: list[dict[str, Any]]) -> None:
        for change in changes:
            await self._store_set(watermark_key(change["dataset"]), change["updated"])

    async def _load(self, dataset: str) -> str | None:
        store = self.asset_state_store
        if store is None:
            raise RuntimeError(
                "PxWebTableUpdatedTrigger needs the asset state store: attach it to an Asset "
                "through AssetWatcher (Airflow >= 3.3)"
            )
        value = await store.aget(watermark_key(dataset))
        return str(value) if value is not None else None

    async def _store_set(self, key: str, value: str) -> None:
        if self.asset_state_store is None:
            raise RuntimeError("PxWebTableUpdatedTrigger needs the asset state store")
        await self.asset_state_store.aset(key, value)


def _same(a: str, b: str) -> bool:
    """Same instant (timezone-aware comparison), else plain string equality."""
    return same_vintage(a, b) or a == b
