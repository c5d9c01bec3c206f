"""What the host backends share (uv environments, npm folders), whatever installed the environment: how long an
install may take and the stamp of a finished one, the clean environment a probe runs with, its memory limit, and
the guard that ends a probe its killed runner can no longer end. Docker takes the same threads rule."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

INSTALL_TIMEOUT_S = 900
READY = ".zarrmatrix-ready.json"



# Numerical libraries start worker threads at import (OpenBLAS under numpy does); a process with
# threads cannot be forked safely, and a probe reads, it does not compute. Same in every isolation.
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def probe_environ(home: Path) -> dict[str, str]:
    """A clean environment for a probe: the host's PATH and locale, and nothing else of the user's.

    A home of its own below the work folder: a user's ~/.config/zarr/zarr.yaml (or
    fsspec's, or GDAL's) would otherwise change what every probe does, unseen. No
    ZARR_*, FSSPEC_*, GDAL_* or PYTHON* variables pass; no PYTHONPATH, no user site."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    for sub in (".config", ".cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               TMPDIR=str(home), PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1", **SINGLE_THREADED)
    return env


def memory_limited(argv: list[str], limit_bytes: int | None, resource: str = "as") -> list[str]:
    """`argv` under a memory limit set by util-linux's prlimit before the probe starts: a store that declares a
    huge array ends the probe with a MemoryError, not the host with an OOM. `resource` is "as" (address space,
    RLIMIT_AS) or "data" (RLIMIT_DATA: writable memory, where a runtime reserves far more address space than
    it uses, as Node does for WebAssembly)."""
    prlimit = shutil.which("prlimit")
    if limit_bytes is None or prlimit is None:
        return argv
    return [prlimit, f"--{resource}={limit_bytes}", "--", *argv]


# What each prlimit resource is called in a result's limits.
LIMIT_KEYS = {"as": ("address_space_bytes", "RLIMIT_AS"), "data": ("data_bytes", "RLIMIT_DATA")}


def memory_limit_facts(limit_bytes: int | None, resource: str = "as") -> dict[str, Any]:
    """The memory limit memory_limited sets, as a result records it (none where prlimit is missing)."""
    key, name = LIMIT_KEYS[resource]
    limited = limit_bytes is not None and shutil.which("prlimit") is not None
    return {key: limit_bytes if limited else None,
            "how": f"prlimit --{resource} ({name})" if limited else "none: prlimit not found"}


# How much longer than its timeout a probe may outlive a runner that was killed (kill -9) before killing it.
ORPHAN_GRACE_S = 5


def outliving_guard(argv: list[str], timeout: float) -> list[str]:
    """`argv` under coreutils' timeout, a little past the runner's own: the runner kills a probe at its
    timeout, but a runner killed with -9 cannot, and the probe (in its own session) would run on unbounded."""
    timeout_binary = shutil.which("timeout")
    if timeout_binary is None:
        return argv
    return [timeout_binary, "--signal=KILL", f"{timeout + ORPHAN_GRACE_S:g}", *argv]
