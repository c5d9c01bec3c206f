"""The benchmark's numbers: a bench probe's raw samples turned into records with
their spread, throughput and ratio to the limit. Pure: the runner runs the probe."""

from __future__ import annotations

import math
import statistics
from typing import Any

from .attempt import Attempt
from .records import BenchErrorRecord, BenchRecord, Verdict
from .stats import median_ci, ratio, spread, throughput_mb_s
from .verdicts import Context, judge

# The benchmark does many timed repeats in one process: it gets this many attempt timeouts.
TIMEOUT_FACTOR = 20


def bench_record(raw: dict[str, Any]) -> BenchRecord:
    """A probe's raw record, with the statistics the report and the terminal show.

    The limit is a floor: its best repeat. A store whose median is below that floor by more than
    the limit's own noise did less work than moving the bytes; it gets a reason, never a ratio below 1."""
    samples = raw["samples_s"]
    s = spread(samples)
    ci = median_ci(samples)
    limit = spread(raw["limit_samples_s"]) if raw.get("limit_samples_s") else None
    failures = raw.get("verify_failures") or []
    below = limit is not None and s.median < limit.min - limit.iqr
    cpu = [c for c in raw.get("cpu_s") or [] if c is not None]
    peaks = [p for p in raw.get("peak_bytes") or [] if p is not None]
    return BenchRecord.from_json(dict(
        raw,
        median_s=s.median, iqr_s=s.iqr, q1_s=s.q1, q3_s=s.q3, min_s=s.min, n=s.n,
        ci_low_s=ci.low, ci_high_s=ci.high, ci_half_width=ci.half_width,
        # Per operation: a store stops when both its write and read medians are known, so one of them
        # may be known although the store ran out of repeats on the other.
        converged=ci.half_width <= raw.get("within", 0.05) if raw.get("op") != "verify" else None,
        mb_s=throughput_mb_s(raw["nbytes"], s.median),
        limit_median_s=None if limit is None else limit.median,
        limit_min_s=None if limit is None else limit.min,
        limit_iqr_s=None if limit is None else limit.iqr,
        ratio_to_limit=None if limit is None or below else ratio(s.median, limit.min),
        below_limit=(f"faster than the limit ({limit.min * 1e3:.2f} ms, its best repeat): this store did less work "
                     "than moving the bytes once (it kept a reference, or skipped a copy the limit makes)"
                     if below else None),
        cpu_median_s=statistics.median(cpu) if cpu else None,
        peak_bytes=max(peaks) if peaks else None,
        verified=not failures,
        verify_failures=failures,
    ))


def bench_records(attempt: Attempt, library: str, timeout: float) -> list[BenchRecord | BenchErrorRecord]:
    """The records of one benchmark attempt: a record per store and operation, an error per store that
    failed, and one more error if the probe itself did not finish."""
    records: list[BenchRecord | BenchErrorRecord] = []
    for raw in attempt.records:
        if raw.get("op") == "error":
            records.append(BenchErrorRecord(raw["store"], raw["compressor"], Verdict.ERROR, raw["error"]))
        elif raw.get("kind") == "bench":
            timings = [*raw.get("samples_s", []), *(raw.get("limit_samples_s") or [])]
            if all(isinstance(t, (int, float)) and math.isfinite(t) for t in timings):
                records.append(bench_record(raw))
            else:
                # A result holds finite numbers only: a NaN would compare as nothing at all.
                records.append(BenchErrorRecord(raw.get("store"), raw.get("compressor"), Verdict.ERROR, {
                    "type": "NonFiniteTiming", "message": f"{raw.get('op')}: a timing that is not a finite "
                    "number (NaN or infinite) in the probe's samples"}))
    if attempt.result.returncode != 0 or attempt.result.timed_out:
        verdict = judge(attempt.result, None, None, Context(library, None, None), timeout)
        records.append(BenchErrorRecord(None, None, verdict.verdict, {
            "type": verdict.error_type, "message": verdict.reason, "detail": attempt.result.tail()}))
    return records
