"""docs/DATA_DICTIONARY.md covers every mart column with a meaning, a unit and a source."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from cleantech.layout import REPO_ROOT


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_data_dictionary", REPO_ROOT / "scripts" / "gen_data_dictionary.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _mart_columns(db: Path) -> dict[str, list[str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select table_name, column_name from duckdb_columns() "
            "where database_name = current_database() and schema_name = 'marts' "
            "order by table_name, column_index"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _rows(markdown: str, table: str) -> dict[str, list[str]]:
    """column → [type, meaning, unit, source] in the section of `marts.<table>`."""
    section = markdown.split(f"## marts.{table}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([^`]+)` \| (.*) \|$", line)
        if m:
            rows[m[1]] = [c.strip() for c in re.split(r"(?<!\\)\|", m[2])]
    return rows


def test_generated_dictionary_documents_every_mart_column(marts_db: Path) -> None:
    gen = _generator()
    text = gen.build(manifest=None, catalog=None, db=marts_db)  # model YAML + the built warehouse
    for table, columns in _mart_columns(marts_db).items():
        rows = _rows(text, table)
        assert list(rows) == columns, f"marts.{table}: columns differ"
        for column, (_type, meaning, unit, source) in rows.items():
            assert meaning and meaning != "(undocumented)", f"marts.{table}.{column}: no meaning"
            assert unit and source, f"marts.{table}.{column}: no unit or source"
    fct = _rows(text, "fct_cleantech_region_year")
    assert fct["export_msek"][2] == "MSEK, current prices"
    assert "MI1301T04" in fct["export_msek"][3]
    assert fct["cleantech_share_of_employment_pct"][2] == "percent"


@pytest.mark.slow
def test_dictionary_from_dbt_docs_matches_the_committed_one(marts_db: Path, tmp_path: Path) -> None:
    """`dbt docs generate` → manifest.json + catalog.json → the generator → docs/DATA_DICTIONARY.md."""
    from cleantech.core.dbt_runner import dbt_docs_generate

    db = tmp_path / "cleantech.duckdb"
    shutil.copyfile(marts_db, db)
    target = dbt_docs_generate(db)
    gen = _generator()
    text = gen.build(manifest=target / "manifest.json", catalog=target / "catalog.json", db=None)
    assert "from the dbt docs (manifest.json)" in text
    committed = (REPO_ROOT / "docs" / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert text == committed, (
        "docs/DATA_DICTIONARY.md is stale: run scripts/gen_data_dictionary.py --docs-from DB"
    )


def test_committed_dictionary_lists_every_mart_column(marts_db: Path) -> None:
    committed = (REPO_ROOT / "docs" / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    for table, columns in _mart_columns(marts_db).items():
        assert f"## marts.{table}\n" in committed, (
            f"marts.{table} missing: regenerate the dictionary"
        )
        rows = _rows(committed, table)
        missing = [c for c in columns if c not in rows]
        assert not missing, f"marts.{table}: {missing} missing: run scripts/gen_data_dictionary.py"
