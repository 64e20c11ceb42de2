# ruff: noqa: S608 - these tests build SQL from quoted identifiers on purpose
"""Identifier quoting: `ingest.sql` and every place that pastes a table name from a file into SQL
(the gate's derived checks, publish verification, the Parquet export). Fast: no GX, no dbt."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cleantech.core.publish import PublishFailed, verify
from expectations import derived
from ingest.sql import qualified, quote_ident, quote_literal, split_qualified

ODD = 'odd "name"; drop table raw.keep; --'


def test_quote_ident_doubles_embedded_quotes() -> None:
    assert quote_ident("Tid") == '"Tid"'
    assert quote_ident('a"b') == '"a""b"'
    assert qualified("raw", 'x"y') == '"raw"."x""y"'
    assert split_qualified("raw.a.b") == ("raw", "a.b")
    with pytest.raises(ValueError, match="schema.table"):
        split_qualified("nodot")
    with pytest.raises(TypeError):
        quote_ident(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["TAB638", "it's", "a\\'; drop table raw.keep; --", "Västra ''q''", ""]
)
def test_quote_literal_round_trips_in_duckdb(text: str) -> None:
    with duckdb.connect() as con:
        assert con.execute(f"select {quote_literal(text)}").fetchone() == (text,)
    with pytest.raises(ValueError, match="NUL"):
        quote_literal("a\x00b")
    with pytest.raises(TypeError):
        quote_literal(3)  # type: ignore[arg-type]


def test_quoted_names_round_trip_in_duckdb() -> None:
    table, column = qualified("raw", ODD), quote_ident('a"b')
    with duckdb.connect() as con:
        con.execute("create schema raw")
        con.execute(f"create table {table} ({column} integer)")
        con.execute(f"insert into {table} values (7)")
        assert con.execute(f"select {column} from {table}").fetchall() == [(7,)]


@pytest.fixture
def odd_db(tmp_path: Path) -> Path:
    """A warehouse whose table names need quoting, plus a table an injection would drop."""
    db = tmp_path / "odd.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw")
        con.execute("create table raw.keep as select 1 as x")
        con.execute(
            f"create table {qualified('raw', ODD)} as "
            'select r as "Region", \'2020\' as "Tid", 10.0 as value, '
            "now()::timestamptz as _source_updated from (values ('00'), ('01')) t(r)"
        )
    return db


def test_derived_checks_quote_the_suite_table(odd_db: Path) -> None:
    """`suite['table']` from YAML was pasted unquoted: a name with a quote or a `;` broke (or
    injected into) the SQL. Quoted, it is just a name."""
    suite = {"suite": "raw.odd", "table": f"raw.{ODD}", "dataset": None}
    with duckdb.connect(str(odd_db), read_only=True) as con:
        frame = con.execute(f"select * from {qualified('raw', ODD)}").df()
        df, *_ = derived.check_freshness(con, suite, {"max_age_days": 30, "name": "fresh"}, frame)
        assert df["age_days"].iloc[0] < 1
        df, *_ = derived.check_yoy(
            con, suite, {"series_dims": ["Region"], "time_dim": "Tid", "max_abs_change": 1}, frame
        )
        assert len(df) == 0  # one year only: nothing to compare, but the SQL ran
        item = {"region_dim": "Region", "group_dims": ["Tid"], "national_code": "00",
                "county_codes": ["01"], "tolerance": 0.01}  # fmt: skip
        df, *_ = derived.check_county_totals(con, suite, item, frame)
        assert df["relative_difference"].tolist() == [0.0]
        columns = derived.table_columns(con, suite["table"])
        assert list(columns) == ["Region", "Tid", "value", "_source_updated"]
        assert con.execute("select count(*) from raw.keep").fetchone() == (1,)


def test_publish_verify_quotes_required_table_names(odd_db: Path) -> None:
    counts = verify(odd_db, required=[f"raw.{ODD}", "raw.keep"])
    assert counts == {f"raw.{ODD}": 2, "raw.keep": 1}
    with pytest.raises(PublishFailed, match="lacks"):
        verify(odd_db, required=["raw.missing"])
