"""Publishing a staging warehouse: checkpointed, verified read-only, swapped atomically."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

import cleantech.core.publish as publish_mod
from cleantech.core.pipeline import prepare_staging
from cleantech.core.publish import (
    PUBLISHED_STORAGE_VERSION,
    PublishFailed,
    inventory,
    publish,
    storage_version,
    wal_path,
)
from cleantech.layout import Layout
from tests.expectations.synth import build_warehouse


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def good_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("synth") / "good.duckdb")


def _staging_with_marker(good_db: Path, folder: Path, marker: str) -> Path:
    staging = folder / "staging" / "cleantech.duckdb"
    staging.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(good_db, staging)
    con = duckdb.connect(str(staging))
    con.execute("create or replace table main.marker as select ? as v", [marker])
    con.close()  # DuckDB may leave a .wal: publish must fold it in
    return staging


def test_publish_replaces_the_file_and_readers_keep_their_snapshot(
    good_db: Path, tmp_path: Path
) -> None:
    published = tmp_path / "cleantech.duckdb"
    publish(_staging_with_marker(good_db, tmp_path, "old"), published)
    assert not wal_path(published).exists()

    reader = duckdb.connect(str(published), read_only=True)
    assert reader.execute("select v from main.marker").fetchone() == ("old",)

    staging = _staging_with_marker(good_db, tmp_path, "new")
    publish(staging, published)

    assert not staging.exists(), "the staging file is moved onto the published path"
    assert not wal_path(published).exists()
    # the reader that opened the old file keeps reading it, without error
    assert reader.execute("select v from main.marker").fetchone() == ("old",)
    assert reader.execute("select count(*) from marts.fct_cleantech_region_year").fetchone()[0] > 0
    reader.close()
    # a new reader sees the new data
    with duckdb.connect(str(published), read_only=True) as fresh:
        assert fresh.execute("select v from main.marker").fetchone() == ("new",)


def test_publish_refuses_a_build_without_marts(tmp_path: Path, good_db: Path) -> None:
    published = tmp_path / "cleantech.duckdb"
    shutil.copyfile(good_db, published)
    before = sha(published)
    staging = build_warehouse(tmp_path / "staging" / "cleantech.duckdb", marts=False)
    with pytest.raises(PublishFailed, match="marts.dim_regions"):
        publish(staging, published)
    assert sha(published) == before


def test_publish_refuses_a_file_that_is_not_a_database(tmp_path: Path, good_db: Path) -> None:
    published = tmp_path / "cleantech.duckdb"
    shutil.copyfile(good_db, published)
    before = sha(published)
    staging = tmp_path / "staging.duckdb"
    staging.write_bytes(b"not a duckdb file" * 100)
    with pytest.raises((PublishFailed, duckdb.Error)):
        publish(staging, published)
    assert sha(published) == before


def test_prepare_staging_starts_from_the_published_file_and_drops_stale_state(
    tmp_path: Path, good_db: Path
) -> None:
    published = tmp_path / "cleantech.duckdb"
    shutil.copyfile(good_db, published)
    staging = tmp_path / "staging" / "cleantech.duckdb"
    staging.parent.mkdir()
    staging.write_bytes(b"half-written by a killed run")
    wal_path(staging).write_bytes(b"stale wal")
    prepare_staging(published, staging)
    assert sha(staging) == sha(published)
    assert not wal_path(staging).exists()
    # no published file yet: the build starts empty
    fresh = tmp_path / "other" / "cleantech.duckdb"
    prepare_staging(fresh, tmp_path / "other" / "staging" / "cleantech.duckdb")
    assert not (tmp_path / "other" / "staging" / "cleantech.duckdb").exists()


def test_publish_writes_the_v1_4_storage_format_with_the_same_contents(
    good_db: Path, tmp_path: Path
) -> None:
    """DuckDB 1.4+ readers (BI drivers) open the published file; nothing is lost in the copy."""
    staging = _staging_with_marker(good_db, tmp_path, "v14")
    with duckdb.connect(str(staging)) as con:
        con.execute("create view marts.v_marker as select v from main.marker")
    built = inventory(staging)
    published = tmp_path / "cleantech.duckdb"
    publish(staging, published)
    assert storage_version(published) == PUBLISHED_STORAGE_VERSION + "+"
    after = inventory(published)
    assert "ops.publication" in after  # the published mark travels with the copy
    after.pop("ops.publication")
    assert after == built and built["marts.v_marker"] == -1
    assert not Layout(published).next_file.exists()


def test_a_failed_conversion_leaves_the_published_file_and_no_next_file(
    good_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "cleantech.duckdb"
    shutil.copyfile(good_db, published)
    before = sha(published)
    real = publish_mod.write_in_storage_version
    monkeypatch.setattr(
        publish_mod, "write_in_storage_version", lambda s, t: real(s, t, version="v9.9.9")
    )
    with pytest.raises(PublishFailed, match="storage version v9.9.9"):
        publish(_staging_with_marker(good_db, tmp_path, "x"), published)
    assert sha(published) == before
    assert not Layout(published).next_file.exists()

    # a copy that does not hold what the build holds is refused too
    monkeypatch.setattr(publish_mod, "write_in_storage_version", real)
    counts = iter([{"marts.dim_regions": 22}, {"marts.dim_regions": 21}])
    monkeypatch.setattr(publish_mod, "inventory", lambda db: next(counts))
    with pytest.raises(PublishFailed, match="differs from the build in marts.dim_regions"):
        publish(_staging_with_marker(good_db, tmp_path, "y"), published)
    assert sha(published) == before
    assert not Layout(published).next_file.exists()


def test_publish_copies_when_rename_crosses_mounts(
    good_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker volumes and bind mounts on one disk share a device number, yet rename between them
    fails with EXDEV: publish copies beside the published file, then swaps (deploy test found it)."""
    import errno
    import os

    import cleantech.core.publish as pub

    published = tmp_path / "warehouse" / "cleantech.duckdb"
    staging = _staging_with_marker(good_db, tmp_path, "mounted")
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).parent == staging.parent and Path(dst).parent == published.parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    monkeypatch.setattr(pub.os, "replace", replace)
    publish(staging, published)
    monkeypatch.undo()
    assert not staging.exists()
    assert [p.name for p in published.parent.iterdir()] == ["cleantech.duckdb"]  # no .next left
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select v from main.marker").fetchone() == ("mounted",)
