"""`cleantech fetch` against a server that misbehaves on purpose, with DEFAULT settings.

For each misbehaviour the command must exit non-zero with one line on stderr, within 3 minutes
and under 1 GB peak memory (the subprocess's own peak RSS, from wait4), and the target DuckDB
file must hold the same data as before (the load log gains one 'failed' row: that is the record
of the failure, by design). Set CLEANTECH_HOSTILE_FIGURES=path to append each case's time and
peak memory as JSON lines (docs/BENCHMARKS.md quotes them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.ingest.pxweb.hostile_server import TABLE, HostileServer, hostile_server

REPO = Path(__file__).resolve().parents[3]
SELECT = ["--select", "Region=01,03", "--select", "ContentsCode=C1", "--select", "Tid=2020,2021"]
CEILING_SECONDS = 180.0
CEILING_RSS = 1024**3


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    """One hostile server for the module."""
    with hostile_server() as s:
        yield s


@pytest.fixture(scope="module")
def seeded(server: HostileServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with `raw.hostile` loaded from the well-behaved mode."""
    db = tmp_path_factory.mktemp("hostile") / "target.duckdb"
    proc = run_cli(fetch_args(server.url("ok"), db), label="seed")
    assert proc["rc"] == 0, proc["stderr"]
    return db


def fetch_args(base_url: str, db: Path) -> list[str]:
    return [
        "fetch", "--base-url", base_url, "--table", TABLE, "--dataset", "hostile",
        "--db", str(db), "--full-refresh", "--quiet", *SELECT,
    ]  # fmt: skip


def run_cli(args: list[str], *, label: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cleantech ARGS` (with `env` added to the environment); its exit code, stderr, wall
    time and peak RSS (bytes)."""
    err_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"hostile-{os.getpid()}-{label}.err"
    started = time.monotonic()
    with open(err_path, "w+b") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cleantech", *args],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
        # A hung client must fail the test, not hang the suite.
        guard = threading.Timer(CEILING_SECONDS + 30, proc.kill)
        guard.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            guard.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    err_path.unlink(missing_ok=True)
    result = {
        "case": label,
        "rc": proc.returncode,
        "stderr": stderr,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
    }
    figures = os.environ.get("CLEANTECH_HOSTILE_FIGURES")
    if figures:
        with open(figures, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({k: v for k, v in result.items() if k != "stderr"}) + "\n")
    return result


def contents(db: Path) -> dict[str, Any]:
    """What the file holds: the data and dataset tables, and the load log's successful rows."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        data = con.execute(
            "select Region, ContentsCode, Tid, value from raw.hostile order by all"
        ).fetchall()
        datasets = con.execute("select * from raw._datasets order by all").fetchall()
        loads = con.execute(
            "select load_id, outcome, rows from raw._load_log where outcome <> 'failed' "
            "order by all"
        ).fetchall()
        failed = con.execute(
            "select message from raw._load_log where outcome = 'failed' order by fetched_at"
        ).fetchall()
    finally:
        con.close()
    return {"data": data, "datasets": datasets, "loads": loads, "failed": [r[0] for r in failed]}


# mode, what the one line must say, data requests the client may make (retries included)
CASES = [
    ("drip", r"no complete response within the request deadline of 30 s", 2),
    ("endless", r"response body passed the limit of 38400000 bytes;", 1),
    ("gzipbomb", r"response body passed the limit of 38400000 bytes once decompressed", 1),
    ("hugelength", r"response body declares 2000000000 bytes, over the limit", 1),
    ("redirect-foreign", r"refused a redirect to another origin: http://127\.0\.0\.2:", 1),
    ("redirect-foreign-307", r"refused a redirect to another origin: http://127\.0\.0\.2:", 1),
    ("redirect-302", r"refused an HTTP 302 redirect to http://127\.0\.0\.1:\d+/redirect-302/", 1),
    ("othercodes", r"does not match the request: dimension ContentsCode is missing", 1),
    ("badjson", r"invalid JSON in the response .*\(after 2 attempts\)", 2),
]


@pytest.mark.parametrize(("mode", "message", "requests"), CASES, ids=[c[0] for c in CASES])
def test_hostile_source_fails_in_one_line_in_bounded_time_and_memory(
    server: HostileServer, seeded: Path, tmp_path: Path, mode: str, message: str, requests: int
) -> None:
    db = tmp_path / "target.duckdb"
    shutil.copyfile(seeded, db)
    before = contents(db)
    server.data_requests[mode] = 0

    result = run_cli(fetch_args(server.url(mode), db), label=mode)

    assert result["rc"] != 0
    err = result["stderr"]
    assert err.count("\n") == 1 and err.startswith("error: hostile: "), err
    assert re.search(message, err), err
    assert result["seconds"] < CEILING_SECONDS, result
    assert result["peak_rss_mb"] * 1024 * 1024 < CEILING_RSS, result
    assert server.data_requests[mode] == requests, server.data_requests
    after = contents(db)
    assert {k: after[k] for k in ("data", "datasets", "loads")} == {
        k: before[k] for k in ("data", "datasets", "loads")
    }
    assert len(after["failed"]) == len(before["failed"]) + 1  # the failure is logged, only that


@pytest.mark.parametrize("mode", ["dripheaders", "hangheaders"])
def test_headers_dripped_on_a_reused_connection_end_at_the_request_deadline(
    server: HostileServer, seeded: Path, tmp_path: Path, mode: str
) -> None:
    # The metadata GETs answer with keep-alive; the data POST reuses their connection and the
    # server drips (or withholds) the status line and headers. A 3 s deadline keeps this short
    # (the default-settings figure is in docs/BENCHMARKS.md).
    db = tmp_path / "target.duckdb"
    shutil.copyfile(seeded, db)
    before = contents(db)
    server.data_requests[mode] = 0
    server.data_on_reused[mode].clear()

    result = run_cli(
        fetch_args(server.url(mode), db), label=mode, env={"CLEANTECH_REQUEST_DEADLINE": "3"}
    )

    assert result["rc"] != 0
    err = result["stderr"]
    assert err.count("\n") == 1 and err.startswith("error: hostile: "), err
    assert "no complete response within the request deadline of 3 s" in err, err
    assert "(after 2 attempts)" in err, err
    assert result["seconds"] < 6 + 15, result  # two 3 s attempts; the rest is start-up
    assert server.data_on_reused[mode] == [True, False]
    after = contents(db)
    assert after["data"] == before["data"] and after["loads"] == before["loads"]


def test_slow_failing_metadata_is_stopped_by_the_table_deadline(
    server: HostileServer, seeded: Path, tmp_path: Path
) -> None:
    # Each metadata GET takes 0.6 s and answers 503: within the request deadline every time,
    # retried with backoff; the table's one clock (2 s here, 900 s by default) stops it.
    db = tmp_path / "target.duckdb"
    shutil.copyfile(seeded, db)
    before = contents(db)
    server.metadata_requests["slowmeta"] = 0

    result = run_cli(
        fetch_args(server.url("slowmeta"), db),
        label="slowmeta",
        env={"CLEANTECH_TABLE_DEADLINE": "2"},
    )

    assert result["rc"] != 0
    err = result["stderr"]
    assert err.count("\n") == 1 and err.startswith("error: hostile: "), err
    assert "passed the table deadline of 2 s (last error: " in err, err
    assert "HTTP 503" in err and "table TAB1" in err, err
    assert server.metadata_requests["slowmeta"] < 6  # the default 5 retries were not all made
    assert server.data_requests["slowmeta"] == 0
    assert contents(db)["data"] == before["data"]


def test_same_origin_307_is_followed_and_loads_the_requested_cells(
    server: HostileServer, seeded: Path, tmp_path: Path
) -> None:
    db = tmp_path / "target.duckdb"
    result = run_cli(fetch_args(server.url("redirect-307"), db), label="redirect-307")
    assert result["rc"] == 0, result["stderr"]
    got = contents(db)["data"]
    assert got == contents(seeded)["data"]
    assert [(r, t) for r, _, t, _ in got] == [
        ("01", "2020"), ("01", "2021"), ("03", "2020"), ("03", "2021"),
    ]  # fmt: skip


@pytest.mark.parametrize("url", ["file:///etc", "ftp://127.0.0.1/api/v2", "127.0.0.1:8123/api"])
def test_non_http_base_url_is_refused_at_once(tmp_path: Path, url: str) -> None:
    db = tmp_path / "target.duckdb"
    result = run_cli(fetch_args(url, db), label="bad-url")
    assert result["rc"] != 0
    assert result["stderr"].count("\n") == 1
    assert "unsupported base URL" in result["stderr"], result["stderr"]
    assert result["seconds"] < 15, result  # no retries: the interpreter start is most of it
    assert not db.exists()
