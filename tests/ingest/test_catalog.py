"""The source catalog: the repo's catalog.yml loads, bad files fail with one-line CatalogErrors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cleantech.layout import REPO_ROOT
from ingest.catalog import Catalog, CatalogError, load_catalog

GOOD = """
sources:
  demo: {base_url: "http://127.0.0.1:8123/api/v2/", api: v2, lang: sv, demo: true}
  old: {base_url: "https://api.scb.se/OV0104/v1/doris/sv/ssd", api: v1}
datasets:
  pop:
    table: TAB638
    selection: {Region: ["01", "03"], ContentsCode: BE0101N1, Tid: "*"}
    measures:
      BE0101N1: {name: population, unit: persons}
    years: [2000, 2024]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def one_line_error(path: Path) -> str:
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_repo_catalog_names_the_three_datasets() -> None:
    catalog = load_catalog(REPO_ROOT / "catalog.yml")
    assert set(catalog.datasets) == {
        "egss_county",
        "employment_county_industry",
        "population_county",
    }
    assert catalog.dataset("egss_county").table == "MI1301T04"
    assert catalog.dataset("population_county").selection["ContentsCode"] == ["BE0101N1"]
    assert catalog.dataset("employment_county_industry").selection["Region"][:2] == ["00", "01"]
    assert len(catalog.counties) == 22 and catalog.counties[0] == "00"  # codes stay strings
    assert catalog.source("demo").demo and catalog.source("scb").api == "v2"
    assert catalog.source("scb_v1").api == "v1"
    codes = {m.code: m.name for m in catalog.dataset("egss_county").measures}
    assert codes["MI1301EX"] == "export_msek"


def test_default_path_is_the_repo_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLEANTECH_CATALOG", raising=False)
    assert load_catalog().path == REPO_ROOT / "catalog.yml"


def test_catalog_env_var_picks_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEANTECH_CATALOG", str(write(tmp_path, GOOD)))
    assert list(load_catalog().datasets) == ["pop"]


def test_small_catalog_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PXWEB_BASE_URL", raising=False)
    catalog = load_catalog(write(tmp_path, GOOD))
    assert isinstance(catalog, Catalog)
    spec = catalog.dataset("pop")
    assert spec.selection == {"Region": ["01", "03"], "ContentsCode": "BE0101N1", "Tid": "*"}
    assert spec.years == (2000, 2024) and spec.measures[0].name == "population"
    assert catalog.source("demo").base_url == "http://127.0.0.1:8123/api/v2"  # slash stripped


def test_pxweb_base_url_overrides_every_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog(write(tmp_path, GOOD))
    monkeypatch.setenv("PXWEB_BASE_URL", "http://127.0.0.1:9999/api/v2/")
    for name in ("demo", "old"):
        assert catalog.source(name).base_url == "http://127.0.0.1:9999/api/v2"
    # Only the URL changes: api, language and the demo flag stay the source's own.
    assert catalog.source("old").api == "v1" and catalog.source("demo").demo
    assert catalog.source("demo").lang == "sv"
    monkeypatch.setenv("PXWEB_BASE_URL", "")
    assert catalog.source("old").base_url == "https://api.scb.se/OV0104/v1/doris/sv/ssd"


def test_unknown_dataset_and_source_list_the_known_ones(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, GOOD))
    with pytest.raises(CatalogError, match=r"unknown dataset 'nope' \(catalog has: pop\)"):
        catalog.dataset("nope")
    with pytest.raises(CatalogError, match=r"unknown source 'x' \(catalog has: demo, old\)"):
        catalog.source("x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: {demo: {base_url: x}\ndatasets: [\n", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a mapping with 'sources' and 'datasets'"),
        ("sources: {}\ndatasets: {}\n", "names no datasets"),
        ("datasets:\n  pop: {selection: {Tid: '*'}}\n", "dataset 'pop' needs a table id"),
        ("datasets:\n  pop: TAB638\n", "dataset 'pop' needs a table id"),
        ("datasets:\n  Bad-Name: {table: TAB1}\n", "dataset name 'Bad-Name' must be lowercase"),
        ("datasets:\n  x__revisions: {table: TAB1}\n", "not end in __revisions"),
        (
            "sources:\n  s: {base_url: 'http://x', api: v3}\ndatasets:\n  a: {table: T}\n",
            "source 's': api must be one of ('v1', 'v2'), not 'v3'",
        ),
        ("sources:\n  s: {api: v2}\ndatasets:\n  a: {table: T}\n", "source 's' needs a base_url"),
        ("sources: [a]\ndatasets:\n  a: {table: T}\n", "'sources' must be a mapping"),
        ("datasets: [a, b]\n", "'datasets' must be a mapping"),
        ("datasets:\n  a: {table: T, selection: [Tid]}\n", "selection must map variable codes"),
        ("datasets:\n  a: {table: T, selection: {Tid: {x: 1}}}\n", "selection for 'Tid' must"),
        ("datasets:\n  a: {table: T, years: 2020}\n", "years must be [first, last]"),
        ("datasets:\n  a: {table: T, years: [2020, 2000]}\n", "years must be [first, last]"),
        ("datasets:\n  a: {table: T, measures: {X: {unit: u}}}\n", "measure 'X' needs a name"),
        (
            "datasets:\n  a: {table: T, measures: {X: {name: x, label: Export, current prices}}}\n",
            "measure 'X' has unknown keys 'current prices' (allowed: label, name, unit; quote a label",
        ),
        ("counties: 5\ndatasets:\n  a: {table: T}\n", "'counties' must be a list"),
    ],
)
def test_bad_catalogs_fail_with_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in one_line_error(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    assert "catalog file not found" in one_line_error(tmp_path / "nope.yml")


def test_int_selection_codes_become_strings(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, "datasets:\n  a: {table: T, selection: {Tid: 2020}}\n"))
    assert catalog.dataset("a").selection == {"Tid": "2020"}
