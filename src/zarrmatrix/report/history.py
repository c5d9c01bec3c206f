"""Runs over time: every run's results kept under reports/runs/<when>-<hash>/results/, a history page that
shows each reader's verdict on each fixture across the runs and, per library, the first version that reads
each fixture kind, and a shields.io endpoint per reader cell ("reads 17/17") that a README can show."""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from ..records import CellResult, Verdict
from ..results import load_results, write_text
from .model import READS, ReportModel, _version_key, build_model

RUNS = "runs"
e = html.escape


@dataclass(frozen=True)
class Run:
    name: str
    model: ReportModel


def _run_name(results: list[CellResult]) -> str:
    """When the run started (its earliest cell), and a hash of what it holds: a run read again with more
    cells is a new entry, the same run archived twice is one."""
    started = min((r.started for r in results), default="unknown")
    digest = hashlib.sha256()
    for result in sorted(results, key=lambda r: r.id):
        digest.update(json.dumps(result.to_json(), sort_keys=True).encode())
    stamp = started.replace(":", "-").replace("+00-00", "Z")[:20]
    return f"{stamp}-{digest.hexdigest()[:8]}"


def archive_run(reports: Path, results: list[CellResult]) -> Path | None:
    """Keep this run's results under reports/runs/ (once: an archived run is never written again)."""
    if not results:
        return None
    folder = reports / RUNS / _run_name(results) / "results"
    if folder.is_dir():
        return folder.parent
    folder.mkdir(parents=True)
    for result in results:
        write_text(folder / f"{result.id}.json", json.dumps(result.to_json(), indent=1, sort_keys=True))
    return folder.parent


def load_runs(reports: Path) -> list[Run]:
    """Every archived run, oldest first."""
    runs = []
    for folder in sorted((reports / RUNS).glob("*/results")):
        merged = load_results(folder)
        if merged.results:
            runs.append(Run(folder.parent.name, build_model(merged.results)))
    return runs


def badge(model: ReportModel, reader_id: str) -> dict:
    """A shields.io endpoint: how many fixtures the reader cell reads of those it tried."""
    summaries = [s for (r, _), s in model.cells.items() if r == reader_id and s.verdict is not Verdict.SKIPPED]
    read = sum(s.verdict in READS for s in summaries)
    total = len(summaries)
    color = "brightgreen" if total and read == total else "yellow" if read else "red" if total else "lightgrey"
    return {"schemaVersion": 1, "label": f"zarrmatrix {reader_id}",
            "message": f"reads {read}/{total}" if total else "not run", "color": color}


def write_badges(reports: Path, model: ReportModel) -> list[Path]:
    folder = reports / "badges"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for reader in model.readers:
        path = folder / f"{reader.id}.json"
        write_text(path, json.dumps(badge(model, reader.id), indent=1))
        written.append(path)
    return written


def first_readers(runs: list[Run]) -> dict[tuple[str, str], str]:
    """(library, fixture kind) -> the lowest version of the library that read a fixture of that kind in any run."""
    found: dict[tuple[str, str], tuple] = {}
    for run in runs:
        kinds = {}
        for result in run.model.results:
            for rec in result.of_kind("fixture"):
                kinds[rec.fixture] = rec.fixture_kind
        readers = {r.id: r for r in run.model.readers}
        for (reader_id, fixture), summary in run.model.cells.items():
            reader = readers.get(reader_id)
            if reader is None or summary.verdict not in READS or fixture not in kinds:
                continue
            version = reader.version or reader.label.split(" ", 1)[-1]
            key = (reader.library, kinds[fixture])
            candidate = (_version_key(version), version)
            if key not in found or candidate[0] < found[key][0]:
                found[key] = candidate
    return {key: value[1] for key, value in found.items()}


def _verdict_index(verdict: Verdict) -> int:
    return list(Verdict).index(verdict)


def history_figure(runs: list[Run]) -> go.Figure | None:
    """Rows: reader x fixture pairs whose verdict changed across the runs; columns: runs."""
    from .html import COLORS

    names = [run.name for run in runs]
    pairs = sorted({key for run in runs for key in run.model.cells})
    changed = [p for p in pairs if len({run.model.cells[p].verdict for run in runs if p in run.model.cells}) > 1]
    if not changed:
        return None
    verdicts = list(Verdict)
    n = len(verdicts)
    scale = []
    for i, v in enumerate(verdicts):
        scale += [[i / n, COLORS[v]], [(i + 1) / n, COLORS[v]]]
    z, text = [], []
    for pair in changed:
        row_z, row_t = [], []
        for run in runs:
            summary = run.model.cells.get(pair)
            row_z.append(_verdict_index(summary.verdict) if summary else None)
            row_t.append(summary.verdict.value if summary else "")
        z.append(row_z)
        text.append(row_t)
    fig = go.Figure(go.Heatmap(z=z, x=names, y=[f"{r} · {f}" for r, f in changed], text=text,
                               texttemplate="%{text}", colorscale=scale, zmin=-0.5, zmax=n - 0.5, showscale=False,
                               xgap=2, ygap=2, hovertemplate="%{y}<br>run %{x}: %{text}<extra></extra>"))
    fig.update_layout(height=200 + 26 * len(changed), margin={"l": 10, "r": 10, "t": 140, "b": 10},
                      xaxis={"side": "top", "tickangle": -30, "automargin": True},
                      yaxis={"autorange": "reversed", "automargin": True}, plot_bgcolor="white")
    return fig


def render_history(runs: list[Run], plotly_src: str) -> str:
    from .html import STYLE, _badge

    figure = history_figure(runs)
    rows = []
    readers = sorted({r.id for run in runs for r in run.model.readers})
    for reader_id in readers:
        cells = []
        for run in runs:
            b = badge(run.model, reader_id) if any(r.id == reader_id for r in run.model.readers) else None
            cells.append(e(b["message"]) if b else "—")
        rows.append(f"<tr><td><code>{e(reader_id)}</code></td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{e(run.name)}</th>" for run in runs)
    per_reader = f"<table><thead><tr><th>reader cell</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    first = first_readers(runs)
    kinds = sorted({kind for _, kind in first})
    libraries = sorted({lib for lib, _ in first})
    first_rows = "".join(
        f"<tr><td>{e(lib)}</td>" + "".join(f"<td>{e(first.get((lib, k), '—'))}</td>" for k in kinds) + "</tr>"
        for lib in libraries)
    first_table = (f"<table><thead><tr><th>library</th>{''.join(f'<th>{e(k)}</th>' for k in kinds)}</tr></thead>"
                   f"<tbody>{first_rows}</tbody></table>")
    chart = figure.to_html(full_html=False, include_plotlyjs=False, div_id="history") if figure else \
        f"<p>{_badge('pass')} No verdict changed across these {len(runs)} runs.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>zarrmatrix: history</title>
<style>{STYLE}</style><script src="{e(plotly_src)}"></script></head>
<body>
<h1>zarrmatrix: history of {len(runs)} runs</h1>
<p class="meta"><a href="index.html">the latest report</a> · each run's results are kept under
<code>runs/&lt;when&gt;-&lt;hash&gt;/results/</code> · badges: <code>badges/&lt;cell&gt;.json</code>
(shields.io endpoint format)</p>
<h2>Verdicts that changed, per reader and fixture</h2>
{chart}
<h2>Fixtures read, per reader cell and run</h2>
{per_reader}
<h2>The first version of each library that reads each fixture kind (over all runs)</h2>
{first_table}
</body></html>
"""
