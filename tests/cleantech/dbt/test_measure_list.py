"""One source for the measure list: `catalog.yml`. Every other copy must agree with it.

The EGSS measures are named in the catalog (source code → business name, unit, label), the dbt
seed `measure_codes.csv` (what staging decodes with), the intermediate pivot's column list, the
growth mart's `cleantech_growth_measures` var and the report's chart labels. Nothing generates
those copies, so this test fails the moment one of them drifts from the catalog.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml

from cleantech.outputs import report
from ingest.catalog import load_catalog

REPO = Path(__file__).resolve().parents[3]
DBT = REPO / "dbt_project"
EGSS = "egss_county"


def _catalog_rows() -> set[tuple[str, str, str, str, str]]:
    rows = set()
    for spec in load_catalog(REPO / "catalog.yml").datasets.values():
        for m in spec.measures:
            rows.add((spec.name, m.code, m.name, m.unit or "", m.label or ""))
    return rows


def _egss_measures() -> list[str]:
    spec = load_catalog(REPO / "catalog.yml").datasets[EGSS]
    return [m.name for m in spec.measures]


def test_the_seed_is_the_catalogs_measure_mapping():
    with (DBT / "seeds" / "measure_codes.csv").open(encoding="utf-8", newline="") as f:
        seed = {
            (r["dataset"], r["source_code"], r["measure"], r["unit"], r["label"])
            for r in csv.DictReader(f)
        }
    assert seed == _catalog_rows()


def test_the_pivot_has_one_column_pair_per_catalog_measure():
    sql = (DBT / "models" / "intermediate").rglob("int_egss_measures_pivoted.sql")
    text = next(sql).read_text(encoding="utf-8")
    listed = re.search(r"set measures = \[([^\]]*)\]", text)
    assert listed, "the pivot's measure list moved: update this test with it"
    assert re.findall(r"'([a-z0-9_]+)'", listed.group(1)) == _egss_measures()


def test_the_growth_mart_compares_every_catalog_measure():
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text(encoding="utf-8"))
    growth = project["vars"]["cleantech_growth_measures"]
    for name in _egss_measures():
        assert name in growth, f"{name} is in catalog.yml but not in cleantech_growth_measures"
        unit = next(
            m.unit
            for m in load_catalog(REPO / "catalog.yml").datasets[EGSS].measures
            if m.name == name
        )
        assert growth[name]["unit"] == unit and growth[name]["additive"] is True


def test_the_report_labels_every_catalog_measure_and_nothing_else():
    assert sorted(report.MEASURE_LABELS) == sorted(_egss_measures())
