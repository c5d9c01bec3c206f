"""`zarrmatrix bench-runner`: the read phase of a matrix with each isolation, one after the
other on the same warm environments, and what each cost: where the matrix's time goes."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

from rich.console import Console
from rich.table import Table

from .cell_run import Layout
from .matrix import Cell
from .runner import Runner

ISOLATIONS = ("process", "fork")


@dataclass(frozen=True)
class Timing:
    isolation: str
    attempts: int
    wall_s: float
    median_attempt_s: float
    verdicts: dict[tuple, str]


def time_isolation(runner: Runner, cells: list[Cell]) -> Timing:
    started = time.perf_counter()
    runs = runner.run(cells, phases=["read"])
    wall = time.perf_counter() - started
    reads = [r for run in runs for r in run.records if r.KIND == "read"]
    verdicts = {(r.reader, r.fixture, r.variant, r.method): r.verdict.value for r in reads}
    median = statistics.median(r.seconds for r in reads) if reads else 0.0
    return Timing(runner.isolation, len(reads), wall, median, verdicts)


def bench_runner(make_runner, layout: Layout, cells: list[Cell], console: Console, out: Console) -> int:
    """Run the read phase once per isolation, into reports/bench-runner/<isolation>/, and compare."""
    timings = []
    for isolation in ISOLATIONS:
        sub = replace(layout, reports=layout.reports / "bench-runner" / isolation, fixtures_dir=layout.fixtures)
        console.print(f"read phase with --isolation {isolation} ...")
        timings.append(time_isolation(make_runner(sub, isolation), cells))
    process, fork = timings
    table = Table(title=f"read phase of {len(cells)} cells, by isolation")
    for column in ("isolation", "attempts", "wall time", "median attempt", "verdicts"):
        table.add_column(column, justify="left" if column == "isolation" else "right")
    differ = sum(process.verdicts.get(k) != fork.verdicts.get(k) for k in process.verdicts.keys() | fork.verdicts)
    for t in timings:
        table.add_row(t.isolation, str(t.attempts), f"{t.wall_s:.1f} s", f"{t.median_attempt_s * 1e3:.0f} ms",
                      "same" if not differ else f"{differ} differ")
    out.print(table)
    out.print(f"fork is {process.wall_s / fork.wall_s:.1f}× faster in wall time, and its median attempt "
              f"{process.median_attempt_s / max(fork.median_attempt_s, 1e-9):.1f}× shorter; "
              f"verdicts: {'identical' if not differ else f'{differ} differ'}")
    return 1 if differ else 0
