"""The terminal answers: a few analyst questions answered from a built warehouse's marts
(`cleantech answers`, printed at the end of `make run` / `make pipeline`)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def mart_answers(db: Path) -> list[str]:
    """A few analyst questions answered from the marts of a built `db`, one line each."""

    con = duckdb.connect(str(db), read_only=True)
    try:
        lines: list[str] = []
        (is_demo,) = con.execute("select bool_or(is_demo) from marts.data_vintage").fetchone() or (
            None,
        )
        if is_demo:
            lines.append("DEMO DATA (synthetic figures from the demo snapshot, not SCB's):")
        row = con.execute(
            "select g.start_value, g.end_value, g.abs_change, g.pct_change, "
            "o.abs_change as others_abs "
            "from marts.cleantech_growth as g "
            "left join (select measure, start_year, end_year, sum(abs_change) as abs_change "
            "  from marts.cleantech_growth where region_code in ('01', '12') "
            "  group by all) as o using (measure, start_year, end_year) "
            "where g.region_code = '14' and g.measure = 'export_msek' "
            "and g.start_year = 2010 and g.end_year = 2012"
        ).fetchone()
        if row:
            lines.append(
                f"Västra Götaland cleantech export 2010→2012: {_n(row[0])} → {_n(row[1])} MSEK, "
                f"{_n(row[2], sign=True)} MSEK ({_n(row[3], 1, sign=True)} %); "
                f"Stockholm + Skåne together: {_n(row[4], sign=True)} MSEK"
            )
        row = con.execute(
            "select year, region_name_en, employed from marts.fct_cleantech_region_year "
            "where employed_rank = 1 and year = (select max(year) from "
            "marts.fct_cleantech_region_year where employed is not null) order by region_code"
        ).fetchone()
        if row:
            lines.append(
                f"Most people employed in cleantech, {row[0]}: {row[1]} ({_n(row[2])} persons)"
            )
        row = con.execute(
            "select year, region_name_en, cleantech_share_of_employment_pct, "
            "cleantech_employed_per_1000_inhabitants from marts.fct_cleantech_region_year "
            "where cleantech_share_of_employment_pct is not null "
            "order by year desc, cleantech_share_of_employment_pct desc limit 1"
        ).fetchone()
        if row:
            lines.append(
                f"Highest cleantech share of jobs, {row[0]}: {row[1]} ({_n(row[2], 2)} % of jobs, "
                f"{_n(row[3], 1)} per 1,000 inhabitants)"
            )
        rows = con.execute(
            "select year, employed from marts.fct_cleantech_region_year "
            "where region_code = '12' and year between 2010 and 2012 order by year"
        ).fetchall()
        if rows:
            series = ", ".join(f"{y}: {_n(v)}" for y, v in rows)
            lines.append(f"Skåne employed in cleantech: {series}")
        return lines
    finally:
        con.close()


def _n(value: float | None, decimals: int = 0, *, sign: bool = False) -> str:
    """Format a number with thousands separators; `n/a` for NULL."""
    if value is None:
        return "n/a"
    return f"{value:{'+' if sign else ''},.{decimals}f}"
