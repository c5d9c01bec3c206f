"""`zarrmatrix compare`: asv's rule on known samples, and two real runs, the second with an injected verdict
flip, an injected 2x slowdown (flagged) and an injected 2% change (not flagged)."""

import json
import random
import shutil

import pytest

from zarrmatrix.compare import compare_samples, mann_whitney_p
from zarrmatrix.stats import Z99, median_ci

from .conftest import write_matrix, zarr_cell, zarrmatrix
from .test_integration import results

RUNS = """
schema_version: 1
defaults: {timeout_s: 90}
bench: {shape: [512, 512], chunks: [128, 128], repeats: 15, max_repeats: 15, stores: [zip, directory],
        compressors: [none]}
cells:
""" + zarr_cell("3.1.6", "write, read, bench", "zipstore-v3, zipstore-v2") + zarr_cell("2.18.7") + """"""


def test_mann_whitney_exact_and_approximate():
    # Complete separation of 7 and 7: the exact two-sided p is 2 / C(14, 7).
    assert mann_whitney_p(range(7), range(7, 14)) == pytest.approx(2 / 3432)
    assert mann_whitney_p([1, 2, 3], [1, 2, 3]) == 1.0
    # Ties take the normal approximation; identical samples are no evidence at all.
    assert mann_whitney_p([1, 1, 2, 2, 3, 3], [1, 1, 2, 2, 3, 3]) == 1.0
    rng = random.Random(3)
    a = [rng.gauss(1.0, 0.01) for _ in range(60)]
    b = [rng.gauss(1.5, 0.01) for _ in range(60)]
    assert mann_whitney_p(a, b) < 1e-10


def test_asv_rule():
    rng = random.Random(5)
    base = [rng.gauss(1.0, 0.03) for _ in range(12)]
    doubled = compare_samples("x", base, [v * 2 for v in base])
    assert doubled.flagged and doubled.slower and doubled.test == "Mann-Whitney U"
    two_percent = compare_samples("x", base, [v * 1.02 for v in base])
    assert not two_percent.flagged
    # Under 6 samples: non-overlapping 99% confidence intervals decide.
    few = compare_samples("x", [1.0, 1.01, 0.99], [2.0, 2.02, 1.98])
    assert few.test == "99% CIs" and few.flagged
    assert median_ci([1, 2, 3, 4, 5], Z99).low <= 3 <= median_ci([1, 2, 3, 4, 5], Z99).high
    noisy = compare_samples("x", [1.0, 1.5, 0.7, 1.2, 0.9], [1.3, 0.8, 1.6, 1.1, 1.0])
    assert not noisy.flagged


@pytest.mark.integration
def test_two_real_runs_and_injected_changes(tmp_path, work_dir):
    matrix = write_matrix(tmp_path, RUNS)
    for name in ("first", "second"):
        done = zarrmatrix("run", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir),
                          "--reports", str(tmp_path / name), cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    real = zarrmatrix("compare", str(tmp_path / "first"), str(tmp_path / "second"), "--json", cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    real = json.loads(real.stdout)
    assert real["regressions"] == [] and real["fixes"] == [] and real["timings_compared"] >= 4

    # The second run again, with a verdict flipped, one timing doubled and one 2% slower.
    injected = tmp_path / "injected"
    shutil.copytree(tmp_path / "second", injected)
    path = injected / "results" / "zarr-2.18.7.json"
    result = json.loads(path.read_text())
    flipped = next(r for r in result["records"] if r["kind"] == "read" and r["variant"] == "zip"
                   and r["verdict"] == "pass" and r["fixture"] == "zarr-3.1.6__zipstore-v2.zip")
    for record in result["records"]:
        if record["kind"] == "read" and record["fixture"] == flipped["fixture"] and record["variant"] == "zip":
            record.update(verdict="error", reason="injected: KeyError", error_type="KeyError",
                          error_message="injected")
    path.write_text(json.dumps(result))
    bench_path = injected / "results" / "zarr-3.1.6.json"
    bench = json.loads(bench_path.read_text())
    first = json.loads((tmp_path / "first" / "results" / "zarr-3.1.6.json").read_text())
    base = {(r["store"], r["op"], r["compressor"], r["nbytes"]): r for r in first["records"] if r["kind"] == "bench"}
    timed = [r for r in bench["records"] if r["kind"] == "bench" and r["op"] == "read" and r["samples_s"]]
    slow, slight = timed[0], timed[1]
    # Both start from the first run's samples, so that only the injected factor differs.
    for record, factor in ((slow, 2.0), (slight, 1.02)):
        record["samples_s"] = [s * factor for s in base[(record["store"], record["op"], record["compressor"],
                                                          record["nbytes"])]["samples_s"]]
    bench_path.write_text(json.dumps(bench))

    done = zarrmatrix("compare", str(tmp_path / "first"), str(injected), "--fail-on-regression", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "**1 regressions**" in done.stdout
    assert "`zarr-2.18.7` | `zarr-3.1.6__zipstore-v2.zip` | pass | **error**" in done.stdout
    assert f"{slow['op']} {slow['store']}" in done.stdout and "**2.00×**" in done.stdout
    report = json.loads(zarrmatrix("compare", str(tmp_path / "first"), str(injected), "--json",
                                   cwd=tmp_path).stdout)
    slower = {t["benchmark"] for t in report["slower"]}
    assert any(f"{slow['op']} {slow['store']} ({slow['compressor']}" in key for key in slower)
    assert not any(f"{slight['op']} {slight['store']} ({slight['compressor']}" in key for key in slower)
    assert results(injected)["zarr-2.18.7"]["status"] == "ok"
