"""Write–audit–publish through the real chain: local PxWeb server → ingest → dbt → GX → publish.

Bad data, injected the way a source would publish it (an edited copy of the demo snapshot with a
new `updated`), fails the gate with the expectation that names it; the published file stays
byte-identical and the quality report shows the failure. Good data publishes, and readers of the
old file are undisturbed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from cleantech.core.pipeline import PipelineFailed, read_run_log, run_pipeline
from cleantech.layout import Layout
from tests.cleantech.core import snapshot_edit as edit

pytestmark = pytest.mark.slow


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _quiet(_: str) -> None:
    pass


def test_good_data_publishes_with_a_run_record(good_published: Path) -> None:
    with duckdb.connect(str(good_published), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_cleantech_region_year").fetchone()[0] > 0
        runs = con.execute(
            "select outcome, critical_failures, seconds_total from ops.pipeline_runs"
        ).fetchall()
        assert [r[0] for r in runs] == ["published"] and runs[0][1] == 0
    assert not good_published.with_name("cleantech.duckdb.wal").exists()
    assert (good_published.parent / "quality" / "index.html").exists()
    log = read_run_log(Layout(good_published).run_log)
    assert [r["run"]["outcome"] for r in log.values()] == ["published"]


def _duplicate_population_row(staging: Path) -> None:
    # JSON-stat cannot carry a duplicated cell (the parser and loader refuse one): simulate a
    # loader defect in the staging build instead.
    with duckdb.connect(str(staging)) as con:
        # The per-vintage metadata columns are generated (docs/ARCHITECTURE.md): copy the rest.
        con.execute(
            "insert into raw.population_county by name select * exclude (_source_table, "
            "_loaded_at, _load_id) from raw.population_county where Region = '05' and Tid = '2001'"
        )


# (case, snapshot edit, after_ingest hook, suite, expectation)
CASES: list[tuple[str, Callable[[Path], None] | None, Callable[[Path], None] | None, str, str]] = [
    ("negative export",
     lambda s: edit.set_cell(s, "egss_county", {"Lan": "01", "ContentsCode": "MI1301EX", "Tid": "2010"}, -5.0),
     None, "raw.egss_county", "value_non_negative"),
    ("unknown region code",
     lambda s: edit.rename_code(s, "egss_county", "Lan", "25", "99"),
     None, "raw.egss_county", "region_codes_known"),
    ("duplicated row", None, _duplicate_population_row, "raw.population_county", "natural_key_unique"),
    ("missing year",
     lambda s: edit.drop_code(s, "employment_county_industry", "Tid", "2012"),
     None, "raw.employment_county_industry", "years_present"),
    ("NULL value without status",
     lambda s: edit.set_cell(s, "egss_county", {"Lan": "04", "ContentsCode": "MI1301SY", "Tid": "2011"}, None),
     None, "raw.egss_county", "value_null_only_with_status"),
]  # fmt: skip


@pytest.fixture
def bad_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    from pxweb_demo.server import start_server

    snapshot = edit.copy_snapshot(tmp_path / "snapshot")
    if request.param is not None:
        request.param(snapshot)
    server = start_server(snapshot, port=0)
    try:
        yield server.base_url_v2
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("bad_server", "after_ingest", "suite", "name"),
    [pytest.param(c[1], c[2], c[3], c[4], id=c[0]) for c in CASES],
    indirect=["bad_server"],
)
def test_bad_data_fails_the_gate_and_leaves_the_published_file_untouched(
    good_published: Path,
    bad_server: str,
    after_ingest,
    suite: str,
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    published.parent.mkdir()
    shutil.copyfile(good_published, published)
    before = sha(published)

    with pytest.raises(PipelineFailed) as info:
        run_pipeline(
            base_url=bad_server, published=published, echo=_quiet, after_ingest=after_ingest
        )

    failed = info.value.result.gate.critical_failures
    assert (suite, name) in {(r.suite, r.name) for r in failed}, [r.line() for r in failed]
    assert "\n" not in str(info.value) and "unchanged" in str(info.value)
    assert sha(published) == before, "a failed run must leave the published file byte-identical"
    assert not published.with_name(published.name + ".wal").exists()
    # the terminal shows the summary and the failing expectation
    out = capsys.readouterr().out
    assert "failed critical" in out and name in out
    # the HTML quality report shows it
    quality = published.parent / "quality"
    pages = "".join(p.read_text(encoding="utf-8") for p in quality.rglob("*.html"))
    assert f"[critical] {name}" in pages
    assert (quality / "index.html").exists()
    assert name in (quality / "summary.html").read_text(encoding="utf-8")
    # the run is recorded outside the published file (it stays byte-identical)
    runs = [json.loads(line) for line in Layout(published).run_log.read_text().splitlines()]
    last = runs[-1]
    assert last["event"] == "finished" and last["run"]["outcome"] == "failed"
    assert name in {q["name"] for q in last["quality"]}
