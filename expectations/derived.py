"""Derived checks: checks that compare rows with each other, as small tables GX can validate.

Completeness, county totals against the national row, year-on-year jumps, freshness and column
types are each computed in DuckDB as a small pandas table and validated with a standard GX
expectation, so they land in the same results and the same Data Docs as the plain expectations
(one "`<suite> (derived checks)`" batch per suite, with a `check` column naming each check).
Each check returns (frame, GX expectation type, kwargs, index columns).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from expectations.suites import SuiteError
from ingest.sql import column_types, qualified, split_qualified
from ingest.sql import quote_ident as _q

# DuckDB type families a suite may name instead of an exact type.
_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT"}  # fmt: skip
_FAMILIES: dict[str, Any] = {
    "integer": lambda t: t in _INTEGER,
    "number": lambda t: (
        t in _INTEGER or t in {"DOUBLE", "FLOAT", "REAL"} or t.startswith("DECIMAL")
    ),
    "text": lambda t: t == "VARCHAR",
    "boolean": lambda t: t == "BOOLEAN",
    "timestamp": lambda t: t.startswith("TIMESTAMP"),
    "date": lambda t: t == "DATE",
}


def table_ref(suite: dict[str, Any]) -> str:
    """The suite's `schema.table` (from YAML) as a quoted SQL reference."""
    return qualified(*split_qualified(str(suite["table"])))


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The DuckDB column types of `schema.table`, by column name."""
    schema, name = split_qualified(table)
    return column_types(con, schema, name)


def check_schema(con, suite, item, frame):  # noqa: ANN001, ARG001
    """Every expected column exists with its type or type family; extras fail unless allowed."""
    actual = table_columns(con, suite["table"])
    expected: dict[str, str] = item["columns"]
    rows = []
    for col, want in expected.items():
        got = actual.get(col, "(missing)")
        want_s = str(want)
        ok = _FAMILIES[want_s](got) if want_s in _FAMILIES else got.upper() == want_s.upper()
        rows.append(
            {"column_name": col, "expected_type": want_s, "actual_type": got, "type_ok": ok}
        )
    if not item.get("allow_extra", False):
        for col, got in actual.items():
            if col not in expected:
                rows.append({"column_name": col, "expected_type": "(none)", "actual_type": got,
                             "type_ok": False})  # fmt: skip
    df = pd.DataFrame(rows, columns=["column_name", "expected_type", "actual_type", "type_ok"])
    kwargs = {"column": "type_ok", "value_set": [True]}
    return (
        df,
        "expect_column_values_to_be_in_set",
        kwargs,
        ["column_name", "expected_type", "actual_type"],
    )


def _dim_sizes(con, suite, item, frame) -> dict[str, int]:  # noqa: ANN001, ARG001
    """Each dimension's size: a listed selection's length, else the codes in `raw._labels`."""

    dims: list[str] = item["dims"]
    selection: dict[str, Any] = item.get("selection") or {}
    sizes: dict[str, int] = {}
    labels: dict[str, int] = {}
    dataset = suite.get("dataset")
    try:
        labels = dict(con.execute(
            "select dimension_id, count(distinct code) from raw._labels where dataset = ? group by 1",
            [dataset],
        ).fetchall())  # fmt: skip
    except duckdb.Error:
        labels = {}
    for d in dims:
        sel = selection.get(d)
        if isinstance(sel, list):
            sizes[d] = len(sel)
        elif d in labels:
            sizes[d] = int(labels[d])
        else:
            sizes[d] = int(frame[d].nunique()) if d in frame.columns else 0
    return sizes


def check_completeness(con, suite, item, frame):  # noqa: ANN001
    """Rows = the product of the selected dimension sizes."""
    sizes = _dim_sizes(con, suite, item, frame)
    expected = 1
    for n in sizes.values():
        expected *= n
    formula = " × ".join(f"{n} {d}" for d, n in sizes.items())
    df = pd.DataFrame([{"rows": len(frame), "expected_rows": expected, "formula": formula}])
    kwargs = {"column_A": "rows", "column_B": "expected_rows"}
    item.setdefault("description_extra", f"rows = {formula} = {expected}")
    return df, "expect_column_pair_values_to_be_equal", kwargs, ["formula"]


def check_county_totals(con, suite, item, frame):  # noqa: ANN001, ARG001
    """Per non-region cell, |sum of the counties − national row| ≤ tolerance × national."""
    region, groups = item["region_dim"], list(item["group_dims"])
    national, counties = str(item.get("national_code", "00")), list(item["county_codes"])
    tol = float(item["tolerance"])
    t = table_ref(suite)
    gcols = ", ".join(f"n.{_q(g)}" for g in groups)
    join = " and ".join(f"n.{_q(g)} = c.{_q(g)}" for g in groups) or "true"
    cgroup = ", ".join(_q(g) for g in groups)
    placeholders = ", ".join("?" for _ in counties)
    sql = f"""
        with c as (
            select {cgroup}{"," if groups else ""} sum(value) as county_sum,
                   count(value) as n_values, count(*) as n_rows
            from {t} where {_q(region)} in ({placeholders}) group by all
        ), n as (
            select {cgroup}{"," if groups else ""} value as national
            from {t} where {_q(region)} = ?
        )
        select {gcols}{"," if groups else ""} n.national, c.county_sum,
               abs(c.county_sum - n.national) / abs(n.national) as relative_difference
        from n join c on {join}
        where n.national is not null and n.national <> 0 and c.n_values = c.n_rows
        order by all
    """  # noqa: S608 - identifiers come from the catalog and are quoted
    df = con.execute(sql, [*counties, national]).df()
    kwargs = {"column": "relative_difference", "min_value": 0, "max_value": tol}
    item.setdefault("description_extra", f"|sum of counties − national| ≤ {tol:.2%} of national")
    return df, "expect_column_values_to_be_between", kwargs, [*groups, "national", "county_sum"]


def check_yoy(con, suite, item, frame):  # noqa: ANN001, ARG001
    """|value / previous year − 1| ≤ max_abs_change where the previous value ≥ min_base."""
    series, time_dim = list(item["series_dims"]), item["time_dim"]
    bound, min_base = float(item["max_abs_change"]), float(item.get("min_base", 0))
    t = table_ref(suite)
    part = ", ".join(_q(s) for s in series)
    sql = f"""
        with v as (
            select {part}, try_cast({_q(time_dim)} as integer) as year, value,
                   lag(value) over (partition by {part} order by try_cast({_q(time_dim)} as integer)) as previous,
                   lag(try_cast({_q(time_dim)} as integer)) over (partition by {part}
                       order by try_cast({_q(time_dim)} as integer)) as previous_year
            from {t}
        )
        select {part}, year, previous, value, abs(value - previous) / abs(previous) as abs_relative_change
        from v
        where previous is not null and value is not null and abs(previous) >= ? and previous_year = year - 1
        order by all
    """  # noqa: S608
    df = con.execute(sql, [max(min_base, 1e-12)]).df()
    kwargs = {"column": "abs_relative_change", "min_value": 0, "max_value": bound}
    item.setdefault(
        "description_extra", f"|year-on-year change| ≤ {bound:.0%} (base ≥ {min_base:g})"
    )
    return df, "expect_column_values_to_be_between", kwargs, [*series, "year", "previous", "value"]


def check_freshness(con, suite, item, frame):  # noqa: ANN001, ARG001
    """The source's `updated` is at most max_age_days old (CLEANTECH_MAX_SOURCE_AGE_DAYS overrides)."""
    max_age = float(os.environ.get("CLEANTECH_MAX_SOURCE_AGE_DAYS") or item["max_age_days"])
    column = item.get("column", "_source_updated")
    row = con.execute(f"select max({_q(column)}) from {table_ref(suite)}").fetchone()  # noqa: S608
    updated = row[0] if row else None
    now = datetime.now(UTC)
    if updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    age = (now - updated).total_seconds() / 86400 if updated is not None else float("inf")
    df = pd.DataFrame([{"source_updated": str(updated), "age_days": round(age, 1)}])
    kwargs = {"column": "age_days", "min_value": None, "max_value": max_age}
    item.setdefault("description_extra", f"the source's `updated` is at most {max_age:g} days old")
    return df, "expect_column_values_to_be_between", kwargs, ["source_updated"]


CHECKS = {
    "schema": check_schema,
    "completeness": check_completeness,
    "county_totals": check_county_totals,
    "yoy_jump": check_yoy,
    "freshness": check_freshness,
}


def derived_batch(con, suite: dict, frame: Any) -> tuple[Any, list, list[str]] | None:  # noqa: ANN001
    """Run every derived check of a suite and stack their small tables into one batch.

    Each check's rows carry its name in the `check` column and fill only their own columns, so the
    other checks' expectations see NULL there (ignored), and one validation covers them all.
    """
    frames, items, index = [], [], ["check"]
    for item in suite["expectations"]:
        if item.get("expectation"):
            continue
        item = dict(item)
        check = CHECKS.get(item.get("check", ""))
        if check is None:
            raise SuiteError(
                f"{suite['suite']} {item['name']}: unknown check {item.get('check')!r}"
            )
        try:
            df, type_, kwargs, idx = check(con, suite, item, frame)
        except duckdb.Error as exc:
            item["description_extra"] = f"check could not run: {str(exc).splitlines()[0]}"
            df = pd.DataFrame([{"check_error": item["name"]}])
            type_, kwargs, idx = "expect_column_values_to_be_null", {"column": "check_error"}, []
        if len(df) == 0:  # nothing to compare (e.g. no national row): keep the check visible
            df = pd.DataFrame([{c: None for c in df.columns}])
        df = df.copy()
        df.insert(0, "check", item["name"])
        if type_ == "expect_column_pair_values_to_be_equal":
            kwargs = {**kwargs, "ignore_row_if": "either_value_is_missing"}
        frames.append(df)
        items.append((item, type_, kwargs))
        index += [c for c in idx if c not in index]
    if not frames:
        return None
    stacked = pd.concat(frames, ignore_index=True, sort=False)
    return stacked, items, index
