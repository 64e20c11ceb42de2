"""The pipeline checks its inputs before it takes the lock, and ingests through one client."""

from __future__ import annotations

from pathlib import Path

import pytest

from cleantech.core.pipeline import PipelineFailed, run_pipeline
from pxweb_demo.server import start_server


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"source": "nope"}, "unknown source 'nope' (catalog has: demo, "),
        ({"datasets": ["ghost"]}, "unknown dataset 'ghost' (catalog has: "),
    ],
)
def test_bad_input_fails_before_the_lock_without_logging_a_run(
    kwargs: dict, expected: str, tmp_path: Path
) -> None:
    published = tmp_path / "warehouse" / "cleantech.duckdb"
    with pytest.raises(PipelineFailed) as info:
        run_pipeline(published=published, echo=lambda _: None, **kwargs)
    assert info.value.stage == "config"
    assert str(info.value).startswith(expected) and "\n" not in str(info.value)
    assert not published.parent.exists()  # no lock file, no run log, no staging copy


def test_progress_goes_to_stdout_and_all_datasets_share_one_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_server(port=0)
    try:

        def stop(_: Path) -> None:
            raise RuntimeError("stop after ingest")

        published = tmp_path / "warehouse" / "cleantech.duckdb"
        with pytest.raises(PipelineFailed, match="stop after ingest"):
            run_pipeline(published=published, base_url=server.base_url_v2, after_ingest=stop)
        log = server.request_log
    finally:
        server.stop()
    out, err = capsys.readouterr()
    assert "] ingest (demo) → " in out and err == "", err
    configs = [r for r in log if r["path"].rstrip("/").endswith("/config")]
    assert len(configs) == 1, [r["path"] for r in log]
