"""The sharded-read benchmark's host side: the regions it asks for, matrix.yaml's `sharded` section, the records
a probe's output makes, and the report's charts and sentences."""

import dataclasses
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from zarrmatrix.cli import main
from zarrmatrix.matrix import MatrixError, load_matrix
from zarrmatrix.matrix.model import ShardedConfig
from zarrmatrix.probe_files import probe_files
from zarrmatrix.process import ProcessResult
from zarrmatrix.records import CellResult, CellStatus, ShardedRecord, record_from_json
from zarrmatrix.report.sharded import deflate_costs, sharded_html
from zarrmatrix.results import load_result, write_result
from zarrmatrix.sharded import bars, line, read_every_unit, sharded_records

from .conftest import PROBES, write_matrix

BODY = "schema_version: 1\n{section}cells:\n  - {{library: zarr, versions: ['3.1.6'], roles: [read, sharded]}}\n"


def config(**given):
    values = dict(shape=(8192, 8192), shards=(2048, 2048), chunks=(256, 256), repeats=5, max_repeats=20,
                  within=0.05, budget_s=20.0, caches=("warm", "cold"))
    return ShardedConfig(**{**values, **given})


def test_the_accesses_are_the_whole_array_the_second_shard_and_an_inner_chunk_of_it():
    assert config().nbytes == 256 * 2**20
    assert config().accesses() == {"whole": [[0, 8192], [0, 8192]], "chunk": [[2048, 4096], [2048, 4096]],
                                   "sub-chunk": [[2304, 2560], [2304, 2560]]}
    # One shard along the first dimension, one inner chunk in the shard's second: the first of each.
    one = config(shape=(512, 1000), shards=(512, 500), chunks=(128, 500))
    assert one.accesses() == {"whole": [[0, 512], [0, 1000]], "chunk": [[0, 512], [500, 1000]],
                              "sub-chunk": [[128, 256], [500, 1000]]}


def test_the_sharded_section_has_the_schemas_defaults_and_its_errors_name_the_line(tmp_path):
    matrix = load_matrix(write_matrix(tmp_path, BODY.format(section="")))
    assert matrix.sharded == config()
    assert matrix.sharded.read_request("zarr", {"folder": "/f"})["accesses"] == config().accesses()
    wrong = write_matrix(tmp_path, BODY.format(section="sharded:\n  shards: [1000, 1000]\n"), "wrong.yaml")
    with pytest.raises(MatrixError) as caught:
        load_matrix(wrong)
    assert caught.value.key_path == "sharded.chunks" and "[256, 256] does not divide the shard shape" in str(
        caught.value)
    three = write_matrix(tmp_path, BODY.format(section="sharded:\n  shape: [8, 8, 8]\n"), "three.yaml")
    with pytest.raises(MatrixError) as caught:
        load_matrix(three)
    assert caught.value.line == 3 and caught.value.key_path == "sharded.shape"


def test_a_wrong_sharded_section_exits_2_naming_the_file_and_key(tmp_path, capsys):
    path = write_matrix(tmp_path, BODY.format(section="sharded:\n  caches: [lukewarm]\n"))
    assert main(["list", "--matrix", str(path)]) == 2
    said = capsys.readouterr().err
    assert "matrix.yaml:3: sharded.caches[0]: 'lukewarm' is not allowed" in said


def test_only_libraries_with_a_sharded_probe_take_the_role(tmp_path):
    path = write_matrix(tmp_path, "schema_version: 1\ncells:\n  - {library: rasterio, versions: ['1.4.4'], "
                                  "roles: [read, sharded]}\n")
    with pytest.raises(MatrixError) as caught:
        load_matrix(path)
    assert "only zarr, tensorstore, zarrista, zarrita cells can run the sharded-read benchmark" in str(caught.value)
    assert "bench_sharded.mjs" in [p.name for p in probe_files("zarrita", PROBES)]
    assert "bench_sharded.py" in [p.name for p in probe_files("tensorstore", PROBES)]
    assert "bench_sharded.py" not in [p.name for p in probe_files("rasterio", PROBES)]


FIXTURE = {"kind": "sharded-fixture", "zarr_version": "3.4.2", "shape": [512, 512], "shards": [256, 256],
           "chunks": [64, 64], "stored_bytes": {"folder": 1_048_700, "zip-stored": 1_049_000, "zip-deflated": 260_000}}


def raw(implementation, store, access, samples, cache="warm", **more):
    return dict({"kind": "sharded", "implementation": implementation, "library_version": "1.0", "store": store,
                 "access": access, "cache": cache, "page_cache": "dropped before each read" if cache == "cold"
                 else "warm", "nbytes": 16384, "samples_s": samples, "cpu_s": samples,
                 "peak_bytes": [2**20] * len(samples), "decoded_by": None, "stop": "converged", "error": None,
                 "floor_samples_s": [0.0005, 0.0004, 0.0006]},
                **more)


def attempt(records, returncode=0, timed_out=False, stderr="Traceback (most recent call last):\n  ...\n"):
    result = ProcessResult(("probe",), returncode, "", stderr, 1.0, timed_out)
    return SimpleNamespace(records=records, result=result)


def test_the_records_carry_the_array_and_its_store_size_and_a_dead_probe_says_so():
    got = sharded_records(attempt([FIXTURE, raw("TensorStore", "zip-deflated", "whole", [0.2, 0.1, 0.3])]),
                          "tensorstore", FIXTURE)
    assert len(got) == 1 and got[0].extra["stored_bytes"] == 260_000 and got[0].extra["writer"] == "zarr-python 3.4.2"
    assert got[0].median_s == 0.2 and got[0].peak_max_bytes == 2**20
    assert line(got[0]) == "whole from zip-deflated (warm): 0.20 s [0.10 s, 0.30 s], n=3"
    died = sharded_records(attempt([], returncode=-9), "zarrista", FIXTURE)
    assert [r.error["message"] for r in died] == ["the probe was killed by SIGKILL (Traceback (most recent call "
                                                  "last):\n  ...) before its first read"]
    assert died[0].median_s is None and line(died[0]).startswith("- from - (-): probe: the probe was killed")


def test_a_unit_that_crashes_or_hangs_the_probe_is_recorded_and_the_probe_runs_on_without_it(monkeypatch):
    """zarrita.js ran out of memory on one unit, TensorStore 0.1.86 hung on another: each such unit is an error
    record, and the probe is run again for the units left."""
    small = config(caches=("warm",))
    units = [("warm", store, access) for store in ("folder", "zip-stored", "zip-deflated")
             for access in ("whole", "chunk", "sub-chunk")]
    asked = []

    def fake_attempt(env, probe, request, timeout):
        asked.append((probe, [tuple(k) for k in request["skip"]]))
        left = [u for u in units if list(u) not in request["skip"]]
        out = []
        for unit in left:
            out.append({"kind": "sharded-begin", "cache": unit[0], "store": unit[1], "access": unit[2],
                        "implementation": "TensorStore", "library_version": "0.1.86"})
            if unit == ("warm", "zip-stored", "sub-chunk") and len(asked) == 1:
                out.append(raw("TensorStore", "zip-stored", "sub-chunk", [], error={
                    "type": "Timeout", "message": "one read did not finish in 180 s"}, stop="error"))
                return attempt(out, returncode=4)
            if unit == ("warm", "zip-deflated", "whole"):
                return attempt(out, returncode=-6, stderr="<--- JS stacktrace --->\n\nFATAL ERROR: v8::ArrayBuffer::"
                               "NewBackingStore Allocation failed - process out of memory\n----- Native stack trace\n")
            out.append(raw("TensorStore", unit[1], unit[2], [0.01, 0.01, 0.01]))
        return attempt(out)

    monkeypatch.setattr("zarrmatrix.sharded.run_attempt", fake_attempt)
    run = SimpleNamespace(cell=SimpleNamespace(library="tensorstore"), env=None)
    got = read_every_unit(run, small, {"folder": "/f"}, FIXTURE)
    assert [p for p, _ in asked] == ["bench_sharded.py"] * 3
    assert asked[1][1] == sorted(units[:6]) and asked[2][1] == sorted(units[:7])
    assert sorted((r.cache, r.store, r.access) for r in got) == sorted(units)
    assert {(r.implementation, r.library_version) for r in got} == {("TensorStore", "0.1.86"), ("TensorStore", "1.0")}
    failed = {r.access if r.store == "zip-stored" else r.store: r.error["message"] for r in got if r.error}
    assert failed == {"sub-chunk": "one read did not finish in 180 s",
                      "zip-deflated": "the probe was killed by SIGABRT (FATAL ERROR: v8::ArrayBuffer::NewBackingStore "
                                      "Allocation failed - process out of memory) during this read"}


def test_sharded_records_survive_the_result_file(tmp_path):
    cell = dict(load_matrix(write_matrix(tmp_path, BODY.format(section=""))).cells[0].to_json(), backend="venv")
    record = record_from_json(raw("zarr-python", "zip-stored", "sub-chunk", [0.004, 0.005, 0.006],
                                  decoded_by="zarr.core.codec_pipeline.BatchedCodecPipeline", region=[[0, 64]] * 2))
    path = tmp_path / "zarr-3.4.2.json"
    write_result(path, dataclasses.replace(cell_result("zarr-3.1.6", [record]), cell=cell))
    back = load_result(path).of_kind("sharded")
    assert isinstance(back[0], ShardedRecord) and back[0].extra["region"] == [[0, 64]] * 2
    assert back[0].decoded_by.endswith("BatchedCodecPipeline")


def results():
    cells = {
        "zarr-3.4.2": [raw("zarr-python", store, access, samples) for store, access, samples in (
            ("zip-stored", "sub-chunk", [0.002, 0.002, 0.002]), ("zip-deflated", "sub-chunk", [0.008, 0.008, 0.008]),
            ("folder", "whole", [0.04, 0.04, 0.05]))],
        "zarrista-0.1.0": [raw("zarrs", "zip-stored", "sub-chunk", [0.0001] * 3),
                           raw("zarrs", "zip-deflated", "sub-chunk", [], error={"type": "ArrayError",
                               "message": "the checksum is invalid"}, stop="error")],
        "zarr-3.4.2-zarrs": [raw("zarr-python", "folder", "whole", [0.01] * 3, cache="cold",
                                 page_cache="warm (could not drop it: Read-only file system)",
                                 codec_pipeline_asked="zarrs.ZarrsCodecPipeline", zarrs_version="0.2.3",
                                 decoded_by="zarrs.ZarrsCodecPipeline")],
    }
    return [cell_result(cell, [record_from_json(r) for r in records]) for cell, records in cells.items()]


def cell_result(cell_id, records):
    return CellResult(schema_version=2, cell={"id": cell_id, "backend": "venv", "library": cell_id.split("-")[0]},
                      status=CellStatus.OK, status_reason=None, environment={"python": "3.12", "freeze": []},
                      host={"hostname": "h", "platform": "p", "cpus": 2}, started="", duration_s=1.0,
                      records=list(records))


def test_the_report_draws_one_chart_per_access_and_says_what_deflate_costs():
    rows = bars(results())
    assert {b.label for b in rows} == {"zarr-python 1.0", "zarrs 1.0", "zarr-python 1.0 + zarrs 0.2.3"}
    assert deflate_costs(rows, "sub-chunk") == ["zarr-python 1.0: 4.0× (8.0 ms against 2.0 ms)",
                                                "zarrs 1.0: cannot read it (the checksum is invalid)"]
    page = sharded_html(results())
    for access in ("whole", "chunk", "sub-chunk"):
        assert f'id="sharded-{access}"' in page
    assert "ArrayError: the checksum is invalid" in page
    assert "No bar for zarrs 1.0 on zip, DEFLATED, warm: the checksum is invalid." in page
    # A cold read whose cache could not be dropped says so where its figure stands.
    assert "(warm (could not drop it: Read-only file system))" in page
    assert "ZarrsCodecPipeline" in page
    # Each figure against the floor of its own process (the best of its read(2) repeats), and the floor drawn.
    assert "<td>20.0×</td>" in page and "floor: read(2) of as many bytes" in page
    assert sharded_html([]) == ""


def test_the_python_and_node_probes_compute_the_same_values():
    """Each probe checks what it read against the writer's formula, computed on its side: the two agree."""
    region = [[100, 103], [2040, 2044]]
    python = subprocess.run([sys.executable, "-c", "import json, sys; sys.path.insert(0, sys.argv[1]); "
                             "from bench_sharded import values; print(json.dumps(values(json.loads(sys.argv[2]))"
                             ".ravel().tolist()))", str(PROBES), str(region).replace(" ", "")],
                            capture_output=True, text=True, timeout=60)
    assert python.returncode == 0, python.stderr
    source = (PROBES / "bench_sharded.mjs").read_text()
    body = source[source.index("function expected("):source.index("function statusKib")]
    node = subprocess.run(["node", "-e", body + f"console.log(JSON.stringify(Array.from(expected({region}))))"],
                          capture_output=True, text=True, timeout=60)
    assert node.returncode == 0, node.stderr
    assert json.loads(python.stdout) == json.loads(node.stdout) and len(json.loads(node.stdout)) == 12


def test_without_a_zarr_3_cell_each_reader_says_what_is_missing(tmp_path):
    from rich.console import Console

    from zarrmatrix.sharded import run_phase

    added = []
    run = SimpleNamespace(ready=True, cell=SimpleNamespace(id="tensorstore-0.1.86", library="tensorstore",
                                                           version="0.1.86", roles={"read", "sharded"}),
                          add=added.append)
    run_phase([run], config(), tmp_path, Console(file=None, quiet=True), lambda: False)
    assert [r.error["message"] for r in added] == [
        "no zarr 3 cell among those run writes the array (add one: --cells zarr-<3.x> ...)"]
