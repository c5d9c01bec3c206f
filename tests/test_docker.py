"""Cells fully in containers: a zarr 3 cell and a GDAL cell on local Debian base
images. In CI (CI=true) a missing engine or base image fails these tests; a
broken Docker path must not hide behind a green run."""

import json
import os
import shutil
import subprocess
import zipfile

import pytest

from zarrmatrix.attempt import AttemptServer, run_attempt
from zarrmatrix.backends import docker_answers
from zarrmatrix.backends.base import Mounts
from zarrmatrix.backends.docker import CONTAINER_LABEL, DockerBackend
from zarrmatrix.matrix import load_matrix

from .conftest import PROBES, reference_checksums, write_matrix, zarr_cell, zarrmatrix
from .test_integration import INJECTED

pytestmark = pytest.mark.docker

BASES = {"python:3.11-slim": "zarrmatrix/debian:bookworm", "debian:bookworm-slim": "zarrmatrix/debian:bookworm"}
# Every image of these tests builds on the local bookworm base (docker/bootstrap-debian.sh).
ON_BOOKWORM = f"""
schema_version: 1
defaults: {{timeout_s: 120}}
docker: {{base_images: {json.dumps(BASES)}}}
cells:
"""
DOCKER_MATRIX = ON_BOOKWORM + zarr_cell("3.1.6", "write, read", "zipstore-v2, zipstore-v3") + """  - library: gdal
    id: gdal-3.6-bookworm
    image: {dockerfile: gdal, base: "debian:bookworm-slim", label: "3.6 (Debian bookworm)"}
    roles: [write, read]
    writes: [gdal-dirzip-v2, gdal-vsizip-v3]
"""
NET_PROBE = '''
import socket, sys
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("CONNECTED")
except OSError as exc:
    print("BLOCKED", exc)
try:
    socket.getaddrinfo("pypi.org", 443)
    print("RESOLVED")
except OSError as exc:
    print("NORESOLVE", exc)
'''


@pytest.fixture(scope="module")
def engine():
    ok, said = docker_answers()
    missing = [b for b in set(BASES.values())
               if ok and subprocess.run(["docker", "image", "inspect", b], capture_output=True).returncode != 0]
    problem = None if ok else f"no Docker engine answers ({said})"
    problem = problem or (f"base images missing: {missing} (run docker/bootstrap-debian.sh)" if missing else None)
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}: in CI the Docker path must run")
        pytest.skip(problem)


def test_cells_run_in_containers(engine, tmp_path):
    matrix = write_matrix(tmp_path, DOCKER_MATRIX)
    args = ("run", "--matrix", str(matrix), "--backend", "docker", "--reports", str(tmp_path / "reports"),
            "--work", str(tmp_path / "work"))
    done = zarrmatrix(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "reports" / "results").glob("*.json")}
    assert sorted(got) == ["gdal-3.6-bookworm", "zarr-3.1.6"]
    for result in got.values():
        assert result["status"] == "ok", result["status_reason"]
        assert result["cell"]["backend"] == "docker"
        assert result["environment"]["image_id"].startswith("sha256:")
    gdal = got["gdal-3.6-bookworm"]
    assert gdal["environment"]["capabilities"]["gdal"]["version"].startswith("3.6")
    v2 = [r for r in gdal["records"] if r["kind"] == "read" and r["fixture"] == "zarr-3.1.6__zipstore-v2.zip"
          and r["variant"] == "zip"]
    assert {r["method"] for r in v2} == {"multidim", "classic"}
    assert "pass" in {r["verdict"] for r in v2}
    assert all(r["call"].startswith("gdal.") for r in v2)
    zarr = got["zarr-3.1.6"]
    assert any(r["verdict"] == "pass" for r in zarr["records"] if r["kind"] == "read")
    # GDAL 3.6 writes through its multidimensional API: every reference array at its path, in Zarr v2 that
    # zarr 3.1.6 reads back as the data handed to GDAL (checksums computed here), and v3 in the draft layout
    # GDAL 3.6 knew (data/root/...), which it reads itself.
    written = {r["fixture_kind"]: r for r in gdal["records"] if r["kind"] == "fixture"}
    assert written["gdal-dirzip-v2"]["error"] is None and written["gdal-dirzip-v2"]["gdal_version"].startswith("3.6")
    (v2_read,) = [r for r in zarr["records"] if r["kind"] == "read" and r["variant"] == "zip"
                  and r["fixture"] == "gdal-3.6-bookworm__gdal-dirzip-v2.zip" and r["method"] == "store-object"]
    assert v2_read["verdict"] == "pass", v2_read["reason"]
    assert {a["path"]: a["sha256"] for a in v2_read["arrays"]} == reference_checksums()
    draft = zipfile.ZipFile(tmp_path / "reports" / "fixtures" / "gdal-3.6-bookworm__gdal-vsizip-v3.zip").namelist()
    assert any(name.startswith("data/root/") for name in draft)

    again = zarrmatrix(*args, "--phase", "read", cwd=tmp_path)
    assert again.returncode == 0
    assert "environment built" not in again.stderr
    assert again.stderr.count("docker environment reused") == 2
    assert running_containers() == []


def running_containers() -> list[str]:
    """The containers of zarrmatrix runs still running here: none, once a run has ended."""
    listed = subprocess.run(["docker", "ps", "--quiet", "--filter", f"label={CONTAINER_LABEL}"],
                            capture_output=True, text=True, timeout=60)
    return listed.stdout.split()


def test_probes_cannot_reach_the_network(engine, tmp_path):
    cell = next(c for c in load_matrix(write_matrix(tmp_path, DOCKER_MATRIX)).cells if c.id == "zarr-3.1.6")
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "net_probe.py").write_text(NET_PROBE)
    mounts = Mounts(probes=probes, fixtures=tmp_path / "fixtures", work=tmp_path / "scratch")
    with DockerBackend(load_matrix(write_matrix(tmp_path, DOCKER_MATRIX)).docker, tmp_path).provision(
            cell, mounts) as env:
        result = env.run_probe("net_probe.py", [], timeout=30)
    assert result.returncode == 0, result.stderr
    assert "BLOCKED" in result.stdout and "CONNECTED" not in result.stdout
    assert "NORESOLVE" in result.stdout


def test_timeout_and_crash_inside_a_container(engine, tmp_path):
    cell = next(c for c in load_matrix(write_matrix(tmp_path, DOCKER_MATRIX)).cells if c.id == "zarr-3.1.6")
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "hang.py").write_text("import time\ntime.sleep(600)\n")
    (probes / "segv.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    mounts = Mounts(probes=probes, fixtures=tmp_path / "fixtures", work=tmp_path / "scratch")
    with DockerBackend(load_matrix(write_matrix(tmp_path, DOCKER_MATRIX)).docker, tmp_path).provision(
            cell, mounts) as env:
        hung = env.run_probe("hang.py", [], timeout=3)
        crashed = env.run_probe("segv.py", [], timeout=30)
        container = env._container
        left = subprocess.run(["docker", "top", container], capture_output=True, text=True).stdout
    assert hung.timed_out and hung.seconds < 30
    assert crashed.signal_name == "SIGSEGV" and not crashed.timed_out
    assert "hang.py" not in left


def test_the_attempt_server_contains_crash_and_hang_in_a_container(engine, tmp_path):
    cell = next(c for c in load_matrix(write_matrix(tmp_path, DOCKER_MATRIX)).cells if c.id == "zarr-3.1.6")
    probes = tmp_path / "probes"
    shutil.copytree(PROBES, probes)
    (probes / "read_zarr.py").rename(probes / "_real_read_zarr.py")
    (probes / "read_zarr.py").write_text(INJECTED)
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    for name in ("crashme.zip", "hangme.zip"):
        with zipfile.ZipFile(fixtures / name, "w") as zf:
            zf.writestr("zarr.json", "{}")
    mounts = Mounts(probes=probes, fixtures=fixtures, work=tmp_path / "scratch")
    with DockerBackend(load_matrix(write_matrix(tmp_path, DOCKER_MATRIX)).docker, tmp_path).provision(
            cell, mounts) as env:
        server, how = AttemptServer.start(env, "read_zarr.py")
        assert server is not None, how

        def attempt(name, timeout):
            request = {"fixture": {"path": env.env_path(fixtures / name), "variant": "zip", "name": name,
                                   "zarr_format": 3}, "method": "store-object", "arrays": None}
            return run_attempt(env, "read_zarr.py", request, timeout, server).result

        try:
            crashed = attempt("crashme.zip", 60)
            hung = attempt("hangme.zip", 3)
        finally:
            server.close()
        left = subprocess.run(["docker", "top", env._container], capture_output=True, text=True).stdout
    assert crashed.signal_name == "SIGSEGV" and not crashed.timed_out
    assert hung.timed_out and hung.seconds < 10
    assert "read_zarr" not in left


NODE_IN_DOCKER = ON_BOOKWORM + zarr_cell("3.1.6", "write, read", "zipstore-v3") + """  - library: zarrita
    versions: ["0.7.5"]
    pins: {"@zarrita/storage": "0.2.0"}
    roles: [write, read]
    writes: [zarrita-spec-v3]
"""


def test_a_node_cell_runs_in_its_image(engine, tmp_path):
    """zarrita.js in an image with Debian's nodejs: it writes, reads zarr's ZipStore and its own, and zarr 3.1.6
    in its image reads what zarrita wrote, as the data handed to the writer (checksums computed here)."""
    matrix = write_matrix(tmp_path, NODE_IN_DOCKER)
    done = zarrmatrix("run", "--matrix", str(matrix), "--backend", "docker", "--reports", str(tmp_path / "reports"),
                      "--work", str(tmp_path / "work"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "reports" / "results").glob("*.json")}
    zarrita = got["zarrita-0.7.5"]
    assert zarrita["status"] == "ok" and zarrita["cell"]["backend"] == "docker"
    assert zarrita["environment"]["capabilities"]["runtime"] == "node"
    assert "zarrita@0.7.5" in zarrita["environment"]["freeze"]
    reads = {(r["fixture"], r["variant"]): r for r in zarrita["records"] if r["kind"] == "read"}
    assert reads[("zarr-3.1.6__zipstore-v3.zip", "zip")]["verdict"] == "pass"
    assert reads[("zarrita-0.7.5__zarrita-spec-v3.zip", "zip")]["verdict"] == "pass"
    (by_zarr,) = [r for r in got["zarr-3.1.6"]["records"] if r["kind"] == "read" and r["variant"] == "zip"
                  and r["fixture"] == "zarrita-0.7.5__zarrita-spec-v3.zip" and r["method"] == "store-object"]
    assert by_zarr["verdict"] == "pass"
    assert {a["path"]: a["sha256"] for a in by_zarr["arrays"]} == reference_checksums()
    assert running_containers() == []


def test_auto_runs_a_cell_on_the_host_where_its_image_cannot_be_built(engine, tmp_path):
    """An engine answers, but no registry does: the image of a zarr cell cannot be built for want of its base
    (python:3.11-slim, mapped to nothing), so `auto` runs the cell in a uv environment and says why; a cell that
    needs its image stays env-failed."""
    if subprocess.run(["docker", "image", "inspect", "python:3.11-slim"], capture_output=True).returncode == 0:
        pytest.skip("python:3.11-slim is here: its image would build")
    matrix = write_matrix(tmp_path, "schema_version: 1\ndefaults: {timeout_s: 120, python: '3.11'}\ncells:\n"
                          + zarr_cell("3.1.6", "write, read", "zipstore-v3")
                          + "  - library: gdal\n    id: gdal-nowhere\n    image: {dockerfile: gdal, base: "
                            "'debian:no-such-suite'}\n    roles: [read]\n")
    done = zarrmatrix("run", "--matrix", str(matrix), "--reports", str(tmp_path / "reports"), "--work",
                      str(tmp_path / "work"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ran = json.loads((tmp_path / "reports" / "results" / "zarr-3.1.6.json").read_text())
    assert ran["status"] == "ok" and ran["cell"]["backend"] == "venv"
    assert "docker: base image python:3.11-slim cannot be pulled" in ran["environment"]["fallback"]
    assert "ran in a venv environment instead" in ran["environment"]["fallback"]
    assert {r["verdict"] for r in ran["records"] if r["kind"] == "read" and r["method"] == "store-object"} == {"pass"}
    image_only = json.loads((tmp_path / "reports" / "results" / "gdal-nowhere.json").read_text())
    assert image_only["status"] == "env-failed" and "cannot be pulled" in image_only["status_reason"]
