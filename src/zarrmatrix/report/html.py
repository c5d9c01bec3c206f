"""Render the report model as one self-contained HTML file: plotly.js embedded
once, every text that came from a probe escaped."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ..libraries import LIBRARIES, implementations
from ..records import Verdict
from .model import Overview, ReportModel, Summary
from .releases import release_changes, releases_html
from .tables import table as _table
from .timing import wall_time_html

VERDICTS = tuple(Verdict)
_IMPL_INDEX = {name: i for i, name in enumerate(implementations())}

COLORS = {
    "pass": "#1a9850",
    "unverified": "#b8e186",
    "partial": "#fee08b",
    "mismatch": "#a50026",
    "error": "#f46d43",
    "timeout": "#fdae61",
    "crash": "#762a83",
    "n/a": "#bababa",
    "env-failed": "#4d4d4d",
    "skipped": "#f0f0f0",
}
MEANINGS = {
    "pass": "every array opened and its decoded data matched the writer's checksum",
    "unverified": "it read every array, but no independent reader gave a reference to compare the data with",
    "partial": "some arrays read right, others missing",
    "mismatch": "it opened, but the data differ: silent corruption",
    "error": "an exception was raised (type, message and a classified reason on hover)",
    "timeout": "killed after the wall-clock limit",
    "crash": "the probe process died from a signal (segfault, abort)",
    "n/a": "the library cannot do this by design; attempted all the same",
    "env-failed": "the environment for this cell could not be built",
    "skipped": "not run here (e.g. needs docker), or nothing to read",
}
TEXT_ON_DARK = {"pass", "mismatch", "crash", "env-failed"}

e = html.escape


def _clip(text: Any, limit: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hover(summary: Summary) -> str:
    """A square's hover text below its reader and fixture, which the hover template names from the axes."""
    b = summary.best
    lines = [
        f"verdict: <b>{e(summary.verdict)}</b> — {e(_clip(summary.reason, 160))}",
        f"control (unzipped folder): {e(summary.control_verdict or '—')}",
    ]
    if b:
        lines.append(f"method: {e(b.method)}, {b.seconds:g} s")
        lines.append(f"call: {e(_clip(b.call, 200))}")
        if b.error_type:
            lines.append(f"error: {e(b.error_type)}: {e(_clip(b.error_message, 200))}")
        lines.append(f"reproduce: {e(_clip(b.repro, 220))}")
    return "<br>".join(lines)


# Past this many squares a matrix shows colours only: a text in every square is what makes a browser slow to
# draw, and past TEXT_COLUMNS fixtures a square is too narrow for its text to be read.
TEXT_SQUARES = 3000
TEXT_COLUMNS = 30


def matrix_figure(model: ReportModel) -> go.Figure:
    n = len(VERDICTS)
    y_labels = [f"{r.label} [{r.id}]" for r in model.readers]
    x_labels = [f"{f.implementation}: {f.label}" for f in model.fixtures]

    def square(reader: Any, fixture: Any) -> Square | None:
        summary = model.cells.get((reader.id, fixture.name))
        if summary is None:
            return None
        if summary.zip_specific:
            control = "<br><sub><b>zip only</b> (ctl pass)</sub>"
        elif summary.control_verdict:
            control = f"<br><sub>ctl {e(summary.control_verdict)}</sub>"
        else:
            control = ""
        return summary.verdict, f"{e(summary.verdict)}{control}", _hover(summary)

    with_text = len(y_labels) * len(x_labels) <= TEXT_SQUARES and len(x_labels) <= TEXT_COLUMNS
    fig = go.Figure(verdict_heatmap(
        model.readers, model.fixtures, square, empty="no attempt", with_text=with_text, x=x_labels, y=y_labels,
        textfont={"size": 10}, hovertemplate="<b>%{y}</b> reading <b>%{x}</b><br>%{customdata}<extra></extra>",
        showscale=True, colorbar={"title": {"text": "verdict"}, "tickvals": list(range(n)),
                                  "ticktext": list(VERDICTS), "lenmode": "pixels", "len": 320},
    ))
    fig.update_layout(
        height=260 + (38 if with_text else 22) * max(1, len(y_labels)), margin={"l": 10, "r": 170, "t": 230, "b": 10},
        xaxis={"side": "top", "tickangle": -40, "automargin": True},
        yaxis={"autorange": "reversed", "automargin": True},
        plot_bgcolor="white", hoverlabel={"align": "left", "font": {"size": 11}},
    )
    # A line between the fixtures of one writer implementation and the next.
    for i in range(1, len(model.fixtures)):
        if model.fixtures[i].implementation != model.fixtures[i - 1].implementation:
            fig.add_shape(type="line", x0=i - 0.5, x1=i - 0.5, y0=0, y1=1, yref="paper",
                          line={"color": "#333", "width": 2})
    return fig


def verdict_colorscale() -> list[list]:
    """A heatmap colour scale that gives each verdict (z = its index in VERDICTS) its own colour."""
    n = len(VERDICTS)
    scale: list[list] = []
    for i, verdict in enumerate(VERDICTS):
        scale += [[i / n, COLORS[verdict]], [(i + 1) / n, COLORS[verdict]]]
    return scale


Square = tuple[Verdict, str, str]


def verdict_heatmap(rows: Sequence[Any], cols: Sequence[Any], square: Callable[[Any, Any], Square | None], *,
                    empty: str, with_text: bool = True, **trace: Any) -> go.Heatmap:
    """A heatmap of verdicts, one square per row and column: square(row, col) gives its verdict, text and
    hover (None: an empty square, hovered as `empty`). `trace` adds or overrides the trace's settings."""
    z, text, hover = [], [], []
    for row in rows:
        row_z, row_t, row_h = [], [], []
        for col in cols:
            found = square(row, col)
            if found is None:
                row_z.append(None)
                row_t.append("")
                row_h.append(empty)
                continue
            verdict, label, tip = found
            row_z.append(VERDICTS.index(verdict))
            row_t.append(label)
            row_h.append(tip)
        z.append(row_z)
        text.append(row_t)
        hover.append(row_h)
    settings = {"hovertemplate": "%{customdata}<extra></extra>", "xgap": 2, "ygap": 2, "showscale": False}
    settings.update(trace)
    return go.Heatmap(z=z, text=text if with_text else None, customdata=hover,
                      texttemplate="%{text}" if with_text else None, colorscale=verdict_colorscale(),
                      zmin=-0.5, zmax=len(VERDICTS) - 0.5, **settings)


def _overview_hover(square: Overview) -> str:
    lines = [f"<b>{e(square.writer)}</b> writes, <b>{e(square.reader)}</b> reads"]
    passing = sorted({f"{p.reader.label}" for p in square.pairs if p.verdict in (Verdict.PASS, Verdict.UNVERIFIED)})
    lines.append("reader versions that read everything some writer version wrote: "
                 + (e(", ".join(passing)) if passing else "none"))
    for pair in sorted(square.pairs, key=lambda p: (p.writer.id, p.reader.id))[:24]:
        lines.append(f"{e(pair.writer.label)} → {e(pair.reader.label)}: {pair.read}/{pair.of} fixtures "
                     f"({e(pair.verdict)})")
    if len(square.pairs) > 24:
        lines.append(f"… and {len(square.pairs) - 24} more pairs")
    return "<br>".join(lines)


def overview_figure(model: ReportModel) -> go.Figure | None:
    """Writer implementation rows, reader implementation columns; each square the best pair of versions."""
    squares = model.overview()
    if not squares:
        return None
    rows = list(dict.fromkeys(sq.writer for sq in squares))
    cols = list(dict.fromkeys(sq.reader for sq in sorted(squares, key=lambda sq: _IMPL_INDEX.get(sq.reader, 99))))
    found = {(sq.writer, sq.reader): sq for sq in squares}

    def square(row: str, col: str) -> Square | None:
        top = found[(row, col)].best if (row, col) in found else None
        if top is None:
            return None
        label = f"{e(top.verdict)}<br><sub>{top.read}/{top.of} · {len(found[(row, col)].pairs)} pairs</sub>"
        return top.verdict, label, _overview_hover(found[(row, col)])

    fig = go.Figure(verdict_heatmap(rows, cols, square, empty="not tried", x=[f"reads: {c}" for c in cols],
                                    y=[f"written by {r}" for r in rows], textfont={"size": 12}, xgap=3, ygap=3))
    fig.update_layout(
        height=140 + 60 * len(rows), width=220 + 150 * len(cols), margin={"l": 10, "r": 10, "t": 60, "b": 10},
        xaxis={"side": "top", "automargin": True}, yaxis={"autorange": "reversed", "automargin": True},
        plot_bgcolor="white", hoverlabel={"align": "left", "font": {"size": 11}},
    )
    return fig


def _badge(verdict: str | None) -> str:
    if not verdict:
        return "—"
    color = COLORS.get(verdict, "#fff")
    fg = "#fff" if verdict in TEXT_ON_DARK else "#000"
    return f'<span class="badge" style="background:{color};color:{fg}">{e(verdict)}</span>'


def _legend() -> str:
    items = "".join(f"<li>{_badge(v)} {e(MEANINGS[v])}</li>" for v in VERDICTS)
    return f'<ul class="legend">{items}</ul>'


def _findings(model: ReportModel) -> str:
    rows = []
    for reader in model.readers:
        cells = [model.cells[(reader.id, f.name)] for f in model.fixtures if (reader.id, f.name) in model.cells]
        counts = {v: sum(c.verdict == v for c in cells) for v in VERDICTS}
        zip_only = [c for c in cells if c.zip_specific]
        reasons = sorted({c.reason.split(" — ")[0] for c in cells if c.verdict not in ("pass",)})
        slow = sorted((a for c in cells for a in c.attempts), key=lambda a: -a.seconds)[:3]
        rows.append([
            e(reader.label), e(reader.id),
            " ".join(f"{_badge(v)}&nbsp;{counts[v]}" for v in VERDICTS if counts[v]),
            e(str(len(zip_only))),
            "<br>".join(e(_clip(r, 140)) for r in reasons[:5]),
            "<br>".join(e(f"{a.seconds:.1f} s: {a.fixture} ({a.variant}, {a.method})") for a in slow),
        ])
    return _table(["reader", "cell", "verdicts over all fixtures", "zip-specific failures", "reasons seen",
                   "slowest reads"], rows, "findings")


def _details(model: ReportModel) -> str:
    parts = []
    for reader in model.readers:
        rows = []
        for fixture, summary, a in model.attempts_of(reader.id):
            if a is None:
                rows.append([e(fixture.name), "", "", _badge(summary.verdict), e(summary.reason), "", "", ""])
                continue
            err = f"{e(a.error_type)}: {e(_clip(a.error_message, 400))}" if a.error_type else ""
            rows.append([e(fixture.name), e(a.variant), e(a.method), _badge(a.verdict),
                         e(_clip(a.reason, 200)), f"<code>{e(_clip(a.call, 300))}</code>", err,
                         f"<code>{e(a.repro)}</code>"])
        parts.append(f"<details><summary>{e(reader.label)} <code>{e(reader.id)}</code> — "
                     f"{len(rows)} attempts</summary>"
                     + _table(["fixture", "variant", "method", "verdict", "reason", "call", "error",
                               "reproduce with"], rows, "attempts") + "</details>")
    return "".join(parts)


def _fixtures(model: ReportModel) -> str:
    rows = []
    for result in model.results:
        for rec in result.of_kind("fixture"):
            manifest = rec.manifest
            arrays = manifest.arrays if manifest else []
            zipinfo = (manifest.zip if manifest else None) or {}
            rows.append([
                e(rec.fixture), e(rec.writer), e(str(manifest.zarr_format if manifest else "—")),
                e(manifest.variant if manifest else rec.fixture_kind),
                e(", ".join(f"{a['path']} {tuple(a['shape'])} {a['dtype']}" for a in arrays)),
                e(str(zipinfo.get("duplicate_members", "—"))),
                "synthetic" if manifest and manifest.synthetic else "",
                e(rec.extra.get("zip_summary") or "—"),
                e(_clip(rec.error.get("message"), 300)) if rec.error else "written",
            ])
    rows.sort(key=lambda r: r[0])
    return _table(["fixture", "writer", "Zarr format", "variant", "arrays (shape, dtype)",
                   "duplicate zip members", "data", "the zip (zarrmatrix inspect)", "status"], rows, "fixtures")


def _rule(cell: dict[str, Any]) -> str:
    """Where a cell's version came from, when matrix.yaml gave a rule rather than a version."""
    rule = cell.get("versions_rule")
    if not rule:
        return ""
    text = ", ".join(f"{k}: {v}" for k, v in rule.get("rule", {}).items())
    return (f"<br><small>version from the rule {{{e(text)}}}: {e(', '.join(rule.get('versions', [])))}, "
            f"{e(rule.get('registry'))} via the {e(rule.get('source'))}, {e(rule.get('resolved_at'))}</small>")


def _provenance(model: ReportModel) -> str:
    rows = []
    for result in model.results:
        cell, env = result.cell, result.environment
        caps = env.get("capabilities") or {}
        facts = []
        for key in dict.fromkeys(k for lib in LIBRARIES.values() for k in lib.capability_keys):
            value = caps.get(key)
            if value:
                facts.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in sorted(value.items())))
        freeze = "<br>".join(e(x) for x in env.get("freeze") or [])
        image = env.get("image_id")
        rows.append([
            f"<code>{e(cell['id'])}</code>", e(cell["backend"]), _badge(result.status) + (
                f"<br><small>{e(_clip(result.status_reason, 500))}</small>" if result.status_reason else ""),
            e(env.get("python") or "—"), e(" ".join(cell.get("requirements", []))) + _rule(cell),
            "<br>".join(e(_clip(f, 300)) for f in facts),
            e(_clip(image, 80)) if image else "—",
            e("reused" if env.get("reused") else ("built" if env.get("reused") is False else "—")),
            e(f"{result.duration_s:.1f} s"), e(result.started),
            f"<details><summary>{len(env.get('freeze') or [])} packages</summary>{freeze}</details>",
        ])
    return _table(["cell", "backend", "status", "python", "pins", "capabilities", "image", "environment",
                   "duration", "started", "freeze"], rows, "provenance")


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1800px}
h1{margin-bottom:4px} h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:12px;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 6px;
vertical-align:top;text-align:left} th{background:#f5f5f5} code{font-size:11px;word-break:break-all}
.badge{display:inline-block;padding:1px 6px;border-radius:3px;font-size:11px;font-weight:600}
.legend{list-style:none;padding:0;columns:2} .legend li{margin:3px 0;font-size:13px}
.meta{color:#555;font-size:13px} details{margin:4px 0} summary{cursor:pointer}
.note{background:#fff8e1;border-left:4px solid #f9a825;padding:6px 10px;font-size:13px}
"""


def page_header(model: ReportModel) -> str:
    """The title, what the results are, and the notes a reader must see first: shared by the one-file
    report and the first page of the site."""
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    backends = sorted({res.cell["backend"] for res in model.results} - {"none"})
    skipped = sum(res.status == "skipped" for res in model.results)
    if skipped:
        backends.append(f"{skipped} cells skipped")
    hosts = sorted({res.host["hostname"] for res in model.results})
    synthetic = any(f.synthetic for f in model.fixtures)
    problems = "".join(f"<li>{e(p)}</li>" for p in model.problems)
    notes = []
    if synthetic:
        notes.append("MNIST columns marked <b>synthetic</b> hold MNIST-shaped synthetic data: the real set was "
                     "neither given (--mnist-dir) nor downloadable.")
    if problems:
        notes.append(f"Result files that did not validate and were left out: <ul>{problems}</ul>")
    if model.incomplete:
        items = "".join(f"<li>{e(p)}</li>" for p in model.incomplete)
        notes.append(f"Incomplete results, kept beside the complete ones and not shown in the matrix: <ul>{items}</ul>")
    return f"""<h1>zarrmatrix: who can read a Zarr ZipStore?</h1>
<p class="meta">Generated {e(generated)} from {len(model.results)} cell results · backends: {e(", ".join(backends))}
 · hosts: {e(", ".join(hosts))} · {len(model.readers)} reader cells × {len(model.fixtures)} fixtures.</p>
{"".join(f'<p class="note">{n}</p>' for n in notes)}"""


def render_html(model: ReportModel, bench_html: str = "", features_html: str = "") -> str:
    figure = matrix_figure(model).to_html(full_html=False, include_plotlyjs=False, div_id="matrix") \
        if model.readers and model.fixtures else "<p>No read attempts in these results.</p>"
    overview = overview_figure(model)
    overview_html = overview.to_html(full_html=False, include_plotlyjs=False, div_id="overview") if overview \
        else "<p>No fixture was both written and read in these results.</p>"
    return page("zarrmatrix: who can read a Zarr ZipStore?", f"""{page_header(model)}
<h2>Implementations: who reads whose Zarr?</h2>
<p>Rows are the implementations that wrote the fixtures, columns those that read them (xarray and fsspec read
through zarr-python, rasterio through GDAL). A square pairs every writer version with every reader version and shows
the best pair: <i>pass</i> when some reader version reads everything some writer version wrote (k/n fixtures),
<i>partial</i> when it reads some of it. Hover for every pair of versions.</p>
{overview_html}
<h2>Compatibility matrix</h2>
<p>Rows are reader cells (library and version), columns are fixtures (writer, Zarr format, how the zip was made),
grouped by the implementation that wrote them.
Each square shows the best of the library's documented ways to open the zip, and the control: the same reader on
the unzipped folder (<i>ctl</i>), so a failure that is zip-specific shows as a red square over <i>ctl pass</i>
(written in the square while the matrix is narrow enough, on hover always). Hover for the exact call, the error and
the command that reproduces it.</p>
{_legend()}
{figure}
<h2>Findings per reader</h2>
{_findings(model)}
{features_html}
<h2 id="releases">What each release changed</h2>
<p>Each version of zarr-python, GDAL and netCDF-C against the version before it in this run, on the fixtures both
read: the fixtures it reads that the one before did not, and those it rejects that the one before read.</p>
{releases_html(release_changes(model))}
{bench_html}
<h2>Fixtures</h2>
{_fixtures(model)}
<h2>Every attempt</h2>
{_details(model)}
<h2 id="wall-time">Where the time went</h2>
{wall_time_html(model.results)}
<h2>Provenance</h2>
{_provenance(model)}""")


def page(title: str, body: str, plotly_src: str | None = None) -> str:
    """Every page's shell: the style, and plotly.js from `plotly_src` (a site's shared copy) or, for the one-file
    report, inside the page."""
    script = f'<script src="{e(plotly_src)}"></script>' if plotly_src else \
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>{STYLE}</style>{script}</head>
<body>
{body}
</body></html>
"""
