"""Summary statistics of timing samples: plain functions, tested on known samples."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Spread:
    n: int
    min: float
    median: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def spread(samples: Sequence[float]) -> Spread:
    """Median and quartiles, interpolated linearly between order statistics
    (numpy's default 'linear' percentile, statistics' 'inclusive' method)."""
    if not samples:
        raise ValueError("no samples")
    values = sorted(float(s) for s in samples)
    if len(values) == 1:
        v = values[0]
        return Spread(1, v, v, v, v)
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Spread(len(values), values[0], median, q1, q3)


def throughput_mb_s(nbytes: int, seconds: float) -> float | None:
    return None if seconds <= 0 else nbytes / seconds / 1e6


def ratio(value: float, limit: float | None) -> float | None:
    return None if not limit else value / limit
