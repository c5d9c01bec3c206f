"""`zarrmatrix reproduce CELL FIXTURE METHOD`: one attempt again, in the cell's own environment."""

from __future__ import annotations

import json

from rich.console import Console

from .fixtures import discover
from .matrix import Matrix
from .runner import Layout, Runner


def reproduce(args, matrix: Matrix, layout: Layout, console: Console) -> int:
    (cell,) = matrix.select([args.cell])
    fixtures = {f.name: f for f in discover(layout.fixtures)}
    if args.fixture not in fixtures:
        console.print(f"[red]error:[/] no fixture {args.fixture!r} in {layout.fixtures}; "
                      f"known: {', '.join(sorted(fixtures)) or 'none'}")
        return 2
    fixture = fixtures[args.fixture]
    runner = Runner(matrix, layout, backend_choice=args.backend, jobs=1, console=console)
    (run,) = runner.provision([cell])
    try:
        if not run.ready:
            console.print(f"[red]{cell.id}: {run.status}[/]: {run.status_reason}")
            return 1
        # "import" names the attempt a cell makes when its probe cannot even import the library.
        method = None if args.method == "import" else args.method
        record = runner.read_attempt(run, fixture, args.variant, method, expected=fixture.arrays)
    finally:
        if run.env is not None:
            run.env.close()
    print(json.dumps(record, indent=1, sort_keys=True))
    console.print(f"{cell.id} {args.method} on {fixture.name} ({args.variant}): "
                  f"[bold]{record['verdict']}[/] — {record['reason']}")
    return 0
