"""The demo snapshot: calibration to published figures, demo labelling, determinism, size."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import numpy as np
import pytest

from pxweb_demo import series
from pxweb_demo.generate import generate
from tests.conftest import REPO_ROOT

# The committed snapshot (not CLEANTECH_DEMO_SNAPSHOT, which may point elsewhere).
COMMITTED = Path(generate.__code__.co_filename).parent / "snapshot"
# The published figures the demo is calibrated to, with their provenance.
REFERENCE = Path(series.__file__).parent / "reference"


def reference_rows(name: str) -> list[dict[str, str]]:
    """The rows of one reference CSV of the demo package."""
    with open(REFERENCE / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def published(metric: str, region: str) -> dict[str, int]:
    """Published figures of one metric and region, by the `year` text as given."""
    rows = reference_rows("published_figures_egss_and_exports.csv")
    return {
        r["year"]: int(r["value"])
        for r in rows
        if r["metric"] == metric and r["region_code"] == region
    }


def cube(v2: httpx.Client, table: str, **sel: str) -> tuple[np.ndarray, dict]:
    """The dataset and its values as a float array shaped by `size` (NaN = missing)."""
    params = {f"valueCodes[{k}]": v for k, v in sel.items()}
    ds = v2.get(f"/tables/{table}/data", params=params).json()
    values = np.array([np.nan if v is None else v for v in ds["value"]], dtype=float)
    return values.reshape(ds["size"]), ds


@pytest.fixture(scope="module")
def egss(v2: httpx.Client) -> np.ndarray:
    """TAB9001 [Lan, ContentsCode, Tid], in table order."""
    values, ds = cube(v2, "TAB9001", Lan="*", ContentsCode="*", Tid="*")
    assert ds["id"] == ["Lan", "ContentsCode", "Tid"]
    return values


def at(region: str, measure: str, year: int) -> tuple[int, int, int]:
    """Index into the egss cube."""
    measures = ["MI1301AS", "MI1301SY", "MI1301OM", "MI1301EX"]
    return [c for c, _ in series.REGIONS].index(region), measures.index(measure), year - 2003


def test_skane_employed_is_the_published_series(egss: np.ndarray) -> None:
    rows = reference_rows("skane_egss_employment_2003_2020.csv")
    by_sex: dict[str, dict[int, int]] = {}
    for r in rows:
        by_sex.setdefault(r["sex"], {})[int(r["year"])] = int(r["employed_in_environmental_sector"])
    total = by_sex["total"]
    assert sorted(total) == series.EGSS_YEARS
    assert all(total[y] == by_sex["women"][y] + by_sex["men"][y] for y in total)
    assert total == series.SKANE_EMPLOYED
    for year, value in total.items():
        assert egss[at("12", "MI1301SY", year)] == value
    skane = published("egss_employed", "12")
    assert skane == {"2010": total[2010], "2011": total[2011], "2012": total[2012]}
    assert egss[at("12", "MI1301SY", 2010)] == 12342
    assert egss[at("12", "MI1301SY", 2012)] == 13191


def test_vastra_gotaland_employed_2012_is_14000_and_highest(egss: np.ndarray) -> None:
    assert egss[at("14", "MI1301SY", 2012)] == 14_000
    counties = egss[1:, 1, 2012 - 2003]
    assert counties.max() == 14_000
    assert np.sum(counties == 14_000) == 1


def test_vastra_gotaland_export_grew_64_percent_as_much_as_stockholm_and_skane(
    egss: np.ndarray,
) -> None:
    def rise(r: str) -> float:
        return egss[at(r, "MI1301EX", 2012)] - egss[at(r, "MI1301EX", 2010)]

    growth = egss[at("14", "MI1301EX", 2012)] / egss[at("14", "MI1301EX", 2010)]
    assert growth == pytest.approx(1.64, rel=0.001)
    assert rise("14") == pytest.approx(rise("01") + rise("12"), rel=0.005)


def test_stockholm_establishments(egss: np.ndarray) -> None:
    assert egss[at("01", "MI1301AS", 2003)] == 1395
    assert egss[at("01", "MI1301AS", 2017)] == 1803
    assert published("egss_establishments", "01") == {"2003": 1395, "2017": 1803}


def test_vastra_gotaland_claims_are_the_published_ones() -> None:
    assert published("egss_employed_cleantech_claim", "14") == {"~2012-2014": 14_000}
    assert published("egss_export_growth_claim", "14") == {"2010-2012": 64}
    assert series.VG_EMPLOYED_2012 == 14_000 and series.VG_EXPORT_GROWTH == 1.64


def test_regions_are_scb_county_codes_and_names() -> None:
    rows = reference_rows("se_county_codes.csv")
    assert [(r["lan_code"], r["name_sv"]) for r in rows] == series.REGIONS
    # The dbt seed carries the same codes, Swedish names and NUTS codes.
    with open(REPO_ROOT / "dbt_project/seeds/regions.csv", encoding="utf-8", newline="") as f:
        seed = list(csv.DictReader(f))
    assert [
        (s["region_code"], s["region_name_sv"], s["nuts_code"], s["nuts2_code"]) for s in seed
    ] == [(r["lan_code"], r["name_sv"], r["nuts3"], r["nuts2"]) for r in rows]


def test_status_symbols_and_national_rule(v2: httpx.Client, egss: np.ndarray) -> None:
    _, ds = cube(v2, "TAB9001", Lan="00,09", ContentsCode="MI1301EX", Tid="range(2003,2007)")
    assert ds["value"][:4] == [None] * 4 and ds["value"][5:9] == [None] * 4
    assert ds["status"] == {"0": "..", "1": "..", "2": "..", "3": "..",
                            "5": "..", "6": "..", "7": "..", "8": "."}  # fmt: skip
    counties = egss[1:]
    complete = ~np.isnan(counties).any(axis=0)
    assert np.array_equal(egss[0][complete], counties.sum(axis=0)[complete])
    assert np.isnan(egss[0][~complete]).all()


def test_series_are_smooth(egss: np.ndarray) -> None:
    ratio = egss[:, :, 1:] / egss[:, :, :-1]
    vg_export = ratio[at("14", "MI1301EX", 2011)[:2]]
    assert np.nanmax(vg_export) < 1.30  # +64 % in two years needs ~28 % a year
    ratio[at("14", "MI1301EX", 0)[:2]] = 1.0
    assert np.nanmax(ratio) < 1.25
    assert np.nanmin(ratio) > 0.85


def test_employment_table_is_plausible(v2: httpx.Client) -> None:
    values, ds = cube(v2, "TAB900", Region="*", Kon="*", ContentsCode="*", Tid="2012")
    totals = dict(zip(ds["dimension"]["Region"]["category"]["index"], values.sum(axis=(1, 2, 3)),
                      strict=True))  # fmt: skip
    assert 1.1e6 < totals["01"] < 1.35e6
    assert 0.75e6 < totals["14"] < 0.9e6
    assert 0.55e6 < totals["12"] < 0.7e6
    assert 25_000 < totals["09"] < 32_000
    assert 4.5e6 < totals["00"] < 5.1e6
    assert totals["00"] == sum(v for k, v in totals.items() if k != "00")
    full, _ = cube(v2, "TAB900", Region="*", SNI2007="*", Kon="*", ContentsCode="*", Tid="*")
    assert np.array_equal(full[0], full[1:].sum(axis=0))
    assert 0.01 < 13191 / totals["12"] < 0.05  # cleantech: a few per cent of jobs


def test_population_table_is_plausible(v2: httpx.Client) -> None:
    values, ds = cube(v2, "TAB638", Region="*", ContentsCode="BE0101N1", Tid="2000,2020,2024")
    pop = {r: values[i, 0] for i, r in enumerate(ds["dimension"]["Region"]["category"]["index"])}
    assert 8.8e6 < pop["00"][0] < 9.0e6
    assert 10.4e6 < pop["00"][2] < 10.7e6
    assert 2.3e6 < pop["01"][1] < 2.5e6
    assert 1.6e6 < pop["14"][1] < 1.8e6
    assert 1.3e6 < pop["12"][1] < 1.45e6
    assert 55_000 < pop["09"][1] < 65_000
    full, _ = cube(v2, "TAB638", Region="*", Civilstand="*", Alder="*", Kon="*",
                   ContentsCode="*", Tid="*")  # fmt: skip
    assert np.array_equal(full[0], full[1:].sum(axis=0))  # Riket = sum of counties
    assert np.array_equal(full[:, :, 6], full[:, :, :6].sum(axis=2))  # tot = sum of bands
    stock, change = full[..., 0, :], full[..., 1, :]
    assert np.array_equal(change[..., 1:], np.diff(stock, axis=-1))


def test_every_table_says_demo(v2: httpx.Client) -> None:
    for t in v2.get("/tables").json()["tables"]:
        meta = v2.get(f"/tables/{t['id']}/metadata").json()
        for doc in (t, meta):
            assert doc["label"].startswith("DEMO:")
            assert "DEMO DATA" in doc["source"] and "not official SCB" in doc["source"]
        assert any("DEMO DATA" in n for n in meta["note"])
        assert meta["extension"]["demo"] is True
        assert t["updated"] == "2026-05-29T06:00:00Z"


def test_generator_is_deterministic_and_files_are_small(tmp_path: Path) -> None:
    generate(tmp_path)
    committed = sorted(p.relative_to(COMMITTED) for p in COMMITTED.rglob("*")
                       if p.is_file())  # fmt: skip
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert committed == fresh
    for rel in committed:
        data = (COMMITTED / rel).read_bytes()
        assert data == (tmp_path / rel).read_bytes(), f"{rel} differs: run cleantech demo-generate"
        assert len(data) < 2_000_000
    assert sum((COMMITTED / r).stat().st_size for r in committed) < 1_000_000
