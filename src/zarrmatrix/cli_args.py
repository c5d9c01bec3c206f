"""The command line of `zarrmatrix`: every command and its flags, validated where argparse can (a --factor that is
no finite ratio above 1 is a usage error, exit 2)."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", default="matrix.yaml", type=Path, help="the matrix file (default ./matrix.yaml)")
    parser.add_argument("--locked", action="store_true", default=None,
                        help="take versions rules' resolutions from the lock file only (matrix.lock.json; "
                             "default: $ZARRMATRIX_LOCKED)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("auto", "venv", "docker"), default=None,
                        help="where cells run (default: each cell's setting in matrix.yaml, itself 'auto')")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="attempts run at once (default: the number of cores, at most 4)")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="output folder (default reports/)")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("ZARRMATRIX_WORK", ".zarrmatrix")),
                        help="environments and scratch (default .zarrmatrix/ or $ZARRMATRIX_WORK)")
    parser.add_argument("--base-image", action="append", default=[], metavar="PUBLIC=LOCAL",
                        help="build on LOCAL where a Dockerfile names PUBLIC (repeatable; offline hosts)")
    parser.add_argument("--ca-bundle", type=Path, default=None,
                        help="a CA bundle for image builds behind a TLS-intercepting proxy "
                             "(default: docker.ca_bundle, else $PIP_CERT or $SSL_CERT_FILE)")
    parser.add_argument("--isolation", choices=("fork", "process"), default="fork",
                        help="fork: each cell imports its library once and forks a child per read attempt "
                             "(default); process: a fresh interpreter per attempt")
    parser.add_argument("--fresh", action="store_true",
                        help="ignore the journals of earlier runs that were cut short, and run every attempt")
    parser.add_argument("--probes-dir", type=Path, default=None, help=argparse.SUPPRESS)


def _factor(text: str) -> float:
    """--factor: a finite ratio above 1 (nan and inf would turn the timing gate off)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number above 1 (1.1 means 10% slower or "
                                         "faster)")
    return value


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zarrmatrix", description=description)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check matrix.yaml; exit 0 if valid, 2 if not")
    _common(p)

    p = sub.add_parser("list", help="print the cells")
    _common(p)
    p.add_argument("--json", action="store_true", help="one JSON object per cell")

    p = sub.add_parser("run", help="run cells: write fixtures, read them all, benchmark stores")
    _common(p)
    _run_options(p)
    p.add_argument("--cells", nargs="+", metavar="ID", help="only these cells (default: all)")
    p.add_argument("--phase", nargs="+", choices=("write", "read", "bench", "bands", "sharded"),
                   default=["write", "read", "bench"],
                   help="bands: GDAL's read time against the band count, for the cells that read with GDAL; "
                        "sharded: one sharded array read out of a folder and zips by each cell with that role")
    p.add_argument("--mnist-dir", help="a folder with the MNIST IDX files (default: cache, then mirrors)")
    p.add_argument("--bench-shape", type=int, nargs="+", metavar="N",
                   help="benchmark array shape instead of matrix.yaml's (the real size: 8192 8192)")
    p.add_argument("--bench-chunks", type=int, nargs="+", metavar="N", help="benchmark chunk shape (e.g. 1024 1024)")
    p.add_argument("--sharded-shape", type=int, nargs=2, metavar="N",
                   help="the sharded-read benchmark's array shape instead of matrix.yaml's (8192 8192: 256 MiB)")
    p.add_argument("--sharded-shards", type=int, nargs=2, metavar="N", help="its shard shape (e.g. 2048 2048)")
    p.add_argument("--sharded-chunks", type=int, nargs=2, metavar="N", help="its inner chunk shape (e.g. 256 256)")
    p.add_argument("--sharded-budget", type=float, metavar="S", help="seconds per store, access and cache state")
    p.add_argument("--bench-sizes", nargs="+", metavar="SIZE",
                   help="a size sweep instead of matrix.yaml's (the real one: 4m 16m 64m 256m 1g)")
    p.add_argument("--bench-max-repeats", type=int, metavar="N", help="at most this many repeats of a store "
                   "whose median is not yet known to within bench.within (default: matrix.yaml's)")
    p.add_argument("--bench-budget", type=float, metavar="SECONDS", help="seconds a store may take, per size")
    p.add_argument("--drop-caches", action="store_true",
                   help="drop the page cache before each disk read of the benchmark (root, venv backend)")

    p = sub.add_parser("bench-runner", help="the read phase with each isolation (process, fork): wall time, "
                                            "median attempt, and whether the verdicts agree")
    _common(p)
    _run_options(p)
    p.add_argument("--cells", nargs="+", metavar="ID", help="only these cells (default: every reader)")

    p = sub.add_parser("inspect", help="what a zip is, with no library under test: members, duplicates, "
                                       "ZIP64, order, comment, nested root, damage, and an RFC-9 (.ozx) "
                                       "verdict; exit 0 when every file is valid, 1 when one is not")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file, as a list")

    p = sub.add_parser("report", help="merge the results and render reports/index.html")
    _common(p)
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--wall-since", type=float, metavar="EPOCH",
                   help="then print where the time went since then (seconds since the epoch; nox -s matrix "
                        "passes its start)")

    p = sub.add_parser("lock", help="freeze every versions rule and the Pythons each release supports into the "
                                    "lock file beside the matrix (matrix.lock.json), which later runs use")
    _common(p)
    p.add_argument("--upgrade", action="store_true",
                   help="resolve everything against the index anew, and print what moved")

    p = sub.add_parser("releases", help="what each zarr-python, GDAL and netCDF-C release changed against the "
                                        "version before it, in the results (Markdown)")
    p.add_argument("--reports", type=Path, default=Path("reports"))

    p = sub.add_parser("prune-runs", help="keep only the newest N runs of the history (reports/runs/)")
    p.add_argument("--keep", type=int, required=True, metavar="N", help="how many runs to keep (at least 1)")
    p.add_argument("--reports", type=Path, default=Path("reports"))

    p = sub.add_parser("merge", help="merge the results (and fixtures) of shards into one reports folder")
    p.add_argument("sources", nargs="+", type=Path, metavar="DIR", help="a shard's reports folder, or its results/")
    p.add_argument("--into", type=Path, required=True, metavar="REPORTS", help="the merged reports folder")

    p = sub.add_parser("compare", help="what changed between two runs: verdicts that got worse or better, cells "
                                       "that came or went, benchmarks that changed (asv's rule)")
    p.add_argument("old", type=Path, help="the earlier run: a reports folder, or its results/")
    p.add_argument("new", type=Path, help="the later run")
    p.add_argument("--json", action="store_true", help="JSON for scripts instead of Markdown")
    p.add_argument("--factor", type=_factor, default=1.1, help="the ratio a timing must pass (default 1.1)")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when a verdict got worse or a benchmark got slower")

    p = sub.add_parser("bench-table", help="print the benchmark table of the results")
    _common(p)
    p.add_argument("--reports", type=Path, default=Path("reports"))

    p = sub.add_parser("check", help="which reader cells can open MY zip files?")
    _common(p)
    _run_options(p)
    p.add_argument("zips", nargs="+", type=Path, metavar="PATH.zip")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the verdicts as a JSON list")
    p.add_argument("--out", type=Path, default=Path("reports/check"), help="report folder (default reports/check)")

    p = sub.add_parser("reproduce", help="run one attempt again and print what it saw")
    _common(p)
    _run_options(p)
    p.add_argument("cell")
    p.add_argument("fixture", help="the fixture's file name")
    p.add_argument("method")
    p.add_argument("--variant", choices=("zip", "folder"), default="zip")
    p.add_argument("--fixtures", type=Path, default=None, help="the fixtures folder (default reports/fixtures)")
    return parser
