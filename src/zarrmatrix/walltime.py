"""Where a run's time went, from the phase spans each cell's result keeps.

A phase's wall time is the length of the union of its spans over the cells, so cells that ran side by side
count once; its summed time adds the spans up, which is what the cells would have taken one after another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .records import CellResult, PhaseSpan

# (phase in the results, what the split calls it)
PHASES = (("environment", "environments"), ("write", "fixtures"), ("read", "reads"), ("bench", "benchmarks"),
          ("bands", "band benchmark"), ("sharded", "sharded-read benchmark"))
SLOWEST = 5


@dataclass(frozen=True)
class PhaseTime:
    name: str
    wall_s: float
    summed_s: float
    cells: int


@dataclass(frozen=True)
class WallTime:
    start: float
    end: float
    phases: list[PhaseTime]
    # Every span together: what is not in it is nox, installs and the tool's own start-up.
    covered_s: float
    slowest: list[tuple[str, float]]

    @property
    def wall_s(self) -> float:
        return self.end - self.start


def union_length(spans: Iterable[tuple[float, float]]) -> float:
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def wall_time(results: Sequence[CellResult], since: float | None = None,
              until: float | None = None) -> WallTime | None:
    """The split of the spans that began at `since` or later (all of them by default), up to `until` (the
    last span's end by default); None where the results hold no spans (results older than the spans)."""
    spans: list[tuple[str, str, PhaseSpan]] = [
        (result.id, phase, span) for result in results for phase, span in result.timings.items()
        if since is None or span.start >= since]
    if not spans:
        return None
    start = since if since is not None else min(span.start for _, _, span in spans)
    end = until if until is not None else max(span.end for _, _, span in spans)
    phases = []
    for phase, name in PHASES:
        mine = [(cell, span) for cell, p, span in spans if p == phase]
        if mine:
            phases.append(PhaseTime(name, union_length((s.start, s.end) for _, s in mine),
                                    sum(s.seconds for _, s in mine), len({cell for cell, _ in mine})))
    reads = sorted(((cell, span.seconds) for cell, p, span in spans if p == "read"), key=lambda item: -item[1])
    return WallTime(start, end, phases, union_length((s.start, s.end) for _, _, s in spans), reads[:SLOWEST])


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def split_lines(split: WallTime, *, report_s: float | None = None) -> list[str]:
    """The split as the end of `nox -s matrix` prints it."""
    lines = [f"where the time went: {duration(split.wall_s)} wall clock"]
    for phase in split.phases:
        side = f", {duration(phase.summed_s)} one after another" if phase.summed_s > phase.wall_s * 1.05 else ""
        lines.append(f"  {phase.name:<13} {duration(phase.wall_s):>12}  ({phase.cells} cells{side})")
    if report_s is not None:
        lines.append(f"  {'report':<13} {duration(report_s):>12}")
    other = split.wall_s - split.covered_s - (report_s or 0.0)
    lines.append(f"  {'other':<13} {duration(max(0.0, other)):>12}  (nox, installs, each run's start-up)")
    if split.slowest:
        lines.append("  slowest reads: " + ", ".join(f"{cell} {duration(s)}" for cell, s in split.slowest))
    return lines
