"""The report of a large matrix as a site: a first page with the implementation and library overviews, small
enough to open at once, and one page per library with its version x fixture matrix and every attempt's call,
error and reproduce command. plotly.js is written once beside the pages and shared by all of them.

A page's attempts travel as JSON and become a table when their reader is opened: a library with hundreds of
versions would otherwise be tens of thousands of table rows for the browser to lay out before it shows anything.
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from pathlib import Path

import plotly.graph_objects as go

from ..libraries import LIBRARIES
from ..records import best
from ..results import write_text
from .html import (
    COLORS,
    TEXT_COLUMNS,
    VERDICTS,
    Square,
    _findings,
    _legend,
    matrix_figure,
    overview_figure,
    page,
    verdict_heatmap,
)
from .model import READS, FixtureColumn, ReportModel
from .releases import release_changes, releases_html

e = html.escape

# Past this many squares (reader cells x fixtures) the report is a site rather than one file.
SITE_SQUARES = 4000

ATTEMPTS_JS = """
document.querySelectorAll('details[data-reader]').forEach(function (box) {
  box.addEventListener('toggle', function () {
    if (!box.open || box.dataset.done) return;
    box.dataset.done = '1';
    var rows = ATTEMPTS[box.dataset.reader] || [];
    var table = document.createElement('table');
    table.className = 'attempts';
    var head = table.createTHead().insertRow();
    ['fixture', 'variant', 'method', 'verdict', 'reason', 'call', 'error', 'reproduce with'].forEach(function (h) {
      var th = document.createElement('th'); th.textContent = h; head.appendChild(th);
    });
    var body = table.createTBody();
    rows.forEach(function (a) {
      var tr = body.insertRow();
      a.forEach(function (value, i) {
        var td = tr.insertCell();
        if (i === 3) { var b = document.createElement('span'); b.className = 'badge'; b.textContent = value;
          b.style.background = COLORS[value] || '#fff'; b.style.color = DARK.indexOf(value) >= 0 ? '#fff' : '#000';
          td.appendChild(b); }
        else if (i >= 5) { var c = document.createElement('code'); c.textContent = value; td.appendChild(c); }
        else td.textContent = value;
      });
    });
    box.appendChild(table);
  });
});
"""


def library_overview(model: ReportModel) -> go.Figure | None:
    """Rows: libraries; columns: fixtures; each square the best verdict over the library's versions."""
    libraries = [lib for lib in LIBRARIES if any(r.library == lib for r in model.readers)]
    if not libraries or not model.fixtures:
        return None
    readers = {lib: [r for r in model.readers if r.library == lib] for lib in libraries}

    def square(lib: str, fixture: FixtureColumn) -> Square | None:
        summaries = [(r, model.cells[(r.id, fixture.name)]) for r in readers[lib]
                     if (r.id, fixture.name) in model.cells]
        if not summaries:
            return None
        top = best([s.verdict for _, s in summaries])
        reading = [r.label for r, s in summaries if s.verdict in READS]
        shown = ", ".join(reading[:30]) + (f" and {len(reading) - 30} more" if len(reading) > 30 else "")
        return top, f"{len(reading)}/{len(summaries)}", (
            f"<b>{e(lib)}</b> reading <b>{e(fixture.label)}</b><br>best: {e(top)}<br>"
            f"{len(reading)} of {len(summaries)} versions read it: {e(shown) or 'none'}")

    fig = go.Figure(verdict_heatmap(
        libraries, model.fixtures, square, empty="not tried", with_text=len(model.fixtures) <= TEXT_COLUMNS,
        x=[f"{f.implementation}: {f.label}" for f in model.fixtures], y=libraries, textfont={"size": 9}))
    fig.update_layout(height=330 + 34 * len(libraries), margin={"l": 10, "r": 10, "t": 300, "b": 10},
                      xaxis={"side": "top", "tickangle": -50, "automargin": True, "tickfont": {"size": 9}},
                      yaxis={"autorange": "reversed", "automargin": True}, plot_bgcolor="white",
                      hoverlabel={"align": "left", "font": {"size": 11}})
    return fig


def _figure_html(fig: go.Figure | None, div_id: str, empty: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id) if fig else f"<p>{e(empty)}</p>"


def _library_model(model: ReportModel, library: str) -> ReportModel:
    readers = [r for r in model.readers if r.library == library]
    ids = {r.id for r in readers}
    return replace(model, readers=readers, cells={k: v for k, v in model.cells.items() if k[0] in ids})


def _attempts_json(model: ReportModel) -> str:
    data: dict[str, list[list[str]]] = {}
    for reader in model.readers:
        rows = data.setdefault(reader.id, [])
        for fixture, summary, a in model.attempts_of(reader.id):
            if a is None:
                rows.append([fixture.name, "", "", summary.verdict, summary.reason, "", "", ""])
                continue
            error = f"{a.error_type}: {(a.error_message or '')[:400]}" if a.error_type else ""
            # A Verdict is a str: JSON writes its value.
            rows.append([fixture.name, a.variant, a.method, a.verdict, a.reason[:200], a.call[:300], error, a.repro])
    # </script> inside a string would end the script element early.
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def _librarypage(model: ReportModel, lib: str, reports: Path, plotly_src: str) -> tuple[Path, str]:
    """One library's page, written; and its line on the first page."""
    sub = _library_model(model, lib)
    counts = {v: sum(s.verdict == v for s in sub.cells.values()) for v in VERDICTS}
    summary = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
    link = f'<li><a href="libraries/{e(lib)}.html">{e(lib)}</a>: {len(sub.readers)} versions · {e(summary)}</li>'
    body = f"""<p><a href="../index.html">← the overview</a></p>
<h1>{e(lib)}: {len(sub.readers)} versions × {len(model.fixtures)} fixtures</h1>
{_legend()}
<h2>Compatibility matrix</h2>
<p>Rows are this library's cells, columns the fixtures, grouped by the implementation that wrote them. Hover for the
call, the error and the command that reproduces it; every attempt is below.</p>
{_figure_html(matrix_figure(sub), "matrix", "No read attempts.")}
<h2>Findings per version</h2>
{_findings(sub)}
<h2>Every attempt</h2>
{"".join(f'<details data-reader="{e(r.id)}"><summary>{e(r.label)} <code>{e(r.id)}</code></summary></details>'
         for r in sub.readers)}
<script>var ATTEMPTS = {_attempts_json(sub)};
var COLORS = {json.dumps(COLORS)}; var DARK = ["pass", "mismatch", "crash", "env-failed"];
{ATTEMPTS_JS}</script>"""
    path = reports / "libraries" / f"{lib}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, page(f"zarrmatrix: {lib}", body, "../" + plotly_src))
    return path, link


def render_site(model: ReportModel, reports: Path, header: str, bench: str, plotly_src: str, features: str = ""
                ) -> list[Path]:
    """index.html, libraries/<library>.html, features.html and (when the run benched) bench.html."""
    libraries = [lib for lib in LIBRARIES if any(r.library == lib for r in model.readers)]
    pages = [_librarypage(model, lib, reports, plotly_src) for lib in libraries]
    written = [path for path, _ in pages]
    links = [link for _, link in pages]
    for name, title, link, body in (("bench.html", "zarrmatrix: store benchmark", "the store benchmark", bench),
                                    ("features.html", "zarrmatrix: Zarr features",
                                     "Features: which reader reads which Zarr feature", features)):
        if body:
            path = reports / name
            write_text(path, page(title, f'<p><a href="index.html">← the overview</a></p>{body}', plotly_src))
            written.append(path)
            links.append(f'<li><a href="{name}">{link}</a></li>')
    index = reports / "index.html"
    body = f"""{header}
<h2>Implementations: who reads whose Zarr?</h2>
<p>Rows are the implementations that wrote the fixtures, columns those that read them. A square pairs every writer
version with every reader version and shows the best pair (k/n fixtures read); hover for every pair.</p>
{_figure_html(overview_figure(model), "overview", "No fixture was both written and read.")}
<h2>Libraries</h2>
<p>Each square is the best verdict over the library's versions on one fixture, and how many versions read it;
hover for which. Each library's own page has its version × fixture matrix and every attempt.</p>
{_legend()}
{_figure_html(library_overview(model), "libraries", "No read attempts in these results.")}
<ul>{"".join(links)}</ul>
<h2 id="releases">What each release changed</h2>
<p>Each version of zarr-python, GDAL and netCDF-C against the version before it, on the fixtures both read.</p>
{releases_html(release_changes(model))}
<p><a href="history.html">history of the runs</a> · <a href="summary.md">summary.md</a></p>"""
    write_text(index, page("zarrmatrix: who can read a Zarr ZipStore?", body, plotly_src))
    return [index, *written]
