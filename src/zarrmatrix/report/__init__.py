"""Merge the results of a run and render them: reports/index.html and reports/summary.md."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rich.console import Console

from ..results import load_results
from .bench import bench_html
from .html import render_html
from .markdown import render_markdown
from .model import build_model


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def build_report(reports: Path, console: Console | None = None) -> list[Path]:
    console = console or Console(stderr=True)
    merged = load_results(reports / "results")
    for problem in merged.problems:
        console.print(f"[yellow]{problem}[/]")
    model = build_model(merged.results, merged.problems)
    index, summary = reports / "index.html", reports / "summary.md"
    _write_atomic(index, render_html(model, bench_html(model)))
    _write_atomic(summary, render_markdown(model))
    return [index, summary]
