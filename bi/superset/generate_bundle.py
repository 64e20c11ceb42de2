"""Write the dashboard bundle bi/superset/dashboard/ (Superset's export format, unzipped).

The bundle is the dashboard as code: `make bi` imports it on every start. This script is how it was
written (and how to change it by hand-written code rather than by clicking): it reads the marts'
column types from a built warehouse and writes the YAML files Superset's own export would hold.

    .venv/bin/python bi/superset/generate_bundle.py warehouse/cleantech.duckdb

Edits made in Superset's UI can be kept instead with *Dashboards → ⋯ → Export* and unzipping the
export over bi/superset/dashboard/ (the database's `sqlalchemy_uri` must stay `duckdb:///WAREHOUSE`).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import duckdb
import yaml

OUT = Path(__file__).resolve().parent / "dashboard"
NS = uuid.UUID("6f1d2c1e-4b7a-4d53-9a8e-1c0ffee00014")
DB_NAME = "cleantech warehouse"
DASHBOARD_TITLE = "Regional cleantech: employment, export, growth"
VERSION = "1.0.0"


def uid(name: str) -> str:
    """A stable UUID for a bundle object (so re-imports update rather than duplicate)."""
    return str(uuid.uuid5(NS, name))


DB_UUID = uid("database")

# Superset dataset name → (schema, physical table) or (schema, SQL of a virtual dataset)
GROWTH_SQL = """\
select growth.*, regions.region_name_en, regions.region_name_sv
from marts.cleantech_growth as growth
inner join marts.dim_regions as regions using (region_code)"""
DATASETS: dict[str, dict[str, Any]] = {
    "fct_cleantech_region_year": {"dttm": "period_date", "sql": None},
    "cleantech_growth_named": {"dttm": "end_period_date", "sql": GROWTH_SQL},
    "data_vintage": {"dttm": "source_updated", "sql": None},
}


def _columns(
    con: duckdb.DuckDBPyConnection, name: str, spec: dict[str, Any]
) -> list[dict[str, Any]]:
    sql = spec["sql"] or f"select * from marts.{name}"  # noqa: S608 - names from DATASETS
    rel = con.sql(f"select * from ({sql}) limit 0")  # noqa: S608 - constant SQL above
    cols = []
    for col, dtype in zip(rel.columns, rel.types, strict=True):
        type_name = str(dtype).upper()
        cols.append(
            {
                "advanced_data_type": None,
                "column_name": col,
                "description": None,
                "expression": None,
                "extra": None,
                "filterable": True,
                "groupby": True,
                "is_active": True,
                "is_dttm": type_name in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"),
                "python_date_format": None,
                "type": type_name,
                "verbose_name": None,
            }
        )
    return cols


def dataset_yaml(con: duckdb.DuckDBPyConnection, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One dataset file: physical table in schema `marts`, or a virtual one (SQL)."""
    return {
        "table_name": name,
        "main_dttm_col": spec["dttm"],
        "description": None,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": "marts",
        "sql": spec["sql"],
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "folders": None,
        "uuid": uid(f"dataset:{name}"),
        "metrics": [
            {
                "metric_name": "count",
                "verbose_name": "COUNT(*)",
                "metric_type": "count",
                "expression": "COUNT(*)",
                "description": None,
                "d3format": None,
                "currency": None,
                "extra": None,
                "warning_text": None,
            }
        ],
        "columns": _columns(con, name, spec),
        "version": VERSION,
        "database_uuid": DB_UUID,
    }


def sum_metric(column: str, label: str) -> dict[str, Any]:
    """An ad-hoc SUM metric (one row per county and year, so the sum is the county's value)."""
    return {
        "aggregate": "SUM",
        "column": {"column_name": column},
        "expressionType": "SIMPLE",
        "hasCustomLabel": True,
        "label": label,
        "optionName": f"metric_{column}",
        "sqlExpression": None,
    }


def time_filter(column: str) -> dict[str, Any]:
    return {
        "clause": "WHERE",
        "comparator": "No filter",
        "expressionType": "SIMPLE",
        "operator": "TEMPORAL_RANGE",
        "subject": column,
    }


def query_context(dataset: str, form: dict[str, Any], query: dict[str, Any]) -> str:
    """The saved query of a chart (what GET /api/v1/chart/<id>/data/ runs); ids fixed on import."""
    base = {
        "filters": [{"col": form["x_axis"], "op": "TEMPORAL_RANGE", "val": "No filter"}]
        if "x_axis" in form
        else [],
        "extras": {"having": "", "where": ""},
        "applied_time_extras": {},
        "annotation_layers": [],
        "series_limit": 0,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }
    base.update(query)
    return json.dumps(
        {
            "datasource": {"id": 0, "type": "table"},
            "force": False,
            "queries": [base],
            "form_data": {**form, "datasource": "0__table"},
            "result_format": "json",
            "result_type": "full",
        },
        ensure_ascii=False,
    )


def line_chart(name: str, title: str, column: str, label: str) -> dict[str, Any]:
    """A line per county over period_date (1 January of each year)."""
    metric = sum_metric(column, label)
    form = {
        "viz_type": "echarts_timeseries_line",
        "datasource": "0__table",
        "x_axis": "period_date",
        "time_grain_sqla": "P1Y",
        "x_axis_sort_asc": True,
        "metrics": [metric],
        "groupby": ["region_name_en"],
        "adhoc_filters": [time_filter("period_date")],
        "order_desc": True,
        "row_limit": 10000,
        "truncate_metric": True,
        "show_legend": True,
        "legendType": "scroll",
        "legendOrientation": "right",
        "rich_tooltip": True,
        "tooltipTimeFormat": "%Y",
        "x_axis_time_format": "%Y",
        "y_axis_format": "SMART_NUMBER",
        "y_axis_title": label,
        "y_axis_title_margin": 50,
        "y_axis_title_position": "Left",
        "markerEnabled": True,
        "seriesType": "line",
        "color_scheme": "supersetColors",
    }
    axis = {
        "timeGrain": "P1Y",
        "columnType": "BASE_AXIS",
        "sqlExpression": "period_date",
        "label": "period_date",
        "expressionType": "SQL",
    }
    qc = query_context(
        "fct_cleantech_region_year",
        form,
        {
            "columns": [axis, "region_name_en"],
            "metrics": [metric],
            "orderby": [[metric, False]],
            "row_limit": 10000,
            "series_columns": ["region_name_en"],
        },
    )
    return chart_yaml(name, title, "fct_cleantech_region_year", form, qc)


def table_chart(
    name: str,
    title: str,
    dataset: str,
    columns: list[str],
    order_by: list[tuple[str, bool]],
    time_column: str | None,
    description: str,
) -> dict[str, Any]:
    """A raw-records table (no aggregation): the rows as the mart holds them."""
    form = {
        "viz_type": "table",
        "datasource": "0__table",
        "query_mode": "raw",
        "all_columns": columns,
        "order_by_cols": [json.dumps([col, asc]) for col, asc in order_by],
        "adhoc_filters": [time_filter(time_column)] if time_column else [],
        "row_limit": 1000,
        "server_page_length": 50,
        "include_search": True,
        "show_cell_bars": False,
        "table_timestamp_format": "smart_date",
        "allow_render_html": False,
        # one decimal for percentages and rates, thousands separators for counts and MSEK
        "column_config": {
            col: {"d3NumberFormat": ",.1f" if re.search(r"pct|per_1000", col) else ",.2~f"}
            for col in columns
            if re.search(r"pct|per_1000|value|change|employed|population|export", col)
            and not col.endswith("_year")
        },
    }
    filters = (
        [{"col": time_column, "op": "TEMPORAL_RANGE", "val": "No filter"}] if time_column else []
    )
    qc = query_context(
        dataset,
        form,
        {
            "columns": columns,
            "metrics": [],
            "orderby": [[col, asc] for col, asc in order_by],
            "row_limit": 1000,
            "filters": filters,
        },
    )
    out = chart_yaml(name, title, dataset, form, qc)
    out["description"] = description
    return out


def chart_yaml(
    name: str, title: str, dataset: str, form: dict[str, Any], qc: str
) -> dict[str, Any]:
    return {
        "slice_name": title,
        "description": None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": form["viz_type"],
        "params": form,
        "query_context": qc,
        "cache_timeout": None,
        "uuid": uid(f"chart:{name}"),
        "version": VERSION,
        "dataset_uuid": uid(f"dataset:{dataset}"),
    }


def charts() -> dict[str, dict[str, Any]]:
    """The dashboard's charts by file stem."""
    return {
        "employment_by_county": line_chart(
            "employment_by_county",
            "Cleantech employment by county",
            "employed",
            "employed (persons)",
        ),
        "export_by_county": line_chart(
            "export_by_county", "Cleantech export by county (MSEK)", "export_msek", "export (MSEK)"
        ),
        "growth_between_two_years": table_chart(
            "growth_between_two_years",
            "Growth between two years (pick the years and the measure above)",
            "cleantech_growth_named",
            [
                "region_name_en",
                "measure",
                "start_year",
                "end_year",
                "start_value",
                "end_value",
                "abs_change",
                "pct_change",
                "annual_growth_pct",
                "others_pct_change",
                "unit",
            ],
            [("pct_change", False)],
            None,
            "marts.cleantech_growth with county names: change from start_year to end_year; "
            "others_pct_change = all other counties combined. NULL where an end is missing.",
        ),
        "share_of_jobs": table_chart(
            "share_of_jobs",
            "Cleantech share of jobs and per 1,000 inhabitants",
            "fct_cleantech_region_year",
            [
                "region_name_en",
                "year",
                "cleantech_share_of_employment_pct",
                "cleantech_employed_per_1000_inhabitants",
                "employed",
                "total_employed_persons",
                "population",
            ],
            [("year", False), ("region_name_en", True)],
            "period_date",
            "cleantech_share_of_employment_pct: percent of all employed persons in the county; "
            "per 1,000 inhabitants: employed in cleantech per 1,000 of the population.",
        ),
        "data_vintage": table_chart(
            "data_vintage",
            "Data vintage (is_demo = true: synthetic demo figures, not SCB's)",
            "data_vintage",
            [
                "dataset",
                "is_demo",
                "source_table",
                "dataset_label",
                "source_updated",
                "last_loaded_at",
                "last_outcome",
            ],
            [("dataset", True)],
            None,
            "Which vintage of each source table the dashboard shows; is_demo marks the demo snapshot.",
        ),
    }


def select_filter(
    name: str, column: str, dataset: str, default: Any, charts_in_scope: list[str]
) -> dict[str, Any]:
    """A single-value select filter with a default (applied when the dashboard opens)."""
    return {
        "id": f"NATIVE_FILTER-{column}",
        "name": name,
        "filterType": "filter_select",
        "type": "NATIVE_FILTER",
        "targets": [{"column": {"name": column}, "datasetUuid": uid(f"dataset:{dataset}")}],
        "controlValues": {
            "defaultToFirstItem": False,
            "enableEmptyFilter": True,
            "inverseSelection": False,
            "multiSelect": False,
            "searchAllOptions": False,
            "sortAscending": True,
        },
        "defaultDataMask": {
            "extraFormData": {"filters": [{"col": column, "op": "IN", "val": [default]}]},
            "filterState": {"value": [default], "label": str(default)},
            "ownState": {},
        },
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
        "chartsInScope": charts_in_scope,
        "tabsInScope": [],
        "description": "",
    }


def dashboard_yaml(chart_defs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The dashboard: markdown note, two line charts, the growth table, shares, vintage."""
    rows: list[list[tuple[str, int, int]]] = [
        [("markdown", 12, 18)],
        [("data_vintage", 12, 30)],
        [("employment_by_county", 6, 60), ("export_by_county", 6, 60)],
        [("growth_between_two_years", 12, 70)],
        [("share_of_jobs", 12, 70)],
    ]
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": DASHBOARD_TITLE}},
    }
    for r, row in enumerate(rows):
        row_id = f"ROW-{r}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for key, width, height in row:
            if key == "markdown":
                item_id = "MARKDOWN-note"
                position[item_id] = {
                    "type": "MARKDOWN",
                    "id": item_id,
                    "children": [],
                    "parents": ["ROOT_ID", "GRID_ID", row_id],
                    "meta": {"width": width, "height": height, "code": MARKDOWN},
                }
            else:
                chart = chart_defs[key]
                item_id = f"CHART-{key}"
                position[item_id] = {
                    "type": "CHART",
                    "id": item_id,
                    "children": [],
                    "parents": ["ROOT_ID", "GRID_ID", row_id],
                    "meta": {
                        "width": width,
                        "height": height,
                        "chartId": 0,
                        "uuid": chart["uuid"],
                        "sliceName": chart["slice_name"],
                    },
                }
            position[row_id]["children"].append(item_id)
    growth = "cleantech_growth_named"
    fct = "fct_cleantech_region_year"
    native = [
        {
            "id": "NATIVE_FILTER-period",
            "name": "Statistical year (period_date)",
            "filterType": "filter_time",
            "type": "NATIVE_FILTER",
            "targets": [{}],
            "controlValues": {"enableEmptyFilter": False},
            "defaultDataMask": {
                "extraFormData": {"time_range": "No filter"},
                "filterState": {"value": "No filter"},
                "ownState": {},
            },
            "cascadeParentIds": [],
            "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
            "chartsInScope": [],
            "tabsInScope": [],
            "description": "Filters the charts on the fact table by period_date (1 January of "
            "the statistical year).",
        },
        select_filter("Growth: start year", "start_year", growth, 2010, []),
        select_filter("Growth: end year", "end_year", growth, 2012, []),
        select_filter("Growth: measure", "measure", growth, "export_msek", []),
        {
            **select_filter("County", "region_name_en", fct, None, []),
            "controlValues": {
                "defaultToFirstItem": False,
                "enableEmptyFilter": False,
                "inverseSelection": False,
                "multiSelect": True,
                "searchAllOptions": False,
            },
            "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
        },
    ]
    # the growth filters apply to the growth table only; the period filter to the fact charts
    for f in native:
        if f["id"].startswith("NATIVE_FILTER-") and f["id"][14:] in (
            "start_year",
            "end_year",
            "measure",
        ):
            f["scope"]["excluded"] = [
                "CHART-employment_by_county",
                "CHART-export_by_county",
                "CHART-share_of_jobs",
                "CHART-data_vintage",
            ]
    return {
        "dashboard_title": DASHBOARD_TITLE,
        "description": None,
        "css": "",
        "slug": "cleantech",
        "certified_by": "",
        "certification_details": "",
        "published": True,
        "uuid": uid("dashboard"),
        "position": position,
        "metadata": {
            "color_scheme": "supersetColors",
            "cross_filters_enabled": False,
            "refresh_frequency": 0,
            "expanded_slices": {},
            "label_colors": {},
            "shared_label_colors": [],
            "timed_refresh_immune_slices": [],
            "default_filters": "{}",
            "native_filter_configuration": native,
            "chart_configuration": {},
            "global_chart_configuration": {
                "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                "chartsInScope": [],
            },
        },
        "version": VERSION,
    }


MARKDOWN = """\
## Regional cleantech statistics (Sweden, counties)

From the published warehouse (`marts` schema, read-only). **Check the data vintage table below:
`is_demo = true` means synthetic demo figures, never to be quoted.** Time filters act on
`period_date`, 1 January of the statistical year. The growth table compares any two years: pick the
start year, end year and measure in the filter bar (default: export 2010 → 2012).
"""


def database_yaml() -> dict[str, Any]:
    """The warehouse connection: read-only through duckdb-engine, no DML, no uploads."""
    return {
        "database_name": DB_NAME,
        "sqlalchemy_uri": "duckdb:///WAREHOUSE",  # replaced by the warehouse path on import
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {
            "allows_virtual_table_explore": True,
            # read_only: DuckDB refuses writes to the file; enable_external_access off: SQL Lab
            # cannot read or write other files (COPY … TO, read_csv('/etc/…'), ATTACH);
            # lock_configuration: no SET can turn either back on
            "engine_params": {
                "connect_args": {
                    "read_only": True,
                    "config": {"enable_external_access": False, "lock_configuration": True},
                }
            },
            "metadata_params": {},
            "schemas_allowed_for_file_upload": [],
        },
        "impersonate_user": False,
        "uuid": DB_UUID,
        "version": VERSION,
    }


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), "utf-8")


def main(warehouse: Path) -> None:
    """Regenerate bi/superset/dashboard/ from the column types of `warehouse`."""
    if OUT.exists():
        shutil.rmtree(OUT)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        write(
            OUT / "metadata.yaml",
            {"version": VERSION, "type": "Dashboard", "timestamp": "2026-12-06T00:00:00+00:00"},
        )
        write(OUT / "databases" / "cleantech_warehouse.yaml", database_yaml())
        for name, spec in DATASETS.items():
            write(
                OUT / "datasets" / "cleantech_warehouse" / f"{name}.yaml",
                dataset_yaml(con, name, spec),
            )
    finally:
        con.close()
    chart_defs = charts()
    for stem, chart in chart_defs.items():
        write(OUT / "charts" / f"{stem}.yaml", chart)
    write(OUT / "dashboards" / "cleantech.yaml", dashboard_yaml(chart_defs))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
