"""The HTML page around the report's charts: one self-contained file, no template engine."""

from __future__ import annotations

from html import escape
from string import Template

CSS = """
:root { --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --accent: #0b7a53; --warn-bg: #fff4d6;
        --warn-line: #c98a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #f5f7fa; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 4px; }
.subtitle { color: var(--muted); margin: 0 0 16px; }
.demo-note { background: var(--warn-bg); border: 2px solid var(--warn-line); border-radius: 6px;
             padding: 12px 16px; margin: 0 0 18px; font-size: 15px; }
.demo-note strong { color: #7a4f00; }
.vintage { font-size: 13px; color: var(--muted); margin-bottom: 18px; }
.vintage table { border-collapse: collapse; margin-top: 4px; }
.vintage td, .vintage th { padding: 2px 16px 2px 0; text-align: left; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px;
         margin: 0 0 20px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 13px; }
.card .value { font-size: 22px; font-weight: 600; color: var(--accent); }
.card .detail { font-size: 13px; color: var(--muted); }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 18px 20px;
          margin: 0 0 20px; }
section p.lead { color: var(--muted); margin: 0 0 8px; }
figure.chart { margin: 0; }
table.data { border-collapse: collapse; font-size: 13px; width: 100%; margin-top: 10px; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: right; }
table.data th:first-child, table.data td:first-child { text-align: left; }
table.data thead th { background: #f0f4f8; }
details summary { cursor: pointer; color: var(--accent); margin-top: 8px; }
footer { color: var(--muted); font-size: 13px; padding-bottom: 32px; }
"""

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cleantech-warehouse cleantech.outputs.report">
<title>$title</title>
<style>$css</style>
<script>$plotlyjs</script>
</head>
<body>
<header>
<h1>$title</h1>
<p class="subtitle">$subtitle</p>
$demo_note
$vintage
$cards
</header>
<main>
$sections
</main>
<footer>
$footer
</footer>
</body>
</html>
"""
)


def page(
    *,
    title: str,
    subtitle: str,
    plotlyjs: str,
    demo_note: str,
    vintage: str,
    cards: str,
    sections: list[str],
    footer: str,
) -> str:
    """The whole report page; every argument except `title`/`subtitle` is already HTML."""
    # plotly.js contains no "</script>" literal; guard anyway so the inline script cannot end early.
    plotlyjs = plotlyjs.replace("</script>", "<\\/script>")
    return PAGE.substitute(
        title=escape(title),
        subtitle=escape(subtitle),
        css=CSS,
        plotlyjs=plotlyjs,
        demo_note=demo_note,
        vintage=vintage,
        cards=cards,
        sections="\n".join(sections),
        footer=footer,
    )


def demo_note(is_demo: bool) -> str:
    """The visible banner shown when the warehouse holds the demo snapshot (empty otherwise)."""
    if not is_demo:
        return ""
    return (
        '<div class="demo-note" id="demo-note" role="note"><strong>Demo data.</strong> '
        "These figures come from the project's generated demo snapshot, not from Statistics "
        "Sweden. They have realistic shapes but are not official statistics: do not quote them. "
        "Run the pipeline with <code>--source scb</code> for real data.</div>"
    )


def section(anchor: str, title: str, lead: str, body: str) -> str:
    """One report section: a heading, a one-paragraph reading guide and its charts/tables."""
    return (
        f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>'
        f'<p class="lead">{escape(lead)}</p>{body}</section>'
    )


def chart(name: str, plot_html: str) -> str:
    """Wrap one Plotly figure's div so tests and readers can find it by name."""
    return f'<figure class="chart" data-chart="{escape(name)}">{plot_html}</figure>'


def card(label: str, value: str, detail: str) -> str:
    """A key-figure card."""
    return (
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div><div class="detail">{escape(detail)}</div></div>'
    )


def vintage(headers: list[str], rows: list[list[str]], published: str) -> str:
    """The data-vintage block: one row per source dataset and when the warehouse was written."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (
        '<div class="vintage" id="vintage"><strong>Data vintage</strong> — the source\'s last '
        f"update for each dataset. {escape(published)}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def table(headers: list[str], rows: list[list[str]], *, caption: str | None = None) -> str:
    """A plain data table (cells are escaped)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f'<table class="data">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
