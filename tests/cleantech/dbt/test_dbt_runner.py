"""cleantech.core.dbt_runner on real DuckDB files: failures, revisions, docs, parse, answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from cleantech.core.dbt_runner import (
    DbtFailed,
    dbt_build,
    dbt_docs_generate,
    dbt_parse,
)
from cleantech.layout import dbt_artifacts_dir
from cleantech.outputs.answers import mart_answers

pytestmark = pytest.mark.slow


def copy_raw(raw_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(raw_db, path)
    return path


def test_missing_file_fails_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(DbtFailed) as info:
        dbt_build(tmp_path / "nope.duckdb")
    assert "does not exist" in str(info.value)
    assert "\n" not in str(info.value)


def test_failing_test_raises_dbt_failed_naming_the_node(raw_db: Path, tmp_path: Path) -> None:
    db = copy_raw(raw_db, tmp_path)
    with duckdb.connect(str(db)) as con:
        # The per-vintage metadata columns are generated (docs/ARCHITECTURE.md): copy the rest.
        con.execute(
            "insert into raw.egss_county by name select * exclude (_source_table, _loaded_at, "
            "_load_id) from raw.egss_county limit 1"
        )
    with pytest.raises(DbtFailed) as info:
        dbt_build(db, select="+stg_pxweb__egss_county_values", quiet=True)
    message = str(info.value)
    assert "\n" not in message
    assert "unique_combination_of_columns_stg_pxweb__egss_county_values" in message
    assert info.value.failed_nodes
    # dbt's connection is released: the file opens again at once
    duckdb.connect(str(db)).close()


def test_revised_values_stay_queryable_and_marts_show_the_latest(
    raw_db: Path, tmp_path: Path
) -> None:
    """A revision as the loader writes it (ARCHITECTURE.md): old cell to __revisions, new vintage."""
    db = copy_raw(raw_db, tmp_path)
    with duckdb.connect(str(db)) as con:
        old_updated, old_value = con.execute(
            "select _source_updated, value from raw.egss_county "
            "where \"Lan\" = '14' and \"ContentsCode\" = 'MI1301EX' and \"Tid\" = '2012'"
        ).fetchone()
        con.execute(
            "insert into raw.egss_county__revisions "
            '("Lan", "ContentsCode", "Tid", value, status, _source_updated, _replaced_at, '
            "_replaced_by_updated, _load_id) "
            'select "Lan", "ContentsCode", "Tid", value, status, _source_updated, now(), '
            "_source_updated + interval 30 day, 'revise-test' from raw.egss_county"
        )
        con.execute(
            "update raw.egss_county set _source_updated = _source_updated + interval 30 day, "
            "value = case when \"Lan\" = '14' and \"ContentsCode\" = 'MI1301EX' "
            "and \"Tid\" = '2012' then value + 100 else value end"
        )
    result = dbt_build(db, select="+egss_revisions +cleantech_growth dim_regions", quiet=True)
    assert result.failed == 0
    with duckdb.connect(str(db), read_only=True) as con:
        vintages = con.execute(
            "select is_current, value, vintage_updated, superseded_by_updated, change_to_current "
            "from marts.egss_revisions where region_code = '14' and year = 2012 "
            "and measure = 'export_msek' order by vintage_updated"
        ).fetchall()
        (latest,) = con.execute(
            "select export_msek from marts.fct_cleantech_region_year "
            "where region_code = '14' and year = 2012"
        ).fetchone()
    assert [v[0] for v in vintages] == [False, True]
    assert vintages[0][1] == old_value and vintages[0][2] == old_updated
    assert vintages[0][3] == vintages[1][2]  # valid until the next vintage starts
    assert vintages[0][4] == pytest.approx(100)
    assert latest == old_value + 100


def test_docs_generate_writes_a_catalog_with_the_marts(built_db: Path) -> None:
    target = dbt_docs_generate(built_db)
    assert target == dbt_artifacts_dir(built_db) / "target"
    assert (target / "index.html").exists() and (target / "static_index.html").exists()
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.cleantech.fct_cleantech_region_year" in catalog["nodes"]
    duckdb.connect(str(built_db), read_only=True).close()


def test_parse_writes_a_manifest_with_exposures_and_unit_tests(tmp_path: Path) -> None:
    manifest = json.loads(dbt_parse(tmp_path / "target").read_text())
    assert {"exposure.cleantech.cleantech_report", "exposure.cleantech.analyst_bi"} <= set(
        manifest["exposures"]
    )
    assert len(manifest["unit_tests"]) >= 4
    schemas = {
        node["schema"] for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    assert schemas == {"staging", "intermediate", "marts"}


def test_answers_print_the_analyst_questions(built_db: Path) -> None:
    lines = mart_answers(built_db)
    text = "\n".join(lines)
    assert lines[0].startswith("DEMO DATA")
    assert "+64.0 %" in text
    assert "2010: 12,342, 2011: 12,639, 2012: 13,191" in text
