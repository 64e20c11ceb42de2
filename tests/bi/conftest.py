"""Print the BI suite's timed phases (make bi's own `[bi +Ns]` lines and the test's) at the end."""

from __future__ import annotations

import pytest

from tests.bi import timings


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not timings.PHASES:
        return
    terminalreporter.section("make bi / test-bi phases")
    for line in timings.PHASES:
        terminalreporter.write_line(line)
