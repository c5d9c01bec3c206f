from pathlib import Path

import pytest

from zarrmatrix.matrix import MatrixError, load_matrix

from .conftest import ROOT, write_matrix, zarrmatrix

GOOD = """
schema_version: 1
cells:
  - library: zarr
    versions: ["2.18.7", "3.1.6"]
    pins: {numcodecs: "<0.16"}
    roles: [write, read]
    writes: [zipstore-v2]
  - library: xarray
    id: "xarray-{version}-zarr3"
    versions: ["2026.9.0"]
    pins: {zarr: "==3.1.6"}
    roles: [read]
  - library: gdal
    id: gdal-bookworm
    image: {dockerfile: gdal, base: "debian:bookworm-slim"}
    roles: [read]
"""


def test_expands_versions_into_cells(tmp_path):
    matrix = load_matrix(write_matrix(tmp_path, GOOD))
    ids = [c.id for c in matrix.cells]
    assert ids == ["zarr-2.18.7", "zarr-3.1.6", "xarray-2026.9.0-zarr3", "gdal-bookworm"]
    zarr2 = matrix.cells[0]
    assert zarr2.requirements == ("zarr==2.18.7", "numcodecs<0.16", "numpy")
    assert zarr2.roles == {"write", "read"} and zarr2.writes == ("zipstore-v2",)
    assert matrix.cells[3].needs_docker and not zarr2.needs_docker
    assert matrix.cells[3].requirements == ()


def test_env_key_follows_the_pins(tmp_path):
    a = load_matrix(write_matrix(tmp_path, GOOD)).cells[0]
    b = load_matrix(write_matrix(tmp_path, GOOD.replace('"<0.16"', '"<0.15"'), "b.yaml")).cells[0]
    assert a.env_key() == load_matrix(write_matrix(tmp_path, GOOD, "c.yaml")).cells[0].env_key()
    assert a.env_key() != b.env_key()


def test_default_matrix_is_valid():
    matrix = load_matrix(ROOT / "matrix.yaml")
    libraries = {c.library for c in matrix.cells}
    assert libraries == {"zarr", "xarray", "fsspec", "netcdf4", "h5py", "gdal", "rasterio", "tensorstore",
                         "virtualizarr", "zarrista", "zarrita"}
    assert len({c.id for c in matrix.cells}) == len(matrix.cells)


@pytest.mark.parametrize("bad, key, line, words", [
    (GOOD.replace("versions: [\"2.18.7\"", "verions: [\"2.18.7\""), "cells[0].verions", 4, "did you mean 'versions'"),
    (GOOD.replace('"3.1.6"]', '"3.1.6; rm -rf /"]'), "cells[0].versions[1]", 4, "not an exact PEP 440 version"),
    (GOOD.replace('{numcodecs: "<0.16"}', '{numcodecs: "lots"}'), "cells[0].pins.numcodecs", 5, "PEP 440"),
    (GOOD.replace("roles: [read]\n  - library: gdal", "roles: [reed]\n  - library: gdal"), "cells[1].roles[0]",
     12, "expected one of"),
    (GOOD.replace("library: xarray", "library: xaray"), "cells[1].library", 8, "'xaray' is not allowed"),
])
def test_errors_name_file_key_and_line(tmp_path, bad, key, line, words):
    path = write_matrix(tmp_path, bad)
    with pytest.raises(MatrixError) as caught:
        load_matrix(path)
    err = caught.value
    assert err.key_path == key
    assert err.line == line
    assert words in err.message
    assert str(path) in str(err) and f":{line}:" in str(err)


def test_duplicate_ids_and_yaml_errors(tmp_path):
    dup = GOOD.replace('id: gdal-bookworm', 'id: zarr-3.1.6')
    with pytest.raises(MatrixError, match="used twice"):
        load_matrix(write_matrix(tmp_path, dup))
    with pytest.raises(MatrixError, match="not valid YAML") as caught:
        load_matrix(write_matrix(tmp_path, "schema_version: 1\ncells: [\n", "broken.yaml"))
    assert caught.value.line is not None


def test_validate_exit_codes(tmp_path):
    good = write_matrix(tmp_path, GOOD)
    bad = write_matrix(tmp_path, GOOD.replace("roles: [write, read]", "rolez: [write, read]"), "bad.yaml")
    ok = zarrmatrix("validate", "--matrix", str(good), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    failed = zarrmatrix("validate", "--matrix", str(bad), cwd=tmp_path)
    assert failed.returncode == 2
    assert f"{bad}:6:" in failed.stderr and "rolez" in failed.stderr
    run = zarrmatrix("run", "--matrix", str(bad), cwd=tmp_path)
    assert run.returncode == 2 and "rolez" in run.stderr


def test_list_json(tmp_path):
    import json

    out = zarrmatrix("list", "--json", "--matrix", str(write_matrix(tmp_path, GOOD)), cwd=tmp_path)
    assert out.returncode == 0
    cells = json.loads(out.stdout)
    assert [c["id"] for c in cells][:2] == ["zarr-2.18.7", "zarr-3.1.6"]
    assert Path(cells[0]["env_key"]).name == cells[0]["env_key"]


ENDS = """
schema_version: 1
defaults: {python: "3.11"}
cells:
  - library: zarr
    versions: ["3.0.10", "3.1.6", "2.18.7"]
    roles: [read]
    newest: {roles: [write, read, bench], writes: [zipstore-v3, dirzip-stored-v3]}
    oldest: {roles: [write, read], writes: [zipstore-v2]}
"""


def test_the_newest_and_the_oldest_version_of_an_entry_take_roles_of_their_own(tmp_path):
    cells = {c.id: c for c in load_matrix(write_matrix(tmp_path, ENDS)).cells}
    assert cells["zarr-3.1.6"].roles == {"write", "read", "bench"}
    assert cells["zarr-3.1.6"].writes == ("zipstore-v3", "dirzip-stored-v3")
    assert cells["zarr-2.18.7"].roles == {"write", "read"} and cells["zarr-2.18.7"].writes == ("zipstore-v2",)
    assert cells["zarr-3.0.10"].roles == {"read"} and cells["zarr-3.0.10"].writes == ()
    bad = write_matrix(tmp_path, ENDS.replace("writes: [zipstore-v2]", "writes: [ts-zarr2-v2]"), "bad.yaml")
    with pytest.raises(MatrixError) as caught:
        load_matrix(bad)
    assert caught.value.key_path == "cells[0].oldest.writes[0]" and "cannot write 'ts-zarr2-v2'" in str(caught.value)


@pytest.mark.network
def test_a_release_the_index_lacks_runs_on_the_host_python_and_says_why(tmp_path):
    import sys

    path = write_matrix(tmp_path, "schema_version: 1\ncells:\n  - {library: zarr, versions: ['0.0.1'], "
                                  "roles: [read]}\n")
    cell = load_matrix(path).cells[0]
    assert cell.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "zarr 0.0.1 is not on the index" in cell.python_note
    assert "on the Python zarrmatrix runs on" in cell.python_note


def test_configuration_is_the_schemas_defaults_the_file_and_the_flags_validated_alike(tmp_path):
    from types import SimpleNamespace

    from zarrmatrix.cli import overrides_from
    from zarrmatrix.errors import UserError

    body = ('schema_version: 1\ndefaults: {python: "3.11"}\nbench: {shape: [64, 64], chunks: [32, 32]}\n'
            'cells:\n  - {library: zarr, versions: ["3.1.6"], roles: [read, bench]}\n')
    path = write_matrix(tmp_path, body)
    matrix = load_matrix(path)
    assert matrix.docker.memory == "4g" and matrix.limits.compression_ratio == 1000 and matrix.bench.repeats == 7
    assert matrix.cells[0].timeout_s == 120 and matrix.cells[0].backend == "auto"

    def flags(**given):
        names = ("base_image", "ca_bundle", "mnist_dir", "bench_shape", "bench_chunks", "bench_sizes",
                 "bench_max_repeats", "bench_budget", "drop_caches")
        return overrides_from(SimpleNamespace(**{**{n: None for n in names}, **given}))

    bigger = load_matrix(path, overrides=flags(bench_shape=[128, 16], bench_max_repeats=60))
    assert bigger.bench.shape == (128, 16) and bigger.bench.chunks == (32, 16) and bigger.bench.max_repeats == 60
    for given, said in ((dict(bench_sizes=["4x"]), "--bench-sizes ['4x']: '4x': expected bytes, or with k"),
                        (dict(bench_shape=[8, 8, 8], bench_chunks=[4, 4]), "--bench-chunks: has 2 dimensions"),
                        (dict(bench_max_repeats=2), "--bench-max-repeats 2: 2 is less than the minimum of 3"),
                        (dict(ca_bundle=str(tmp_path / "none.pem")), "--ca-bundle: "),
                        (dict(base_image=["no-equals"]), "--base-image 'no-equals': expected PUBLIC=LOCAL")):
        with pytest.raises(UserError) as caught:
            load_matrix(path, overrides=flags(**given))
        assert str(caught.value).startswith(said), str(caught.value)
    wrong = write_matrix(tmp_path, body.replace("chunks: [32, 32]", "chunks: [32]"), "wrong.yaml")
    with pytest.raises(MatrixError) as caught:
        load_matrix(wrong)
    assert caught.value.line == 3 and caught.value.key_path == "bench.chunks"
