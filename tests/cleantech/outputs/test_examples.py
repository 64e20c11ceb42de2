"""The five worked example queries in examples/queries/ answer the analysts' questions."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cleantech.layout import REPO_ROOT

QUERIES = REPO_ROOT / "examples" / "queries"


def run(db: Path, name: str) -> list[dict]:
    sql = (QUERIES / name).read_text(encoding="utf-8")
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def test_there_are_five_documented_queries() -> None:
    names = sorted(p.name for p in QUERIES.glob("*.sql"))
    assert len(names) == 5
    examples = (REPO_ROOT / "docs" / "EXAMPLES.md").read_text(encoding="utf-8")
    for name in names:
        assert name in examples, f"{name} is not in docs/EXAMPLES.md"
        sql = (QUERIES / name).read_text(encoding="utf-8").strip()
        assert sql in examples, f"docs/EXAMPLES.md shows an outdated copy of {name}"


def test_q1_vastra_gotaland_export_growth_vs_stockholm_and_skane(marts_db: Path) -> None:
    (row,) = run(marts_db, "01_vg_export_growth_vs_stockholm_skane.sql")
    assert row["vg_change_pct"] == pytest.approx(64.0, abs=0.5)
    assert row["vg_change_msek"] == pytest.approx(row["stockholm_skane_change_msek"], abs=0.5)
    assert row["vg_minus_stockholm_skane_msek"] == pytest.approx(0, abs=0.5)


def test_q2_largest_cleantech_employer(marts_db: Path) -> None:
    rows = {r["year"]: r for r in run(marts_db, "02_largest_cleantech_employer_by_year.sql")}
    assert rows[2012]["region_code"] == "14"
    assert rows[2012]["employed"] == pytest.approx(14_000, rel=0.05)
    assert rows[2012]["lead_over_runner_up"] > 0
    assert list(rows) == sorted(rows), "one row per year, in order"


def test_q3_share_and_per_1000(marts_db: Path) -> None:
    rows = run(marts_db, "03_share_and_per_1000_latest.sql")
    assert len(rows) == 21 and len({r["year"] for r in rows}) == 1
    for r in rows:
        assert r["share_of_employment_pct"] == pytest.approx(
            100 * r["employed"] / r["total_employed_persons"], abs=0.006
        )
        assert r["employed_per_1000_inhabitants"] == pytest.approx(
            1000 * r["employed"] / r["population"], abs=0.06
        )
    shares = [r["share_of_employment_pct"] for r in rows]
    assert shares == sorted(shares, reverse=True) and rows[0]["share_rank"] == 1


def test_q4_share_movement(marts_db: Path) -> None:
    rows = {r["region_code"]: r for r in run(marts_db, "04_share_movement.sql")}
    assert len(rows) == 21
    skane = rows["12"]
    with duckdb.connect(str(marts_db), read_only=True) as con:
        first, last = con.execute(
            "select max(cleantech_share_of_employment_pct) filter (where year = ?), "
            "max(cleantech_share_of_employment_pct) filter (where year = ?) "
            "from marts.fct_cleantech_region_year where region_code = '12'",
            [skane["first_year"], skane["last_year"]],
        ).fetchone()
    assert skane["share_change_pp"] == pytest.approx(last - first, abs=0.006)


def test_q5_skane_employment_series(marts_db: Path) -> None:
    rows = run(marts_db, "05_county_employment_series.sql")
    assert [r["year"] for r in rows] == [2010, 2011, 2012]
    assert [r["employed"] for r in rows] == [12_342, 12_639, 13_191]
    assert rows[2]["employed_yoy_change"] == 13_191 - 12_639
