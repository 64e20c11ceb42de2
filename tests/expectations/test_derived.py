"""Derived checks stacked into one batch per suite: each check's rows carry its name, a check
whose SQL fails stays visible as a failure, and an unknown check is a suite error. No GX."""

from __future__ import annotations

import duckdb
import pytest

from expectations.derived import derived_batch
from expectations.suites import SuiteError

SUITE = {"suite": "raw.t", "table": "raw.t", "dataset": None}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(
        "create table raw.t as select * from (values ('00', '2020', 30.0), ('01', '2020', 10.0),"
        " ('02', '2020', 20.0), ('00', '2021', 40.0)) v(Region, Tid, value)"
    )
    return con


def _batch(con: duckdb.DuckDBPyConnection, *items: dict) -> tuple:
    suite = {**SUITE, "expectations": list(items)}
    return derived_batch(con, suite, con.execute("select * from raw.t").df())


def test_checks_stack_into_one_batch_named_by_check(con: duckdb.DuckDBPyConnection) -> None:
    completeness = {"name": "complete", "severity": "critical", "check": "completeness",
                    "dims": ["Region", "Tid"], "selection": {"Region": ["00", "01", "02"]}}  # fmt: skip
    totals = {"name": "totals", "severity": "warning", "check": "county_totals",
              "region_dim": "Region", "group_dims": ["Tid"], "county_codes": ["01", "02"],
              "tolerance": 0.01}  # fmt: skip
    plain = {"name": "plain", "severity": "critical", "expectation": "expect_x", "kwargs": {}}
    batch = _batch(con, completeness, plain, totals)
    assert batch is not None
    frame, items, index = batch
    assert [(i["name"], t) for i, t, _ in items] == [
        ("complete", "expect_column_pair_values_to_be_equal"),
        ("totals", "expect_column_values_to_be_between"),
    ]
    assert items[0][2]["ignore_row_if"] == "either_value_is_missing"
    assert index[0] == "check" and "formula" in index
    rows = frame[frame["check"] == "complete"]
    assert (rows["rows"].iloc[0], rows["expected_rows"].iloc[0]) == (4, 6)  # 3 regions × 2 years
    totals_rows = frame[frame["check"] == "totals"]
    assert totals_rows["relative_difference"].tolist() == [0.0]  # 2021 has no county values


def test_a_check_whose_sql_fails_stays_visible(con: duckdb.DuckDBPyConnection) -> None:
    yoy = {"name": "jump", "severity": "warning", "check": "yoy_jump",
           "series_dims": ["NoSuchColumn"], "time_dim": "Tid", "max_abs_change": 1}  # fmt: skip
    frame, items, _ = _batch(con, yoy)
    assert frame["check_error"].tolist() == ["jump"]
    assert items[0][1] == "expect_column_values_to_be_null"
    assert items[0][0]["description_extra"].startswith("check could not run:")


def test_no_derived_check_is_no_batch_and_an_unknown_one_is_an_error(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert _batch(con, {"name": "p", "severity": "critical", "expectation": "e"}) is None
    with pytest.raises(SuiteError, match="unknown check 'nope'"):
        _batch(con, {"name": "x", "severity": "critical", "check": "nope"})
