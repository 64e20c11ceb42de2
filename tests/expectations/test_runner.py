"""The quality gate end to end on hand-made warehouses (real GX): good data passes, each kind of
bad data fails the expectation that names it, and the HTML report shows it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from expectations.runner import GateResult, run_gate
from tests.expectations.synth import build_warehouse

pytestmark = pytest.mark.slow

# (label, SQL that breaks a hand-made warehouse, suite, expectation that must name it)
DEFECTS = [
    ("negative export",
     "update raw.egss_county set value = -5 where Lan = '01' and ContentsCode = 'MI1301EX' and Tid = '2010'",
     "raw.egss_county", "value_non_negative"),
    ("unknown region",
     "update raw.egss_county set Lan = '99' where Lan = '03' and ContentsCode = 'MI1301AS' and Tid = '2010'",
     "raw.egss_county", "region_codes_known"),
    ("duplicated row",
     "insert into raw.population_county select * from raw.population_county where Region = '05' and Tid = '2001'",
     "raw.population_county", "natural_key_unique"),
    ("missing year",
     "delete from raw.employment_county_industry where Tid = '2012'",
     "raw.employment_county_industry", "years_present"),
    ("NULL value without status",
     "update raw.egss_county set value = null, status = null where Lan = '04' and ContentsCode = 'MI1301SY' and Tid = '2011'",
     "raw.egss_county", "value_null_only_with_status"),
    ("negative mart measure",
     "update marts.fct_cleantech_region_year set export_msek = -1 where region_code = '12' and year = 2012",
     "marts.fct_cleantech_region_year", "export_non_negative"),
]  # fmt: skip


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate")


@pytest.fixture(scope="module")
def good(synth_dir: Path) -> tuple[Path, GateResult]:
    db = build_warehouse(synth_dir / "good.duckdb")
    return db, run_gate(db, report_dir=synth_dir / "quality-good")


@pytest.fixture(scope="module")
def bad(synth_dir: Path, good: tuple[Path, GateResult]) -> GateResult:
    """Every defect at once, each in a different place (one GX run keeps the suite fast)."""
    db = synth_dir / "bad.duckdb"
    shutil.copyfile(good[0], db)
    with duckdb.connect(str(db)) as con:
        for _, sql, _, _ in DEFECTS:
            con.execute(sql)
        con.execute("drop table marts.cleantech_growth")
    return run_gate(db, report_dir=synth_dir / "quality-bad")


def test_good_data_passes_and_writes_data_docs(good: tuple[Path, GateResult]) -> None:
    _, result = good
    assert result.passed, result.report()
    assert not result.critical_failures
    assert result.report_index is not None and result.report_index.name == "index.html"
    assert result.report_index.exists()
    assert len(result.results) > 50
    assert {r.suite for r in result.results} >= {
        "raw.egss_county",
        "marts.fct_cleantech_region_year",
    }
    table = result.summary_table()
    assert "raw.population_county" in table and "failed critical" in table
    saved = json.loads((result.report_index.parent / "gate_result.json").read_text())
    assert saved["passed"] is True


def test_the_gate_reads_the_warehouse_read_only(good: tuple[Path, GateResult]) -> None:
    db, _ = good
    # a read-only reader may hold the file while the gate runs (both are read-only opens)
    with duckdb.connect(str(db), read_only=True) as reader:
        assert reader.execute("select count(*) from raw.egss_county").fetchone()[0] > 0


@pytest.mark.parametrize(("label", "sql", "suite", "name"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_each_defect_fails_the_named_expectation(
    bad: GateResult, label: str, sql: str, suite: str, name: str
) -> None:
    assert not bad.passed
    failed = {(r.suite, r.name) for r in bad.critical_failures}
    assert (suite, name) in failed, f"{label}: {sorted(failed)}"
    outcome = next(r for r in bad.critical_failures if (r.suite, r.name) == (suite, name))
    assert outcome.example or outcome.detail
    assert name in bad.report() and suite in bad.report()


def test_failures_show_in_the_html_report(bad: GateResult) -> None:
    assert bad.report_index is not None
    pages = "".join(p.read_text(encoding="utf-8") for p in bad.report_index.parent.rglob("*.html"))
    for _, _, _, name in DEFECTS:
        assert f"[critical] {name}" in pages
    assert "Failed" in pages
    summary = (bad.report_index.parent / "summary.html").read_text(encoding="utf-8")
    assert "Quality gate FAILED" in summary
    for _, _, _, name in DEFECTS:
        assert name in summary


def test_a_missing_table_is_a_critical_failure(bad: GateResult) -> None:
    growth = [(r.name, r.success) for r in bad.results if r.suite == "marts.cleantech_growth"]
    assert growth == [("table_exists", False)]
