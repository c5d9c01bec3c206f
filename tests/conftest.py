import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBES = ROOT / "probes"


def write_matrix(folder: Path, body: str, name: str = "matrix.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def zarr_cell(version: str = "3.1.6", roles: str = "read", writes: str = "") -> str:
    """A zarr cell of a test matrix (one entry of `cells:`): zarr 3 with the fsspec its benchmark uses, zarr 2
    with what its releases need to import (numcodecs before 0.16, numpy 1)."""
    pins = '{fsspec: "==2026.9.0"}' if version.startswith("3") else '{numcodecs: "<0.16", numpy: "<2"}'
    text = f'  - library: zarr\n    versions: ["{version}"]\n    pins: {pins}\n    roles: [{roles}]\n'
    return text + (f"    writes: [{writes}]\n" if writes else "")


def zarrmatrix(*args: str, cwd: Path, timeout: float = 1500, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess:
    """The CLI as users call it, in its own process; `env` adds to the environment."""
    return subprocess.run([sys.executable, "-m", "zarrmatrix", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=None if env is None else {**os.environ, **env})


def reference_checksums() -> dict[str, str]:
    """SHA-256 of each reference array's C-order little-endian bytes, computed here, not by any writer: the
    arrays come from probes/_writer.py, the table every writer writes."""
    import hashlib

    import numpy as np

    sys.path.insert(0, str(PROBES))
    from _writer import edge_arrays

    out = {}
    for array in edge_arrays():
        data = np.ascontiguousarray(array.data, dtype=array.data.dtype.newbyteorder("<"))
        out[array.name] = hashlib.sha256(data.tobytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory) -> Path:
    """One environments folder for the whole session, so cells with the same pins build once."""
    return Path(os.environ.get("ZARRMATRIX_TEST_WORK") or tmp_path_factory.mktemp("work"))


@pytest.fixture
def probes_copy(tmp_path) -> Path:
    target = tmp_path / "probes"
    shutil.copytree(PROBES, target)
    return target
