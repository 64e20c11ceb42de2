"""Ingest orchestration: a catalog dataset → PxWeb client → JSON-stat parser → DuckDB loader."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.catalog import Catalog, load_catalog

log = logging.getLogger(__name__)

# v1 servers give `updated` as naive local time; SCB and the Nordic offices publish in CET/CEST.
V1_LOCAL_TZ = ZoneInfo("Europe/Stockholm")


class IngestFailed(RuntimeError):
    """A dataset could not be loaded; the previous data is intact and the failure is logged."""


class SourceChanged(IngestFailed):
    """The source published a new vintage while a split query was being fetched."""


@dataclass
class IngestResult:
    """What one dataset's ingest did."""

    dataset: str
    table_id: str | None
    outcome: str  # 'loaded' | 'unchanged' | 'failed'
    rows: int = 0
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0
    source_updated: str | None = None
    message: str = ""


def parse_updated(value: str | None) -> datetime | None:
    """A source `updated` string as an aware UTC datetime (naive values are Stockholm time)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=V1_LOCAL_TZ)
    return parsed.astimezone(UTC)


def same_vintage(a: str | datetime | None, b: str | datetime | None) -> bool:
    """True when two `updated` values name the same instant (None never matches)."""
    da = a if isinstance(a, datetime) else parse_updated(a)
    db = b if isinstance(b, datetime) else parse_updated(b)
    return da is not None and db is not None and da == db


def fetch_table(
    *,
    base_url: str,
    api: str,
    table: str,
    dataset: str,
    db: Path,
    selection: Mapping[str, str | list[str]],
    lang: str | None = None,
    full_refresh: bool = False,
    is_demo: bool = False,
    progress: bool = True,
) -> IngestResult:
    """Fetch one PxWeb table (split into requests within the limits) and load it as `raw.<dataset>`."""
    from ingest import load
    from ingest.jsonstat import parse
    from ingest.pxweb.client import PxWebClient

    started = time.monotonic()
    fetched_at = datetime.now(UTC)
    meta = load.LoadMeta(
        dataset=dataset,
        source_table=table,
        source_url=base_url,
        source_updated=None,
        fetched_at=fetched_at,
        is_demo=is_demo,
    )
    table_id: str | None = None
    with PxWebClient(base_url, api=api, lang=lang) as client:
        try:
            table_id = client.resolve_table_id(table)
            meta.source_table = table_id
            info = client.table(table_id)
            meta.source_updated = info.updated
            meta.label = info.label
            previous = load.last_loaded_updated(db, dataset)
            if not full_refresh and same_vintage(previous, info.updated):
                meta.requests = client.stats.requests
                load.log_unchanged(db, meta, "source updated has not moved; not re-fetched")
                return IngestResult(
                    dataset=dataset,
                    table_id=table_id,
                    outcome="unchanged",
                    requests=client.stats.requests,
                    bytes=client.stats.bytes,
                    seconds=time.monotonic() - started,
                    source_updated=info.updated,
                    message=f"unchanged since {info.updated}",
                )
            plan = client.plan(table_id, selection)
            parts = list(_fetch_parts(client, table_id, plan, dataset, progress, parse))
            vintages = {p.updated for p in parts if p.updated}
            if len(vintages) > 1:
                raise SourceChanged(
                    f"{dataset}: table {table_id} was republished during the fetch "
                    f"(responses carry updated {sorted(vintages)}); run again"
                )
            if not meta.source_updated and vintages:
                meta.source_updated = vintages.pop()
            meta.source = parts[0].source if parts else None
            meta.is_demo = is_demo or any("DEMO" in (p.source or "").upper() for p in parts)
            meta.requests = client.stats.requests
            meta.bytes = client.stats.bytes
            result = load.load_dataset(db, dataset, parts, meta)
        except Exception as exc:
            meta.requests = client.stats.requests
            meta.bytes = client.stats.bytes
            message = _one_line(exc)
            try:
                load.log_failure(db, meta, message, seconds=time.monotonic() - started)
            except Exception as log_exc:  # the warehouse itself may be the problem
                log.warning("could not log the failure of %s: %s", dataset, log_exc)
            raise IngestFailed(f"{dataset}: {message}") from exc
    return IngestResult(
        dataset=dataset,
        table_id=table_id,
        outcome=result.outcome,
        rows=result.rows,
        requests=meta.requests,
        bytes=meta.bytes,
        seconds=time.monotonic() - started,
        source_updated=meta.source_updated,
        message=f"{result.revised_cells} revised cells kept as history"
        if result.revised_cells
        else "",
    )


def _fetch_parts(client, table_id, plan, dataset, progress, parse) -> Iterable:
    """Parse each response of a split query as it arrives, with a progress bar."""
    from tqdm import tqdm

    with tqdm(
        total=len(plan.requests),
        desc=f"{dataset} ({table_id})",
        unit="req",
        disable=not progress,
        leave=False,
    ) as bar:
        for part in client.fetch_plan(plan):
            bar.update(1)
            yield parse(part.body)


def ingest_dataset(
    name: str,
    *,
    db: Path,
    source: str = "demo",
    full_refresh: bool = False,
    base_url: str | None = None,
    progress: bool = True,
    catalog: Catalog | None = None,
) -> IngestResult:
    """Ingest one catalog dataset into `raw.<name>` of `db`; raises IngestFailed on failure."""
    catalog = catalog or load_catalog()
    spec = catalog.dataset(name)
    src = catalog.source(source)
    return fetch_table(
        base_url=(base_url or src.base_url).rstrip("/"),
        api=src.api,
        table=spec.table,
        dataset=spec.name,
        db=Path(db),
        selection=spec.selection,
        lang=src.lang,
        full_refresh=full_refresh,
        is_demo=src.demo,
        progress=progress,
    )


def ingest_all(
    *,
    db: Path,
    source: str = "demo",
    full_refresh: bool = False,
    datasets: list[str] | None = None,
    base_url: str | None = None,
    progress: bool = True,
    catalog: Catalog | None = None,
) -> list[IngestResult]:
    """Ingest every catalog dataset (or the named ones); a failed dataset does not stop the rest."""
    catalog = catalog or load_catalog()
    names = datasets or list(catalog.datasets)
    for name in names:
        catalog.dataset(name)  # fail fast on a typo, before any fetch
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        try:
            results.append(
                ingest_dataset(
                    name,
                    db=db,
                    source=source,
                    full_refresh=full_refresh,
                    base_url=base_url,
                    progress=progress,
                    catalog=catalog,
                )
            )
        except IngestFailed as exc:
            results.append(
                IngestResult(dataset=name, table_id=None, outcome="failed", message=str(exc))
            )
    return results


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
