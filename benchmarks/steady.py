"""Do the verdicts hold under load? Every reader cell's read phase again, with CPU-bound processes beside it
(as many as the machine has cores, by default), against a quiet run's results: prints each attempt and each
square of the matrix whose verdict moved, and the slowest attempts of both runs, and exits 1 if any moved.

    python benchmarks/steady.py [--reports reports] [--burners N] [-- ARGS FOR zarrmatrix run]

The loaded run reads the quiet run's own fixtures, with its results as the last run's (a run in place has
them: they order the attempts and tell which verdicts moved, see confirm.py), copied into a temporary reports
folder, removed after; with the arguments given after `--` (for instance `--backend venv`, as the quiet run had).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zarrmatrix.report.model import build_model
from zarrmatrix.results import load_results

BURN = "while True:\n    pass\n"
RUN_TIMEOUT_S = 3 * 3600


def attempts(reports: Path) -> dict[tuple[str, str, str, str], tuple[str, float, str]]:
    merged = load_results(reports / "results", light=True)
    return {(r.reader, r.fixture, r.variant, r.method): (r.verdict.value, r.seconds, r.reason or "")
            for result in merged.results for r in result.of_kind("read")}


def squares(reports: Path) -> dict[tuple[str, str], str]:
    model = build_model(load_results(reports / "results", light=True).results)
    return {key: summary.verdict.value for key, summary in model.cells.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="the quiet run's reports folder")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2,
                        help="CPU-bound processes beside the loaded run (default: one per core)")
    args, run_args = parser.parse_known_args()
    run_args = [a for a in run_args if a != "--"]
    quiet = args.reports.resolve()
    if not (quiet / "results").is_dir() or not (quiet / "fixtures").is_dir():
        print(f"error: {quiet} holds no results and fixtures: run `nox -s matrix` first", file=sys.stderr)
        return 2
    before, before_squares = attempts(quiet), squares(quiet)
    with tempfile.TemporaryDirectory(prefix="zarrmatrix-steady-") as tmp:
        loaded = Path(tmp) / "reports"
        shutil.copytree(quiet / "fixtures", loaded / "fixtures", symlinks=True)
        shutil.copytree(quiet / "results", loaded / "results", symlinks=True,
                        ignore=shutil.ignore_patterns("*.journal*", "*.incomplete.json"))
        burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(args.burners)]
        started = time.perf_counter()
        try:
            # Ours last: argparse takes the last --reports, and the quiet run's results must stay as they are.
            done = subprocess.run([sys.executable, "-m", "zarrmatrix", "run", *run_args, "--phase", "read", "--fresh",
                                   "--reports", str(loaded)], timeout=RUN_TIMEOUT_S)
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
        took = time.perf_counter() - started
        if done.returncode not in (0, 1):
            print(f"error: the loaded run ended with {done.returncode}", file=sys.stderr)
            return 2
        after, after_squares = attempts(loaded), squares(loaded)
    moved = sorted(k for k in before.keys() & after.keys() if before[k][0] != after[k][0])
    moved_squares = sorted(k for k in before_squares.keys() & after_squares.keys()
                           if before_squares[k] != after_squares[k])
    print(f"loaded run: {len(after)} attempts in {took:.0f} s beside {args.burners} CPU-bound processes; "
          f"{len(before.keys() & after.keys())} attempts and {len(before_squares.keys() & after_squares.keys())} "
          f"squares in both runs")
    for key in moved:
        print(f"  attempt moved: {' '.join(key)}: {before[key][0]} ({before[key][1]:.1f} s) -> "
              f"{after[key][0]} ({after[key][1]:.1f} s): {after[key][2][:300]}")
    for key in moved_squares:
        print(f"  square moved: {' '.join(key)}: {before_squares[key]} -> {after_squares[key]}")
    for name, runs in (("quiet", before), ("loaded", after)):
        slowest = sorted(runs.items(), key=lambda item: -item[1][1])[:3]
        print(f"  slowest {name}: " + "; ".join(f"{' '.join(k[:2])} {k[2]} {v[1]:.1f} s" for k, v in slowest))
    only = len(before.keys() ^ after.keys())
    if only:
        print(f"  {only} attempts are in one run only (cells or fixtures that differ)")
    print("verdicts steady" if not (moved or moved_squares) else
          f"{len(moved)} attempts and {len(moved_squares)} squares moved under load")
    return 1 if moved or moved_squares else 0


if __name__ == "__main__":
    sys.exit(main())
