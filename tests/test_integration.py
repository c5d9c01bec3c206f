"""Real cells in real uv environments: the spine end to end, crash and hang
containment, broken zips, `check` on a zip written outside the tool."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zarrmatrix.backends.venv import VenvBackend
from zarrmatrix.matrix import load_matrix

from .conftest import ROOT, reference_checksums, write_matrix, zarr_cell, zarrmatrix

pytestmark = pytest.mark.integration

TWO_CELLS = """
schema_version: 1
defaults: {timeout_s: 90}
bench: {shape: [128, 128], chunks: [64, 64], repeats: 5}
cells:
""" + zarr_cell("2.18.7", "write, read", "zipstore-v2, dirzip-deflated-v2") + zarr_cell(
    "3.1.6", "write, read, bench", "zipstore-v3, zipstore-v2")
MISSING_VERSION = """
  - library: zarr
    versions: ["9.9.9"]
    roles: [read]
"""


def results(reports: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((reports / "results").glob("*.json"))}


def reads(result: dict, fixture_part: str, variant: str = "zip") -> list:
    return [r for r in result["records"]
            if r["kind"] == "read" and fixture_part in r["fixture"] and r["variant"] == variant]


def run_args(tmp_path, work_dir, matrix, *extra):
    return ("run", "--matrix", str(matrix), "--backend", "venv", "--jobs", "2", "--reports",
            str(tmp_path / "reports"), "--work", str(work_dir), *extra)


def test_two_cells_end_to_end(tmp_path, work_dir):
    matrix = write_matrix(tmp_path, TWO_CELLS + MISSING_VERSION)
    done = zarrmatrix(*run_args(tmp_path, work_dir, matrix), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")
    assert sorted(got) == ["zarr-2.18.7", "zarr-3.1.6", "zarr-9.9.9"]

    failed = got["zarr-9.9.9"]
    assert failed["status"] == "env-failed" and "9.9.9" in failed["status_reason"]

    zarr3, zarr2 = got["zarr-3.1.6"], got["zarr-2.18.7"]
    for result in (zarr3, zarr2):
        assert result["status"] == "ok" and result["cell"]["backend"] == "venv"
        assert any(line.lower().startswith("zarr==") for line in result["environment"]["freeze"])
        assert result["environment"]["python"].startswith("3.")
    own = {r["method"]: r for r in reads(zarr3, "zarr-3.1.6__zipstore-v3")}
    assert own["store-object"]["verdict"] == "pass"
    assert own["store-object"]["control_verdict"] == "pass"
    assert own["path-string"]["verdict"] == "error"
    v3_on_2 = reads(zarr2, "zarr-3.1.6__zipstore-v3")
    assert v3_on_2 and {r["verdict"] for r in v3_on_2} == {"error"}
    assert {r["reason"] for r in v3_on_2} == {"no Zarr v3 support"}
    # zarr 2 writes, zarr 3 reads, through a zip deflated after the fact
    assert {r["verdict"] for r in reads(zarr3, "dirzip-deflated-v2")} >= {"pass"}
    for record in zarr3["records"]:
        if record["kind"] == "read":
            for key in ("reader", "library", "library_version", "zarr_version", "fixture", "verdict", "reason",
                        "control_verdict", "repro", "call"):
                assert key in record

    bench = [r for r in zarr3["records"] if r["kind"] == "bench"]
    assert {(r["store"], r["op"]) for r in bench} >= {("zip", "write"), ("fsspec-memory", "read"),
                                                      ("directory", "verify"), ("zarr-memory", "write")}
    for r in bench:
        assert len(r["samples_s"]) >= 5 and r["verified"] and r["stop"] in ("converged", "max repeats", "time budget")
        if r["op"] != "verify":
            # The limit is a floor: a store below it by more than its noise has a reason, never a ratio.
            assert r["limit_min_s"] > 0
            if r["median_s"] < r["limit_min_s"] - r["limit_iqr_s"]:
                assert r["ratio_to_limit"] is None and r["below_limit"], r
            else:
                assert r["ratio_to_limit"] >= 1 - r["limit_iqr_s"] / r["limit_min_s"] and r["below_limit"] is None
            assert r["ci_low_s"] <= r["median_s"] <= r["ci_high_s"] and r["cpu_median_s"] > 0

    report = zarrmatrix("report", "--matrix", str(matrix), "--reports", str(tmp_path / "reports"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "zarr-9.9.9" in page and "env-failed" in page and "Store benchmark" in page

    table = zarrmatrix("bench-table", "--matrix", str(matrix), "--reports", str(tmp_path / "reports"), cwd=tmp_path)
    assert "zarr-memory" in table.stdout and "× limit" in table.stdout

    again = zarrmatrix(*run_args(tmp_path, work_dir, matrix, "--phase", "read"), cwd=tmp_path)
    assert again.returncode == 0
    second = results(tmp_path / "reports")
    assert second["zarr-3.1.6"]["environment"]["reused"] is True
    assert second["zarr-2.18.7"]["environment"]["reused"] is True
    # `--phase read` keeps the benchmark and fixture records of the first run
    assert any(r["kind"] == "bench" for r in second["zarr-3.1.6"]["records"])


def test_reproduce_runs_one_attempt_again(tmp_path, work_dir):
    matrix = write_matrix(tmp_path, TWO_CELLS)
    assert zarrmatrix(*run_args(tmp_path, work_dir, matrix, "--phase", "write"), cwd=tmp_path).returncode == 0
    again = zarrmatrix("reproduce", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir),
                       "--fixtures", str(tmp_path / "reports" / "fixtures"), "zarr-2.18.7",
                       "zarr-3.1.6__zipstore-v2.zip", "store-object", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    record = json.loads(again.stdout)
    assert record["verdict"] == "pass" and record["zarr_version"] == "2.18.7"


INJECTED = '''
import json, os, runpy, signal, sys, time

import _zmprobe

real = _zmprobe.read_one


def injected(library, methods, versions, request_path, out_path):
    name = json.load(open(request_path))["fixture"]["name"]
    if name.startswith("crashme"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("hangme"):
        time.sleep(3600)
    return real(library, methods, versions, request_path, out_path)


# Every attempt goes through read_one, in a fresh process or in a child of the attempt server.
_zmprobe.read_one = injected
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_real_read_zarr.py"), run_name="__main__")
'''


@pytest.mark.parametrize("isolation", ["fork", "process"])
def test_crash_and_hang_are_contained(tmp_path, work_dir, probes_copy, isolation):
    matrix = write_matrix(tmp_path, TWO_CELLS.replace("timeout_s: 90", "timeout_s: 4"))
    assert zarrmatrix(*run_args(tmp_path, work_dir, matrix, "--phase", "write"), cwd=tmp_path).returncode == 0
    fixtures = tmp_path / "reports" / "fixtures"
    good = fixtures / "zarr-3.1.6__zipstore-v2.zip"
    for name in ("crashme.zip", "hangme.zip"):
        shutil.copy(good, fixtures / name)
        shutil.copy(good.with_name(good.name + ".manifest.json"), fixtures / f"{name}.manifest.json")
    shutil.move(probes_copy / "read_zarr.py", probes_copy / "_real_read_zarr.py")
    (probes_copy / "read_zarr.py").write_text(INJECTED)
    done = zarrmatrix(*run_args(tmp_path, work_dir, matrix, "--phase", "read", "--probes-dir", str(probes_copy),
                                "--isolation", isolation), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")
    for cell in ("zarr-2.18.7", "zarr-3.1.6"):
        assert got[cell]["environment"]["isolation"] == isolation
    for cell in ("zarr-2.18.7", "zarr-3.1.6"):
        assert {r["verdict"] for r in reads(got[cell], "crashme")} == {"crash"}
        assert {r["verdict"] for r in reads(got[cell], "hangme")} == {"timeout"}
        assert {r["verdict"] for r in reads(got[cell], "crashme", "folder")} == {"crash"}
        assert "pass" in {r["verdict"] for r in reads(got[cell], "zarr-3.1.6__zipstore-v2")}
    assert "SIGSEGV" in reads(got["zarr-3.1.6"], "crashme")[0]["reason"]
    leftover = subprocess.run(["pgrep", "-f", str(probes_copy)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def zarr3_python(work_dir) -> str:
    cell = next(c for c in load_matrix(ROOT / "matrix.yaml").cells if c.id == "zarr-3.1.6")
    from zarrmatrix.backends.base import Mounts

    env = VenvBackend(work_dir / "envs").provision(cell, Mounts(ROOT, ROOT, ROOT))
    return str(env.python)


USER_SCRIPT = '''
import sys, numpy as np, zarr
store = zarr.storage.ZipStore(sys.argv[1], mode="w")
root = zarr.open_group(store, mode="w")
temperature = np.linspace(0, 1, 1200).reshape(30, 40)
root.create_array("temperature", shape=(30, 40), chunks=(16, 16), dtype="float32")[:] = temperature
root.create_group("meta").create_array("ids", shape=(7,), chunks=(3,), dtype="int64")[:] = np.arange(7)
store.close()
'''


def test_check_on_user_zips_including_broken_ones(tmp_path, work_dir):
    mine = tmp_path / "mine.zip"
    subprocess.run([zarr3_python(work_dir), "-c", USER_SCRIPT, str(mine)], check=True, timeout=120)
    data = mine.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(data[: len(data) // 2])
    corrupted = tmp_path / "corrupted.zip"
    with zipfile.ZipFile(mine) as zf:
        member = next(i for i in zf.infolist() if "/c/" in i.filename)
    raw = bytearray(data)
    start = member.header_offset + 30 + len(member.filename) + len(member.extra)
    for i in range(start, start + min(member.compress_size, 8)):
        raw[i] ^= 0xFF
    corrupted.write_bytes(bytes(raw))

    matrix = write_matrix(tmp_path, TWO_CELLS.replace("timeout_s: 90", "timeout_s: 60"))
    out_json = tmp_path / "verdicts.json"
    done = zarrmatrix("check", str(mine), str(truncated), str(corrupted), "--matrix", str(matrix), "--backend",
                      "venv", "--work", str(work_dir), "--out", str(tmp_path / "check"), "--json", str(out_json),
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "who can open mine.zip?" in done.stdout
    verdicts = json.loads(out_json.read_text())
    by = {(v["reader"], v["fixture"]): v for v in verdicts}
    assert len(verdicts) == 2 * 3
    # zarr 3.1.6 reads it whole and is the reference; no other reader here reads format 3 to confirm it.
    assert by[("zarr-3.1.6", "mine.zip")]["verdict"] == "unverified"
    assert "this reader is the reference" in by[("zarr-3.1.6", "mine.zip")]["reason"]
    assert by[("zarr-2.18.7", "mine.zip")]["reason"] == "no Zarr v3 support"
    for reader in ("zarr-3.1.6", "zarr-2.18.7"):
        assert by[(reader, "truncated.zip")]["verdict"] in ("error", "mismatch")
        assert by[(reader, "corrupted.zip")]["verdict"] in ("error", "mismatch")
    for v in verdicts:
        for key in ("reader", "library", "library_version", "zarr_version", "fixture", "verdict", "reason",
                    "control_verdict"):
            assert key in v
    assert (tmp_path / "check" / "index.html").exists()


def test_benchmark_reports_a_corrupted_chunk(tmp_path, work_dir):
    request = {"shape": [64, 64], "chunks": [32, 32], "dtype": "int32", "repeats": 5, "max_repeats": 9,
               "library": "zarr",
               "stores": ["directory", "zip"], "compressors": ["none"], "corrupt": "directory",
               "work_dir": str(tmp_path)}
    (tmp_path / "req.json").write_text(json.dumps(request))
    subprocess.run([zarr3_python(work_dir), str(ROOT / "probes" / "bench_stores.py"), "--request",
                    str(tmp_path / "req.json"), "--out", str(tmp_path / "out.jsonl")], check=True, timeout=300)
    from zarrmatrix.bench import bench_record

    records = [bench_record(json.loads(line)) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    verify = {r.store: r for r in records if r.op == "verify"}
    assert verify["directory"].verified is False
    assert len(verify["directory"].verify_failures) == verify["directory"].n >= 5
    assert verify["directory"].verify_failures[0]["bad_elements"] >= 1
    assert verify["zip"].verified is True


def test_nox_lists_one_session_per_cell(tmp_path):
    matrix = write_matrix(tmp_path, TWO_CELLS)
    listed = subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l", "--json", "--",
                             "--matrix", str(matrix)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert listed.returncode == 0, listed.stderr[-2000:]
    sessions = [s["session"] for s in json.loads(listed.stdout)]
    assert [s for s in sessions if s.startswith("cell(")] == ["cell(zarr-2.18.7)", "cell(zarr-3.1.6)"]


def test_a_probe_that_cannot_import_its_library_is_an_error_per_fixture(tmp_path, work_dir, probes_copy):
    matrix = write_matrix(tmp_path, TWO_CELLS)
    assert zarrmatrix(*run_args(tmp_path, work_dir, matrix, "--cells", "zarr-3.1.6", "--phase", "write"),
                      cwd=tmp_path).returncode == 0
    (probes_copy / "read_zarr.py").write_text("import zarr_that_is_not_there\n")
    done = zarrmatrix(*run_args(tmp_path, work_dir, matrix, "--cells", "zarr-3.1.6", "--phase", "read",
                                "--probes-dir", str(probes_copy)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = results(tmp_path / "reports")["zarr-3.1.6"]
    attempts = [r for r in result["records"] if r["kind"] == "read"]
    assert len(attempts) == 2 and {r["method"] for r in attempts} == {"import"}
    assert {r["reason"] for r in attempts} == {"zarr_that_is_not_there is not installed"}
    again = zarrmatrix("reproduce", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir),
                       "--fixtures", str(tmp_path / "reports" / "fixtures"), "--probes-dir", str(probes_copy),
                       "zarr-3.1.6", "zarr-3.1.6__zipstore-v3.zip", "import", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["reason"] == "zarr_that_is_not_there is not installed"


ZARR3_AND_GDAL = """
schema_version: 1
defaults: {timeout_s: 120}
cells:
""" + zarr_cell() + """  - library: rasterio
    versions: ["1.4.4"]
    roles: [read]
"""
FOLDER_SCRIPT = '''
import sys, numpy as np, zarr
root = zarr.open_group(sys.argv[1], mode="w", zarr_format=int(sys.argv[2]))
root.create_array("temperature", shape=(30, 40), chunks=(16, 16), dtype="float32",
                  compressors=None)[:] = np.linspace(0, 1, 1200).reshape(30, 40)
'''


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return target


def test_check_reads_nested_ozx_and_renamed_zips_and_never_guesses(tmp_path, work_dir):
    python = zarr3_python(work_dir)
    for name, fmt in (("v3.zarr", "3"), ("v2.zarr", "2")):
        subprocess.run([python, "-c", FOLDER_SCRIPT, str(tmp_path / name), fmt], check=True, timeout=120)
    # `zip -r` from the parent folder, as people do: the store lands under v2.zarr/.
    subprocess.run(["zip", "-q", "-r", str(tmp_path / "nested.zip"), "v2.zarr"], cwd=tmp_path, check=True)
    zip_folder(tmp_path / "v3.zarr", tmp_path / "image.ozx")
    zip_folder(tmp_path / "v2.zarr", tmp_path / "data.bin")
    # NCZarr's "<u1" dtype: zarr 3.1.6 rejects it, GDAL reads it: the reference comes from GDAL.
    with zipfile.ZipFile(tmp_path / "u1.zip", "w") as zf:
        zf.writestr(".zgroup", json.dumps({"zarr_format": 2}))
        for name in ("a", "b"):
            zf.writestr(f"{name}/.zarray", json.dumps({"zarr_format": 2, "shape": [16], "chunks": [16], "dtype": "<u1",
                                                       "compressor": None, "fill_value": 0, "filters": None,
                                                       "order": "C"}))
            zf.writestr(f"{name}/0", bytes(range(16)))
    matrix = write_matrix(tmp_path, ZARR3_AND_GDAL)
    inputs = [str(tmp_path / n) for n in ("nested.zip", "image.ozx", "data.bin", "u1.zip")]
    done = zarrmatrix("check", *inputs, "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir),
                      "--out", str(tmp_path / "out"), "--json", str(tmp_path / "v.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nested under v2.zarr/" in done.stderr.replace("\n", " ")
    by = {(v["reader"], v["fixture"]): v for v in json.loads((tmp_path / "v.json").read_text())}
    assert len(by) == 2 * 4
    nested = by[("zarr-3.1.6", "nested.zip")]
    assert nested["verdict"] == "pass" and "opened at v2.zarr/" in nested["reason"]
    assert "path='v2.zarr'" in nested["call"] and nested["zip"]["root"] == "v2.zarr"
    assert by[("rasterio-1.4.4", "nested.zip")]["verdict"] == "pass"
    assert "/vsizip/" in by[("rasterio-1.4.4", "nested.zip")]["call"]
    # .ozx and .bin are zips by their content; nothing here reads v3 but zarr 3.1.6: its reading is unverified.
    assert by[("zarr-3.1.6", "image.ozx")]["verdict"] == "unverified"
    assert by[("zarr-3.1.6", "data.bin")]["verdict"] == "pass"
    assert by[("rasterio-1.4.4", "data.bin")]["verdict"] == "pass"
    assert by[("zarr-3.1.6", "u1.zip")]["reason"] == "this zarr rejects the data type '<u1'"
    assert by[("rasterio-1.4.4", "u1.zip")]["verdict"] == "unverified"
    manifest = json.loads((tmp_path / "out" / "fixtures" / "u1.zip.manifest.json").read_text())
    assert manifest["reference"].startswith("rasterio-1.4.4 ")
    assert not [v for v in by.values() if v["fixture"] in ("image.ozx", "u1.zip") and v["verdict"] == "pass"]

    # A default zarr-python 3 ZipStore, as inspect sees it: metadata written again (attributes set after the
    # arrays, as people do) leaves duplicate entries; and RFC-9's warnings.
    script = USER_SCRIPT.replace("store.close()", "root.attrs['title'] = 'mine'\nstore.close()")
    subprocess.run([python, "-c", script, str(tmp_path / "mine.zip")], check=True, timeout=120)
    facts = json.loads(zarrmatrix("inspect", str(tmp_path / "mine.zip"), "--json", cwd=tmp_path).stdout)[0]
    assert facts["duplicates"] and facts["rfc9"]["errors"] == []
    assert {w.split(":")[0].split(" (")[0] for w in facts["rfc9"]["warnings"]} >= {
        "missing comment", "not ZIP64", "not named .ozx"}


TENSORSTORE_BOTH_WAYS = """
schema_version: 1
defaults: {timeout_s: 120}
cells:
""" + zarr_cell("3.1.6", "write, read", "zipstore-v3") + """  - library: tensorstore
    versions: ["0.1.86"]
    roles: [write, read]
    writes: [ts-zarr2-v2, ts-sharded-v3, ts-zipkv-v3]
"""


def test_tensorstore_writes_and_reads(tmp_path, work_dir):
    matrix = write_matrix(tmp_path, TENSORSTORE_BOTH_WAYS)
    done = zarrmatrix("run", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir), "--reports",
                      str(tmp_path / "reports"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")
    ts = got["tensorstore-0.1.86"]
    written = {r["fixture_kind"]: r for r in ts["records"] if r["kind"] == "fixture"}
    assert all(r["error"] is None for r in written.values()) and written["ts-zipkv-v3"]["tensorstore_version"]
    # zarr-python reads what TensorStore wrote: v2, sharded v3, and v3 written into TensorStore's zip kvstore,
    # each array the data handed to TensorStore (checksums computed here, not by either library).
    reference = reference_checksums()
    for kind in ("ts-zarr2-v2", "ts-sharded-v3", "ts-zipkv-v3"):
        assert {a["path"]: a["sha256"] for a in written[kind]["manifest"]["arrays"]} == reference, kind
        zarr_reads = [r for r in reads(got["zarr-3.1.6"], f"tensorstore-0.1.86__{kind}") if r["verdict"] == "pass"]
        assert zarr_reads and {a["path"]: a["sha256"] for a in zarr_reads[0]["arrays"]} == reference, kind
    # TensorStore reads its own, and refuses zarr-python's ZipStore: zarr.json is in it twice.
    assert {r["verdict"] for r in reads(ts, "tensorstore-0.1.86__ts-sharded-v3")} == {"pass"}
    (own_zipstore,) = reads(ts, "zarr-3.1.6__zipstore-v3")
    assert own_zipstore["verdict"] == "error" and "duplicate entries" in own_zipstore["reason"]
    assert own_zipstore["control_verdict"] == "pass" and own_zipstore["call"].startswith("tensorstore.KvStore.open(")


NETCDF_WRITES = """
schema_version: 1
defaults: {timeout_s: 120}
cells:
  - library: netcdf4
    versions: ["1.7.2"]
    roles: [write]
    writes: [nc-zarr-v2]
  - library: zarr
    versions: ["3.0.10", "3.1.6"]
    roles: [read]
"""


def test_netcdf_c_writes_what_one_zarr_reads_and_the_next_rejects(tmp_path, work_dir):
    matrix = write_matrix(tmp_path, NETCDF_WRITES)
    done = zarrmatrix("run", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir), "--reports",
                      str(tmp_path / "reports"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")
    (written,) = [r for r in got["netcdf4-1.7.2"]["records"] if r["kind"] == "fixture"]
    assert written["error"] is None and written["netcdf_c_version"]
    fixture = "netcdf4-1.7.2__nc-zarr-v2"
    older = {r["method"]: r for r in reads(got["zarr-3.0.10"], fixture)}["store-object"]
    assert older["verdict"] == "pass"
    # What zarr 3.0.10 read is the data handed to netCDF-C (checksums computed here).
    assert {a["path"]: a["sha256"] for a in older["arrays"]} == reference_checksums()
    # netCDF-C writes uint8 as "<u1": zarr 3.1.6 reads every other array and rejects that one.
    newer = {r["method"]: r for r in reads(got["zarr-3.1.6"], fixture)}["store-object"]
    assert newer["verdict"] == "partial" and newer["reason"].endswith("this zarr rejects the data type '<u1'")


STALE = """
schema_version: 1
defaults: {timeout_s: 120}
cells:
""" + zarr_cell("3.4.2", "write, read", "features-v2, features-v3") + """
  - library: rasterio
    versions: ["1.5.2"]
    roles: [read]
"""


def test_a_stale_duplicate_is_a_mismatch_for_the_reader_that_returns_the_old_shape(tmp_path, work_dir):
    """zarr 3.4.2 resizes an array from 10 to 20 in a ZipStore (formats 2 and 3), which leaves the metadata from
    before the resize in the zip. zarr reads the last member (shape 20): pass. GDAL 3.12 (rasterio 1.5.2) reads
    the first (shape 10): mismatch, with the stale shape in the reason."""
    matrix = write_matrix(tmp_path, STALE)
    done = zarrmatrix(*run_args(tmp_path, work_dir, matrix), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")
    for name, feature, member in (("zarr-3.4.2__feature-stale-duplicate.zip", "stale-duplicate", "data/zarr.json"),
                                  ("zarr-3.4.2__feature-stale-duplicate-v2.zip", "stale-duplicate-v2",
                                   "data/.zarray")):
        manifest = json.loads((tmp_path / "reports" / "fixtures" / f"{name}.manifest.json").read_text())
        assert manifest["feature"] == feature and manifest["arrays"][0]["shape"] == [20]
        with zipfile.ZipFile(tmp_path / "reports" / "fixtures" / name) as zf:
            shapes = [json.loads(zf.open(i).read())["shape"] for i in zf.infolist() if i.filename == member]
        assert shapes[0] == [10] and shapes[-1] == [20]
        zarr_reads = [r for r in reads(got["zarr-3.4.2"], name) if r["method"] == "store-object"]
        assert [r["verdict"] for r in zarr_reads] == ["pass"]
        gdal_reads = reads(got["rasterio-1.5.2"], name)
        assert [r["verdict"] for r in gdal_reads] == ["mismatch"]
        assert "shape (1, 1, 10) where (20) was written" in gdal_reads[0]["reason"]


ZARRS_PIPELINE = """
schema_version: 1
defaults: {timeout_s: 120}
cells:
""" + zarr_cell("3.4.2", "write, read", "zipstore-v3") + """
  - library: zarr
    id: "zarr-{version}-zarrs"
    versions: ["3.4.2"]
    pins: {zarrs: "==0.2.3", fsspec: "==2026.9.0"}
    roles: [read]
"""


def test_a_zarrs_pipeline_cell_says_which_pipeline_decoded(tmp_path, work_dir):
    """zarr 3.4.2 asked for zarrs' codec pipeline uses it on the unzipped folder (a LocalStore) and falls back
    to its own on the ZipStore: each read names the pipeline, and the zip's reason says zarr fell back."""
    matrix = write_matrix(tmp_path, ZARRS_PIPELINE)
    done = zarrmatrix(*run_args(tmp_path, work_dir, matrix), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")["zarr-3.4.2-zarrs"]
    name = "zarr-3.4.2__zipstore-v3.zip"
    on_zip = [r for r in reads(got, name) if r["method"] == "store-object"]
    on_folder = [r for r in reads(got, name, "folder") if r["method"] == "store-object"]
    assert [r["verdict"] for r in on_zip + on_folder] == ["pass", "pass"]
    assert on_zip[0]["codec_pipeline"] == "zarr.core.codec_pipeline.BatchedCodecPipeline"
    assert "zarr did not use zarrs.ZarrsCodecPipeline here" in on_zip[0]["reason"]
    assert on_folder[0]["codec_pipeline"] == "zarrs.ZarrsCodecPipeline"
    assert "did not use" not in on_folder[0]["reason"]
    # The plain zarr cell asked for nothing, and says nothing of pipelines.
    plain = reads(results(tmp_path / "reports")["zarr-3.4.2"], name)
    assert plain and all(r.get("codec_pipeline") is None for r in plain)


SHARDED = """
schema_version: 1
defaults: {timeout_s: 120}
sharded: {shape: [512, 512], shards: [256, 256], chunks: [64, 64], repeats: 3, max_repeats: 5, budget_s: 2}
cells:
""" + ZARRS_PIPELINE.split("cells:\n", 1)[1].replace("roles: [read]", "roles: [read, sharded]").replace(
    'roles: [write, read]', 'roles: [write, read, sharded]') + """  - library: tensorstore
    versions: ["0.1.86"]
    roles: [read, sharded]
  - library: zarrista
    versions: ["0.1.0"]
    roles: [read, sharded]
  - library: zarrita
    versions: ["0.7.5"]
    pins: {"@zarrita/storage": "0.2.0"}
    roles: [read, sharded]
"""


def test_the_sharded_read_benchmark_times_each_implementation_on_the_same_zips(tmp_path, work_dir):
    """zarr 3.4.2 writes one sharded array and zips it STORED and DEFLATED; zarr-python (alone and asking for
    zarrs' pipeline), TensorStore, zarrs and zarrita.js read it whole, a shard and an inner chunk, each read
    checked against the values written. zarrs cannot read the DEFLATED zip's shards, and says why."""
    matrix = write_matrix(tmp_path, SHARDED)
    done = zarrmatrix(*run_args(tmp_path, work_dir, matrix, "--phase", "sharded"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = results(tmp_path / "reports")
    timed: dict = {}
    for cell, result in got.items():
        for r in result["records"]:
            assert r["kind"] == "sharded" and r["stored_bytes"] > 0, (cell, r)
            if r["error"] is None:
                assert len(r["samples_s"]) >= 3 and all(s > 0 for s in r["samples_s"]), (cell, r)
                assert len(r["floor_samples_s"]) >= 3 and all(s > 0 for s in r["floor_samples_s"]), (cell, r)
                timed.setdefault((r["store"], r["access"], r["cache"]), set()).add(r["implementation"])
    for store in ("zip-stored", "zip-deflated"):
        for access in ("whole", "chunk", "sub-chunk"):
            assert timed[(store, access, "warm")] >= {"zarr-python", "TensorStore", "zarrita.js"}, (store, access)
    assert "zarrs" in timed[("zip-stored", "sub-chunk", "warm")]
    deflated = [r for r in got["zarrista-0.1.0"]["records"] if r["store"] == "zip-deflated"]
    assert deflated and all("checksum is invalid" in r["error"]["message"] for r in deflated)
    pipelines = {r["store"]: r["decoded_by"] for r in got["zarr-3.4.2-zarrs"]["records"]}
    assert pipelines == {"folder": "zarrs.ZarrsCodecPipeline",
                         "zip-stored": "zarr.core.codec_pipeline.BatchedCodecPipeline",
                         "zip-deflated": "zarr.core.codec_pipeline.BatchedCodecPipeline"}
    report = zarrmatrix("report", "--reports", str(tmp_path / "reports"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    page = (tmp_path / "reports" / "index.html").read_text()
    assert 'id="sharded-sub-chunk"' in page and "An inner chunk out of the DEFLATED zip" in page
