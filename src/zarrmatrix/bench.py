"""The benchmark's numbers: a bench probe's raw samples turned into records with
their spread, throughput and ratio to the limit. Pure: the runner runs the probe."""

from __future__ import annotations

from typing import Any

from .attempt import Attempt
from .records import BenchErrorRecord, BenchRecord, Verdict
from .stats import ratio, spread, throughput_mb_s
from .verdicts import Context, judge

# The benchmark does many timed repeats in one process: it gets this many attempt timeouts.
TIMEOUT_FACTOR = 20


def bench_record(raw: dict[str, Any]) -> BenchRecord:
    """A probe's raw record, with the statistics the report and the terminal show."""
    samples = raw["samples_s"]
    s = spread(samples)
    limit = spread(raw["limit_samples_s"]) if raw.get("limit_samples_s") else None
    failures = raw.get("verify_failures") or []
    return BenchRecord.from_json(dict(
        raw,
        median_s=s.median, iqr_s=s.iqr, q1_s=s.q1, q3_s=s.q3, min_s=s.min, n=s.n,
        mb_s=throughput_mb_s(raw["nbytes"], s.median),
        limit_median_s=None if limit is None else limit.median,
        limit_iqr_s=None if limit is None else limit.iqr,
        ratio_to_limit=None if limit is None else ratio(s.median, limit.median),
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
            records.append(bench_record(raw))
    if attempt.result.returncode != 0 or attempt.result.timed_out:
        verdict = judge(attempt.result, None, None, Context(library, None, None), timeout)
        records.append(BenchErrorRecord(None, None, verdict.verdict, {
            "type": verdict.error_type, "message": verdict.reason, "detail": attempt.result.tail()}))
    return records
