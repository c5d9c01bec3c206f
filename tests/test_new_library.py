"""Adding a reader is one row in libraries.py, one probe in probes/, and a cell in matrix.yaml: this test adds a
library that way (a reader written by hand with zipfile and numpy), with no other file touched, and runs it."""

import hashlib
import json
import struct
import zipfile

import pytest
from rich.console import Console

from zarrmatrix import results
from zarrmatrix.cell_run import Layout
from zarrmatrix.libraries import LIBRARIES, Library
from zarrmatrix.matrix import load_matrix
from zarrmatrix.report import build_report
from zarrmatrix.runner import Runner

from .conftest import write_matrix

PROBE = '''"""Format-2 arrays with no compressor, read by hand from the zip with zipfile and numpy."""

import json
import zipfile

import numpy as np

from _zmprobe import Call, Method, Opened, main_guard, nested_root, run_reader


def versions():
    return {"library_version": np.__version__}


class ByHand(Method):
    name = "zipfile"

    def call(self, fixture):
        return Call("zipfile.ZipFile", zipfile.ZipFile, fixture["path"])

    def reader(self, zf, fixture):
        root = nested_root(fixture)
        prefix = root + "/" if root else ""

        def read(spec):
            folder = prefix + (spec["path"] + "/" if spec["path"] else "")
            meta = json.loads(zf.read(folder + ".zarray"))
            out = np.full(meta["shape"], meta["fill_value"] or 0, dtype=meta["dtype"])
            for i in range(-(-meta["shape"][0] // meta["chunks"][0])):
                start = i * meta["chunks"][0]
                chunk = np.frombuffer(zf.read(folder + str(i)), dtype=meta["dtype"])
                out[start:start + meta["chunks"][0]] = chunk[:len(out[start:start + meta["chunks"][0]])]
            return out

        def walk():
            return sorted(n[len(prefix):-len("/.zarray")] for n in zf.namelist()
                          if n.startswith(prefix) and n.endswith("/.zarray"))

        return Opened(read, walk)


if __name__ == "__main__":
    main_guard(lambda: run_reader("byhand", {"zipfile": ByHand()}, versions))
'''


@pytest.fixture
def byhand(monkeypatch):
    """The row, as it would stand in libraries.py's TABLE."""
    monkeypatch.setitem(LIBRARIES, "byhand", Library("byhand", "numpy", "by hand"))
    for cached in (results._validator, results._fast_validator):
        cached.cache_clear()
    yield
    for cached in (results._validator, results._fast_validator):
        cached.cache_clear()


@pytest.mark.integration
def test_a_new_reader_is_a_row_a_probe_and_a_cell(tmp_path, work_dir, probes_copy, byhand):
    (probes_copy / "read_byhand.py").write_text(PROBE)
    matrix = load_matrix(write_matrix(tmp_path, "schema_version: 1\ndefaults: {timeout_s: 60}\ncells:\n"
                                                "  - {library: byhand, versions: ['1.26.4'], roles: [read]}\n"))
    fixtures = tmp_path / "reports" / "fixtures"
    fixtures.mkdir(parents=True)
    values = list(range(10))
    with zipfile.ZipFile(fixtures / "hand.zip", "w") as zf:
        zf.writestr(".zgroup", json.dumps({"zarr_format": 2}))
        zf.writestr("a/.zarray", json.dumps({"zarr_format": 2, "shape": [10], "chunks": [4], "dtype": "<i4",
                                             "compressor": None, "fill_value": 0, "filters": None, "order": "C"}))
        for i in range(3):
            zf.writestr(f"a/{i}", struct.pack("<4i", *(values[4 * i:4 * i + 4] + [0] * 4)[:4]))
    digest = hashlib.sha256(struct.pack("<10i", *values)).hexdigest()
    (fixtures / "hand.zip.manifest.json").write_text(json.dumps({"fixture": "hand.zip", "zarr_format": 2, "arrays": [
        {"path": "a", "shape": [10], "dtype": "int32", "sha256": digest}]}))
    layout = Layout(reports=tmp_path / "reports", work=work_dir, probes=probes_copy)
    runner = Runner(matrix, layout, backend_choice="venv", jobs=2, console=Console(file=open("/dev/null", "w")))
    runner.run(matrix.cells, phases=["read"])
    result = json.loads((layout.results / "byhand-1.26.4.json").read_text())
    assert result["status"] == "ok", result["status_reason"]
    zips = [r for r in result["records"] if r["kind"] == "read" and r["variant"] == "zip"]
    assert [(r["method"], r["verdict"]) for r in zips] == [("zipfile", "pass")], zips
    assert result["probe_digest"] and result["cell"]["python"]
    assert build_report(layout.reports, console=Console(file=open("/dev/null", "w")))
    assert "byhand-1.26.4" in (layout.reports / "index.html").read_text()
