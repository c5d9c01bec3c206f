"""The probe files a cell runs, and their digest: what a result, a journal and a carried-over record depend on
besides the environment. A probe edited since an attempt was made makes that attempt stale (asv records each
benchmark's code version for the same reason)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .libraries import LIBRARIES

# Shared by every writer of the runtime: the reference arrays and the feature catalogue they all write.
DATA_FILES = ("reference_arrays.json", "features.json")
BENCH_PROBE = "bench_stores.py"
BANDS_PROBE = "bench_bands.py"


def probe_files(library: str, probes: Path) -> list[Path]:
    """The reader, writer and capabilities probes of `library`, the helpers of its runtime (`_*.py` or
    `_*.mjs`), the shared data, the store benchmark where the library benches, the band benchmark where it
    reads with GDAL and the sharded-read benchmark where it reads that; sorted by name."""
    lib = LIBRARIES[library]
    names = {lib.probe, lib.capabilities_probe, *DATA_FILES}
    if lib.writes:
        names.add(lib.writer_probe)
    if lib.benches:
        names.add(BENCH_PROBE)
    if lib.bands_apis:
        names.add(BANDS_PROBE)
    if lib.sharded_reader:
        names.add(lib.sharded_probe)
    names.update(p.name for p in probes.glob(f"_*.{lib.extension}"))
    return sorted((probes / name for name in names if (probes / name).is_file()), key=lambda p: p.name)


def probe_digest(library: str, probes: Path) -> str:
    """SHA-256 over each probe file's name and bytes."""
    digest = hashlib.sha256()
    for path in probe_files(library, probes):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
