"""Gate results: one expectation's outcome, and the gate's verdict with its terminal report and JSON.

`ExpectationOutcome` is what every check, standard or derived, turns into; `GateResult` is what
`run_gate` returns (`passed` means no critical expectation failed) and what `gate_result.json`,
the terminal report and `summary.html` are written from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result: where, what, how severe, and an example of what failed."""

    suite: str
    name: str
    expectation_type: str
    table: str
    column: str | None
    severity: str
    success: bool
    detail: str
    example: str | None = None

    def line(self) -> str:
        """One terminal line naming the expectation, table, column and an example."""
        where = self.table + (f".{self.column}" if self.column else "")
        text = f"{self.severity.upper():8} {self.name} ({self.expectation_type}) on {where}: {self.detail}"
        return text + (f"; e.g. {self.example}" if self.example else "")


@dataclass
class GateResult:
    """The outcome of a gate run: passed means no critical expectation failed."""

    results: list[ExpectationOutcome]
    report_index: Path | None
    suites: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        """Failed expectations with severity `critical` (they block publishing)."""
        return [r for r in self.results if not r.success and r.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        """Failed expectations with severity `warning` (reported, published anyway)."""
        return [r for r in self.results if not r.success and r.severity == "warning"]

    @property
    def passed(self) -> bool:
        """True when no critical expectation failed."""
        return not self.critical_failures

    def summary_table(self) -> str:
        """A compact table: suite, expectations checked, critical failures, warnings."""
        rows = [("suite", "checked", "failed critical", "warnings")]
        for suite in self.suites:
            mine = [r for r in self.results if r.suite == suite]
            rows.append(
                (
                    suite,
                    str(len(mine)),
                    str(sum(1 for r in mine if not r.success and r.severity == "critical")),
                    str(sum(1 for r in mine if not r.success and r.severity == "warning")),
                )
            )
        rows.append(
            (
                "total",
                str(len(self.results)),
                str(len(self.critical_failures)),
                str(len(self.warnings)),
            )
        )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        fmt = lambda r: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        sep = "  ".join("-" * w for w in widths)
        return "\n".join([fmt(rows[0]), sep, *map(fmt, rows[1:-1]), sep, fmt(rows[-1])])

    def report(self) -> str:
        """The summary table, one line per failed expectation, and where the HTML report is."""
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"quality gate {verdict}: {len(self.critical_failures)} critical failure(s), "
            f"{len(self.warnings)} warning(s), {len(self.results)} expectations in {self.seconds:.1f} s",
            self.summary_table(),
        ]
        lines += [r.line() for r in self.critical_failures + self.warnings]
        if self.report_index:
            summary = self.report_index.with_name("summary.html")
            lines.append(f"quality report: {summary} (Data Docs: {self.report_index})")
        return "\n".join(lines)

    def one_line(self) -> str:
        """A one-line reason for a failed gate (the first critical failures, by name)."""
        names = [f"{r.suite}:{r.name}" for r in self.critical_failures]
        shown = ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")
        return f"quality gate failed: {len(names)} critical expectation(s) failed: {shown}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (written beside the HTML report as gate_result.json)."""
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "report_index": str(self.report_index) if self.report_index else None,
            "suites": self.suites,
            "results": [asdict(r) for r in self.results],
        }
