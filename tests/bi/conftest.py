"""The BI suite runs only under `make test-bi` (CLEANTECH_TEST_BI=1): it installs and starts
Superset (minutes), so `make test` does not collect it; CI runs both targets (.ci/run).
At the end it prints the timed phases (make bi's own `[bi +Ns]` lines and the test's)."""

from __future__ import annotations

import os

import pytest

if os.environ.get("CLEANTECH_TEST_BI") != "1":
    collect_ignore_glob = ["test_*.py"]

from tests.bi import timings


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not timings.PHASES:
        return
    terminalreporter.section("make bi / test-bi phases")
    for line in timings.PHASES:
        terminalreporter.write_line(line)
