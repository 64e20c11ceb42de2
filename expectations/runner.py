"""The quality gate: run the versioned Great Expectations suites on a warehouse file.

Every suite under `expectations/suites/` names a table and a list of expectations, each with a
severity (`critical` blocks publishing, `warning` is reported and published). Values written
`$name` are filled in from the catalog (region set, years, dimension ids, measure codes), so a suite
follows the catalog. Tables are read into pandas from a read-only DuckDB connection (GX's SQL data
source does not work with DuckDB 2.0, see STACK_NOTES). Checks that compare rows with each other
(completeness, county totals against the national row, year-on-year jumps, freshness, column
types) are computed as small derived tables and validated with standard expectations, so they land
in the same results and the same Data Docs. One GX context validates every suite, and Data Docs
(HTML) are rebuilt under `report_dir` on every run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import yaml

from ingest.catalog import load_catalog
from ingest.sql import column_types, existing_tables, qualified, split_qualified
from ingest.sql import quote_ident as _q

# Great Expectations (5.6 s) and pandas (1.0 s, `python -X importtime`, 2026-12) are imported where
# used: every `cleantech` command imports this module through the pipeline, and only the gate needs them.
if TYPE_CHECKING:
    import pandas as pd  # noqa: F401

SUITES_DIR = Path(__file__).resolve().parent / "suites"
RAW_TEMPLATE = SUITES_DIR / "raw" / "_template.yml"
SEVERITIES = ("critical", "warning")

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


class SuiteError(ValueError):
    """A suite file is malformed or refers to something the catalog does not define."""


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result: where, what, how severe, and an example of what failed."""

    suite: str
    name: str
    expectation_type: str
    table: str
    column: str | None
    severity: str
    success: bool
    detail: str
    example: str | None = None

    def line(self) -> str:
        """One terminal line naming the expectation, table, column and an example."""
        where = self.table + (f".{self.column}" if self.column else "")
        text = f"{self.severity.upper():8} {self.name} ({self.expectation_type}) on {where}: {self.detail}"
        return text + (f"; e.g. {self.example}" if self.example else "")


@dataclass
class GateResult:
    """The outcome of a gate run: passed means no critical expectation failed."""

    results: list[ExpectationOutcome]
    report_index: Path | None
    suites: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        """Failed expectations with severity `critical` (they block publishing)."""
        return [r for r in self.results if not r.success and r.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        """Failed expectations with severity `warning` (reported, published anyway)."""
        return [r for r in self.results if not r.success and r.severity == "warning"]

    @property
    def passed(self) -> bool:
        """True when no critical expectation failed."""
        return not self.critical_failures

    def summary_table(self) -> str:
        """A compact table: suite, expectations checked, critical failures, warnings."""
        rows = [("suite", "checked", "failed critical", "warnings")]
        for suite in self.suites:
            mine = [r for r in self.results if r.suite == suite]
            rows.append(
                (
                    suite,
                    str(len(mine)),
                    str(sum(1 for r in mine if not r.success and r.severity == "critical")),
                    str(sum(1 for r in mine if not r.success and r.severity == "warning")),
                )
            )
        rows.append(
            (
                "total",
                str(len(self.results)),
                str(len(self.critical_failures)),
                str(len(self.warnings)),
            )
        )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        fmt = lambda r: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        sep = "  ".join("-" * w for w in widths)
        return "\n".join([fmt(rows[0]), sep, *map(fmt, rows[1:-1]), sep, fmt(rows[-1])])

    def report(self) -> str:
        """The summary table, one line per failed expectation, and where the HTML report is."""
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"quality gate {verdict}: {len(self.critical_failures)} critical failure(s), "
            f"{len(self.warnings)} warning(s), {len(self.results)} expectations in {self.seconds:.1f} s",
            self.summary_table(),
        ]
        lines += [r.line() for r in self.critical_failures + self.warnings]
        if self.report_index:
            summary = self.report_index.with_name("summary.html")
            lines.append(f"quality report: {summary} (Data Docs: {self.report_index})")
        return "\n".join(lines)

    def one_line(self) -> str:
        """A one-line reason for a failed gate (the first critical failures, by name)."""
        names = [f"{r.suite}:{r.name}" for r in self.critical_failures]
        shown = ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")
        return f"quality gate failed: {len(names)} critical expectation(s) failed: {shown}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (written beside the HTML report as gate_result.json)."""
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "report_index": str(self.report_index) if self.report_index else None,
            "suites": self.suites,
            "results": [asdict(r) for r in self.results],
        }


# --------------------------------------------------------------------------------------------
# Suites: files, catalog placeholders


def _catalog_obj(catalog: Any) -> Any:

    if catalog is None:
        return load_catalog()
    if isinstance(catalog, str | Path):
        return load_catalog(catalog)
    return catalog


def _dataset_context(catalog: Any, dataset: str | None) -> dict[str, Any]:
    counties = [str(c) for c in (getattr(catalog, "counties", None) or ())]
    ctx: dict[str, Any] = {
        "counties": counties,
        "county_codes": [c for c in counties if c != "00"],
        "n_counties": len([c for c in counties if c != "00"]),
    }
    if not dataset:
        return ctx
    try:
        spec = catalog.datasets[dataset]
    except KeyError:
        raise SuiteError(f"suite refers to dataset {dataset!r}, which the catalog lacks") from None
    dims = list(spec.selection)
    ctx.update(
        dataset=dataset,
        table=f"raw.{dataset}",
        dims=dims,
        selection=dict(spec.selection),
        region_dim=spec.region_dimension,
        time_dim=spec.time_dimension,
        measure_dim=spec.measure_dimension,
        other_dims=[d for d in dims if d != spec.region_dimension],
        series_dims=[d for d in dims if d != spec.time_dimension],
        measure_codes=[m.code for m in spec.measures],
        raw_columns={
            **dict.fromkeys(dims, "VARCHAR"),
            "value": "DOUBLE",
            "status": "VARCHAR",
            "_source_table": "VARCHAR",
            "_source_updated": "TIMESTAMP WITH TIME ZONE",
            "_loaded_at": "TIMESTAMP WITH TIME ZONE",
            "_load_id": "VARCHAR",
        },
    )
    if spec.years:
        first, last = spec.years
        ctx.update(year_min=first, year_max=last, years=[str(y) for y in range(first, last + 1)],
                   n_years=last - first + 1,
                   n_county_years=(last - first + 1) * len([c for c in counties if c != "00"]))  # fmt: skip
    if spec.region_dimension and isinstance(spec.selection.get(spec.region_dimension), list):
        ctx["region_codes"] = list(spec.selection[spec.region_dimension])
    else:
        ctx["region_codes"] = counties
    return ctx


def _resolve(value: Any, ctx: dict[str, Any], where: str) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        key = value[1:]
        if key not in ctx or ctx[key] is None:
            raise SuiteError(f"{where}: {value} is not defined by the catalog for this suite")
        return ctx[key]
    if isinstance(value, list):
        return [_resolve(v, ctx, where) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, ctx, where) for k, v in value.items()}
    return value


def load_suites(catalog: Any = None, suites_dir: Path = SUITES_DIR) -> list[dict[str, Any]]:
    """Read every suite file, fill `$placeholders` from the catalog, and add template suites for
    catalog datasets that have no raw suite file of their own."""

    catalog = _catalog_obj(catalog)
    files = sorted(p for p in suites_dir.rglob("*.yml") if not p.name.startswith("_"))
    raw_bodies = [(p, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in files]
    covered = {
        b.get("dataset") for _, b in raw_bodies if str(b.get("table", "")).startswith("raw.")
    }
    template = RAW_TEMPLATE.read_text(encoding="utf-8") if RAW_TEMPLATE.exists() else None
    for name in catalog.datasets:
        if name not in covered and template:
            body = yaml.safe_load(template.replace("__DATASET__", name))
            raw_bodies.append((RAW_TEMPLATE, body))
    suites = []
    for path, body in raw_bodies:
        if not isinstance(body, dict) or "suite" not in body or "table" not in body:
            raise SuiteError(f"{path}: a suite needs 'suite', 'table' and 'expectations'")
        try:
            split_qualified(str(body["table"]))
        except ValueError as exc:
            raise SuiteError(f"{path}: 'table' must be schema.table: {exc}") from exc
        ctx = _dataset_context(catalog, body.get("dataset"))
        where = f"{path.name} ({body['suite']})"
        suite = {k: _resolve(v, ctx, where) for k, v in body.items() if k != "expectations"}
        suite["file"] = str(path)
        suite["expectations"] = []
        for item in body.get("expectations") or []:
            item = _resolve(item, ctx, f"{where} {item.get('name')}")
            if item.get("severity") not in SEVERITIES:
                raise SuiteError(
                    f"{where} {item.get('name')}: severity must be one of {SEVERITIES}"
                )
            if not item.get("name") or not (item.get("expectation") or item.get("check")):
                raise SuiteError(
                    f"{where}: every expectation needs a name and an expectation or check"
                )
            suite["expectations"].append(item)
        suites.append(suite)
    return suites


# --------------------------------------------------------------------------------------------
# Derived checks: each returns (frame, GX expectation type, kwargs, index columns, description)


def _table_ref(suite: dict[str, Any]) -> str:
    """The suite's `schema.table` (from YAML) as a quoted SQL reference."""
    return qualified(*split_qualified(str(suite["table"])))


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    schema, name = split_qualified(table)
    return column_types(con, schema, name)


def _check_schema(con, suite, item, frame):  # noqa: ANN001, ARG001
    import pandas as pd

    actual = _table_columns(con, suite["table"])
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


def _check_completeness(con, suite, item, frame):  # noqa: ANN001
    import pandas as pd

    sizes = _dim_sizes(con, suite, item, frame)
    expected = 1
    for n in sizes.values():
        expected *= n
    formula = " × ".join(f"{n} {d}" for d, n in sizes.items())
    df = pd.DataFrame([{"rows": len(frame), "expected_rows": expected, "formula": formula}])
    kwargs = {"column_A": "rows", "column_B": "expected_rows"}
    item.setdefault("description_extra", f"rows = {formula} = {expected}")
    return df, "expect_column_pair_values_to_be_equal", kwargs, ["formula"]


def _check_county_totals(con, suite, item, frame):  # noqa: ANN001, ARG001
    region, groups = item["region_dim"], list(item["group_dims"])
    national, counties = str(item.get("national_code", "00")), list(item["county_codes"])
    tol = float(item["tolerance"])
    t = _table_ref(suite)
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


def _check_yoy(con, suite, item, frame):  # noqa: ANN001, ARG001
    series, time_dim = list(item["series_dims"]), item["time_dim"]
    bound, min_base = float(item["max_abs_change"]), float(item.get("min_base", 0))
    t = _table_ref(suite)
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


def _check_freshness(con, suite, item, frame):  # noqa: ANN001, ARG001
    import pandas as pd

    max_age = float(os.environ.get("CLEANTECH_MAX_SOURCE_AGE_DAYS") or item["max_age_days"])
    column = item.get("column", "_source_updated")
    row = con.execute(f"select max({_q(column)}) from {_table_ref(suite)}").fetchone()  # noqa: S608
    updated = row[0] if row else None
    now = datetime.now(UTC)
    if updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    age = (now - updated).total_seconds() / 86400 if updated is not None else float("inf")
    df = pd.DataFrame([{"source_updated": str(updated), "age_days": round(age, 1)}])
    kwargs = {"column": "age_days", "min_value": None, "max_value": max_age}
    item.setdefault("description_extra", f"the source's `updated` is at most {max_age:g} days old")
    return df, "expect_column_values_to_be_between", kwargs, ["source_updated"]


_CHECKS = {
    "schema": _check_schema,
    "completeness": _check_completeness,
    "county_totals": _check_county_totals,
    "yoy_jump": _check_yoy,
    "freshness": _check_freshness,
}


# --------------------------------------------------------------------------------------------
# GX


def _import_gx() -> Any:
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def _context(gx: Any, report_dir: Path) -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={
            "quality": {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(report_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                # the suites are versioned YAML in the repo: render only the validation results
                "site_section_builders": {"expectations": "0", "profiling": "0"},
            }
        },
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _expectation(
    gx: Any, type_: str, kwargs: dict[str, Any], item: dict[str, Any], suite: dict
) -> Any:
    from great_expectations.expectations.registry import get_expectation_impl

    cls = get_expectation_impl(type_)
    text = f"[{item['severity']}] {item['name']}"
    if item.get("description") or item.get("description_extra"):
        text += ": " + "; ".join(
            s for s in (item.get("description"), item.get("description_extra")) if s
        )
    meta = {"severity": item["severity"], "check": item["name"], "suite": suite["suite"]}
    return cls(**kwargs, meta=meta, description=text[:1000])


def _result_column(kwargs: dict[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_list" in kwargs:
        return ",".join(map(str, kwargs["column_list"]))
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _fmt_value(v: Any) -> str:
    if isinstance(v, dict):
        shown = {
            k: x for k, x in v.items() if x is not None and not (isinstance(x, float) and x != x)
        }
        return "{" + ", ".join(f"{k}: {_fmt_value(x)}" for k, x in shown.items()) + "}"
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _exception(info: Any) -> tuple[bool, str]:
    """Whether GX raised while evaluating an expectation, and the first line of its message."""
    if not isinstance(info, dict) or not info:
        return False, ""
    entries = (
        [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    )
    for entry in entries:
        if entry.get("raised_exception") or entry.get("exception_message"):
            text = str(entry.get("exception_message") or "error").strip().splitlines()
            return True, (text[0] if text else "error")[:300]
    return False, ""


def _outcome(
    vr: Any, suite: dict, item: dict, type_: str, kwargs: dict, column: str | None
) -> ExpectationOutcome:
    res = vr.result or {}
    raised, message = _exception(vr.exception_info)
    example = None
    if raised:
        detail = f"could not be evaluated: {message}"
    elif "unexpected_count" not in res and res.get("missing_count") is not None:
        n = res["missing_count"]
        missing = res.get("partial_missing_list") or []
        detail = f"{n} expected value(s) missing" if n else "every expected value present"
        if missing:
            example = "missing " + ", ".join(map(_fmt_value, missing[:10]))
    elif "unexpected_count" in res and res.get("unexpected_count") is not None:
        n = res.get("unexpected_count") or 0
        total = (res.get("element_count") or 0) - (res.get("missing_count") or 0)
        detail = f"{n} of {total} rows unexpected" if n else f"{total} rows as expected"
        idx = res.get("unexpected_index_list") or []
        partial = res.get("partial_unexpected_list") or []
        if n and (idx or partial):
            example = _fmt_value(idx[0] if idx else partial[0])
    elif "observed_value" in res:
        observed = res["observed_value"]
        want = {
            k: v
            for k, v in kwargs.items()
            if k in ("value", "min_value", "max_value", "value_set", "column_set", "column_list")
        }
        detail = f"observed {_fmt_value(observed)[:300]}"
        if not vr.success and want:
            detail += f", expected {_fmt_value(want)[:300]}"
    else:
        detail = "passed" if vr.success else "failed"
    if item.get("description_extra") and not vr.success:
        detail += f" ({item['description_extra']})"
    return ExpectationOutcome(
        suite=suite["suite"],
        name=item["name"],
        expectation_type=type_,
        table=suite["table"],
        column=column,
        severity=item["severity"],
        success=bool(vr.success) and not raised,
        detail=detail,
        example=example,
    )


def _clear_report_dir(report_dir: Path) -> None:
    for name in ("index.html", "static", "expectations", "validations", "gate_result.json"):
        p = report_dir / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


def run_gate(
    db: Path, *, report_dir: Path, catalog: Any = None, suites_dir: Path = SUITES_DIR
) -> GateResult:
    """Validate every suite against `db` (opened read-only) and write Data Docs under `report_dir`."""
    start = time.monotonic()
    suites = load_suites(catalog, suites_dir)
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    _clear_report_dir(report_dir)
    gx = _import_gx()
    context = _context(gx, report_dir)
    source = context.data_sources.add_pandas("warehouse")
    outcomes: list[ExpectationOutcome] = []

    con = duckdb.connect(str(db), read_only=True)
    try:
        present = existing_tables(con)
        for suite in suites:
            table = suite["table"]
            # batches: name -> (frame, [(item, type, kwargs)], index columns)
            batches: dict[str, tuple[Any, list, list[str]]] = {}
            if table not in present:
                import pandas as pd

                item = {"name": "table_exists", "severity": "critical",
                        "description_extra": f"{table} is missing from the warehouse"}  # fmt: skip
                batches[suite["suite"]] = (
                    pd.DataFrame(),
                    [(item, "expect_table_row_count_to_be_between", {"min_value": 1})],
                    [],
                )
            else:
                frame = con.execute(f"select * from {_table_ref(suite)}").df()  # noqa: S608
                index = [c for c in suite.get("key") or [] if c in frame.columns]
                main: list = []
                batches[suite["suite"]] = (frame, main, index)
                derived = _derived_batch(con, suite, frame)
                if derived is not None:
                    batches[f"{suite['suite']} (derived checks)"] = derived
                for item in suite["expectations"]:
                    if item.get("expectation"):
                        main.append(
                            (dict(item), item["expectation"], dict(item.get("kwargs") or {}))
                        )
            for batch_name, (df, items, idx) in batches.items():
                outcomes += _validate(gx, context, source, suite, batch_name, df, items, idx)
    finally:
        con.close()

    context.build_data_docs(site_names=["quality"])
    index = report_dir / "index.html"
    result = GateResult(
        results=outcomes,
        report_index=index if index.exists() else None,
        suites=[s["suite"] for s in suites],
        seconds=time.monotonic() - start,
    )
    (report_dir / "gate_result.json").write_text(
        json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8"
    )
    (report_dir / "summary.html").write_text(_summary_html(result, db), encoding="utf-8")
    return result


def _summary_html(result: GateResult, db: Path) -> str:
    """A one-page, severity-aware verdict that links to the GX Data Docs (which only know pass/fail)."""

    verdict = "PASSED" if result.passed else "FAILED"
    colour = "#1a7f37" if result.passed else "#cf222e"
    rows = "".join(
        f"<tr><td>{escape(s)}</td><td>{sum(1 for r in result.results if r.suite == s)}</td>"
        f"<td>{sum(1 for r in result.critical_failures if r.suite == s)}</td>"
        f"<td>{sum(1 for r in result.warnings if r.suite == s)}</td></tr>"
        for s in result.suites
    )
    failures = "".join(
        f"<tr class='{r.severity}'><td>{r.severity}</td><td>{escape(r.suite)}</td><td>{escape(r.name)}</td>"
        f"<td>{escape(r.expectation_type)}</td><td>{escape(r.column or '')}</td>"
        f"<td>{escape(r.detail)}</td><td>{escape(r.example or '')}</td></tr>"
        for r in result.critical_failures + result.warnings
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Quality gate {verdict}</title><style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}} table{{border-collapse:collapse;margin:1rem 0}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}}
.critical td:first-child{{color:#cf222e;font-weight:bold}} .warning td:first-child{{color:#9a6700}}
</style></head><body>
<h1 style="color:{colour}">Quality gate {verdict}</h1>
<p>{escape(str(db))} — {stamp} — {len(result.results)} expectations,
{len(result.critical_failures)} critical failure(s) (block publishing), {len(result.warnings)} warning(s)
(published). Details per expectation: <a href="index.html">Great Expectations Data Docs</a>
(GX marks a validation "Failed" when any expectation failed, warnings included).</p>
<table><tr><th>suite</th><th>checked</th><th>failed critical</th><th>warnings</th></tr>{rows}</table>
<h2>Failures</h2>
<table><tr><th>severity</th><th>suite</th><th>expectation</th><th>type</th><th>column</th><th>detail</th><th>example</th></tr>
{failures or "<tr><td colspan=7>none</td></tr>"}</table></body></html>
"""


def _derived_batch(con, suite: dict, frame: Any) -> tuple[Any, list, list[str]] | None:  # noqa: ANN001
    """Run every derived check of a suite and stack their small tables into one batch.

    Each check's rows carry its name in the `check` column and fill only their own columns, so the
    other checks' expectations see NULL there (ignored), and one validation covers them all.
    """
    import pandas as pd

    frames, items, index = [], [], ["check"]
    for item in suite["expectations"]:
        if item.get("expectation"):
            continue
        item = dict(item)
        check = _CHECKS.get(item.get("check", ""))
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


def _validate(gx, context, source, suite, batch_name, df, items, idx) -> list[ExpectationOutcome]:  # noqa: ANN001
    if not items:
        return []
    asset = source.add_dataframe_asset(batch_name)
    batch_def = asset.add_batch_definition_whole_dataframe("all")
    gx_suite = context.suites.add(gx.ExpectationSuite(name=batch_name))
    for item, type_, kwargs in items:
        gx_suite.add_expectation(_expectation(gx, type_, kwargs, item, suite))
    vd = context.validation_definitions.add(
        gx.ValidationDefinition(name=batch_name, data=batch_def, suite=gx_suite)
    )
    result_format: dict[str, Any] = {"result_format": "COMPLETE"}
    if idx and len(df):
        result_format["unexpected_index_column_names"] = idx
    res = vd.run(batch_parameters={"dataframe": df}, result_format=result_format)
    by_name = {}
    for vr in res.results:
        by_name.setdefault(vr.expectation_config.meta.get("check"), []).append(vr)
    out = []
    for item, type_, kwargs in items:
        for vr in by_name.get(item["name"], []):
            out.append(_outcome(vr, suite, item, type_, kwargs, _result_column(kwargs)))
    return out
