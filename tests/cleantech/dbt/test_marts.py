"""Acceptance on the demo snapshot: the analysts' questions answered from the marts."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.slow

COUNTIES = {
    "01", "03", "04", "05", "06", "07", "08", "09", "10", "12", "13", "14",
    "17", "18", "19", "20", "21", "22", "23", "24", "25",
}  # fmt: skip


def growth(con: duckdb.DuckDBPyConnection, region: str, measure: str, start: int, end: int):
    return con.execute(
        "select start_value, end_value, abs_change, pct_change from marts.cleantech_growth "
        "where region_code = ? and measure = ? and start_year = ? and end_year = ?",
        [region, measure, start, end],
    ).fetchone()


def test_marts_are_in_schema_marts(marts: duckdb.DuckDBPyConnection) -> None:
    tables = {
        name
        for (name,) in marts.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    assert {
        "dim_regions",
        "fct_cleantech_region_year",
        "cleantech_growth",
        "egss_revisions",
        "data_vintage",
    } <= tables


def test_dim_regions_has_21_counties_and_the_country(marts: duckdb.DuckDBPyConnection) -> None:
    rows = marts.execute(
        "select region_code, region_name_sv, region_name_en, nuts2_code, nuts3_code, is_county "
        "from marts.dim_regions"
    ).fetchall()
    assert len(rows) == 22
    assert {r[0] for r in rows if r[5]} == COUNTIES
    country = [r for r in rows if not r[5]]
    assert [r[0] for r in country] == ["00"]
    vg = next(r for r in rows if r[0] == "14")
    assert vg[1:5] == ("Västra Götalands län", "Västra Götaland County", "SE23", "SE232")


def test_vastra_gotaland_export_grew_64_percent_2010_2012(marts: duckdb.DuckDBPyConnection) -> None:
    start, end, abs_change, pct_change = growth(marts, "14", "export_msek", 2010, 2012)
    assert pct_change == pytest.approx(64.0, abs=0.5)
    assert abs_change == pytest.approx(end - start)


def test_vastra_gotaland_export_growth_equals_stockholm_plus_skane(
    marts: duckdb.DuckDBPyConnection,
) -> None:
    vg = growth(marts, "14", "export_msek", 2010, 2012)[2]
    sthlm = growth(marts, "01", "export_msek", 2010, 2012)[2]
    skane = growth(marts, "12", "export_msek", 2010, 2012)[2]
    assert vg == pytest.approx(sthlm + skane, rel=0.01)


def test_others_combined_is_the_sum_of_the_other_counties(
    marts: duckdb.DuckDBPyConnection,
) -> None:
    others_abs, others_start = marts.execute(
        "select others_abs_change, others_start_value from marts.cleantech_growth "
        "where region_code = '14' and measure = 'export_msek' and start_year = 2010 "
        "and end_year = 2012"
    ).fetchone()
    total_abs, total_start = marts.execute(
        "select sum(abs_change), sum(start_value) from marts.cleantech_growth "
        "where region_code <> '14' and measure = 'export_msek' and start_year = 2010 "
        "and end_year = 2012"
    ).fetchone()
    assert others_abs == pytest.approx(total_abs)
    assert others_start == pytest.approx(total_start)


def test_no_county_employs_more_in_cleantech_than_vastra_gotaland_in_2012(
    marts: duckdb.DuckDBPyConnection,
) -> None:
    rows = marts.execute(
        "select region_code, employed, employed_rank from marts.fct_cleantech_region_year "
        "where year = 2012 order by employed desc"
    ).fetchall()
    assert len(rows) == 21
    top = rows[0]
    assert top[0] == "14"
    assert top[2] == 1
    assert top[1] == pytest.approx(14_000, rel=0.05)
    assert all(employed <= top[1] for _, employed, _ in rows)


def test_skane_employed_in_cleantech_2010_2012(marts: duckdb.DuckDBPyConnection) -> None:
    rows = marts.execute(
        "select year, employed from marts.fct_cleantech_region_year "
        "where region_code = '12' and year between 2010 and 2012 order by year"
    ).fetchall()
    assert rows == [(2010, 12_342.0), (2011, 12_639.0), (2012, 13_191.0)]


def test_fact_is_one_row_per_county_and_egss_year(marts: duckdb.DuckDBPyConnection) -> None:
    n_rows, n_keys, n_regions, n_years = marts.execute(
        "select count(*), count(distinct (region_code, year)), count(distinct region_code), "
        "count(distinct year) from marts.fct_cleantech_region_year"
    ).fetchone()
    assert n_rows == n_keys == n_regions * n_years
    assert n_regions == 21
    (n_egss_years,) = marts.execute('select count(distinct "Tid") from raw.egss_county').fetchone()
    assert n_years == n_egss_years


def test_missing_source_values_stay_null_with_status_never_zero(
    marts: duckdb.DuckDBPyConnection,
) -> None:
    missing = marts.execute(
        'select "Lan", "Tid"::integer, status from raw.egss_county '
        "where \"ContentsCode\" = 'MI1301EX' and value is null and \"Lan\" <> '00'"
    ).fetchall()
    assert missing, "the demo snapshot should have at least one missing export value"
    for region, year, status in missing:
        export, export_status, rank, yoy = marts.execute(
            "select export_msek, export_msek_status, export_rank, export_msek_yoy_pct "
            "from marts.fct_cleantech_region_year where region_code = ? and year = ?",
            [region, year],
        ).fetchone()
        assert export is None and rank is None and yoy is None
        assert export_status == status
        # every growth pair touching the missing year is NULL, not 0
        changes = marts.execute(
            "select abs_change, pct_change from marts.cleantech_growth "
            "where region_code = ? and measure = 'export_msek' and ? in (start_year, end_year)",
            [region, year],
        ).fetchall()
        assert changes and all(a is None and p is None for a, p in changes)


def test_ratios_are_null_where_a_denominator_is_missing(marts: duckdb.DuckDBPyConnection) -> None:
    # the employment table covers fewer years than EGSS: the share is NULL there, never 0
    bad = marts.execute(
        "select count(*) from marts.fct_cleantech_region_year "
        "where (total_employed_persons is null and cleantech_share_of_employment_pct is not null) "
        "or (population is null and cleantech_employed_per_1000_inhabitants is not null) "
        "or cleantech_share_of_employment_pct = 0 and employed > 0"
    ).fetchone()[0]
    assert bad == 0
    n_null_share, n_with_share = marts.execute(
        "select count(*) filter (where cleantech_share_of_employment_pct is null), "
        "count(cleantech_share_of_employment_pct) from marts.fct_cleantech_region_year"
    ).fetchone()
    assert n_null_share > 0 and n_with_share > 0


def test_shares_and_per_1000_are_consistent(marts: duckdb.DuckDBPyConnection) -> None:
    row = marts.execute(
        "select employed, total_employed_persons, population, cleantech_share_of_employment_pct, "
        "cleantech_employed_per_1000_inhabitants, export_share_of_national_pct, export_msek, "
        "national_export_msek from marts.fct_cleantech_region_year "
        "where region_code = '14' and year = 2012"
    ).fetchone()
    employed, total, population, share, per_1000, export_share, export, national = row
    assert share == pytest.approx(100 * employed / total)
    assert per_1000 == pytest.approx(1000 * employed / population)
    assert export_share == pytest.approx(100 * export / national)


def test_growth_covers_every_pair_of_years_once(marts: duckdb.DuckDBPyConnection) -> None:
    n_years = marts.execute(
        "select count(distinct year) from marts.fct_cleantech_region_year"
    ).fetchone()[0]
    n_measures, n_rows = marts.execute(
        "select count(distinct measure), count(*) from marts.cleantech_growth"
    ).fetchone()
    assert n_rows == 21 * n_measures * n_years * (n_years - 1) // 2


def test_demo_flag_and_vintage_are_visible(marts: duckdb.DuckDBPyConnection) -> None:
    rows = marts.execute(
        "select dataset, is_demo, source_updated from marts.data_vintage order by dataset"
    ).fetchall()
    assert [r[0] for r in rows] == [
        "egss_county",
        "employment_county_industry",
        "population_county",
    ]
    assert all(is_demo and updated is not None for _, is_demo, updated in rows)
    for table in ("fct_cleantech_region_year", "cleantech_growth", "egss_revisions"):
        # every mart with figures says whether they are demo data (also written into the Parquet)
        sql = f"select bool_and(is_demo) from marts.{table}"  # noqa: S608 - fixed names
        assert marts.execute(sql).fetchone()[0], table


def test_revision_history_has_the_current_vintage(marts: duckdb.DuckDBPyConnection) -> None:
    n_current, n_raw = marts.execute(
        "select (select count(*) from marts.egss_revisions where is_current), "
        "(select count(*) from raw.egss_county)"
    ).fetchone()
    assert n_current == n_raw
