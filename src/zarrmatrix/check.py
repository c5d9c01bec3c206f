"""`zarrmatrix check PATH.zip ...`: every reader cell against zip files a user brings.

Without a manifest, the newest zarr reader that reads every array it finds is
the reference: its checksums become the manifest every other reader must match.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from packaging.version import InvalidVersion, Version
from rich.console import Console
from rich.table import Table

from .cli import stdout_console
from .fixtures import Fixture, discover, manifest_path
from .matrix import Matrix
from .report import build_report
from .report.html import COLORS
from .report.model import build_model
from .results import load_results
from .runner import CellRun, Layout, Runner


def _newest_first(run: CellRun) -> tuple:
    try:
        return (0, Version(run.cell.version or ""))
    except InvalidVersion:
        return (1, Version("0"))


def _reference(runner: Runner, zarr_runs: list[CellRun], fixture: Fixture) -> dict[str, Any] | None:
    for run in zarr_runs:
        for method in run.methods:
            record = runner.read_attempt(run, fixture, "zip", method, expected=None)
            arrays = record["arrays"]
            if record["verdict"] == "pass" and arrays:
                return {"fixture": fixture.name, "writer": None, "zarr_format": fixture.zarr_format,
                        "variant": "brought by the user", "reference": f"{run.cell.id} {method}",
                        "arrays": [{"path": a["path"], "sha256": a["sha256"],
                                    "shape": (a.get("observed") or {}).get("shape"),
                                    "dtype": (a.get("observed") or {}).get("dtype")} for a in arrays]}
    return None


def run_check(args, matrix: Matrix, layout: Layout, console: Console) -> int:
    missing = [str(z) for z in args.zips if not z.is_file()]
    if missing:
        console.print(f"[red]error:[/] no such file: {', '.join(missing)}")
        return 2
    if layout.fixtures.exists():
        shutil.rmtree(layout.fixtures)
    if layout.results.exists():
        shutil.rmtree(layout.results)
    layout.fixtures.mkdir(parents=True)
    for z in args.zips:
        shutil.copy2(z, layout.fixtures / z.name)
    readers = [c for c in matrix.cells if "read" in c.roles]
    runner = Runner(matrix, layout, backend_choice=args.backend, jobs=args.jobs, console=console)
    runs = runner.provision(readers)
    try:
        ready = [r for r in runs if r.ready]
        runner.parallel(ready, runner.list_methods, "asking readers for their methods")
        zarr_runs = sorted((r for r in ready if r.cell.library == "zarr"), key=_newest_first, reverse=True)
        for fixture in discover(layout.fixtures):
            manifest = _reference(runner, zarr_runs, fixture)
            if manifest is None:
                console.print(f"[yellow]{fixture.name}: no zarr reader could read it whole; "
                              "there is no reference to check the others against[/]")
                continue
            console.print(f"{fixture.name}: reference is {manifest['reference']}, "
                          f"{len(manifest['arrays'])} arrays")
            manifest_path(fixture.zip_path).write_text(json.dumps(manifest, indent=1))
        runner.read_phase(runs, discover(layout.fixtures))
    finally:
        runner.finish(runs, ["read"])
    merged = load_results(layout.results)
    model = build_model(merged.results, merged.problems)
    print_table(model, stdout_console())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([s.to_json() for s in model.summaries()], indent=1))
        console.print(f"wrote {args.json}")
    for path in build_report(layout.reports, console=console):
        console.print(f"wrote {path}")
    return 0


def print_table(model, console: Console) -> None:
    for fixture in model.fixtures:
        table = Table(title=f"who can open {fixture.name}?")
        for col in ("reader", "cell", "verdict", "control", "reason"):
            table.add_column(col)
        for reader in model.readers:
            s = model.cells.get((reader.id, fixture.name))
            if s is None:
                continue
            color = COLORS.get(s.verdict, "white")
            table.add_row(reader.label, reader.id, f"[bold {color}]{s.verdict}[/]", s.control_verdict or "—",
                          s.reason[:90])
        console.print(table)
