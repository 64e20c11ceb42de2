"""GX plumbing: feed each suite's tables to Great Expectations as pandas batches and read back outcomes.

GX's SQL data source fails on DuckDB 2.0 (STACK_NOTES), so every table is read from a read-only
DuckDB connection into pandas and validated in one ephemeral GX context whose Data Docs site
writes under the gate's report directory. GX results become `ExpectationOutcome`s with a one-line
detail and an example of what failed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from expectations.derived import derived_batch, table_ref
from expectations.results import ExpectationOutcome
from ingest.sql import existing_tables

# Set before GX is imported: its loggers at WARNING (no per-import chatter), no usage analytics.
logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
logging.getLogger("great_expectations").setLevel(logging.WARNING)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.registry import get_expectation_impl  # noqa: E402

# One batch: (pandas frame, [(suite item, GX expectation type, kwargs)], index columns shown with failures).
Batch = tuple[pd.DataFrame, list[tuple[dict[str, Any], str, dict[str, Any]]], list[str]]


def validate_suites(
    con: duckdb.DuckDBPyConnection, suites: list[dict[str, Any]], report_dir: Path
) -> list[ExpectationOutcome]:
    """Validate every suite's batches in one ephemeral GX context; build Data Docs under `report_dir`."""
    context = new_context(report_dir)
    source = context.data_sources.add_pandas("warehouse")
    present = existing_tables(con)
    outcomes: list[ExpectationOutcome] = []
    for suite in suites:
        for batch_name, (df, items, idx) in suite_batches(con, suite, present).items():
            outcomes += validate(context, source, suite, batch_name, df, items, idx)
    context.build_data_docs(site_names=["quality"])
    return outcomes


def suite_batches(
    con: duckdb.DuckDBPyConnection, suite: dict[str, Any], present: set[str]
) -> dict[str, Batch]:
    """A suite's batches by name: its table with the plain expectations, and its derived checks.

    A missing table is one batch with a critical `table_exists` expectation that fails.
    """
    table = suite["table"]
    if table not in present:
        item = {"name": "table_exists", "severity": "critical",
                "description_extra": f"{table} is missing from the warehouse"}  # fmt: skip
        return {
            suite["suite"]: (
                pd.DataFrame(),
                [(item, "expect_table_row_count_to_be_between", {"min_value": 1})],
                [],
            )
        }
    frame = con.execute(f"select * from {table_ref(suite)}").df()  # noqa: S608
    index = [c for c in suite.get("key") or [] if c in frame.columns]
    main = [
        (dict(item), item["expectation"], dict(item.get("kwargs") or {}))
        for item in suite["expectations"]
        if item.get("expectation")
    ]
    batches: dict[str, Batch] = {suite["suite"]: (frame, main, index)}
    derived = derived_batch(con, suite, frame)
    if derived is not None:
        batches[f"{suite['suite']} (derived checks)"] = derived
    return batches


def new_context(report_dir: Path) -> Any:
    """An ephemeral GX context whose Data Docs site (validation pages only) writes under `report_dir`."""
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


def _expectation(type_: str, kwargs: dict[str, Any], item: dict[str, Any], suite: dict) -> Any:
    """The GX expectation for a suite item, its description starting `[severity] name`."""
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


def validate(context, source, suite, batch_name, df, items, idx) -> list[ExpectationOutcome]:  # noqa: ANN001
    """Validate one batch (a pandas frame) against its items and return one outcome per expectation."""
    if not items:
        return []
    asset = source.add_dataframe_asset(batch_name)
    batch_def = asset.add_batch_definition_whole_dataframe("all")
    gx_suite = context.suites.add(gx.ExpectationSuite(name=batch_name))
    for item, type_, kwargs in items:
        gx_suite.add_expectation(_expectation(type_, kwargs, item, suite))
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
