"""Merge the results of a run and render them: reports/index.html and reports/summary.md."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..results import load_results, write_text
from .bench import bench_html
from .html import render_html
from .markdown import render_markdown
from .model import build_model


def build_report(reports: Path, console: Console | None = None) -> list[Path]:
    console = console or Console(stderr=True)
    merged = load_results(reports / "results")
    for problem in merged.problems + merged.incomplete:
        console.print(f"[yellow]{escape(problem)}[/]")
    model = build_model(merged.results, merged.problems, merged.incomplete)
    index, summary = reports / "index.html", reports / "summary.md"
    write_text(index, render_html(model, bench_html(model)))
    write_text(summary, render_markdown(model))
    return [index, summary]
