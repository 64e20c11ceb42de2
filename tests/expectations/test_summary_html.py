"""The one-page summary: verdict, per-suite counts, each failure with its severity, names escaped."""

from __future__ import annotations

from pathlib import Path

from expectations.results import ExpectationOutcome, GateResult
from expectations.summary_html import summary_html


def _outcome(suite: str, name: str, severity: str, success: bool) -> ExpectationOutcome:
    return ExpectationOutcome(
        suite=suite,
        name=name,
        expectation_type="expect_column_values_to_be_between",
        table=suite,
        column="value",
        severity=severity,
        success=success,
        detail="1 of 3 rows unexpected",
        example="{Lan: 01}",
    )


def test_a_failed_gate_lists_each_failure_with_its_severity() -> None:
    result = GateResult(
        results=[
            _outcome("raw.a", "value_non_negative", "critical", False),
            _outcome("raw.a", "yoy_jump", "warning", False),
            _outcome("raw.b", "fine", "critical", True),
        ],
        report_index=None,
        suites=["raw.a", "raw.b"],
    )
    page = summary_html(result, Path("/w/staging.duckdb"))
    assert "Quality gate FAILED" in page and "/w/staging.duckdb" in page
    assert "<tr><td>raw.a</td><td>2</td><td>1</td><td>1</td></tr>" in page
    assert "<tr><td>raw.b</td><td>1</td><td>0</td><td>0</td></tr>" in page
    assert "<tr class='critical'><td>critical</td><td>raw.a</td><td>value_non_negative</td>" in page
    assert "<tr class='warning'><td>warning</td><td>raw.a</td><td>yoy_jump</td>" in page
    assert "fine" not in page  # passed expectations are counted, not listed


def test_names_from_suite_files_are_escaped_and_a_pass_says_so() -> None:
    result = GateResult(
        results=[_outcome("raw.<script>", "x&y", "warning", False)],
        report_index=None,
        suites=["raw.<script>"],
    )
    page = summary_html(result, Path("db"))
    assert "Quality gate PASSED" in page  # a warning does not block publishing
    assert "<script>" not in page and "raw.&lt;script&gt;" in page and "x&amp;y" in page
