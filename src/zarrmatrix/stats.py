"""Summary statistics of timing samples: plain functions, tested on known samples."""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class MedianCI:
    median: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        """Half the interval, relative to the median: 0.05 is ±5%."""
        return (self.high - self.low) / 2 / self.median if self.median else float("inf")


# The normal quantiles of a two-sided 95% and 99% interval.
Z95, Z99 = 1.96, 2.576


def median_ci(samples: Sequence[float], z: float = Z95) -> MedianCI:
    """The median and its distribution-free confidence interval, from order statistics: the ranks
    n/2 ± z·√n/2; 95% by default (the bench probe stops on the same rule), 99% with z=Z99."""
    values = sorted(float(s) for s in samples)
    if not values:
        raise ValueError("no samples")
    n = len(values)
    half = z * math.sqrt(n) / 2
    low, high = max(0, int(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half) - 1)
    return MedianCI(statistics.median(values), values[low], values[high])
