"""Suites: the versioned YAML files under `suites/`, with `$placeholders` filled from the catalog.

Every suite names a table and a list of expectations, each with a severity (`critical` blocks
publishing, `warning` is reported and published). Values written `$name` come from the catalog
(region set, years, dimension ids, measure codes), so a suite follows the catalog; an undefined
one is a `SuiteError`. A catalog dataset without a raw suite file gets `suites/raw/_template.yml`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ingest.catalog import load_catalog
from ingest.sql import split_qualified

SUITES_DIR = Path(__file__).resolve().parent / "suites"
RAW_TEMPLATE = SUITES_DIR / "raw" / "_template.yml"
SEVERITIES = ("critical", "warning")


class SuiteError(ValueError):
    """A suite file is malformed or refers to something the catalog does not define."""


def _catalog_obj(catalog: Any) -> Any:
    """The catalog object: the repo's default, one read from a path, or the one given."""
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
