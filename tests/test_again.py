"""Reads made again in the probe's own process: the real probe protocol (_zmprobe.py) in a real process, with a
made-up reader whose every third read returns other data, as a library racing with its own threads does."""

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from zarrmatrix.attempt import Again, read_attempts
from zarrmatrix.backends.base import Environment, Mounts
from zarrmatrix.fixtures import Fixture
from zarrmatrix.matrix import load_matrix
from zarrmatrix.process import run_process
from zarrmatrix.records import Verdict

from .conftest import write_matrix

PROBES = Path(__file__).resolve().parents[1] / "probes"

RACY_PROBE = f"""
import os, signal, sys
sys.path.insert(0, {str(PROBES)!r})
import numpy as np
from _zmprobe import Call, Method, Opened, main_guard, run_reader

reads = []


class Racy(Method):
    name = "racy"

    def call(self, fixture):
        return Call("racy.open", lambda: fixture["name"])

    def reader(self, root, fixture):
        reads.append(root)
        if root.startswith("crash") and len(reads) == 3:
            os.kill(os.getpid(), signal.SIGSEGV)
        return Opened(lambda spec: np.arange(4, dtype="int32") + (len(reads) % 3 == 0), lambda: ["a"])


main_guard(lambda: run_reader("racy", {{"racy": Racy()}}, lambda: {{"library_version": "1.0"}}))
"""


class ThisPython(Environment):
    """Runs a probe with the interpreter the tests run on."""

    def run_probe(self, probe, args, *, timeout):
        return run_process([sys.executable, str(self.mounts.probes / probe), *args], timeout=timeout)

    def start_probe(self, probe, args, stderr):
        raise OSError("each attempt is a process of its own here")

    def writer(self):
        return self


@pytest.fixture
def racy(tmp_path):
    cell = load_matrix(write_matrix(tmp_path, """
        schema_version: 1
        defaults: {python: "3.11"}
        cells:
          - {library: zarr, versions: ["1.0"], roles: [read]}
        """)).cells[0]
    mounts = Mounts(probes=tmp_path / "probes", fixtures=tmp_path / "fixtures", work=tmp_path / "work")
    for folder in (mounts.probes, mounts.fixtures):
        folder.mkdir()
    (mounts.probes / "read_racy.py").write_text(RACY_PROBE)
    expected = [{"path": "a", "shape": [4], "dtype": "int32",
                 "sha256": hashlib.sha256(np.arange(4, dtype="<i4").tobytes()).hexdigest()}]

    def read(name, again):
        path = mounts.fixtures / name
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("a/.zarray", "{}")
        fixture = Fixture(name, path, None, None, None)
        return read_attempts(ThisPython(cell, "venv", mounts), "read_racy.py", fixture, "zip", "racy",
                             expected=expected, repro="", timeout=60, again=again)

    return read


def test_a_probe_reads_again_in_its_process_and_each_read_is_judged(racy):
    reads = racy("racy.zip", Again(reads=5, budget_s=60))
    # Reads 3 and 6 of the process return other data.
    assert [r.verdict for r in reads] == [Verdict.PASS, Verdict.PASS, Verdict.MISMATCH] * 2
    assert all(r.call == "racy.open()" and r.seconds >= 0 for r in reads)
    assert [r.verdict for r in racy("racy.zip", None)] == [Verdict.PASS]
    # No time left: the first read only.
    assert len(racy("racy.zip", Again(reads=5, budget_s=0))) == 1


def test_a_process_that_dies_in_a_read_made_again_keeps_the_reads_before(racy):
    reads = racy("crash.zip", Again(reads=5, budget_s=60))
    assert [r.verdict for r in reads] == [Verdict.PASS, Verdict.PASS, Verdict.CRASH]
    assert "SIGSEGV" in reads[-1].reason
    # Without reads asked again, the same death is the verdict of the one read: the third never happens.
    assert [r.verdict for r in racy("crash.zip", None)] == [Verdict.PASS]

