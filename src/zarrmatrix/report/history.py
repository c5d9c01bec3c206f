"""Runs over time: every run's results kept under reports/runs/<when>-<hash>/results/, a history page that
shows each reader's verdict on each fixture across the runs and, per library, the first version that reads
each fixture kind, and a shields.io endpoint per reader cell ("reads 17/17") that a README can show."""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from ..records import VERDICT_OF, CellResult, Verdict
from ..results import load_results, write_text
from ..safefs import UnsafeInput, inside, own_folder, read_text
from .model import READS, ReportModel, _version_key, build_model

RUNS = "runs"
e = html.escape


VERDICTS_FILE = "verdicts.json"
# The verdicts file's own version; a file without one is of version 1.
VERDICTS_VERSION = 1
VERDICTS_MAX_BYTES = 256 << 20


@dataclass(frozen=True)
class Run:
    """One kept run, as the history needs it: each reader's verdict on each fixture, and what they are."""

    name: str
    readers: dict[str, dict]                   # id -> {"library", "label", "version"}
    kinds: dict[str, str]                      # fixture -> fixture kind
    cells: dict[tuple[str, str], Verdict]      # (reader, fixture) -> verdict

    @classmethod
    def of(cls, name: str, model: ReportModel) -> Run:
        kinds = {rec.fixture: rec.fixture_kind for res in model.results for rec in res.of_kind("fixture")}
        readers = {r.id: {"library": r.library, "label": r.label, "version": r.version} for r in model.readers}
        return cls(name, readers, kinds, {key: s.verdict for key, s in model.cells.items()})

    def to_json(self) -> dict:
        cells: dict[str, dict[str, str]] = {}
        for (reader, fixture), verdict in self.cells.items():
            cells.setdefault(reader, {})[fixture] = verdict.value
        return {"version": VERDICTS_VERSION, "name": self.name, "readers": self.readers, "kinds": self.kinds,
                "cells": cells}

    @classmethod
    def from_json(cls, data: Any) -> Run:
        """A kept run's verdicts file, checked whole: ValueError names what is wrong."""
        if not isinstance(data, dict) or data.get("version", 1) != VERDICTS_VERSION:
            raise ValueError(f"not a verdicts file of version {VERDICTS_VERSION}")
        name, readers, kinds, rows = (data.get(k) for k in ("name", "readers", "kinds", "cells"))
        if not isinstance(name, str) or not all(isinstance(x, dict) for x in (readers, kinds, rows)):
            raise ValueError("expected 'name' (text) and 'readers', 'kinds', 'cells' (objects)")
        for reader_id, reader in readers.items():
            if not (isinstance(reader, dict) and all(isinstance(reader.get(k), str) for k in ("library", "label"))
                    and isinstance(reader.get("version"), (str, type(None)))):
                raise ValueError(f"readers.{reader_id}: expected 'library', 'label' and 'version'")
        if not all(isinstance(v, str) for v in kinds.values()):
            raise ValueError("kinds: expected a fixture kind (text) per fixture")
        cells = {}
        for reader_id, row in rows.items():
            if not isinstance(row, dict):
                raise ValueError(f"cells.{reader_id}: expected an object of verdicts")
            for fixture, value in row.items():
                if not isinstance(value, str) or value not in VERDICT_OF:
                    raise ValueError(f"cells.{reader_id}.{fixture}: {str(value)[:40]!r} is not a verdict")
                cells[(reader_id, fixture)] = VERDICT_OF[value]
        return cls(name, readers, kinds, cells)


def _run_name(results: list[CellResult], files: list[Path]) -> str:
    """When the run started (its earliest cell), and a hash of its result files: a run read again with more
    cells is a new entry, the same run archived twice is one."""
    started = min((r.started for r in results), default="unknown")
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    stamp = started.replace(":", "-").replace("+00-00", "Z")[:20]
    return f"{stamp}-{digest.hexdigest()[:8]}"


def keep_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows one (a run's next result replaces the file by a rename, so
    the kept one never changes), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def archive_run(reports: Path, model: ReportModel) -> Path | None:
    """Keep this run's result files under reports/runs/<name>/results/, byte for byte, and the verdicts the
    history reads beside them (once: an archived run is never written again)."""
    files = [reports / "results" / f"{res.id}.json" for res in model.results]
    files = [f for f in files if f.is_file()]
    if not files:
        return None
    folder = own_folder(reports / RUNS) / _run_name(model.results, files)
    if (folder / VERDICTS_FILE).is_file():
        return folder
    own_folder(folder)
    own_folder(folder / "results")
    for path in files:
        keep_copy(path, folder / "results" / path.name)
    write_text(folder / VERDICTS_FILE, json.dumps(Run.of(folder.name, model).to_json(), separators=(",", ":")))
    return folder


def load_runs(reports: Path, problems: list[str] | None = None) -> list[Run]:
    """Every kept run, oldest first: its verdicts file, or (for a run kept without one, or with one that is
    not readable) its results; a run with neither is left out, and `problems` says why."""
    runs = []
    for folder in sorted(p for p in (reports / RUNS).glob("*") if p.is_dir() and not p.is_symlink()):
        verdicts = folder / VERDICTS_FILE
        try:
            runs.append(Run.from_json(json.loads(read_text(verdicts, limit=VERDICTS_MAX_BYTES, follow=False))))
            continue
        except (OSError, ValueError, RecursionError, UnsafeInput) as exc:
            why = f"{verdicts}: {str(exc).removeprefix(f'{verdicts}: ')}"
        merged = load_results(folder / "results") if (folder / "results").is_dir() else None
        if merged and merged.results:
            runs.append(Run.of(folder.name, build_model(merged.results)))
        elif problems is not None:
            problems.append(f"history: run {folder.name} left out: {why}, and no results beside it")
    return runs


def prune_runs(reports: Path, keep: int) -> list[Path]:
    """Remove every kept run but the newest `keep` (a run's name starts with when it ran). Only folders that
    are runs are touched: a real folder (no link) holding a verdicts file or results, nothing else."""
    folder = reports / RUNS
    if keep < 1:
        raise ValueError("keep at least one run")
    if not folder.is_dir() or folder.is_symlink():
        return []
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()
                  and ((p / VERDICTS_FILE).is_file() or (p / "results").is_dir()))
    dropped = runs[: max(0, len(runs) - keep)]
    for run in dropped:
        shutil.rmtree(run)
    return dropped


def read_counts(cells: dict[tuple[str, str], Verdict]) -> dict[str, tuple[int, int]]:
    """reader -> (fixtures read, fixtures tried), skipped squares left out."""
    counts: dict[str, list[int]] = {}
    for (reader, _), verdict in cells.items():
        if verdict is Verdict.SKIPPED:
            counts.setdefault(reader, [0, 0])
            continue
        count = counts.setdefault(reader, [0, 0])
        count[1] += 1
        count[0] += verdict in READS
    return {reader: (read, total) for reader, (read, total) in counts.items()}


def badge(reader_id: str, read: int, total: int) -> dict:
    """A shields.io endpoint: how many fixtures the reader cell reads of those it tried."""
    color = "brightgreen" if total and read == total else "yellow" if read else "red" if total else "lightgrey"
    return {"schemaVersion": 1, "label": f"zarrmatrix {reader_id}",
            "message": f"reads {read}/{total}" if total else "not run", "color": color}


def write_badges(reports: Path, model: ReportModel) -> list[Path]:
    folder = own_folder(reports / "badges")
    counts = read_counts({key: s.verdict for key, s in model.cells.items()})
    written = []
    for reader in model.readers:
        path = inside(folder, f"{reader.id}.json")
        write_text(path, json.dumps(badge(reader.id, *counts.get(reader.id, (0, 0))), indent=1), durable=False)
        written.append(path)
    return written


def first_readers(runs: list[Run]) -> dict[tuple[str, str], str]:
    """(library, fixture kind) -> the lowest version of the library that read a fixture of that kind in any run."""
    found: dict[tuple[str, str], tuple] = {}
    for run in runs:
        for (reader_id, fixture), verdict in run.cells.items():
            reader = run.readers.get(reader_id)
            if reader is None or verdict not in READS or fixture not in run.kinds:
                continue
            version = reader["version"] or reader["label"].split(" ", 1)[-1]
            key = (reader["library"], run.kinds[fixture])
            candidate = (_version_key(version), version)
            if key not in found or candidate[0] < found[key][0]:
                found[key] = candidate
    return {key: value[1] for key, value in found.items()}


def history_figure(runs: list[Run]) -> go.Figure | None:
    """Rows: reader x fixture pairs whose verdict changed across the runs; columns: runs."""
    from .html import verdict_heatmap

    names = [run.name for run in runs]
    pairs = sorted({key for run in runs for key in run.cells})
    changed = [p for p in pairs if len({run.cells[p] for run in runs if p in run.cells}) > 1]
    if not changed:
        return None

    def square(pair: tuple[str, str], run: Run) -> tuple[Verdict, str, str] | None:
        verdict = run.cells.get(pair)
        return (verdict, verdict.value, "") if verdict else None

    fig = go.Figure(verdict_heatmap(changed, runs, square, empty="", x=names, y=[f"{r} · {f}" for r, f in changed],
                                    hovertemplate="%{y}<br>run %{x}: %{text}<extra></extra>"))
    fig.update_layout(height=200 + 26 * len(changed), margin={"l": 10, "r": 10, "t": 140, "b": 10},
                      xaxis={"side": "top", "tickangle": -30, "automargin": True},
                      yaxis={"autorange": "reversed", "automargin": True}, plot_bgcolor="white")
    return fig


def render_history(runs: list[Run], plotly_src: str) -> str:
    from .html import _badge, page

    figure = history_figure(runs)
    rows = []
    readers = sorted({r for run in runs for r in run.readers})
    counts = [read_counts(run.cells) for run in runs]
    for reader_id in readers:
        cells = []
        for run, count in zip(runs, counts):
            cells.append(e(badge(reader_id, *count[reader_id])["message"]) if reader_id in count else "—")
        rows.append(f"<tr><td><code>{e(reader_id)}</code></td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{e(run.name)}</th>" for run in runs)
    per_reader = f"<table><thead><tr><th>reader cell</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    first = first_readers(runs)
    kinds = sorted({kind for _, kind in first})
    libraries = sorted({lib for lib, _ in first})
    # Fixture kinds down, libraries across: there are many more kinds than libraries.
    first_rows = "".join(
        f"<tr><td>{e(kind)}</td>" + "".join(f"<td>{e(first.get((lib, kind), '—'))}</td>" for lib in libraries)
        + "</tr>" for kind in kinds)
    first_table = (f"<table><thead><tr><th>fixture kind</th>{''.join(f'<th>{e(lib)}</th>' for lib in libraries)}"
                   f"</tr></thead><tbody>{first_rows}</tbody></table>")
    chart = figure.to_html(full_html=False, include_plotlyjs=False, div_id="history") if figure else \
        f"<p>{_badge('pass')} No verdict changed across these {len(runs)} runs.</p>"
    return page("zarrmatrix: history", f"""<h1>zarrmatrix: history of {len(runs)} runs</h1>
<p class="meta"><a href="index.html">the latest report</a> · each run's results are kept under
<code>runs/&lt;when&gt;-&lt;hash&gt;/results/</code> · badges: <code>badges/&lt;cell&gt;.json</code>
(shields.io endpoint format)</p>
<h2>Verdicts that changed, per reader and fixture</h2>
{chart}
<h2>Fixtures read, per reader cell and run</h2>
{per_reader}
<h2>The first version of each library that reads each fixture kind (over all runs)</h2>
{first_table}""", plotly_src)
