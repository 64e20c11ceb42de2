"""A small, hand-made warehouse that satisfies the catalog's contracts (raw layer and marts).

Used to test the gate, the publisher and the lock without the ingest engine or dbt: every county
value is deterministic, the national row is the sum of the counties, nothing is negative.
"""

from __future__ import annotations

# ruff: noqa: S608 - identifiers come from the catalog, values are constants
import itertools
from pathlib import Path

import duckdb
import pandas as pd

from ingest.catalog import Catalog, load_catalog

UPDATED = "2025-06-01 08:00:00+00"


def _codes(con: duckdb.DuckDBPyConnection, catalog: Catalog, name: str) -> dict[str, list[str]]:
    spec = catalog.dataset(name)
    codes: dict[str, list[str]] = {}
    for dim, sel in spec.selection.items():
        if isinstance(sel, list):
            codes[dim] = list(sel)
        elif dim == spec.region_dimension:
            codes[dim] = list(catalog.counties)
        elif dim == spec.time_dimension and spec.years:
            codes[dim] = [str(y) for y in range(spec.years[0], spec.years[1] + 1)]
        elif dim == spec.measure_dimension:
            codes[dim] = [m.code for m in spec.measures]
        else:
            codes[dim] = ["A", "B"]
    return codes


def build_raw(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
    """raw.<dataset> for every catalog dataset, plus raw._labels."""
    con.execute("create schema if not exists raw")
    con.execute(
        "create or replace table raw._labels (dataset varchar, dimension_id varchar, "
        "dimension_label varchar, position integer, code varchar, label varchar, unit varchar, "
        "decimals integer)"
    )
    for name, spec in catalog.datasets.items():
        codes = _codes(con, catalog, name)
        dims = list(codes)
        region = spec.region_dimension
        rows = []
        for combo in itertools.product(*codes.values()):
            cell = dict(zip(dims, combo, strict=True))
            if cell[region] == "00":
                continue
            base = (int(cell[region]) + 3) * 100 + sum(len(str(v)) for v in combo)
            if spec.time_dimension:
                base += int(cell[spec.time_dimension]) - 2000
            rows.append([*combo, float(base)])
        cols = ", ".join(f'"{d}" varchar' for d in dims)
        con.execute(
            f"create or replace table raw.{name} ({cols}, value double, status varchar, "
            "_source_table varchar, _source_updated timestamptz, _loaded_at timestamptz, "
            "_load_id varchar)"
        )
        cells = pd.DataFrame(rows, columns=[*dims, "value"])  # noqa: F841 - read by DuckDB below
        quoted = ", ".join(f'"{d}"' for d in dims)
        con.execute(f"insert into raw.{name} ({quoted}, value) select {quoted}, value from cells")
        others = [f'"{d}"' for d in dims if d != region]
        con.execute(
            f'insert into raw.{name} ("{region}", {", ".join(others)}, value) '
            f"select '00', {', '.join(others)}, sum(value) from raw.{name} group by all"
        )
        con.execute(
            f"update raw.{name} set _source_table = '{spec.table}', "
            f"_source_updated = '{UPDATED}', _loaded_at = now(), _load_id = 'synth'"
        )
        for dim, values in codes.items():
            labels = pd.DataFrame(  # noqa: F841 - read by DuckDB below
                [(name, dim, dim, i, c, c) for i, c in enumerate(values)],
                columns=["dataset", "dimension_id", "dimension_label", "position", "code", "label"],
            )
            con.execute("insert into raw._labels by name select * from labels")


def build_marts(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
    """marts.dim_regions, marts.fct_cleantech_region_year, marts.cleantech_growth (contract columns)."""
    con.execute("create schema if not exists marts")
    counties = list(catalog.counties)
    con.execute(
        "create or replace table marts.dim_regions (region_code varchar, region_name_sv "
        "varchar, region_name_en varchar, nuts2_code varchar, nuts3_code varchar, "
        "is_county boolean)"
    )
    regions = pd.DataFrame(  # noqa: F841 - read by DuckDB below
        [(c, f"län {c}", f"County {c}", None, None, c != "00") for c in counties],
        columns=[
            "region_code",
            "region_name_sv",
            "region_name_en",
            "nuts2_code",
            "nuts3_code",
            "is_county",
        ],
    )
    con.execute("insert into marts.dim_regions by name select * from regions")
    first, last = catalog.dataset("egss_county").years or (2003, 2020)
    con.execute(f"""
        create or replace table marts.fct_cleantech_region_year as
        select r.region_code, y.year::integer as year, r.region_name_sv, r.region_name_en,
               10.0 * y.year % 7 + 5 as establishments, null::varchar as establishments_status,
               100.0 + y.year % 13 as employed, null::varchar as employed_status,
               500.0 as net_turnover_msek, null::varchar as net_turnover_msek_status,
               50.0 as export_msek, null::varchar as export_msek_status,
               10000.0 as total_employed_persons, 200000.0 as population,
               1.0 as cleantech_share_of_employment_pct,
               0.5 as cleantech_employed_per_1000_inhabitants,
               4.0 as export_share_of_national_pct, 4.0 as employed_share_of_national_pct,
               1::bigint as export_rank, 1::bigint as employed_rank
        from marts.dim_regions r, range({first}, {last + 1}) y(year)
        where r.is_county
    """)
    con.execute("""
        create or replace table marts.cleantech_growth as
        select region_code, 'export_msek' as measure, min(year) as start_year, max(year) as end_year,
               50.0 as start_value, 60.0 as end_value, 10.0 as abs_change, 20.0 as pct_change
        from marts.fct_cleantech_region_year group by region_code
    """)


def build_warehouse(path: Path, *, catalog: Catalog | None = None, marts: bool = True) -> Path:
    """Write a complete, checkpointed synthetic warehouse to `path`."""
    catalog = catalog or load_catalog()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        build_raw(con, catalog)
        if marts:
            build_marts(con, catalog)
        con.execute("checkpoint")
    finally:
        con.close()
    return path
