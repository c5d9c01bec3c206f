"""Two runs side by side: which verdicts got worse or better, which cells came or went, and which
benchmark timings changed for real.

A timing counts as changed by asv's rule: the ratio of the medians passes a factor (1.1 by default, either
way) and the change is significant: a two-sided Mann-Whitney U test at p < 0.002 where both sides have at
least 6 samples, else 99% confidence intervals of the medians that do not overlap.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from .records import BenchRecord, CellResult, Verdict
from .report.model import build_model
from .stats import Z99, median_ci

FACTOR = 1.1
P_VALUE = 0.002
MIN_SAMPLES = 6
# Verdicts that say nothing about the library: a move to or from them is not a regression or a fix.
_NOT_RUN = {Verdict.SKIPPED, Verdict.ENV_FAILED}


@lru_cache(maxsize=256)
def _u_counts(n: int, m: int) -> tuple[int, ...]:
    """How many of the C(n+m, n) orderings give each value of U: the exact null distribution, without ties."""
    # counts[i][j] is the distribution for i and j samples, built up from smaller ones.
    previous = [[1] for _ in range(m + 1)]
    for i in range(1, n + 1):
        current = [[1]]
        for j in range(1, m + 1):
            # The largest value is from the first sample (adds j to U) or from the second.
            a, b = previous[j], current[j - 1]
            size = i * j + 1
            row = [0] * size
            for u, c in enumerate(a):
                row[u + j] += c
            for u, c in enumerate(b):
                row[u] += c
            current.append(row)
        previous = current
    return tuple(previous[m])


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test: exact for small samples without ties, else the normal
    approximation with the tie correction."""
    n, m = len(a), len(b)
    if not n or not m:
        return 1.0
    pooled = sorted([(x, 0) for x in a] + [(y, 1) for y in b])
    ranks: list[float] = [0.0] * len(pooled)
    ties = []
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        ties.append(j - i + 1)
        i = j + 1
    rank_a = sum(r for r, (_, side) in zip(ranks, pooled) if side == 0)
    u = rank_a - n * (n + 1) / 2
    u_low = min(u, n * m - u)
    if all(t == 1 for t in ties) and n * m <= 2500:
        counts = _u_counts(n, m)
        total = sum(counts)
        tail = sum(counts[: int(u_low) + 1])
        return min(1.0, 2 * tail / total)
    mean = n * m / 2
    tie_term = sum(t ** 3 - t for t in ties) / ((n + m) * (n + m - 1))
    sd = math.sqrt(n * m / 12 * ((n + m + 1) - tie_term))
    if sd == 0:
        return 1.0
    z = (abs(u - mean) - 0.5) / sd
    return min(1.0, math.erfc(max(z, 0) / math.sqrt(2)))


@dataclass(frozen=True)
class TimingChange:
    key: str
    old_median_s: float
    new_median_s: float
    ratio: float
    significant: bool
    test: str
    p_value: float | None
    factor: float = FACTOR

    @property
    def flagged(self) -> bool:
        return self.significant and (self.ratio > self.factor or self.ratio < 1 / self.factor)

    @property
    def slower(self) -> bool:
        return self.ratio > 1


def compare_samples(key: str, old: Sequence[float], new: Sequence[float], factor: float = FACTOR) -> TimingChange:
    """asv's rule on one benchmark: the ratio of medians, and whether the change is significant."""
    old_m, new_m = statistics.median(old), statistics.median(new)
    ratio = new_m / old_m if old_m else math.inf
    if len(old) >= MIN_SAMPLES and len(new) >= MIN_SAMPLES:
        p = mann_whitney_p(old, new)
        return TimingChange(key, old_m, new_m, ratio, p < P_VALUE, "Mann-Whitney U", p, factor)
    a, b = median_ci(old, Z99), median_ci(new, Z99)
    return TimingChange(key, old_m, new_m, ratio, a.high < b.low or b.high < a.low, "99% CIs", None, factor)


@dataclass(frozen=True)
class VerdictChange:
    reader: str
    fixture: str
    old: Verdict
    new: Verdict
    old_reason: str
    new_reason: str


@dataclass
class Comparison:
    regressions: list[VerdictChange] = field(default_factory=list)
    fixes: list[VerdictChange] = field(default_factory=list)
    other_changes: list[VerdictChange] = field(default_factory=list)
    new_cells: list[str] = field(default_factory=list)
    removed_cells: list[str] = field(default_factory=list)
    new_fixtures: list[str] = field(default_factory=list)
    removed_fixtures: list[str] = field(default_factory=list)
    timings: list[TimingChange] = field(default_factory=list)
    # Benchmarks of a cell both runs have, measured in one run only: a run that lost its benchmarks has not
    # compared clean, it has nothing to compare.
    new_benchmarks: list[str] = field(default_factory=list)
    removed_benchmarks: list[str] = field(default_factory=list)
    common_cells: int = 0

    @property
    def slower(self) -> list[TimingChange]:
        return [t for t in self.timings if t.flagged and t.slower]

    @property
    def faster(self) -> list[TimingChange]:
        return [t for t in self.timings if t.flagged and not t.slower]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.slower or self.removed_benchmarks or not self.common_cells)

    def to_json(self) -> dict[str, Any]:
        def change(c: VerdictChange) -> dict[str, Any]:
            return {"reader": c.reader, "fixture": c.fixture, "old": c.old.value, "new": c.new.value,
                    "old_reason": c.old_reason, "new_reason": c.new_reason}

        def timing(t: TimingChange) -> dict[str, Any]:
            return {"benchmark": t.key, "old_median_s": t.old_median_s, "new_median_s": t.new_median_s,
                    "ratio": round(t.ratio, 4), "significant": t.significant, "test": t.test,
                    "p_value": t.p_value, "flagged": t.flagged}

        return {"regressed": self.regressed, "regressions": [change(c) for c in self.regressions],
                "fixes": [change(c) for c in self.fixes], "other_changes": [change(c) for c in self.other_changes],
                "new_cells": self.new_cells, "removed_cells": self.removed_cells,
                "new_fixtures": self.new_fixtures, "removed_fixtures": self.removed_fixtures,
                "slower": [timing(t) for t in self.slower], "faster": [timing(t) for t in self.faster],
                "timings_compared": len(self.timings), "common_cells": self.common_cells,
                "new_benchmarks": self.new_benchmarks, "removed_benchmarks": self.removed_benchmarks}


def _bench_key(cell: str, rec: BenchRecord) -> str:
    return f"{cell}: {rec.op} {rec.store} ({rec.compressor}, {rec.nbytes / 2**20:g} MiB)"


def compare_results(old: list[CellResult], new: list[CellResult], factor: float = FACTOR) -> Comparison:
    before, after = build_model(old), build_model(new)
    out = Comparison()
    old_cells, new_cells = {r.id for r in old}, {r.id for r in new}
    out.new_cells, out.removed_cells = sorted(new_cells - old_cells), sorted(old_cells - new_cells)
    out.common_cells = len(old_cells & new_cells)
    old_fixtures, new_fixtures = {f.name for f in before.fixtures}, {f.name for f in after.fixtures}
    out.new_fixtures, out.removed_fixtures = sorted(new_fixtures - old_fixtures), sorted(old_fixtures - new_fixtures)
    for key in sorted(set(before.cells) & set(after.cells)):
        a, b = before.cells[key], after.cells[key]
        if a.verdict == b.verdict:
            continue
        change = VerdictChange(key[0], key[1], a.verdict, b.verdict, a.reason, b.reason)
        if a.verdict in _NOT_RUN or b.verdict in _NOT_RUN:
            out.other_changes.append(change)
        elif b.verdict.rank > a.verdict.rank:
            out.regressions.append(change)
        else:
            out.fixes.append(change)
    both = old_cells & new_cells
    old_bench = {_bench_key(row.cell, row.record): row.record for row in before.bench
                 if row.record.samples_s and row.cell in both}
    new_bench = {_bench_key(row.cell, row.record): row.record for row in after.bench
                 if row.record.samples_s and row.cell in both}
    out.new_benchmarks = sorted(new_bench.keys() - old_bench.keys())
    out.removed_benchmarks = sorted(old_bench.keys() - new_bench.keys())
    for key in sorted(old_bench.keys() & new_bench.keys()):
        out.timings.append(compare_samples(key, old_bench[key].samples_s, new_bench[key].samples_s, factor))
    return out


def _verdict_rows(changes: list[VerdictChange]) -> list[str]:
    rows = ["| reader | fixture | was | now | why now |", "|---|---|---|---|---|"]
    for c in changes:
        why = c.new_reason.replace("|", "\\|")[:160]
        rows.append(f"| `{c.reader}` | `{c.fixture}` | {c.old.value} | **{c.new.value}** | {why} |")
    return rows


def _timing_rows(timings: list[TimingChange]) -> list[str]:
    rows = ["| benchmark | before | after | ratio | test |", "|---|---|---|---|---|"]
    for t in timings:
        test = f"{t.test}, p = {t.p_value:.2g}" if t.p_value is not None else t.test
        rows.append(f"| {t.key} | {t.old_median_s * 1e3:.3g} ms | {t.new_median_s * 1e3:.3g} ms | "
                    f"**{t.ratio:.2f}×** | {test} |")
    return rows


def to_markdown(c: Comparison, old_label: str, new_label: str) -> str:
    factor = c.timings[0].factor if c.timings else FACTOR
    lines = [f"## zarrmatrix: {new_label} against {old_label}", ""]
    if not c.common_cells:
        lines += ["**No cell in common**: these runs share no cell, so nothing was compared.", ""]
    lines.append(f"**{len(c.regressions)} regressions**, {len(c.fixes)} fixes, {len(c.slower)} slower and "
                 f"{len(c.faster)} faster benchmarks (of {len(c.timings)} compared; asv's rule: ratio past "
                 f"{factor} and Mann-Whitney p < {P_VALUE}, or non-overlapping 99% CIs under {MIN_SAMPLES} samples).")
    sections = [("Regressions: verdicts that got worse", _verdict_rows(c.regressions) if c.regressions else []),
                ("Fixes: verdicts that got better", _verdict_rows(c.fixes) if c.fixes else []),
                ("Slower", _timing_rows(c.slower) if c.slower else []),
                ("Faster", _timing_rows(c.faster) if c.faster else []),
                ("Changes to or from not run (skipped, env-failed)",
                 _verdict_rows(c.other_changes) if c.other_changes else [])]
    for title, rows in sections:
        if rows:
            lines += ["", f"### {title}", "", *rows]
    for title, names in (("New cells", c.new_cells), ("Removed cells", c.removed_cells),
                         ("New fixtures", c.new_fixtures), ("Removed fixtures", c.removed_fixtures),
                         ("Benchmarks measured in the new run only", c.new_benchmarks),
                         ("Benchmarks lost: measured in the old run only", c.removed_benchmarks)):
        if names:
            lines += ["", f"### {title}", "", ", ".join(f"`{n}`" for n in names)]
    return "\n".join(lines) + "\n"
