"""Merge the results of a run and render them: reports/index.html and reports/summary.md; keep the run under
reports/runs/ and render the history of every kept run (history.html) and a badge per reader cell."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..results import load_results, write_text
from .bench import bench_html
from .history import archive_run, load_runs, render_history, write_badges
from .html import render_html
from .markdown import render_markdown
from .model import build_model

PLOTLY_JS = "plotly.min.js"


def build_report(reports: Path, console: Console | None = None) -> list[Path]:
    console = console or Console(stderr=True)
    merged = load_results(reports / "results")
    for problem in merged.problems + merged.incomplete:
        console.print(f"[yellow]{escape(problem)}[/]")
    model = build_model(merged.results, merged.problems, merged.incomplete)
    index, summary = reports / "index.html", reports / "summary.md"
    write_text(index, render_html(model, bench_html(model)))
    write_text(summary, render_markdown(model))
    written = [index, summary]
    if archive_run(reports, merged.results) is None:
        return written
    badges = write_badges(reports, model)
    if badges:
        console.print(f"badges: {len(badges)} shields.io endpoints in {badges[0].parent}")
    runs = load_runs(reports)
    shared_plotly(reports)
    history = reports / "history.html"
    write_text(history, render_history(runs, PLOTLY_JS))
    console.print(f"history: {len(runs)} runs kept under {reports / 'runs'}; {history}")
    return written + [history]


def shared_plotly(reports: Path) -> Path:
    """plotly.js once for every page of the site that does not embed it (written when missing or outdated)."""
    from plotly.offline import get_plotlyjs

    path = reports / PLOTLY_JS
    text = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(text.encode()):
        write_text(path, text)
    return path
