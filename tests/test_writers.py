"""The writers beyond zarr-python (GDAL through rasterio, zarrita.js on Node; TensorStore and netCDF-C have
their own tests in test_integration.py): each writes a fixture that zarr 3.1.6 then reads, checked against
checksums this test computes itself from the reference arrays handed to every writer."""

import json
import shutil
import subprocess

import pytest

from zarrmatrix.backends import Selector
from zarrmatrix.matrix import load_matrix

from .conftest import ROOT, reference_checksums, write_matrix, zarrmatrix
from .test_integration import reads, results

pytestmark = pytest.mark.integration

NEW_WRITERS = """
schema_version: 1
defaults: {timeout_s: 120}
cells:
  - library: rasterio
    versions: ["1.4.4"]
    roles: [write]
    writes: [rio-dirzip-v2, rio-vsizip-v3]
  - library: zarrita
    versions: ["0.7.5"]
    pins: {"@zarrita/storage": "0.2.0"}
    roles: [write, read]
    writes: [zarrita-spec-v3, zarrita-v3]
  - library: zarr
    versions: ["3.1.6"]
    roles: [read]
"""


def by_method(records: list) -> dict:
    return {r["method"]: r for r in records}


def test_reference_arrays_are_the_same_in_python_and_node(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node")
    script = tmp_path / "ref.mjs"
    script.write_text(f"""
import {{ checksum, referenceArrays }} from {json.dumps(str(ROOT / "probes" / "_zmprobe.mjs"))};
const out = {{}};
for (const a of referenceArrays()) out[a.name] = checksum({{ data: a.data, shape: a.shape, stride: null }},
  a.dtype)[0];
console.log(JSON.stringify(out));
""")
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == reference_checksums()
    assert set(reference_checksums()) == {"ints", "floats", "nested/temps", "nested/sub/u8", "sparse"}


def test_gdal_and_zarrita_write_what_zarr_reads(tmp_path, work_dir):
    if shutil.which("node") is None:
        pytest.skip("needs node (the zarrita.js cells)")
    matrix = write_matrix(tmp_path, NEW_WRITERS)
    done = zarrmatrix("run", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir), "--reports",
                      str(tmp_path / "reports"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")
    reference = reference_checksums()

    # GDAL 3.10 (rasterio 1.4.4) through the classic API: Zarr v2 in a folder, zipped afterwards. zarr 3.1.6
    # reads every array it wrote, and the data are the reference's (the sparse array's unwritten chunks
    # come back as its fill value).
    written = {r["fixture_kind"]: r for r in got["rasterio-1.4.4"]["records"] if r["kind"] == "fixture"}
    assert written["rio-dirzip-v2"]["error"] is None and written["rio-dirzip-v2"]["gdal_version"] == "3.10.3"
    manifest = written["rio-dirzip-v2"]["manifest"]
    assert {a["reference"]: a["sha256"] for a in manifest["arrays"]} == {
        k: v for k, v in reference.items() if k != "floats"}
    assert written["rio-dirzip-v2"]["skipped_arrays"] == {"floats": "the classic raster API writes rank 2 and 3 only"}
    record = by_method(reads(got["zarr-3.1.6"], "rasterio-1.4.4__rio-dirzip-v2"))["store-object"]
    assert record["verdict"] == "pass", record["reason"]
    by_reference = {a["path"]: a["reference"] for a in manifest["arrays"]}
    assert {by_reference[a["path"]]: a["sha256"] for a in record["arrays"]} == {
        k: v for k, v in reference.items() if k != "floats"}
    # Its v3 written straight into /vsizip/ has no codecs at all; zarr 3.1.6 refuses it, and says why.
    v3 = by_method(reads(got["zarr-3.1.6"], "rasterio-1.4.4__rio-vsizip-v3"))["store-object"]
    assert v3["verdict"] != "pass" and v3["error_type"]

    # zarrita.js: v3 with the bytes codec named, read by zarr 3.1.6 and by zarrita itself.
    zarrita = {r["fixture_kind"]: r for r in got["zarrita-0.7.5"]["records"] if r["kind"] == "fixture"}
    assert zarrita["zarrita-spec-v3"]["error"] is None and zarrita["zarrita-spec-v3"]["zarrita_version"] == "0.7.5"
    assert {a["path"]: a["sha256"] for a in zarrita["zarrita-spec-v3"]["manifest"]["arrays"]} == reference
    record = by_method(reads(got["zarr-3.1.6"], "zarrita-0.7.5__zarrita-spec-v3"))["store-object"]
    assert record["verdict"] == "pass", record["reason"]
    assert {a["path"]: a["sha256"] for a in record["arrays"]} == reference
    (own,) = reads(got["zarrita-0.7.5"], "zarrita-0.7.5__zarrita-spec-v3")
    assert own["verdict"] == "pass" and own["call"].startswith("zarr.open(zarr.root(ZipFileStore.fromBlob(")
    # zarrita reads what GDAL wrote in v2, through its ZipFileStore.
    (gdal_v2,) = reads(got["zarrita-0.7.5"], "rasterio-1.4.4__rio-dirzip-v2")
    assert gdal_v2["verdict"] == "pass", gdal_v2["reason"]
    assert got["zarrita-0.7.5"]["cell"]["backend"] == "node"


def test_without_node_the_zarrita_cells_are_skipped_and_the_rest_runs(tmp_path, work_dir, monkeypatch):
    matrix = write_matrix(tmp_path, NEW_WRITERS.replace("rio-dirzip-v2, rio-vsizip-v3", "rio-dirzip-v2"))
    env = {"ZARRMATRIX_NODE": str(tmp_path / "no-such-node")}
    done = zarrmatrix("run", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir), "--reports",
                      str(tmp_path / "reports"), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")
    assert got["zarrita-0.7.5"]["status"] == "skipped"
    assert got["zarrita-0.7.5"]["status_reason"].startswith("skipped: needs node")
    assert got["rasterio-1.4.4"]["status"] == "ok" and got["zarr-3.1.6"]["status"] == "ok"
    record = by_method(reads(got["zarr-3.1.6"], "rasterio-1.4.4__rio-dirzip-v2"))["store-object"]
    assert record["verdict"] == "pass"


def test_node_cells_choose_the_node_backend_or_say_why_not(tmp_path, monkeypatch):
    from rich.console import Console

    matrix = load_matrix(write_matrix(tmp_path, NEW_WRITERS))
    cell = next(c for c in matrix.cells if c.library == "zarrita")
    assert cell.requirements == ("zarrita@0.7.5", "@zarrita/storage@0.2.0")
    selector = Selector(matrix, tmp_path, Console(quiet=True))
    monkeypatch.setenv("ZARRMATRIX_NODE", str(tmp_path / "missing"))
    monkeypatch.setattr(selector, "docker", lambda: (False, "no engine here"))
    assert selector.choose(cell, None).reason.startswith("skipped: needs node")
    assert selector.choose(cell, "venv").reason.startswith("skipped: needs node")
    assert selector.choose(cell, "docker").reason == "skipped: needs docker (no engine here)"
    monkeypatch.setattr(selector, "docker", lambda: (True, "Docker engine 99"))
    assert selector.choose(cell, "docker").name == "docker"
    assert selector.choose(cell, "auto").name == "docker"  # no node here, but an engine: its image
    assert selector.choose(cell, "venv").reason.startswith("skipped: needs node")
    if shutil.which("node"):
        monkeypatch.delenv("ZARRMATRIX_NODE")
        assert selector.choose(cell, "venv").name == "node"
