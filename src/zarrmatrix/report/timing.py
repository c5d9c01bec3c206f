"""Where the time went, in the report: each phase's wall clock and summed time over the cells (walltime.py),
and the slowest reads."""

from __future__ import annotations

import html
from typing import Sequence

from ..records import CellResult
from ..walltime import duration, wall_time
from .tables import table

e = html.escape


def wall_time_html(results: Sequence[CellResult]) -> str:
    split = wall_time(results)
    if split is None:
        return "<p>These results keep no phase timings.</p>"
    rows = [[e(p.name), e(duration(p.wall_s)), e(duration(p.summed_s)), str(p.cells)] for p in split.phases]
    rows.append(["other", e(duration(max(0.0, split.wall_s - split.covered_s))), "—", "—"])
    slowest = ", ".join(f"<code>{e(cell)}</code> {e(duration(s))}" for cell, s in split.slowest)
    return (f"<p>{e(duration(split.wall_s))} from the first phase these results recorded to the last. A phase's "
            "wall time counts cells that ran side by side once; its summed time is what they would take one after "
            "another; <i>other</i> is nox, installs and each run's start-up.</p>"
            + table(["phase", "wall clock", "summed", "cells"], rows, "wall-time")
            + (f"<p>The slowest reads: {slowest}.</p>" if slowest else ""))
