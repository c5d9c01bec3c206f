"""GDAL's read time against the band count (probes/bench_bands.py): what a cell is asked, the records its
answer makes, and the growth each curve shows.

GDAL's classic raster API sees each index of an N x 28 x 28 array's first dimension as a band. Its read of the
whole array grows with N faster than the data does; the multidimensional API reads the same array as one. The
growth is the least-squares slope of log(time) against log(N): 1 is linear, 2 quadratic.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from .attempt import Attempt
from .records import BandsRecord, CellResult

COUNTS = (1000, 2000, 4000, 8000, 16000)
REPEATS = 3
# A count whose fastest read takes longer ends the sweep: the next would take four times as long.
BUDGET_S = 20.0


def request(apis: Sequence[str], work_dir: str) -> dict[str, Any]:
    return {"apis": list(apis), "counts": list(COUNTS), "repeats": REPEATS, "budget_s": BUDGET_S,
            "work_dir": work_dir}


def timeout_s() -> float:
    """Room for every count at the budget's pace, and each array's writing."""
    return len(COUNTS) * REPEATS * BUDGET_S * 4 + 60


def band_records(attempt: Attempt, apis: Sequence[str]) -> list[BandsRecord]:
    """The probe's records; where it made none for an API (it died, or could not import GDAL), one record
    carrying why."""
    records = [BandsRecord.from_json(raw) for raw in attempt.records if raw.get("kind") == "bands"]
    done = {r.api for r in records}
    for api in apis:
        if api not in done:
            records.append(BandsRecord(api=api, call="", bands=COUNTS[0], gdal_version="",
                                       error={"type": "probe", "message": attempt.result.tail()[-2000:]}))
    return records


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1e3:.1f} ms"


@dataclass(frozen=True)
class Curve:
    cell: str
    api: str
    gdal_version: str
    points: list[tuple[int, float]]  # (bands, median seconds), by bands
    error: str | None
    call: str = ""

    @property
    def exponent(self) -> float | None:
        """The slope of log(seconds) against log(bands), over the counts that took a millisecond or more
        (below, the clock's and the call's own costs dominate)."""
        usable = [(math.log(n), math.log(t)) for n, t in self.points if t >= 0.001]
        if len(usable) < 2:
            return None
        mean_x = statistics.fmean(x for x, _ in usable)
        mean_y = statistics.fmean(y for _, y in usable)
        return (sum((x - mean_x) * (y - mean_y) for x, y in usable)
                / sum((x - mean_x) ** 2 for x, _ in usable))

    def sentence(self) -> str:
        api = "classic API" if self.api == "classic" else "multidimensional API"
        head = f"GDAL {self.gdal_version or '?'} ({self.cell}), {api}" + (f", {self.call}" if self.call else "")
        if not self.points:
            return f"{head}: no read finished ({self.error or 'no records'})"
        (first_n, first_t), (last_n, last_t) = self.points[0], self.points[-1]
        growth = f"time grows as N^{self.exponent:.2f}" if self.exponent is not None else "too fast to fit"
        return (f"{head}: {growth} ({first_n:,} bands {seconds(first_t)}, {last_n:,} bands {seconds(last_t)})"
                + (f"; then {self.error}" if self.error else ""))


def curves(results: Sequence[CellResult]) -> list[Curve]:
    out = []
    for result in results:
        by_api: dict[str, list[BandsRecord]] = {}
        for record in result.of_kind("bands"):
            by_api.setdefault(record.api, []).append(record)
        for api, records in sorted(by_api.items()):
            records.sort(key=lambda r: r.bands)
            points = [(r.bands, r.median_s) for r in records if r.median_s is not None]
            failed = next((r for r in records if r.error), None)
            error = None if failed is None else f"{failed.bands:,} bands: {failed.error.get('message', '')[:200]}"
            version = next((r.gdal_version for r in records if r.gdal_version), "")
            call = next((r.call for r in records if r.call), "")
            out.append(Curve(result.id, api, version, points, error, call))
    return out
