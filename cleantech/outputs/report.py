"""The analysts' HTML report: cleantech jobs, exports, growth, rankings and shares by county, with charts.

`build_report(db, out)` reads the marts of a warehouse file read-only and writes one self-contained
HTML file (plotly.js is embedded, nothing is fetched when the page is viewed). It runs on every
publish and from `make report`; `cleantech report [--db DB] [--out OUT]` runs it by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from cleantech.outputs import report_template as tpl
from ingest.sql import column_names
from ingest.tempfiles import make_temp

if TYPE_CHECKING:  # pandas (1.0 s to import, `python -X importtime`) only where a chart needs it
    import pandas as pd

TITLE = "Cleantech in Sweden's counties"
TOP_N_VISIBLE = (
    8  # lines drawn at first in the over-time charts; the rest are one legend click away
)

MEASURE_LABELS = {
    "employed": "Employed in cleantech (persons)",
    "export_msek": "Export (MSEK)",
    "net_turnover_msek": "Net turnover (MSEK)",
    "establishments": "Establishments",
}
SHARE = "cleantech_share_of_employment_pct"
PER_1000 = "cleantech_employed_per_1000_inhabitants"
# what the report shows of marts.data_vintage (or raw._datasets), in this order when present
VINTAGE_COLUMNS = (
    "dataset",
    "source_table",
    "dataset_label",
    "label",
    "source_updated",
    "updated",
    "last_loaded_at",
    "is_demo",
)
EMPLOYED_COLOR = "#0b7a53"
EXPORT_COLOR = "#1f5fa8"


@dataclass
class ReportData:
    """What the report shows, read from the marts."""

    facts: pd.DataFrame  # fct_cleantech_region_year joined with region names
    growth: pd.DataFrame  # cleantech_growth joined with region names
    vintage: pd.DataFrame  # one row per source dataset (marts.data_vintage or raw._datasets)
    is_demo: bool
    db_modified: datetime


def build_report(db: Path, out: Path) -> Path:
    """Read the marts of `db` read-only and write the self-contained HTML report to `out`."""
    db, out = Path(db), Path(out)
    data = load_report_data(db)
    html = render_report(data, source_name=db.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(out, html)
    return out


def _write_atomically(out: Path, text: str) -> None:
    """Write `text` to a uniquely named temporary file beside `out`, then rename it into place.

    A unique name (not a fixed `.report.html.tmp`) lets several writers run at once: each renames
    its own complete file, the last one wins, and a reader never sees a half-written report. The
    temporary files of killed writers are removed first (`ingest.tempfiles`).
    """
    fd, tmp = make_temp(out, ".tmp")  # also removes what a killed writer left
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the report is meant to be shared
        os.replace(tmp, out)
    except OSError as exc:  # e.g. a full disk: name the file being written, not the temp
        reason = exc.strerror or str(exc)
        raise OSError(exc.errno, f"cannot write the report: {reason}", str(out)) from exc
    finally:
        tmp.unlink(missing_ok=True)  # gone after a successful rename; removed after a failure


# --------------------------------------------------------------------------------------- reading


def _relation_columns(con: Any, schema: str, name: str) -> list[str]:
    return column_names(con, schema, name)


def load_report_data(db: Path) -> ReportData:
    """Query the marts (and the vintage) of the warehouse file `db`, opened read-only."""

    if not Path(db).exists():
        raise FileNotFoundError(
            f"warehouse file not found: {db} (run `make run` or the pipeline first)"
        )
    con = duckdb.connect(str(db), read_only=True)
    try:
        for table in ("dim_regions", "fct_cleantech_region_year", "cleantech_growth"):
            if not _relation_columns(con, "marts", table):
                raise RuntimeError(
                    f"{db}: marts.{table} is missing; build the marts with dbt first"
                )
        # short display names: "Västra Götaland" for "Västra Götaland County"
        facts = con.sql(
            "select f.*, coalesce(r.is_county, true) as is_county, "
            "coalesce(regexp_replace(r.region_name_en, ' County$', ''), f.region_code) as region "
            "from marts.fct_cleantech_region_year as f "
            "left join marts.dim_regions as r on f.region_code = r.region_code "
            "order by f.region_code, f.year"
        ).df()
        growth = con.sql(
            "select f.*, coalesce(r.is_county, true) as is_county, "
            "coalesce(regexp_replace(r.region_name_en, ' County$', ''), f.region_code) as region "
            "from marts.cleantech_growth as f "
            "left join marts.dim_regions as r on f.region_code = r.region_code "
            "where f.measure in ('employed', 'export_msek') "
            "order by f.region_code, f.measure, f.start_year, f.end_year"
        ).df()
        vintage, is_demo = _read_vintage(con)
    finally:
        con.close()
    if "is_demo" in facts.columns:
        is_demo = is_demo or bool(facts["is_demo"].fillna(False).any())
    modified = datetime.fromtimestamp(Path(db).stat().st_mtime, tz=UTC)
    return ReportData(
        facts=facts, growth=growth, vintage=vintage, is_demo=is_demo, db_modified=modified
    )


def _read_vintage(con: Any) -> tuple[pd.DataFrame, bool]:
    """The data's vintage: `marts.data_vintage` when the marts carry it, else `raw._datasets`."""
    import pandas as pd

    for schema, table in (("marts", "data_vintage"), ("raw", "_datasets")):
        cols = _relation_columns(con, schema, table)
        if cols:
            keep = [c for c in cols if c in VINTAGE_COLUMNS] or cols
            frame = con.table(f"{schema}.{table}").project(", ".join(f'"{c}"' for c in keep)).df()
            demo = "is_demo" in frame.columns and bool(frame["is_demo"].fillna(False).any())
            return frame, demo
    return pd.DataFrame(), False


# -------------------------------------------------------------------------------------- rendering


def render_report(data: ReportData, *, source_name: str = "cleantech.duckdb") -> str:
    """The report page as one HTML string (plotly.js inline)."""

    facts = data.facts
    counties = facts[facts["is_county"].fillna(False).astype(bool)].copy()
    if counties.empty:
        raise RuntimeError("marts.fct_cleantech_region_year has no county rows")
    colors = _county_colors(counties)

    latest = int(counties.loc[counties["employed"].notna(), "year"].max())
    first = int(counties.loc[counties["employed"].notna(), "year"].min())
    growth, g_start, g_end = _growth_window(data.growth)

    sections = [
        tpl.section(
            "over-time",
            f"Cleantech employment and export by county, {first}–{latest}",
            "Each line is a county. The eight largest in the latest year are drawn; click a "
            "county in the legend to add or remove it, double-click to show only that one. "
            "Gaps are years the source reports as missing.",
            tpl.chart("employment_over_time", _plot(_fig_over_time(counties, "employed", colors)))
            + tpl.chart("export_over_time", _plot(_fig_over_time(counties, "export_msek", colors))),
        ),
        tpl.section(
            "growth",
            f"Growth {g_start}→{g_end}",
            f"Percent change from {g_start} to {g_end} in cleantech export and employment, by "
            "county, sorted by export growth.",
            tpl.chart("growth", _plot(_fig_growth(growth, g_start, g_end)))
            + _growth_table(growth, g_start, g_end),
        ),
        tpl.section(
            "rankings",
            f"Rankings in {latest}",
            f"Counties ranked by cleantech employment and by export in {latest}, the latest year "
            "with data.",
            tpl.chart("rankings_latest", _plot(_fig_rankings(counties, latest)))
            + _ranking_table(counties, latest),
        ),
        tpl.section(
            "shares",
            "Share of employment and per 1,000 inhabitants",
            "Cleantech employment as a percent of all employed persons in the county (day "
            "population) and per 1,000 inhabitants, in the latest year each is available; the "
            "dashed line is Sweden as a whole. Below: how the share has moved over time.",
            tpl.chart("shares_latest", _plot(_fig_shares(counties)))
            + tpl.chart("share_over_time", _plot(_fig_share_over_time(counties, colors))),
        ),
    ]
    subtitle = (
        "Environmental goods and services sector (miljösektorn, EGSS): jobs, exports and their "
        f"weight in each county's economy. Data {first}–{latest}; report generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC from {source_name}."
    )
    return tpl.page(
        title=TITLE,
        subtitle=subtitle,
        plotlyjs=get_plotlyjs(),
        demo_note=tpl.demo_note(data.is_demo),
        vintage=_vintage_html(data),
        cards=_cards(facts, counties, growth, latest, g_start, g_end),
        sections=sections,
        footer=_footer(facts),
    )


def _plot(fig: Any) -> str:
    """One figure as a div + script; plotly.js itself is embedded once in the page head."""
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
            default_height=f"{fig.layout.height or 460}px",
        )
    )


def _layout(fig: Any, **kw: Any) -> Any:
    kw.setdefault("margin", {"l": 60, "r": 20, "t": 60, "b": 50})
    fig.update_layout(
        template="plotly_white",
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        hoverlabel={"namelength": -1},
        **kw,
    )
    return fig


def _county_colors(counties: pd.DataFrame) -> dict[str, str]:
    """One colour per county in every chart; the largest employers get the most distinct ones."""

    palette = list(qualitative.D3) + [c for c in qualitative.Dark24 if c not in qualitative.D3]
    have = counties[counties["employed"].notna()]
    last = have[have["year"] == have["year"].max()].sort_values("employed", ascending=False)
    codes = list(
        dict.fromkeys(last["region_code"].tolist() + sorted(counties["region_code"].unique()))
    )
    return {code: palette[i % len(palette)] for i, code in enumerate(codes)}


def _fig_over_time(counties: pd.DataFrame, measure: str, colors: dict[str, str]) -> Any:

    label = MEASURE_LABELS[measure]
    latest = counties[counties[measure].notna()]
    latest = latest[latest["year"] == latest["year"].max()]
    ranked = latest.sort_values(measure, ascending=False)["region_code"].tolist()
    visible = set(ranked[:TOP_N_VISIBLE])
    order = ranked + sorted(set(counties["region_code"]) - set(ranked))
    fig = go.Figure()
    unit = "MSEK" if measure.endswith("_msek") else "persons"
    for code in order:
        rows = counties[counties["region_code"] == code].sort_values("year")
        fig.add_trace(
            go.Scatter(
                x=rows["year"],
                y=rows[measure],
                name=str(rows["region"].iloc[0]),
                mode="lines+markers",
                marker={"size": 4},
                line={"color": colors[code], "width": 2},
                connectgaps=False,
                visible=True if code in visible else "legendonly",
                hovertemplate=f"%{{fullData.name}}<br>%{{x}}: %{{y:,.0f}} {unit}<extra></extra>",
            )
        )
    return _layout(
        fig,
        title={"text": label + " by county"},
        height=540,
        xaxis={"title": {"text": "Year"}, "dtick": 1 if counties["year"].nunique() <= 12 else 2},
        yaxis={"title": {"text": label}, "rangemode": "tozero", "separatethousands": True},
        legend={"title": {"text": "County (largest first)"}},
        hovermode="closest",
    )


def _growth_window(growth: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """The growth rows of one window: 2010→2012 when the mart has it, else its latest window."""
    windows = growth[["start_year", "end_year"]].drop_duplicates()
    if windows.empty:
        raise RuntimeError("marts.cleantech_growth is empty")
    pairs = {(int(s), int(e)) for s, e in windows.itertuples(index=False)}
    start, end = (2010, 2012) if (2010, 2012) in pairs else max(pairs, key=lambda p: (p[1], p[0]))
    rows = growth[(growth["start_year"] == start) & (growth["end_year"] == end)]
    return rows[rows["is_county"].fillna(False).astype(bool)].copy(), start, end


def _fig_growth(growth: pd.DataFrame, start: int, end: int) -> Any:

    wide = growth.pivot_table(
        index="region", columns="measure", values="pct_change", aggfunc="first"
    )
    sort_by = "export_msek" if "export_msek" in wide.columns else wide.columns[0]
    wide = wide.sort_values(sort_by, ascending=True)  # horizontal bars draw bottom-up
    fig = go.Figure()
    for measure, color in (("export_msek", EXPORT_COLOR), ("employed", EMPLOYED_COLOR)):
        if measure not in wide.columns:
            continue
        fig.add_trace(
            go.Bar(
                y=wide.index,
                x=wide[measure],
                orientation="h",
                name=MEASURE_LABELS[measure].split(" (")[0],
                marker_color=color,
                text=[f"{v:+.0f}%" if v == v else "n/a" for v in wide[measure]],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}: %{x:+.1f}%<extra>%{fullData.name}</extra>",
            )
        )
    return _layout(
        fig,
        title={"text": f"Change {start}→{end}, percent"},
        barmode="group",
        height=max(480, 34 * len(wide) + 120),
        xaxis={"title": {"text": "Percent change"}, "ticksuffix": "%", "zeroline": True},
        yaxis={"automargin": True},
        legend={"orientation": "h", "y": 1.06, "x": 0},
        margin={"l": 140, "r": 60, "t": 80, "b": 50},
    )


def _fig_rankings(counties: pd.DataFrame, year: int) -> Any:

    rows = counties[counties["year"] == year]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(f"Employed in cleantech, {year}", f"Export (MSEK), {year}"),
        horizontal_spacing=0.2,
    )
    for col, (measure, color, unit) in enumerate(
        (("employed", EMPLOYED_COLOR, "persons"), ("export_msek", EXPORT_COLOR, "MSEK")), start=1
    ):
        ranked = rows[rows[measure].notna()].sort_values(measure, ascending=True)
        fig.add_trace(
            go.Bar(
                y=ranked["region"],
                x=ranked[measure],
                orientation="h",
                marker_color=color,
                name=MEASURE_LABELS[measure],
                showlegend=False,
                hovertemplate=f"%{{y}}: %{{x:,.0f}} {unit}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    fig.update_xaxes(separatethousands=True)
    fig.update_yaxes(automargin=True)
    return _layout(
        fig, height=max(480, 24 * len(rows) + 120), margin={"l": 140, "r": 30, "t": 60, "b": 40}
    )


def _latest_with(frame: pd.DataFrame, column: str) -> int | None:
    have = frame.loc[frame[column].notna(), "year"]
    return int(have.max()) if not have.empty else None


def _fig_shares(counties: pd.DataFrame) -> Any:

    share_col, per1000_col = SHARE, PER_1000
    y_share, y_per = _latest_with(counties, share_col), _latest_with(counties, per1000_col)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"Share of all employment, % ({y_share})",
            f"Cleantech employed per 1,000 inhabitants ({y_per})",
        ),
        horizontal_spacing=0.2,
    )
    national = _sweden(counties)
    for col, (column, year, fmt, suffix) in enumerate(
        ((share_col, y_share, ".2f", "%"), (per1000_col, y_per, ".1f", "")), start=1
    ):
        if year is None:
            continue
        rows = counties[(counties["year"] == year) & counties[column].notna()]
        rows = rows.sort_values(column, ascending=True)
        fig.add_trace(
            go.Bar(
                y=rows["region"],
                x=rows[column],
                orientation="h",
                marker_color=EMPLOYED_COLOR if col == 1 else "#7b5ea7",
                showlegend=False,
                hovertemplate=f"%{{y}}: %{{x:{fmt}}}{suffix}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        sweden = national.loc[national.index == year, column].dropna()
        if not sweden.empty:
            fig.add_vline(
                x=float(sweden.iloc[0]),
                line_dash="dash",
                line_color="#52606d",
                annotation_text=f"Sweden {sweden.iloc[0]:{fmt}}{suffix}",
                annotation_position="bottom right",
                row=1,
                col=col,
            )
    fig.update_xaxes(ticksuffix="%", row=1, col=1)
    fig.update_yaxes(automargin=True)
    return _layout(
        fig,
        height=max(480, 24 * len(counties["region_code"].unique()) + 120),
        margin={"l": 140, "r": 30, "t": 70, "b": 40},
    )


def _fig_share_over_time(counties: pd.DataFrame, colors: dict[str, str]) -> Any:

    column = SHARE
    have = counties[counties[column].notna()]
    fig = go.Figure()
    if not have.empty:
        last = have[have["year"] == have["year"].max()].sort_values(column, ascending=False)
        visible = set(last["region_code"].tolist()[:TOP_N_VISIBLE])
        for code in last["region_code"].tolist():
            rows = have[have["region_code"] == code].sort_values("year")
            fig.add_trace(
                go.Scatter(
                    x=rows["year"],
                    y=rows[column],
                    name=str(rows["region"].iloc[0]),
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": colors[code], "width": 2},
                    visible=True if code in visible else "legendonly",
                    hovertemplate="%{fullData.name}<br>%{x}: %{y:.2f}%<extra></extra>",
                )
            )
    return _layout(
        fig,
        title={"text": "Cleantech share of all employment over time, %"},
        height=420,
        xaxis={"title": {"text": "Year"}, "dtick": 1},
        yaxis={"title": {"text": "Share of employment"}, "ticksuffix": "%", "rangemode": "tozero"},
        legend={"title": {"text": "County (highest first)"}},
    )


def _sweden(counties: pd.DataFrame) -> pd.DataFrame:
    """Sweden as a whole by year: sums over the counties, NULL unless every county has a value."""
    import pandas as pd

    def complete_sum(values: pd.Series) -> float | None:
        return float(values.sum()) if values.notna().all() else None

    sums = counties.groupby("year").agg(
        employed=("employed", complete_sum),
        total=("total_employed_persons", complete_sum),
        population=("population", complete_sum),
    )
    out = pd.DataFrame(index=sums.index)
    out[SHARE] = 100.0 * sums["employed"] / sums["total"]
    out[PER_1000] = 1000.0 * sums["employed"] / sums["population"]
    if "national_employed" in counties.columns:  # the source's national row where it has one
        out["employed"] = counties.groupby("year")["national_employed"].max()
    else:
        out["employed"] = sums["employed"]
    return out


# ----------------------------------------------------------------------------- tables, cards, text


def _fmt(value: Any, spec: str = ",.0f", suffix: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:{spec}}{suffix}"


def _growth_table(growth: pd.DataFrame, start: int, end: int) -> str:
    rows = []
    wide = growth.set_index(["region", "measure"])
    for region in sorted(growth["region"].unique()):
        cells = [str(region)]
        for measure in ("export_msek", "employed"):
            key = (region, measure)
            if key in wide.index:
                r = wide.loc[key]
                cells += [
                    _fmt(r["start_value"]),
                    _fmt(r["end_value"]),
                    _fmt(r["abs_change"], "+,.0f"),
                    _fmt(r["pct_change"], "+.1f", "%"),
                ]
            else:
                cells += ["–"] * 4
        rows.append(cells)
    headers = ["County"] + [
        f"{m} {h}" for m in ("Export", "Employed") for h in (str(start), str(end), "change", "%")
    ]
    return "<details><summary>Show the numbers</summary>" + tpl.table(headers, rows) + "</details>"


def _ranking_table(counties: pd.DataFrame, year: int) -> str:
    rows_df = counties[counties["year"] == year].sort_values("employed", ascending=False)
    share_col, per_col = SHARE, PER_1000
    rows = [
        [
            str(r["region"]),
            _fmt(r["employed"]),
            _fmt(r.get("employed_rank"), ".0f"),
            _fmt(r["export_msek"]),
            _fmt(r.get("export_rank"), ".0f"),
            _fmt(r[share_col], ".2f", "%"),
            _fmt(r[per_col], ".1f"),
        ]
        for _, r in rows_df.iterrows()
    ]
    headers = [
        "County",
        "Employed",
        "Rank",
        "Export (MSEK)",
        "Rank",
        "Share of employment",
        "Per 1,000 inhabitants",
    ]
    return "<details><summary>Show the numbers</summary>" + tpl.table(headers, rows) + "</details>"


def _cards(
    facts: pd.DataFrame,
    counties: pd.DataFrame,
    growth: pd.DataFrame,
    latest: int,
    start: int,
    end: int,
) -> str:
    now = counties[counties["year"] == latest]
    cards = []
    sweden = _sweden(counties)
    total = sweden["employed"].get(latest)
    cards.append(tpl.card(f"Employed in cleantech, Sweden {latest}", _fmt(total), "persons"))
    top = now.loc[now["employed"].idxmax()] if now["employed"].notna().any() else None
    if top is not None:
        cards.append(
            tpl.card(
                f"Largest cleantech employer {latest}",
                str(top["region"]),
                f"{_fmt(top['employed'])} persons",
            )
        )
    top_x = now.loc[now["export_msek"].idxmax()] if now["export_msek"].notna().any() else None
    if top_x is not None:
        cards.append(
            tpl.card(
                f"Largest cleantech exporter {latest}",
                str(top_x["region"]),
                f"{_fmt(top_x['export_msek'])} MSEK",
            )
        )
    exp = growth[(growth["measure"] == "export_msek") & growth["pct_change"].notna()]
    if not exp.empty:
        fast = exp.loc[exp["pct_change"].idxmax()]
        cards.append(
            tpl.card(
                f"Fastest export growth {start}→{end}",
                str(fast["region"]),
                f"{_fmt(fast['pct_change'], '+.1f', '%')} "
                f"({_fmt(fast['abs_change'], '+,.0f')} MSEK)",
            )
        )
    return '<div class="cards">' + "".join(cards) + "</div>"


def _vintage_html(data: ReportData) -> str:
    frame = data.vintage
    published = f"Warehouse file last written {data.db_modified:%Y-%m-%d %H:%M} UTC."
    if frame.empty:
        return f'<p class="vintage">Data vintage unknown. {escape(published)}</p>'
    headers = [str(c).replace("_", " ") for c in frame.columns]
    rows = [[_vintage_cell(v) for v in row] for row in frame.itertuples(index=False)]
    return tpl.vintage(headers, rows, published)


def _vintage_cell(value: Any) -> str:
    if value is None or value != value:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _footer(facts: pd.DataFrame) -> str:
    status_cols = [c for c in facts.columns if c.endswith("_status")]
    missing = int(facts[status_cols].notna().sum().sum()) if status_cols else 0
    notes = [
        "Sources: Statistics Sweden (SCB) — environmental accounts MI1301 (miljösektorn by county: "
        "establishments, employed, net turnover, export), RAMS/BAS employed persons by workplace "
        "county (TAB900) and population 31 December (TAB638).",
        "Export and turnover are in MSEK, current prices. Shares use the county's total employed "
        "persons (day population) as denominator; per 1,000 uses the population on 31 December.",
        f"Missing values are never shown as zero: {missing} cells carry a status symbol from the "
        "source ('..' not available, '.' not applicable, '-' nil) and appear as gaps.",
        "The same data is in the warehouse file (schema marts) and as Parquet files beside it; "
        "see docs/BI.md, docs/DATA_DICTIONARY.md and docs/EXAMPLES.md.",
    ]
    return "".join(f"<p>{escape(n)}</p>" for n in notes)
