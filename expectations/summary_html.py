"""The gate's one-page HTML summary (`summary.html`): verdict, counts per suite, every failure.

GX Data Docs only know pass/fail per validation; this page is severity-aware and links to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from expectations.results import GateResult


def summary_html(result: GateResult, db: Path) -> str:
    """A one-page, severity-aware verdict that links to the GX Data Docs (which only know pass/fail)."""

    verdict = "PASSED" if result.passed else "FAILED"
    colour = "#1a7f37" if result.passed else "#cf222e"
    rows = "".join(
        f"<tr><td>{escape(s)}</td><td>{sum(1 for r in result.results if r.suite == s)}</td>"
        f"<td>{sum(1 for r in result.critical_failures if r.suite == s)}</td>"
        f"<td>{sum(1 for r in result.warnings if r.suite == s)}</td></tr>"
        for s in result.suites
    )
    failures = "".join(
        f"<tr class='{r.severity}'><td>{r.severity}</td><td>{escape(r.suite)}</td><td>{escape(r.name)}</td>"
        f"<td>{escape(r.expectation_type)}</td><td>{escape(r.column or '')}</td>"
        f"<td>{escape(r.detail)}</td><td>{escape(r.example or '')}</td></tr>"
        for r in result.critical_failures + result.warnings
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Quality gate {verdict}</title><style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}} table{{border-collapse:collapse;margin:1rem 0}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}}
.critical td:first-child{{color:#cf222e;font-weight:bold}} .warning td:first-child{{color:#9a6700}}
</style></head><body>
<h1 style="color:{colour}">Quality gate {verdict}</h1>
<p>{escape(str(db))} — {stamp} — {len(result.results)} expectations,
{len(result.critical_failures)} critical failure(s) (block publishing), {len(result.warnings)} warning(s)
(published). Details per expectation: <a href="index.html">Great Expectations Data Docs</a>
(GX marks a validation "Failed" when any expectation failed, warnings included).</p>
<table><tr><th>suite</th><th>checked</th><th>failed critical</th><th>warnings</th></tr>{rows}</table>
<h2>Failures</h2>
<table><tr><th>severity</th><th>suite</th><th>expectation</th><th>type</th><th>column</th><th>detail</th><th>example</th></tr>
{failures or "<tr><td colspan=7>none</td></tr>"}</table></body></html>
"""
