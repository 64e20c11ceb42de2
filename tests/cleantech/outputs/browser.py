"""Headless Chromium for the report tests: find the binary, load a page, read what it drew."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # nothing may come from the network: a report that needs a CDN draws nothing here
    "--host-resolver-rules=MAP * ~NOTFOUND",
]

# Runs in the page after load: what plotly drew in each chart, and whether the demo note shows.
PROBE = """
<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
window.addEventListener('load', function () { setTimeout(function () {
  function visible(el) {
    if (!el) return false;
    var s = getComputedStyle(el), r = el.getBoundingClientRect();
    return s.display !== 'none' && s.visibility !== 'hidden' && parseFloat(s.opacity) > 0
        && r.width > 0 && r.height > 0;
  }
  var charts = Array.prototype.map.call(document.querySelectorAll('figure.chart'), function (f) {
    var gd = f.querySelector('.plotly-graph-div');
    var paths = gd ? gd.querySelectorAll('.main-svg g.trace path') : [];
    var drawn = Array.prototype.filter.call(paths, function (p) {
      var d = p.getAttribute('d') || ''; return d.length > 2 && d !== 'M0,0Z';
    }).length;
    return {
      name: f.getAttribute('data-chart'),
      plotly: !!(gd && gd.classList.contains('js-plotly-plot')),
      main_svg: gd ? gd.querySelectorAll('svg.main-svg').length : 0,
      traces: gd ? gd.querySelectorAll('.main-svg g.trace').length : 0,
      data_traces: gd && gd.data ? gd.data.length : 0,
      drawn_paths: drawn,
      visible: visible(gd)
    };
  });
  var note = document.getElementById('demo-note');
  var out = {
    plotly_version: window.Plotly ? Plotly.version : null,
    charts: charts,
    demo_note: note ? {visible: visible(note), text: note.innerText} : null,
    errors: window.__errors
  };
  var pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 300); });
</script>
"""


def chromium_binary() -> str:
    """The Chromium executable; fails the test (not skips) when none is installed."""
    env = os.environ.get("CHROMIUM_BIN")
    if env:
        return env
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "Chromium is required to check that the report's charts draw, and none was found on PATH "
        f"(tried {', '.join(CANDIDATES)}; or set CHROMIUM_BIN). On Debian/Ubuntu: "
        "`apt-get update && apt-get install -y chromium`."
    )


def _run(args: list[str], url: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [chromium_binary(), *FLAGS, f"--user-data-dir={profile}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def probe(html_file: Path, work_dir: Path) -> dict:
    """Load a copy of `html_file` with the probe script in headless Chromium; return what it saw."""
    html = html_file.read_text(encoding="utf-8")
    probed = work_dir / f"probed-{html_file.name}"
    probed.write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    result = _run(["--virtual-time-budget=20000", "--dump-dom"], probed.as_uri())
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', result.stdout, flags=re.S)
    assert match, (
        f"Chromium did not render the report (exit {result.returncode}): {result.stderr[-2000:]}"
    )
    text = match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&"))


def screenshot(html_file: Path, png: Path, *, width: int = 1280, height: int = 4800) -> Path:
    """A full-width PNG of the rendered page."""
    result = _run(
        [f"--window-size={width},{height}", "--virtual-time-budget=20000", f"--screenshot={png}"],
        html_file.as_uri(),
    )
    assert png.exists(), (
        f"Chromium wrote no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    )
    return png
