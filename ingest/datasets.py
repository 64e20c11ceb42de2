"""Ingest orchestration: a catalog dataset → PxWeb client → JSON-stat parser → DuckDB loader."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from tqdm import tqdm

from ingest import load
from ingest.catalog import Catalog, load_catalog
from ingest.errors import one_line as _one_line
from ingest.jsonstat import parse
from ingest.pxweb.client import PxWebClient
from ingest.pxweb.errors import SourceUnreachable
from ingest.pxweb.models import parse_updated, same_vintage
from ingest.response_check import check_response, requested_cells
from ingest.sql import column_names, has_table

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What one dataset's ingest did.

    `rows` counts the rows fetched and loaded by this ingest (0 when the source had not moved and
    nothing was fetched); `table_rows` is the size of the current vintage in `raw.<dataset>`
    afterwards (None after a failure).
    """

    dataset: str
    table_id: str | None
    outcome: str  # 'loaded' | 'unchanged' | 'failed'
    rows: int = 0
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0
    source_updated: str | None = None
    message: str = ""
    table_rows: int | None = None


class IngestFailed(RuntimeError):
    """A dataset could not be loaded; the previous data is intact and the failure is logged.

    `result` is the 'failed' IngestResult (table id, requests and bytes spent, one-line message).
    """

    def __init__(self, message: str, result: IngestResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class SourceChanged(IngestFailed):
    """The source published a new vintage while a split query was being fetched."""


def check_target(db: Path | str, dataset: str) -> None:
    """Raise ValueError for a dataset name or DuckDB file name the raw layer cannot use."""

    load.check_dataset_name(dataset)
    _check_db_name(db)


def _check_db_name(db: Path | str) -> None:
    # DuckDB names the database after the file: a database called `raw` makes every
    # `raw.<table>` reference ambiguous with the schema (Binder Error: Ambiguous reference).
    if Path(db).stem.lower() == "raw":
        raise ValueError(
            f"the DuckDB file {Path(db).name!r} would be a database named 'raw', which clashes "
            "with the schema raw: choose another file name"
        )


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
    client: Any = None,
    client_options: Mapping[str, Any] | None = None,
) -> IngestResult:
    """Fetch one PxWeb table (split into requests within the limits) and load it as `raw.<dataset>`.

    The selection is checked against the table's metadata first, so a bad variable or code fails
    even when nothing else changed. The data is fetched only when the source's `updated` moved,
    the current table does not hold exactly what the selection asks for, or on `full_refresh`.
    `client` (a PxWebClient for this base URL and api) is used as is and not closed; without it
    one is made with `client_options` (e.g. max_retries, backoff, timeout). Raises IngestFailed.
    """

    db = Path(db)
    try:
        check_target(db, dataset)
    except ValueError as exc:
        raise IngestFailed(
            f"{dataset}: {exc}",
            IngestResult(
                dataset=dataset, table_id=None, outcome="failed", message=f"{dataset}: {exc}"
            ),
        ) from None
    if client is not None:
        return _fetch_with(
            client, base_url, table, dataset, db, selection, full_refresh, is_demo, progress
        )
    with PxWebClient(base_url, api=api, lang=lang, **dict(client_options or {})) as own:
        return _fetch_with(
            own, base_url, table, dataset, db, selection, full_refresh, is_demo, progress
        )


def _fetch_with(
    client: Any,
    base_url: str,
    table: str,
    dataset: str,
    db: Path,
    selection: Mapping[str, str | list[str]],
    full_refresh: bool,
    is_demo: bool,
    progress: bool,
) -> IngestResult:

    started = time.monotonic()
    requests0, bytes0 = client.stats.requests, client.stats.bytes
    meta = load.LoadMeta(
        dataset=dataset,
        source_table=table,
        source_url=base_url,
        source_updated=None,
        fetched_at=datetime.now(UTC),
        is_demo=is_demo,
    )
    table_id: str | None = None

    def spent() -> None:
        meta.requests = client.stats.requests - requests0
        meta.bytes = client.stats.bytes - bytes0

    try:
        # One clock for the table, started before its first request: resolve, listing,
        # metadata, limits and data requests, their retries and waits (CLEANTECH_TABLE_DEADLINE).
        with client.table_clock(table):
            table_id = client.resolve_table_id(table)
            meta.source_table = table_id
            info = client.table(table_id)
            meta.source_updated = info.updated
            meta.label = info.label
            # Plan before the vintage check: a bad variable or code must fail, not pass as
            # unchanged.
            plan = client.plan(table_id, selection)
            if not full_refresh:
                current = _current_rows(db, dataset, table_id, plan, info.updated)
                if current is not None:
                    spent()
                    load.log_unchanged(db, meta, "source updated has not moved; not re-fetched")
                    return IngestResult(
                        dataset=dataset,
                        table_id=table_id,
                        outcome="unchanged",
                        rows=0,
                        requests=meta.requests,
                        bytes=meta.bytes,
                        seconds=time.monotonic() - started,
                        source_updated=info.updated,
                        message=f"unchanged since {info.updated}",
                        table_rows=current,
                    )
            parts = list(_fetch_parts(client, table_id, plan, dataset, progress, parse))
        vintages = {p.updated for p in parts if p.updated}
        if len(vintages) > 1:
            raise SourceChanged(
                f"table {table_id} was republished during the fetch "
                f"(responses carry updated {sorted(vintages)}); run again"
            )
        if not meta.source_updated and vintages:
            meta.source_updated = next(iter(vintages))
        meta.source = parts[0].source if parts else None
        meta.is_demo = is_demo or any("DEMO" in (p.source or "").upper() for p in parts)
        spent()
        result = load.load_dataset(db, dataset, parts, meta)
    except Exception as exc:
        spent()
        message = _one_line(exc)
        try:
            load.log_failure(db, meta, message, seconds=time.monotonic() - started)
        except Exception as log_exc:  # the warehouse itself may be the problem
            log.debug("could not log the failure of %s", dataset, exc_info=True)
            message = f"{message} (and the failure could not be logged: {_one_line(log_exc)})"
        failed = IngestResult(
            dataset=dataset,
            table_id=table_id,
            outcome="failed",
            requests=meta.requests,
            bytes=meta.bytes,
            seconds=time.monotonic() - started,
            source_updated=meta.source_updated,
            message=f"{dataset}: {message}",
        )
        raise IngestFailed(failed.message, failed) from exc
    notes = (
        [f"{result.revised_cells} revised cells kept as history"] if result.revised_cells else []
    )
    if result.warning:  # the source's `updated` could not be read: the vintage is unknown
        notes.append(result.warning)
    return IngestResult(
        dataset=dataset,
        table_id=table_id,
        outcome=result.outcome,
        rows=result.rows,
        requests=meta.requests,
        bytes=meta.bytes,
        seconds=time.monotonic() - started,
        source_updated=result.updated or meta.source_updated,
        message="; ".join(notes),
        table_rows=result.rows,
    )


def _current_rows(
    db: Path, dataset: str, table_id: str, plan: Any, updated: str | None
) -> int | None:
    """Rows of `raw.<dataset>` when it already holds this vintage of exactly this selection.

    None (fetch again) when the table is missing, came from another source table or vintage, or
    its cells differ from the plan's (the selection changed since the last load).
    """

    if not db.exists():
        return None
    with duckdb.connect(str(db), read_only=True) as con:
        if not _has_datasets_table(con):
            return None
        row = con.execute(
            "SELECT d.source_table, d.updated FROM duckdb_tables() AS t "
            "JOIN raw._datasets AS d ON d.dataset = t.table_name "
            "WHERE t.schema_name = 'raw' AND t.table_name = ?",
            [dataset],
        ).fetchone()
        if row is None or row[0] != table_id or not same_vintage(row[1], updated):
            return None
        table = f'raw."{dataset}"'
        counted = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        rows = int(counted[0]) if counted else 0
        if rows != plan.cells:
            return None
        columns = set(column_names(con, "raw", dataset))
        planned: dict[str, set[str]] = {}
        for request in plan.requests:
            for var, codes in request.items():
                planned.setdefault(var, set()).update(codes)
        for var, codes in planned.items():
            if var not in columns:
                continue
            col = '"' + var.replace('"', '""') + '"'
            have = {
                r[0]
                for r in con.execute(f"SELECT DISTINCT {col} FROM {table}").fetchall()  # noqa: S608
            }
            if have != codes:
                return None
    return int(rows)


def _has_datasets_table(con: Any) -> bool:
    return has_table(con, "raw", "_datasets")


def _fetch_parts(client, table_id, plan, dataset, progress, parse) -> Iterable:
    """Parse each response of a split query as it arrives (checked against its request), with a
    progress bar on a terminal."""

    with tqdm(
        total=len(plan.requests),
        desc=f"{dataset} ({table_id})",
        unit="req",
        file=sys.stderr,
        # Bars only on an interactive stderr: logs and pipes get no carriage-return noise.
        disable=not (progress and sys.stderr.isatty()),
        leave=False,
    ) as bar:
        for part in client.fetch_plan(plan):
            bar.update(1)
            # Exactly the requested cells, before any array is allocated; then the codes.
            dataset = parse(part.body, max_cells=requested_cells(part.selection))
            check_response(dataset, part.selection, plan.metadata, url=part.url)
            yield dataset


def ingest_dataset(
    name: str,
    *,
    db: Path,
    source: str = "demo",
    full_refresh: bool = False,
    base_url: str | None = None,
    progress: bool = True,
    catalog: Catalog | None = None,
    client: Any = None,
    client_options: Mapping[str, Any] | None = None,
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
        client=client,
        client_options=client_options,
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
    client_options: Mapping[str, Any] | None = None,
    on_result: Callable[[IngestResult], None] | None = None,
) -> list[IngestResult]:
    """Ingest every catalog dataset (or the named ones); a failed dataset does not stop the rest.

    The datasets share one client (one rate limiter for the server's window, one /config call).
    When the source cannot be reached at all, the remaining datasets fail at once instead of
    each waiting through its own retries. `on_result(result)` is called after each dataset, in
    order (the pipeline uses it to report progress and for its mid-ingest test hook).
    """
    catalog = catalog or load_catalog()
    names = list(dict.fromkeys(datasets or catalog.datasets))
    for name in names:
        catalog.dataset(name)  # fail fast on a typo, before any fetch (or heavy import)
    src = catalog.source(source)
    url = (base_url or src.base_url).rstrip("/")
    _check_db_name(db)

    Path(db).parent.mkdir(parents=True, exist_ok=True)
    results: list[IngestResult] = []
    unreachable: str | None = None
    with PxWebClient(url, api=src.api, lang=src.lang, **dict(client_options or {})) as client:
        for name in names:
            if results and on_result is not None:
                on_result(results[-1])  # the previous dataset's, before this one starts
            if unreachable is not None:
                results.append(_skip(load, db, name, catalog, url, src.demo, unreachable))
                continue
            try:
                results.append(
                    ingest_dataset(
                        name,
                        db=db,
                        source=source,
                        full_refresh=full_refresh,
                        base_url=url,
                        progress=progress,
                        catalog=catalog,
                        client=client,
                    )
                )
            except IngestFailed as exc:
                result = exc.result or IngestResult(
                    dataset=name, table_id=None, outcome="failed", message=str(exc)
                )
                results.append(result)
                if isinstance(exc.__cause__, SourceUnreachable):
                    unreachable = _one_line(exc.__cause__)
    if results and on_result is not None:
        on_result(results[-1])
    return results


def _skip(load, db, name: str, catalog: Catalog, url: str, is_demo: bool, reason: str):
    """A dataset not tried because the source is unreachable: logged as failed."""
    message = f"not tried, the source is unreachable: {reason}"
    meta = load.LoadMeta(
        dataset=name,
        source_table=catalog.dataset(name).table,
        source_url=url,
        source_updated=None,
        fetched_at=datetime.now(UTC),
        is_demo=is_demo,
    )
    try:
        load.log_failure(db, meta, message)
    except Exception:
        log.debug("could not log the failure of %s", name, exc_info=True)
    return IngestResult(dataset=name, table_id=None, outcome="failed", message=f"{name}: {message}")


__all__ = [
    "IngestFailed",
    "IngestResult",
    "SourceChanged",
    "fetch_table",
    "ingest_all",
    "ingest_dataset",
    "parse_updated",
    "same_vintage",
]
