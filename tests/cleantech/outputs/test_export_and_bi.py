"""BI access: SQLAlchemy + duckdb-engine read-only (as Superset connects), Parquet export."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import cleantech.outputs.export as export_mod
from cleantech.outputs.export import export_parquet, read_export_metadata

MARTS = {"dim_regions", "fct_cleantech_region_year", "cleantech_growth", "data_vintage"}


def test_sqlalchemy_reads_marts_read_only(marts_db: Path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"duckdb:///{marts_db}", connect_args={"read_only": True})
    try:
        assert set(sa.inspect(engine).get_table_names(schema="marts")) >= MARTS
        with engine.connect() as conn:
            top = conn.execute(
                sa.text(
                    "select region_code, employed from marts.fct_cleantech_region_year "
                    "where year = 2012 and employed_rank = 1"
                )
            ).one()
            assert top.region_code == "14" and 13_500 <= top.employed <= 14_500
        for statement in (
            "create table marts.scratch as select 1 as x",
            "delete from marts.dim_regions",
        ):
            with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only"):
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_pandas_read_sql_through_sqlalchemy(marts_db: Path) -> None:
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(f"duckdb:///{marts_db}", connect_args={"read_only": True})
    try:
        frame = pd.read_sql("select * from marts.dim_regions order by region_code", engine)
    finally:
        engine.dispose()
    assert len(frame) == 22 and frame["is_county"].sum() == 21


def test_parquet_export_round_trips(marts_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    paths = export_parquet(marts_db, out)
    assert {p.stem for p in paths} >= MARTS
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths), (
        "no temp files left"
    )
    with duckdb.connect(str(marts_db), read_only=True) as con:
        for path in paths:
            table, exported = con.table(f"marts.{path.stem}"), con.read_parquet(str(path))
            assert exported.shape == table.shape, f"{path.name}: {exported.shape} vs {table.shape}"
            assert exported.columns == table.columns
    # a second export replaces the files in place
    again = export_parquet(marts_db, out)
    assert again == paths


def test_storage_version_recipe_for_older_drivers(marts_db: Path, tmp_path: Path) -> None:
    """The recipe in docs/BI.md: a v1.0.0 copy that a DuckDB 1.0 driver (side venv) really opens."""
    import subprocess

    from tests.cleantech.outputs.side_envs import DUCKDB_10, side_env

    compat = tmp_path / "cleantech_v1_0.duckdb"
    with duckdb.connect() as con:
        con.execute(f"attach '{marts_db}' as wh (read_only)")
        con.execute(f"attach '{compat}' as compat (storage_version 'v1.0.0')")
        con.execute("copy from database wh to compat")
        con.execute("detach compat")
    python = side_env(*DUCKDB_10) / "bin" / "python"
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            'print(duckdb.__version__, con.execute("select round(pct_change, 1) '
            "from marts.cleantech_growth where measure = 'export_msek' and start_year = 2010 "
            "and end_year = 2012 and region_code = '14'\").fetchone()[0])",
            str(compat),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0.0", "64.0"]


def _run_at_once(n: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run `work(i)` in n threads released together; the exceptions they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_exports_to_one_folder_all_succeed(marts_db: Path, tmp_path: Path) -> None:
    """Four exports at once into the same folder: unique temp files, so none collides with
    another's temp file (a fixed `.<table>.parquet.tmp` raced: FileNotFoundError / IO errors)."""
    out = tmp_path / "parquet"
    errors = _run_at_once(4, lambda _: export_parquet(marts_db, out))
    assert errors == []
    assert not [p.name for p in out.iterdir() if not p.name.endswith(".parquet")], "temp files left"
    with duckdb.connect(str(marts_db), read_only=True) as con:
        for path in out.iterdir():
            table = con.table(f"marts.{path.stem}")
            assert con.read_parquet(str(path)).shape == table.shape, path.name


def test_parquet_files_carry_demo_and_vintage_metadata(marts_db: Path, tmp_path: Path) -> None:
    paths = export_parquet(marts_db, tmp_path / "parquet")
    with duckdb.connect(str(marts_db), read_only=True) as con:
        vintage = dict(
            con.execute(
                "select dataset, cast(source_updated as varchar) from marts.data_vintage"
            ).fetchall()
        )
        is_demo = con.execute("select bool_or(is_demo) from marts.data_vintage").fetchone()[0]
    assert is_demo is True  # the suite-wide warehouse is the demo snapshot
    for path in paths:
        meta = read_export_metadata(path)
        assert meta["table"] == f"marts.{path.stem}"
        assert meta["is_demo"] == "true"
        assert json.loads(meta["source_updated"]) == vintage and vintage
        assert meta["exported_at"]
        # what a BI tool or pyarrow sees, without this project's helper
        raw = pq.read_schema(path).metadata
        assert raw[b"cleantech.is_demo"] == b"true"


def test_failed_export_leaves_no_temp_file(
    marts_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "parquet"

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(export_mod.os, "replace", broken)
    with pytest.raises(OSError, match="disk full") as caught:
        export_parquet(marts_db, out)
    assert Path(caught.value.filename).parent == out  # names the export, not its temp file
    assert Path(caught.value.filename).suffix == ".parquet"
    assert list(out.iterdir()) == []


def test_connection_lifetime_rules_in_bi_md(marts_db: Path, tmp_path: Path) -> None:
    """docs/BI.md's rules: a new connection joins the open instance (old file) until every
    connection in the process is closed or the engine disposed; raw + SQLAlchemy do not mix."""
    import shutil

    import sqlalchemy as sa

    from cleantech.core.publish import publish

    published = tmp_path / "cleantech.duckdb"

    def publish_marker(value: str) -> None:
        staging = tmp_path / f"staging-{value}.duckdb"
        shutil.copyfile(marts_db, staging)
        with duckdb.connect(str(staging)) as con:
            con.execute("create table main.marker as select ? as v", [value])
        publish(staging, published)

    def marker(con: duckdb.DuckDBPyConnection) -> str:
        return con.execute("select v from main.marker").fetchone()[0]

    publish_marker("old")
    first = duckdb.connect(str(published), read_only=True)
    publish_marker("new")
    second = duckdb.connect(str(published), read_only=True)
    assert (marker(first), marker(second)) == ("old", "old")
    engine = sa.create_engine(f"duckdb:///{published}", connect_args={"read_only": True})
    with pytest.raises(sa.exc.DBAPIError, match="different configuration"):
        engine.connect()
    second.close()
    first.close()
    with duckdb.connect(str(published), read_only=True) as third:
        assert marker(third) == "new"
    sql = sa.text("select v from main.marker")
    with engine.connect() as conn:
        assert conn.execute(sql).scalar() == "new"
    publish_marker("newer")
    with engine.connect() as conn:
        assert conn.execute(sql).scalar() == "new"  # the pooled connection: the old file
    engine.dispose()
    with engine.connect() as conn:
        assert conn.execute(sql).scalar() == "newer"
    engine.dispose()
