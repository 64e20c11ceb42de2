"""The dashboard as code (bi/superset/dashboard/) matches its generator and the marts it charts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
BUNDLE = REPO_ROOT / "bi" / "superset" / "dashboard"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_bundle", REPO_ROOT / "bi" / "superset" / "generate_bundle.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_committed_bundle_is_what_the_generator_writes_for_the_marts(
    marts_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = _generator()
    monkeypatch.setattr(gen, "OUT", tmp_path / "dashboard")
    gen.main(marts_db)
    written = {
        p.relative_to(tmp_path / "dashboard"): p.read_text()
        for p in (tmp_path / "dashboard").rglob("*.yaml")
    }
    committed = {p.relative_to(BUNDLE): p.read_text() for p in BUNDLE.rglob("*.yaml")}
    assert sorted(written) == sorted(committed)
    stale = [str(k) for k in written if written[k] != committed[k]]
    assert not stale, (
        f"bi/superset/dashboard is stale ({stale}): run bi/superset/generate_bundle.py"
    )


def test_charts_use_columns_their_datasets_have() -> None:
    datasets = {}
    for path in (BUNDLE / "datasets").rglob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        datasets[data["uuid"]] = data
    dashboard = yaml.safe_load((BUNDLE / "dashboards" / "cleantech.yaml").read_text())
    chart_uuids = {
        item["meta"]["uuid"]
        for item in dashboard["position"].values()
        if isinstance(item, dict) and item.get("type") == "CHART"
    }
    charts = [yaml.safe_load(p.read_text()) for p in (BUNDLE / "charts").glob("*.yaml")]
    assert {c["uuid"] for c in charts} == chart_uuids and len(charts) == 5
    for chart in charts:
        dataset = datasets[chart["dataset_uuid"]]
        columns = {c["column_name"] for c in dataset["columns"]}
        params = chart["params"]
        used = set(params.get("all_columns", [])) | set(params.get("groupby", []))
        used |= {m["column"]["column_name"] for m in params.get("metrics", [])}
        used |= {params["x_axis"]} if "x_axis" in params else set()
        assert used <= columns, (chart["slice_name"], used - columns)
        assert json.loads(chart["query_context"])["form_data"]["viz_type"] == chart["viz_type"]
    # time columns are the DATE period columns
    by_name = {d["table_name"]: d for d in datasets.values()}
    assert by_name["fct_cleantech_region_year"]["main_dttm_col"] == "period_date"
    assert by_name["cleantech_growth_named"]["main_dttm_col"] == "end_period_date"
    database = yaml.safe_load((BUNDLE / "databases" / "cleantech_warehouse.yaml").read_text())
    assert database["sqlalchemy_uri"] == "duckdb:///WAREHOUSE"
    assert database["extra"]["engine_params"]["connect_args"]["read_only"] is True
    assert database["allow_dml"] is False
