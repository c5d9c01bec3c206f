"""`zarrmatrix reproduce CELL FIXTURE METHOD`: one attempt again, in the cell's own
environment and in a fresh process, and what it saw."""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack

from rich.console import Console
from rich.markup import escape

from .attempt import IMPORT
from .cell_run import Layout
from .errors import UserError
from .fixtures import discover
from .matrix import Matrix
from .runner import Runner


def reproduce(matrix: Matrix, layout: Layout, console: Console, *, cell_id: str, fixture_name: str, method: str,
              variant: str, backend: str | None) -> int:
    (cell,) = matrix.select([cell_id])
    fixtures = {f.name: f for f in discover(layout.fixtures, matrix.limits.extraction())}
    if fixture_name not in fixtures:
        raise UserError(f"no fixture {fixture_name!r} in {layout.fixtures}; "
                        f"known: {', '.join(sorted(fixtures)) or 'none'}")
    runner = Runner(matrix, layout, backend_choice=backend, jobs=1, console=console)
    with ExitStack() as envs:
        envs.callback(shutil.rmtree, layout.scratch, ignore_errors=True)
        (run,) = runner.provision([cell], envs)
        if not run.ready:
            console.print(f"[red]{escape(cell.id)}: {run.status}[/]: {escape(run.status_reason or '')}")
            return 1
        record = runner.read(run, fixtures[fixture_name], variant, None if method == IMPORT else method)
    print(json.dumps(record.to_json(), indent=1, sort_keys=True))
    console.print(f"{escape(cell.id)} {escape(method)} on {escape(fixture_name)} ({variant}): "
                  f"[bold]{record.verdict}[/] — {escape(record.reason)}")
    return 0
