"""How `zarrmatrix inspect` scales with hostile and large zips: the time for a zip of 60,000 duplicated entries
and the peak memory for a 1 GiB zip, each measured on the command as users run it (its own process).

    python benchmarks/inspect_scale.py [--folder DIR] [--size-mib 1024] [--duplicates 60000]

Prints one line per measurement. The zips are written into DIR (default: a temporary folder, removed after).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

BLOCK = 1 << 20


def duplicated_zip(path: Path, count: int) -> Path:
    """`count` entries under count // 2 names: every name duplicated."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns of every duplicate it writes
        zf.writestr("zarr.json", json.dumps({"zarr_format": 3, "node_type": "group"}))
        # Every chunk written twice, as a rewrite inside a zip leaves it: count // 2 names, each duplicated.
        for i in range(count):
            zf.writestr(zipfile.ZipInfo(f"a/c/{i % max(1, count // 2)}"), b"x")
    return path


def large_zip(path: Path, mib: int) -> Path:
    """A Zarr v3 array of `mib` MiB of uint8 in one STORED chunk member, written a block at a time."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        zf.writestr("zarr.json", json.dumps({"zarr_format": 3, "node_type": "group"}))
        zf.writestr("a/zarr.json", json.dumps({"zarr_format": 3, "node_type": "array", "shape": [mib * BLOCK],
                                               "data_type": "uint8"}))
        block = bytes(range(256)) * (BLOCK // 256)
        with zf.open(zipfile.ZipInfo("a/c/0"), "w", force_zip64=True) as member:
            for _ in range(mib):
                member.write(block)
    return path


# Runs the command in a child of its own and prints that child's peak resident set: a fresh measure per file.
MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)
seconds = time.perf_counter() - started
print(done.returncode, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(done.stderr)
"""


def inspect(path: Path) -> tuple[float, float, int]:
    """(wall seconds, peak resident MB of the inspect process, its exit code)."""
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "zarrmatrix", "inspect", str(path),
                           "--json"], capture_output=True, text=True, timeout=660)
    code, seconds, peak_kib = done.stdout.split()
    if int(code) not in (0, 1) or "Traceback" in done.stderr:
        raise SystemExit(f"inspect failed on {path}: {done.stderr[-2000:]}")
    return float(seconds), int(peak_kib) / 1024, int(code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--duplicates", type=int, default=60_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        folder = Path(tmp)
        baseline = folder / "small.zip"
        duplicated_zip(baseline, 1)
        seconds, peak, _ = inspect(baseline)
        print(f"inspect, a zip of 2 entries:              {seconds:6.2f} s, peak {peak:6.1f} MB (the interpreter)")
        dups = duplicated_zip(folder / "dups.zip", args.duplicates)
        seconds, peak, _ = inspect(dups)
        print(f"inspect, {args.duplicates:,} entries, each name twice: {seconds:6.2f} s, peak {peak:6.1f} MB")
        big = large_zip(folder / "big.zip", args.size_mib)
        seconds, peak, code = inspect(big)
        size = f"{big.stat().st_size / 2**30:.2f} GiB"
        print(f"inspect, a {size} zip:                    {seconds:6.2f} s, peak {peak:6.1f} MB (exit {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
