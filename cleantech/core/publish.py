"""Publish a staging warehouse atomically: CHECKPOINT, verify read-only, `os.replace` (write–audit–publish).

The published file is written in DuckDB's v1.4.0 storage format (`PUBLISHED_STORAGE_VERSION`), so
DuckDB 1.4/1.5 and the BI drivers built on them open it as well as DuckDB 2.x: the checkpointed
staging build is copied (`COPY FROM DATABASE`) into a new file in that format beside the published
path, checked against the build (same tables, views and row counts), then swapped in.

Readers that opened the published file keep their open inode (the old snapshot) until they
disconnect; new readers open the new file. The published path always names a complete,
checkpointed DuckDB file: either the previous one or the new one, never a half-written file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

from cleantech.layout import Layout, wal_path
from ingest.errors import one_line
from ingest.sql import existing_tables, has_table, qualified, quote_literal, split_qualified

# Tables a publishable warehouse must hold (the analyst-facing marts, DESIGN "Published warehouse").
REQUIRED_TABLES: tuple[str, ...] = (
    "marts.dim_regions",
    "marts.fct_cleantech_region_year",
    "marts.cleantech_growth",
)


# The mark of a published file: a one-row table written into the build just before the swap.
# `fetch`, `load-file` and `run` refuse to write a file that carries it (readers would be
# blocked and unaudited data would reach analysts); `prepare_staging` drops it from its copy.
MARKER_SCHEMA, MARKER_TABLE = "ops", "publication"

# The newest storage format DuckDB 1.4 (the oldest supported 1.x line, and what BI drivers bundle)
# reads. Measured on the demo warehouse: same size, same tables/views/comments/data, ~0.1 s to write
# (docs/BI.md "DuckDB versions").
PUBLISHED_STORAGE_VERSION = "v1.4.0"


class PublishFailed(RuntimeError):
    """The staging file could not be verified or swapped in; the published file is unchanged."""


def mark_published(db: Path, published: Path) -> None:
    """Write the published mark (when and where) into `db`, the build about to be published;
    PublishFailed naming `db` when it cannot be written (a full disk)."""

    try:
        _write_mark(db, published)
    except (duckdb.IOException, OSError) as exc:
        raise PublishFailed(f"cannot write the published mark into {db}: {one_line(exc)}") from exc


def _write_mark(db: Path, published: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute(f"create schema if not exists {MARKER_SCHEMA}")
        con.execute(
            f"create or replace table {MARKER_SCHEMA}.{MARKER_TABLE} as "
            "select now() as published_at, ?::varchar as published_path",
            [str(published)],
        )
        con.execute(
            f"comment on table {MARKER_SCHEMA}.{MARKER_TABLE} is 'When and where this warehouse "
            "file was published. It marks a published file: fetch/load-file/run refuse to write "
            "it (load through the pipeline instead).'"
        )
    finally:
        con.close()


def unmark_published(db: Path) -> None:
    """Drop the published mark from `db` (a staging copy of the published file), if it has one."""

    if not has_published_mark(db):
        return
    try:
        con = duckdb.connect(str(db))
        try:
            con.execute(f"drop table if exists {MARKER_SCHEMA}.{MARKER_TABLE}")
        finally:
            con.close()
    except (duckdb.IOException, OSError) as exc:
        raise PublishFailed(f"cannot drop the published mark from {db}: {one_line(exc)}") from exc


def has_published_mark(db: Path) -> bool:
    """True when `db` is a DuckDB file that carries the published mark (False when it cannot be
    opened read-only: missing, not DuckDB, or held by a writer, which is then not published)."""

    db = Path(db)
    try:
        if not db.is_file() or db.stat().st_size == 0:
            return False
        con = duckdb.connect(str(db), read_only=True)
    except (OSError, duckdb.Error):
        return False
    try:
        found = has_table(con, MARKER_SCHEMA, MARKER_TABLE)
    except duckdb.Error:
        return False
    finally:
        con.close()
    return found


def is_published_file(db: Path, published: Path) -> bool:
    """True when `db` is the published warehouse `published` (same path or same file) or any
    file carrying the published mark."""
    db = Path(db)
    try:
        if db.resolve() == Path(published).resolve():
            return True
        if db.exists() and Path(published).exists() and os.path.samefile(db, published):
            return True
    except OSError:
        pass
    return has_published_mark(db)


def checkpoint(db: Path) -> None:
    """Fold the WAL into the database file and close it, so the file alone is complete."""

    try:
        con = duckdb.connect(str(db))
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()
    except (duckdb.IOException, OSError) as exc:
        raise PublishFailed(f"cannot checkpoint {db}: {one_line(exc)}") from exc
    if wal_path(db).exists():
        raise PublishFailed(f"{db}: a .wal file is still present after CHECKPOINT and close")


def verify(db: Path, required: Iterable[str] = REQUIRED_TABLES) -> dict[str, int]:
    """Open `db` read-only and count the rows of each required table; raise PublishFailed if any is missing."""

    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise PublishFailed(f"{db} does not open read-only: {exc}") from exc
    try:
        present = existing_tables(con)
        missing = [t for t in required if t not in present]
        if missing:
            raise PublishFailed(f"{db} lacks {', '.join(missing)}: not publishing it")
        for table in required:
            ref = qualified(*split_qualified(table))
            row = con.execute(f"select count(*) from {ref}").fetchone()  # noqa: S608
            counts[table] = int(row[0]) if row else 0
    except duckdb.Error as exc:
        raise PublishFailed(f"{db} failed verification: {exc}") from exc
    finally:
        con.close()
    return counts


def inventory(db: Path) -> dict[str, int]:
    """Every table (with its row count) and view (count -1) of `db`, opened read-only."""

    con = duckdb.connect(str(db), read_only=True)
    try:
        found: dict[str, int] = {}
        rows = con.execute(
            "select schema_name, table_name, 'table' from duckdb_tables() "
            "where database_name = current_database() union all "
            "select schema_name, view_name, 'view' from duckdb_views() "
            "where database_name = current_database() and not internal"
        ).fetchall()
        for schema, name, kind in rows:
            if kind == "view":
                found[f"{schema}.{name}"] = -1
                continue
            row = con.execute(f"select count(*) from {qualified(schema, name)}").fetchone()  # noqa: S608
            found[f"{schema}.{name}"] = int(row[0]) if row else 0
        return found
    finally:
        con.close()


def storage_version(db: Path) -> str:
    """The storage version DuckDB reports for the file `db` (e.g. 'v1.4.0+'), opened read-only."""

    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "select tags['storage_version'] from duckdb_databases() "
            "where database_name = current_database()"
        ).fetchone()
        return str(row[0]) if row and row[0] is not None else ""
    finally:
        con.close()


def write_in_storage_version(
    source: Path, target: Path, version: str = PUBLISHED_STORAGE_VERSION
) -> None:
    """Copy every schema, table and view of `source` into a new file `target` in storage `version`."""

    for stale in (target, wal_path(target)):
        stale.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"attach {quote_literal(str(source))} as publish_source (read_only)")
        con.execute(
            f"attach {quote_literal(str(target))} as publish_target "
            f"(storage_version {quote_literal(version)})"
        )
        con.execute("copy from database publish_source to publish_target")
        con.execute("detach publish_target")
    except duckdb.Error as exc:
        raise PublishFailed(
            f"could not write {target} in storage version {version}: {one_line(exc)}"
        ) from exc
    finally:
        con.close()
    if wal_path(target).exists():
        raise PublishFailed(f"{target}: a .wal file is still present after the copy")
    built, copied = inventory(source), inventory(target)
    if built != copied:
        differ = sorted(k for k in built.keys() | copied.keys() if built.get(k) != copied.get(k))
        raise PublishFailed(
            f"the {version} copy of {source} differs from the build in {', '.join(differ[:5])}"
        )


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(
    staging: Path,
    published: Path,
    *,
    required: Iterable[str] = REQUIRED_TABLES,
) -> None:
    """Checkpoint `staging`, verify it read-only, then atomically replace `published` with it.

    `staging` is consumed: it is copied in `PUBLISHED_STORAGE_VERSION` to a hidden `.next` file
    beside `published` (checked against the build, verified read-only), which one `os.replace`
    within the directory swaps in; then `staging` is removed. On any failure `published` is left
    untouched.
    """
    staging, published = Path(staging), Path(published)
    if not staging.exists():
        raise PublishFailed(f"staging file {staging} does not exist")
    checkpoint(staging)
    verify(staging, required)
    mark_published(staging, published)
    try:
        _swap(staging, published, required)
    except BaseException:
        with contextlib.suppress(Exception):  # never replaces the failure being reported
            unmark_published(staging)  # a build left for inspection stays writable
        raise


def _swap(staging: Path, published: Path, required: Iterable[str]) -> None:
    checkpoint(staging)
    published.parent.mkdir(parents=True, exist_ok=True)

    source = Layout(published).next_file
    try:
        write_in_storage_version(staging, source)
        verify(source, required)
        try:
            _fsync_file(source)
        except OSError as exc:
            raise PublishFailed(f"cannot write {source}: {exc.strerror or exc}") from exc
        _replace(source, published)
    except BaseException:
        for leftover in (source, wal_path(source)):  # none of a failed copy is left behind
            leftover.unlink(missing_ok=True)
        raise
    _fsync_dir(published.parent)
    staging.unlink(missing_ok=True)


def _replace(source: Path, published: Path) -> None:
    """Swap the checked copy onto the published path (one rename within its folder)."""
    if wal_path(published).exists():
        # A published file never has a WAL (it is only opened read-only); a stray one would be
        # replayed into the new file by the next writer: move it out of the way.
        os.replace(wal_path(published), published.with_name(published.name + ".wal.stale"))
    # `.next` sits beside `published`: one rename within a directory, never across mounts (Docker
    # volumes and bind mounts on one disk refuse that with EXDEV, which the deploy test found).
    os.replace(source, published)
