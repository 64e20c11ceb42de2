"""BI access: SQLAlchemy + duckdb-engine read-only (as Superset connects), Parquet export."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingest.export import export_parquet

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
    """The recipe in docs/BI.md: a copy in the v1.4 storage format for BI drivers on older DuckDB."""
    compat = tmp_path / "cleantech_v1_4.duckdb"
    with duckdb.connect() as con:
        con.execute(f"attach '{marts_db}' as wh (read_only)")
        con.execute(f"attach '{compat}' as compat (storage_version 'v1.4.0')")
        con.execute("copy from database wh to compat")
        con.execute("detach compat")
    with duckdb.connect(str(compat), read_only=True) as con:
        assert con.execute("select count(*) from marts.dim_regions").fetchone()[0] == 22
