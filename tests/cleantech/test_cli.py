"""`cleantech …` as a user runs it: real processes, the local server over loopback, DuckDB.

Every failure must exit non-zero with exactly one line on stderr and no traceback.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from cleantech.layout import REPO_ROOT
from pxweb_demo.server import start_server

# Each process starts fresh: keep the command lines short and the servers in this process.
TIMEOUT = 60


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `cleantech ARGS` (stdin closed, stdout/stderr captured, not a terminal)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("CLEANTECH_STAGING",)}
    full_env.pop("PXWEB_BASE_URL", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cleantech", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO_ROOT,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    return lines[0]


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator:
    """A private server with a roomy rate limit: many short-lived clients would otherwise wait
    out 429s (each process has its own limiter), and the session server keeps its window."""
    srv = start_server(port=0, max_calls=10_000, time_window=1.0)
    try:
        yield srv
    finally:
        srv.stop()


# -- run --------------------------------------------------------------------------------


def test_run_loads_then_reports_unchanged_with_row_counts(server, tmp_path: Path) -> None:
    env = {
        "PXWEB_BASE_URL": server.base_url_v2,
        "CLEANTECH_WAREHOUSE": str(tmp_path / "published" / "cleantech.duckdb"),
    }
    first = cli("run", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # no progress bars when stderr is not a terminal
    db = tmp_path / "published" / "staging" / "cleantech.duckdb"  # the staging file by default
    assert str(db) in first.stdout and "3 datasets (3 loaded)" in first.stdout
    assert re.search(r"egss_county\s+TAB9001\s+loaded\s+1584\s", first.stdout), first.stdout
    assert query(db, "SELECT count(*) FROM raw.population_county") == [(550,)]
    assert not (tmp_path / "published" / "cleantech.duckdb").exists()  # run never publishes

    second = cli("run", "--db", str(db), env=env)
    assert second.returncode == 0 and second.stderr == "", second.stderr
    assert "3 datasets (3 unchanged)" in second.stdout
    for name, rows in [("egss_county", 1584), ("population_county", 550)]:
        assert re.search(rf"{name}\s+\S+\s+unchanged\s+{rows}\s", second.stdout), second.stdout


def test_run_prints_one_summary_line_for_its_failures_and_exits_1(server, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(
        (REPO_ROOT / "catalog.yml").read_text(encoding="utf-8")
        + "\n  ghost:\n    table: TAB99999\n    selection: {Tid: '*'}\n",
        encoding="utf-8",
    )
    db = tmp_path / "w.duckdb"
    proc = cli(
        "run",
        "--catalog",
        str(catalog),
        "--db",
        str(db),
        "--dataset",
        "ghost",
        "--dataset",
        "population_county",
        env={"PXWEB_BASE_URL": server.base_url_v2},
    )
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line.startswith("error: 1 of 2 datasets failed: ghost: ") and "TAB99999" in line
    assert re.search(r"ghost\s+\S+\s+failed\s+-\s", proc.stdout), proc.stdout
    assert re.search(r"population_county\s+TAB638\s+loaded\s+550\s", proc.stdout)


# -- fetch ------------------------------------------------------------------------------


def test_fetch_v2_loads_exactly_the_selection(server, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    proc = cli(
        "fetch",
        "--base-url",
        server.base_url_v2,
        "--api",
        "v2",
        "--table",
        "TAB638",
        "--dataset",
        "pop",
        "--db",
        str(db),
        "--select",
        "Region=01,03",
        "--select",
        "ContentsCode=BE0101N1",
        "--select",
        "Tid=top(3)",
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert re.search(r"pop\s+TAB638\s+loaded\s+6\s", proc.stdout), proc.stdout
    rows = query(db, "SELECT Region, ContentsCode, Tid FROM raw.pop ORDER BY ALL")
    assert rows == [(r, "BE0101N1", t) for r in ("01", "03") for t in ("2022", "2023", "2024")]


def test_fetch_v1_with_a_table_path(
    server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cleantech.cli import main  # in process: the same code as `cleantech`, no start-up

    db = tmp_path / "w.duckdb"
    code = main(
        [
            "fetch",
            "--base-url",
            server.base_url_v1,
            "--api",
            "v1",
            "--table",
            "BE/BE0101/BE0101A/BefolkningNy",
            "--dataset",
            "pop_v1",
            "--db",
            str(db),
            "--select",
            "Region=01,03",
            "--select",
            "ContentsCode=BE0101N1",
            "--select",
            "Tid=top(3)",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert re.search(r"pop_v1\s+BE/BE0101/BE0101A/BefolkningNy\s+loaded\s+6\s", out), out
    assert query(db, "SELECT count(*), count(value) FROM raw.pop_v1") == [(6, 6)]
    assert query(db, "SELECT DISTINCT _source_table FROM raw.pop_v1") == [
        ("BE/BE0101/BE0101A/BefolkningNy",)
    ]


# -- load-file --------------------------------------------------------------------------


def test_load_file_loads_a_real_scb_response(fixtures_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    path = fixtures_dir / "scb_v2_TAB6471_data_jsonstat2.json"
    proc = cli("load-file", str(path), "--dataset", "tab6471", "--db", str(db))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "tab6471: loaded, 2772 rows" in proc.stdout
    assert query(db, "SELECT count(*) FROM raw.tab6471") == [(2772,)]
    value = query(
        db,
        "SELECT value FROM raw.tab6471 WHERE Region = '01' AND Alder = '0-9' AND Kon = '1' "
        "AND Tid = '2026M01'",
    )
    assert value == [(125373.0,)]
    assert query(db, "SELECT DISTINCT _source_table FROM raw.tab6471") == [("TAB6471",)]


# -- tables -----------------------------------------------------------------------------


def test_tables_search_and_inspect(server, capsys: pytest.CaptureFixture[str]) -> None:
    found = cli("tables", "--base-url", server.base_url_v2, "--query", "MI1301T04")
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("TAB9001 ") and found.stderr.strip() == "1 tables"
    from cleantech.cli import main  # in process: the same code as `cleantech`, no start-up

    capsys.readouterr()
    assert main(["tables", "--base-url", server.base_url_v2, "--table", "TAB900"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("TAB900  DEMO: ")
    variables = re.findall(r"^  (\w+)\s+(\d+) values", out, flags=re.M)
    assert variables == [
        ("Region", "22"),
        ("SNI2007", "16"),
        ("Kon", "2"),
        ("ContentsCode", "1"),
        ("Tid", "11"),
    ]


# -- every failure is one line ----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_server() -> Iterator:
    """A server whose cell limit (3) is below TAB9001's 4 contents codes."""
    srv = start_server(port=0, max_cells=3, max_calls=1000, time_window=1.0)
    try:
        yield srv
    finally:
        srv.stop()


def fetch_args(base_url: str, tmp: Path, *extra: str, table: str = "TAB638") -> list[str]:
    return [
        "fetch",
        "--base-url",
        base_url,
        "--table",
        table,
        "--dataset",
        "x",
        "--db",
        str(tmp / "w.duckdb"),
        *extra,
    ]


CASES = [
    ("unknown_dataset", r"unknown dataset 'nope' \(catalog has: egss_county, "),
    ("bad_select", r"--select expects VAR=CODES .*got 'Region'"),
    ("unknown_variable", r"unknown variable 'Nope' \(the table has Region, "),
    ("unknown_value", r"unknown value '99' for variable Region"),
    ("unknown_table", r"not found; table TAB99999; HTTP 404"),
    ("unreachable_fetch", r"cannot reach the server"),
    ("unreachable_tables", r"cannot reach the server"),
    ("malformed_file", r"malformed JSON"),
    ("not_jsonstat", r"not a JSON-stat dataset"),
    ("missing_file", r"cannot read .*nope\.json: No such file"),
    ("bad_dataset_name", r"dataset name 'Bad-Name' must match"),
    ("raw_named_db", r"clashes with the schema raw"),
    ("too_many_cells", r"contents variable ContentsCode alone selects 4 codes.* limit of 3"),
    ("missing_arguments", r"the following arguments are required: --base-url"),
    ("unknown_command", r"invalid choice: 'bogus'"),
    ("negative_past_days", r"--past-days must be 0 or more, not -3"),
    ("report_not_duckdb", r"somefile\.json is not a DuckDB warehouse file"),
    ("run_db_unwritable", r"cannot create the DuckDB file /proc/nope/x\.duckdb: "),
    ("fetch_db_not_duckdb", r"somefile\.json is not a DuckDB warehouse file"),
    ("select_expression_and_codes", r"--select Region: '\*' selects by expression"),
    ("bad_port", r"argument --port: port must be 0–65535, not 99999"),
    ("pipeline_bad_source", r"^error: unknown source 'nope' \(catalog has: demo, "),
]
# These run as real processes; the rest go through `cleantech.cli.main` in this process (the same
# code `cleantech` runs, without paying an interpreter start per case).
IN_SUBPROCESS = {"unknown_dataset", "unknown_table", "missing_arguments", "pipeline_bad_source"}


def bad_args(case: str, v2: str, tiny_v2: str, tmp_path: Path) -> list[str]:
    dead = f"http://127.0.0.1:{closed_port()}/api/v2"
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "2.0", "class": "dataset", "id": ["a"', encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text('{"foo": 1}', encoding="utf-8")
    db = str(tmp_path / "w.duckdb")
    somefile = tmp_path / "somefile.json"
    somefile.write_text('{"version": "2.0"}', encoding="utf-8")
    return {
        "unknown_dataset": ["run", "--dataset", "nope", "--db", db],
        "bad_select": fetch_args(v2, tmp_path, "--select", "Region"),
        "unknown_variable": fetch_args(v2, tmp_path, "--select", "Nope=01"),
        "unknown_value": fetch_args(v2, tmp_path, "--select", "Region=99"),
        "unknown_table": fetch_args(v2, tmp_path, table="TAB99999"),
        "unreachable_fetch": fetch_args(dead, tmp_path, "--retries", "0"),
        "unreachable_tables": ["tables", "--base-url", dead, "--query", "x", "--retries", "0"],
        "malformed_file": ["load-file", str(bad), "--dataset", "x", "--db", db],
        "not_jsonstat": ["load-file", str(other), "--dataset", "x", "--db", db],
        "missing_file": ["load-file", str(tmp_path / "nope.json"), "--dataset", "x", "--db", db],
        "bad_dataset_name": [*fetch_args(v2, tmp_path)[:-4], "--dataset", "Bad-Name"],
        "raw_named_db": [
            "load-file",
            str(other),
            "--dataset",
            "x",
            "--db",
            str(tmp_path / "raw.duckdb"),
        ],
        "too_many_cells": fetch_args(
            tiny_v2, tmp_path, "--select", "ContentsCode=*", table="TAB9001"
        ),
        "missing_arguments": ["fetch", "--dataset", "x"],
        "unknown_command": ["bogus"],
        "negative_past_days": ["tables", "--base-url", dead, "--past-days", "-3"],
        "report_not_duckdb": ["report", "--db", str(somefile)],
        "run_db_unwritable": ["run", "--db", "/proc/nope/x.duckdb"],
        "fetch_db_not_duckdb": [*fetch_args(v2, tmp_path)[:-2], "--db", str(somefile)],
        "select_expression_and_codes": fetch_args(
            v2, tmp_path, "--select", "Region=*", "--select", "Region=01"
        ),
        "bad_port": ["serve-demo", "--port", "99999"],
        "pipeline_bad_source": ["pipeline", "--source", "nope"],
    }[case]


@pytest.mark.parametrize(("case", "expected"), [c for c in CASES if c[0] in IN_SUBPROCESS])
def test_bad_input_gives_one_line_and_no_traceback(
    case: str, expected: str, server, tiny_server, tmp_path: Path
) -> None:
    args = bad_args(case, server.base_url_v2, tiny_server.base_url_v2, tmp_path)
    warehouse = tmp_path / "warehouse" / "cleantech.duckdb"
    line = one_error_line(cli(*args, env={"CLEANTECH_WAREHOUSE": str(warehouse)}))
    assert re.search(expected, line), line
    # refused before anything was written: no staging copy, no run log, no lock file
    assert not warehouse.parent.exists() or not any(warehouse.parent.rglob("*"))


@pytest.mark.parametrize(("case", "expected"), [c for c in CASES if c[0] not in IN_SUBPROCESS])
def test_bad_input_in_process_gives_one_line(
    case: str,
    expected: str,
    server,
    tiny_server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cleantech.cli import main

    monkeypatch.setenv("CLEANTECH_WAREHOUSE", str(tmp_path / "warehouse" / "cleantech.duckdb"))
    args = bad_args(case, server.base_url_v2, tiny_server.base_url_v2, tmp_path)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    err = capsys.readouterr().err
    assert code not in (0, None)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(expected, lines[0]), lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["pipeline", "--bogus"], r"unrecognized arguments: --bogus"),
        (["pipeline", "--source", "nope"], r"unknown source 'nope'"),
        (["dbt-build"], r"the following arguments are required: db"),
        (["dbt-build", "{tmp}/none.duckdb"], r"no DuckDB file at .*none\.duckdb"),
        (["answers", "{tmp}/none.duckdb"], r"no DuckDB file at .*none\.duckdb"),
        (["serve-demo", "--port", "99999"], r"port must be 0–65535, not 99999"),
        (["demo-generate", "/proc/x"], r"/proc/x"),
        (["export", "--db", "{tmp}/none.duckdb"], r"warehouse file not found: .*none\.duckdb"),
        (["report", "--bogus"], r"unrecognized arguments: --bogus"),
        (["airflow"], r"the following arguments are required: ACTION"),
    ],
)
def test_every_command_fails_in_one_line(args: list[str], expected: str, tmp_path: Path) -> None:
    """The commands that were per-module main()s fail the same way as the others: one line."""
    warehouse = tmp_path / "warehouse" / "cleantech.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "cleantech", *(a.format(tmp=tmp_path) for a in args)],
        capture_output=True,
        text=True,
        env={**os.environ, "CLEANTECH_WAREHOUSE": str(warehouse)},
        cwd=REPO_ROOT,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    line = one_error_line(proc)
    assert re.search(expected, line), line
    assert not warehouse.parent.exists()  # nothing logged, nothing copied


def test_repeated_select_of_one_variable_merges_its_codes() -> None:
    from cleantech.cli import CliError, _selection

    assert _selection(["Region=01", "Region=03,01", "Tid=*"]) == {
        "Region": ["01", "03"],
        "Tid": "*",
    }
    with pytest.raises(CliError, match="cannot be combined"):
        _selection(["Region=01", "Region=0*"])


def test_fetch_with_repeated_select_loads_every_code(server, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    args = fetch_args(
        server.base_url_v2, tmp_path, "--select", "Region=01", "--select", "Region=03"
    )
    proc = cli(*args, "--select", "ContentsCode=BE0101N1", "--select", "Tid=2024")
    assert proc.returncode == 0, proc.stderr
    assert query(db, "SELECT DISTINCT Region FROM raw.x ORDER BY 1") == [("01",), ("03",)]


@pytest.mark.parametrize(
    ("host", "warns"),
    [("0.0.0.0", True), ("192.168.1.5", True), ("::", True), ("127.0.0.1", False),
     ("::1", False), ("localhost", False)],
)  # fmt: skip
def test_serving_beyond_loopback_warns_about_the_control_endpoints(
    host: str, warns: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from cleantech.cli import warn_if_exposed

    warn_if_exposed(host)
    err = capsys.readouterr().err
    if warns:
        assert err.startswith("warning: ") and "/_control" in err and err.count("\n") == 1, err
    else:
        assert err == ""


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = {"CLEANTECH_WAREHOUSE": str(tmp_path / "warehouse" / "cleantech.duckdb")}
    proc = cli("--debug", "load-file", str(tmp_path / "nope.json"), "--dataset", "x", env=env)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


# -- serve-demo -------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_demo_answers_and_stops_cleanly(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cleantech", "serve-demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/api/v2)", line)
        assert match, line
        config = httpx.get(f"{match.group(1)}/config", timeout=10).json()
        assert config["maxDataCells"] == 150_000
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
