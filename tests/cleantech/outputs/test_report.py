"""The HTML report: self-contained, every chart drawn in headless Chromium, demo note visible."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

import duckdb
import pytest

import cleantech.outputs.report as report_mod
from cleantech.outputs.report import build_report, load_report_data, render_report
from tests.cleantech.outputs import browser

CHARTS = {
    "employment_over_time",
    "export_over_time",
    "growth",
    "rankings_latest",
    "shares_latest",
    "share_over_time",
}


@pytest.fixture(scope="module")
def report(marts_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(marts_db, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="module")
def drawn(report: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return browser.probe(report, tmp_path_factory.mktemp("probe"))


def test_report_is_one_self_contained_file(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "Plotly" in html and len(html) > 3_000_000, "plotly.js must be embedded, not linked"
    # nothing is loaded from elsewhere: no external scripts, stylesheets, frames or images
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert not re.search(r"<(img|iframe)[^>]+src=[\"']https?:", html)
    assert not list(report.parent.glob(".*.tmp")), "the temporary file was left behind"


def test_every_chart_draws_in_headless_chromium(drawn: dict) -> None:
    assert drawn["plotly_version"], "plotly.js did not load (it must be inline, no network)"
    assert not drawn["errors"], f"JavaScript errors: {drawn['errors']}"
    charts = {c["name"]: c for c in drawn["charts"]}
    assert set(charts) == CHARTS
    for name, chart in charts.items():
        assert chart["plotly"] and chart["main_svg"] >= 1, f"{name}: plotly drew no SVG"
        assert chart["visible"], f"{name}: chart has no size on the page"
        assert chart["traces"] >= 1 and chart["drawn_paths"] >= 1, (
            f"{name}: no trace drawn: {chart}"
        )
    # the over-time charts hold one trace per county (most behind a legend click)
    assert charts["employment_over_time"]["data_traces"] == 21
    assert charts["export_over_time"]["data_traces"] == 21


def test_demo_note_is_visible(drawn: dict) -> None:
    note = drawn["demo_note"]
    assert note is not None, "the demo snapshot must carry a visible note"
    assert note["visible"]
    assert "Demo data" in note["text"] and "not official statistics" in note["text"]


def test_report_states_vintage_and_answers(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert 'id="vintage"' in html and "Data vintage" in html
    for dataset in ("egss_county", "employment_county_industry", "population_county"):
        assert dataset in html
    assert "Growth 2010→2012" in html and "Rankings in" in html
    # the acceptance facts: Västra Götaland's export +64 % is the fastest growth 2010→2012
    cards = html[html.index('class="cards"') : html.index("</header>")]
    assert "Fastest export growth 2010→2012" in cards and "Västra Götaland" in cards
    assert "+64.0%" in cards


def test_report_reads_read_only_beside_other_readers(marts_db: Path, tmp_path: Path) -> None:
    before = hashlib.sha256(marts_db.read_bytes()).hexdigest()
    with duckdb.connect(str(marts_db), read_only=True) as reader:  # e.g. a BI tool holding the file
        build_report(marts_db, tmp_path / "out" / "report.html")
        assert reader.execute("select count(*) from marts.dim_regions").fetchone()[0] == 22
    assert hashlib.sha256(marts_db.read_bytes()).hexdigest() == before


def test_no_demo_note_for_real_data(marts_db: Path) -> None:
    data = load_report_data(marts_db)
    assert data.is_demo
    data.is_demo = False
    html = render_report(data)
    assert 'id="demo-note"' not in html


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="warehouse file not found"):
        build_report(tmp_path / "nope.duckdb", tmp_path / "report.html")


def test_concurrent_report_writes_all_succeed_and_file_is_whole(tmp_path: Path) -> None:
    """Writers at once on one report path: each writes its own temp file (a fixed
    `.report.html.tmp` made them write through each other and rename a vanished file)."""
    out = tmp_path / "report.html"
    bodies = [chr(ord("a") + i) * 2_000_000 for i in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(bodies))

    def work(body: str) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                report_mod._write_atomically(out, body)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert out.read_text(encoding="utf-8") in bodies  # one writer's complete file
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"], "temp files left"


def test_concurrent_build_report_all_succeed(marts_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            build_report(marts_db, out)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert out.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_failed_report_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(report_mod.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        report_mod._write_atomically(tmp_path / "report.html", "<html></html>")
    assert list(tmp_path.iterdir()) == []
