"""Publish a staging warehouse atomically: CHECKPOINT, verify read-only, `os.replace` (write–audit–publish).

Readers that opened the published file keep their open inode (the old snapshot) until they
disconnect; new readers open the new file. The published path always names a complete,
checkpointed DuckDB file: either the previous one or the new one, never a half-written file.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from ingest.sql import existing_tables, qualified, split_qualified

# duckdb is imported inside the functions: the Airflow DAG processor imports this module.

# Tables a publishable warehouse must hold (the analyst-facing marts, DESIGN "Published warehouse").
REQUIRED_TABLES: tuple[str, ...] = (
    "marts.dim_regions",
    "marts.fct_cleantech_region_year",
    "marts.cleantech_growth",
)


class PublishFailed(RuntimeError):
    """The staging file could not be verified or swapped in; the published file is unchanged."""


def wal_path(db: Path) -> Path:
    """DuckDB's write-ahead log beside a database file."""
    return db.with_name(db.name + ".wal")


def next_path(published: Path) -> Path:
    """The hidden copy beside `published` that `publish` swaps into place (same filesystem)."""
    return published.with_name(f".{published.name}.next")


def checkpoint(db: Path) -> None:
    """Fold the WAL into the database file and close it, so the file alone is complete."""
    import duckdb

    con = duckdb.connect(str(db))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    if wal_path(db).exists():
        raise PublishFailed(f"{db}: a .wal file is still present after CHECKPOINT and close")


def verify(db: Path, required: Iterable[str] = REQUIRED_TABLES) -> dict[str, int]:
    """Open `db` read-only and count the rows of each required table; raise PublishFailed if any is missing."""
    import duckdb

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
    before_swap: object = None,
) -> None:
    """Checkpoint `staging`, verify it read-only, then atomically replace `published` with it.

    `staging` is consumed (moved onto `published`). When the two are on different file systems the
    staging file is first copied to a hidden `.next` file beside `published`, so the final step is
    still one `os.replace` within a directory. `before_swap`, if callable, runs just before it
    (the pipeline's test hook). On any failure `published` is left untouched.
    """
    staging, published = Path(staging), Path(published)
    if not staging.exists():
        raise PublishFailed(f"staging file {staging} does not exist")
    checkpoint(staging)
    verify(staging, required)
    published.parent.mkdir(parents=True, exist_ok=True)

    source = staging
    if staging.stat().st_dev != published.parent.stat().st_dev:
        source = next_path(published)
        shutil.copyfile(staging, source)
    _fsync_file(source)
    if wal_path(published).exists():
        # A published file never has a WAL (it is only opened read-only); a stray one would be
        # replayed into the new file by the next writer: move it out of the way.
        os.replace(wal_path(published), published.with_name(published.name + ".wal.stale"))
    if callable(before_swap):
        before_swap()
    try:
        os.replace(source, published)
    except OSError as exc:
        if exc.errno != errno.EXDEV or source is not staging:
            raise
        # Same device number, different mounts (Docker volumes and bind mounts on one disk):
        # rename refuses, so copy beside `published` first and swap within its directory.
        source = next_path(published)
        shutil.copyfile(staging, source)
        _fsync_file(source)
        os.replace(source, published)
    _fsync_dir(published.parent)
    if source is not staging:
        staging.unlink(missing_ok=True)
