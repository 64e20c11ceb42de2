"""The Airflow ingest run as core steps (`Build.for_airflow_ingest`): prepare, then `ingest` once
per dataset (as its mapped tasks call it), against the local PxWeb server.

The run keeps each dataset's latest result: a dataset that fails for good leaves the run `failed`
at ingest even when another dataset reports after it; a retried dataset that then loads replaces its
failure, and the run finishes `staged` once every dataset has reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cleantech.core import steps
from cleantech.core.build import Build
from cleantech.core.runlog import read_run_log
from cleantech.layout import Layout

DATASETS = ["egss_county", "employment_county_industry", "population_county"]


def _last(published: Path, run_id: str) -> tuple[str, str, str | None]:
    rec = read_run_log(Layout(published).run_log)[run_id]
    return rec["event"], rec["run"]["outcome"], rec["run"]["failed_stage"]


def test_an_ingest_run_records_each_dataset_and_finishes_staged(
    tmp_path: Path, monkeypatch, demo_server
) -> None:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    monkeypatch.setenv("CLEANTECH_WAREHOUSE", str(published))
    monkeypatch.setenv("CLEANTECH_STAGING", str(tmp_path / "warehouse" / "staging" / "c.duckdb"))
    build = Build.for_airflow_ingest(run_id="manual__1", source="demo", datasets=DATASETS)
    build.base_url = demo_server.base_url_v2
    quiet = {"say": lambda _: None, "client_options": {"max_retries": 0}}

    assert steps.prepare(build)["build"] == str(build.file)
    assert build.file.exists()  # nothing published yet: an empty file the tasks check for
    assert _last(published, build.run_id) == ("step", "running", None)

    done = steps.ingest(build, datasets=["egss_county"], **quiet)
    assert done["datasets"] == {"egss_county": "loaded"}
    assert done["results"][0]["table"] and done["results"][0]["bytes"] > 0
    assert _last(published, build.run_id) == ("step", "running", None)

    # a dataset whose source is unreachable fails its task and the run, at ingest
    unreachable = Build.from_dict({**build.to_dict(), "base_url": "http://127.0.0.1:9/api/v2"})
    with pytest.raises(steps.PipelineFailed, match="ingest failed for 1 dataset"):
        steps.ingest(unreachable, datasets=["employment_county_industry"], **quiet)
    assert _last(published, build.run_id) == ("finished", "failed", "ingest")

    # another dataset reporting afterwards keeps the run failed (its task succeeds)
    steps.ingest(build, datasets=["population_county"], **quiet)
    assert _last(published, build.run_id) == ("finished", "failed", "ingest")

    # the retried dataset loads: every dataset has reported, the run is staged for the transform
    steps.ingest(build, datasets=["employment_county_industry"], **quiet)
    rec = read_run_log(Layout(published).run_log)[build.run_id]
    assert (rec["event"], rec["run"]["outcome"]) == ("finished", "staged")
    assert {r["dataset"]: r["outcome"] for r in rec["state"]["ingest"]} == dict.fromkeys(
        DATASETS, "loaded"
    )
    assert rec["run"]["datasets_loaded"] == 3 and rec["run"]["datasets_failed"] == 0

    # once a transform run has taken the file over, a late retry fails clearly
    build.file.unlink()
    with pytest.raises(steps.PipelineFailed, match="staging file .* is gone"):
        steps.ingest(build, datasets=["egss_county"], **quiet)
