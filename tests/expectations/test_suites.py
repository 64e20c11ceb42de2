"""Suites: the repo's suite files load, follow the catalog, and malformed ones fail with a
`SuiteError` naming the problem. Fast: YAML and the catalog only, no GX."""

from __future__ import annotations

from pathlib import Path

import pytest

from expectations.suites import SuiteError, load_suites
from ingest.catalog import load_catalog


def test_every_catalog_dataset_and_mart_has_a_suite() -> None:
    suites = {s["suite"] for s in load_suites()}
    for name in load_catalog().datasets:
        assert f"raw.{name}" in suites
    assert {
        "marts.dim_regions",
        "marts.fct_cleantech_region_year",
        "marts.cleantech_growth",
    } <= suites
    for suite in load_suites():
        assert all(e["severity"] in ("critical", "warning") for e in suite["expectations"])


def test_suites_take_the_region_set_and_years_from_the_catalog() -> None:
    egss = next(s for s in load_suites() if s["suite"] == "raw.egss_county")
    by_name = {e["name"]: e for e in egss["expectations"]}
    assert by_name["region_codes_known"]["kwargs"]["value_set"][:2] == ["00", "01"]
    assert by_name["years_present"]["kwargs"]["value_set"][0] == "2003"
    assert by_name["years_present"]["kwargs"]["value_set"][-1] == "2020"


def test_an_undefined_placeholder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.yml").write_text(
        "suite: raw.x\ntable: raw.x\nexpectations:\n  - name: a\n    severity: critical\n"
        "    expectation: expect_column_values_to_be_in_set\n    kwargs: {column: $nope}\n"
    )
    with pytest.raises(SuiteError, match=r"\$nope"):
        load_suites(suites_dir=tmp_path)


def test_a_suite_table_must_be_schema_qualified(tmp_path: Path) -> None:
    (tmp_path / "x.yml").write_text(
        "suite: x\ntable: nodot\nexpectations:\n  - name: a\n    severity: critical\n"
        "    expectation: expect_table_row_count_to_be_between\n    kwargs: {min_value: 1}\n"
    )
    with pytest.raises(SuiteError, match="schema.table"):
        load_suites(suites_dir=tmp_path)
