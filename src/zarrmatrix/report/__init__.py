"""Merge the results of a run and render them: reports/index.html and reports/summary.md; keep the run under
reports/runs/ and render the history of every kept run (history.html) and a badge per reader cell."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..consoles import message_console
from ..results import load_results, write_text
from ..triage import Triage
from .bands import bands_html
from .bench import bench_html
from .features_html import features_html
from .history import archive_run, load_runs, render_history, write_badges
from .html import page_header, render_html
from .markdown import render_markdown
from .model import build_model
from .sharded import sharded_html
from .site import SITE_SQUARES, render_site

PLOTLY_JS = "plotly.min.js"


def build_report(reports: Path, console: Console | None = None, triage: Triage | None = None) -> list[Path]:
    """`triage`: the known upstream issues the report links (triage.yaml beside the matrix file)."""
    console = console or message_console()
    merged = load_results(reports / "results", light=True)
    for problem in merged.problems + merged.incomplete:
        console.print(f"[yellow]{escape(problem)}[/]")
    model = build_model(merged.results, merged.problems, merged.incomplete)
    features = features_html(model, triage or Triage())
    summary = reports / "summary.md"
    site = len(model.readers) * len(model.fixtures) > SITE_SQUARES
    benchmarks = bench_html(model) + bands_html(model.results) + sharded_html(model.results)
    if site or model.results:
        # Shared by the site's pages and the history page.
        shared_plotly(reports)
    if site:
        # A matrix this large is a site: a first page that opens at once, and a page per library.
        pages = render_site(model, reports, page_header(model), benchmarks, PLOTLY_JS, features)
        console.print(f"site: {len(pages)} pages (the matrix has {len(model.readers)} reader cells × "
                      f"{len(model.fixtures)} fixtures)")
    else:
        pages = [reports / "index.html"]
        write_text(pages[0], render_html(model, benchmarks, features))
    write_text(summary, render_markdown(model))
    written = [pages[0], summary]
    if archive_run(reports, model) is None:
        return written
    badges = write_badges(reports, model)
    if badges:
        console.print(f"badges: {len(badges)} shields.io endpoints in {escape(str(badges[0].parent))}")
    problems: list[str] = []
    runs = load_runs(reports, problems)
    for problem in problems:
        console.print(f"[yellow]{escape(problem)}[/]")
    history = reports / "history.html"
    write_text(history, render_history(runs, PLOTLY_JS))
    console.print(f"history: {len(runs)} runs kept under {escape(str(reports / 'runs'))}; {escape(str(history))}")
    return written + [history]


def shared_plotly(reports: Path) -> Path:
    """plotly.js once for every page of the site that does not embed it (written when missing or outdated)."""
    from plotly.offline import get_plotlyjs

    path = reports / PLOTLY_JS
    text = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(text.encode()):
        write_text(path, text)
    return path
