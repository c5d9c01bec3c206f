"""The benchmark phase: run the store benchmark probe in a cell and turn its
raw samples into records with their spread, throughput and ratio to the limit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .stats import ratio, spread, throughput_mb_s
from .verdicts import Context, judge

if TYPE_CHECKING:
    from .runner import CellRun, Runner

# The benchmark does many timed repeats in one process: it gets this many attempt timeouts.
TIMEOUT_FACTOR = 20


def bench_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A probe's raw record, with the statistics the report and the terminal show."""
    samples = raw["samples_s"]
    s = spread(samples)
    limit = spread(raw["limit_samples_s"]) if raw.get("limit_samples_s") else None
    failures = raw.get("verify_failures") or []
    return dict(
        raw,
        kind="bench",
        median_s=s.median, iqr_s=s.iqr, q1_s=s.q1, q3_s=s.q3, min_s=s.min, n=s.n,
        mb_s=throughput_mb_s(raw["nbytes"], s.median),
        limit_median_s=None if limit is None else limit.median,
        limit_iqr_s=None if limit is None else limit.iqr,
        ratio_to_limit=None if limit is None else ratio(s.median, limit.median),
        verified=not failures,
    )


def run_bench(runner: "Runner", run: "CellRun") -> list[dict[str, Any]]:
    config = runner.matrix.bench
    mounts = runner.layout.mounts()
    request = dict(config.to_json(), library=run.cell.library,
                   work_dir=run.env.env_path(runner.layout.scratch, mounts))
    timeout = run.cell.timeout_s * TIMEOUT_FACTOR
    attempt = runner.attempt(run, "bench_stores.py", request, timeout)
    records = []
    for raw in attempt.records:
        if raw.get("op") == "error":
            records.append({"kind": "bench-error", "store": raw["store"], "compressor": raw["compressor"],
                            "verdict": "error", "error": raw["error"]})
        elif raw.get("kind") == "bench":
            records.append(bench_record(raw))
    if attempt.result.returncode != 0 or attempt.result.timed_out:
        verdict = judge(attempt.result, None, None, Context(run.cell.library, None, None), timeout)
        records.append({"kind": "bench-error", "store": None, "compressor": None, "verdict": verdict.verdict,
                        "error": {"type": verdict.error_type, "message": verdict.reason,
                                  "detail": attempt.result.tail()}})
    for rec in records:
        if rec["kind"] == "bench" and not rec["verified"]:
            runner.console.print(f"[red]{run.cell.id}: {rec['store']}/{rec['compressor']} read back WRONG data "
                                 f"in {len(rec['verify_failures'])} of {rec['n']} repeats[/]")
    return records
