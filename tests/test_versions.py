"""Versions rules: resolved against an index (a local one here, PyPI in the integration test), cached,
recorded in every cell, frozen by `zarrmatrix lock`, reused by --locked, and a clear error offline."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zarrmatrix import pythons
from zarrmatrix.matrix import load_matrix
from zarrmatrix.pythons import supported_minors
from zarrmatrix.versions import Rule, installable

from .conftest import write_matrix, zarrmatrix

RELEASES = {
    "2.13.6": [">=3.8"], "2.16.1": [">=3.9"], "2.17.2": [">=3.9"], "2.18.7": [">=3.10"],
    "3.0.9": [">=3.11"], "3.0.10": [">=3.11"], "3.1.0rc1": [">=3.11"], "3.1.6": [">=3.11"],
    "3.2.1": [">=3.12"], "3.3.0": [">=3.12"],
}
RULES = """
schema_version: 1
cells:
  - library: zarr
    versions: {latest: 2}
    roles: [read]
  - library: zarr
    id: "old-zarr-{version}"
    versions: {from: "2.16", every: minor}
    pins: {numcodecs: "<0.16"}
    roles: [read]
"""


class Index(BaseHTTPRequestHandler):
    served: list[str] = []
    releases: dict[str, list[str]] = RELEASES

    def do_GET(self):
        Index.served.append(self.path)
        if self.path != "/zarr/json":
            self.send_error(404)
            return
        body = json.dumps({"releases": {v: [{"requires_python": r, "yanked": False} for r in reqs]
                                        for v, reqs in Index.releases.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def index(tmp_path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Index.served = []
    Index.releases = RELEASES
    env = {"ZARRMATRIX_PYPI_JSON": f"http://127.0.0.1:{server.server_port}",
           "ZARRMATRIX_INDEX_CACHE": str(tmp_path / "cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    server.shutdown()


def test_rules_pick_the_newest_of_each_minor_series():
    versions = list(RELEASES)
    assert Rule(latest=2).select(versions) == ["3.2.1", "3.3.0"]
    assert Rule(latest=2).select(installable(RELEASES, "3.11")) == ["3.0.10", "3.1.6"]
    assert Rule(since="2.16").select(installable(RELEASES, "3.11")) == ["2.16.1", "2.17.2", "2.18.7", "3.0.10",
                                                                       "3.1.6"]
    assert Rule(since="2.13", until="2.18").select(versions) == ["2.13.6", "2.16.1", "2.17.2", "2.18.7"]
    assert Rule(latest=1).select(["1.0.0", "1.1.0rc1"]) == ["1.0.0"]
    assert installable({"1.0": [None], "2.0": [">=9"]}, "3.11") == ["1.0"]


def test_a_release_supports_the_pythons_its_wheels_and_requires_python_admit():
    wheel = "rasterio-1.5.2-cp{0}-cp{0}-manylinux_2_28_x86_64.whl"
    files = [{"requires": ">=3.12", "filename": wheel.format(v)} for v in ("312", "313")]
    assert supported_minors(files + [{"requires": ">=3.12", "filename": "rasterio-1.5.2.tar.gz"}]) == ["3.12", "3.13"]
    assert supported_minors([{"requires": ">=3.12", "filename": "zarr-3.4.2-py3-none-any.whl"}]) == [
        "3.12", "3.13", "3.14"]
    assert supported_minors([{"requires": "<3.11", "filename": None}]) == ["3.9", "3.10"]
    assert supported_minors([{"requires": None, "filename": "x-1.0-cp311-cp311-macosx_11_0_arm64.whl"}]) == []


def only(*minors: str) -> str:
    """ZARRMATRIX_PYTHONS naming this machine's interpreters of `minors` only."""
    found = pythons.available()
    missing = [m for m in minors if m not in found]
    if missing:
        pytest.skip(f"needs Python {', '.join(missing)} here (pyenv install {missing[0]})")
    return os.pathsep.join(found[m].path for m in minors)


def test_resolved_cached_recorded_locked_and_offline(tmp_path, index, monkeypatch):
    monkeypatch.setenv("ZARRMATRIX_PYTHONS", only("3.11", "3.12"))
    matrix_path = write_matrix(tmp_path, RULES)
    matrix = load_matrix(matrix_path)
    # {latest: 2} over every release, whatever Python zarrmatrix runs on; each cell on the lowest Python here
    # that its release supports.
    assert {c.id: c.python for c in matrix.cells} == {
        "zarr-3.2.1": "3.12", "zarr-3.3.0": "3.12", "old-zarr-2.16.1": "3.11", "old-zarr-2.17.2": "3.11",
        "old-zarr-2.18.7": "3.11", "old-zarr-3.0.10": "3.11", "old-zarr-3.1.6": "3.11", "old-zarr-3.2.1": "3.12",
        "old-zarr-3.3.0": "3.12"}
    cell = matrix.cells[0].to_json()
    assert cell["versions_rule"]["rule"] == {"latest": 2} and cell["versions_rule"]["source"] == "index"
    assert cell["versions_rule"]["versions"] == ["3.2.1", "3.3.0"] and cell["requirements"][0] == "zarr==3.2.1"
    assert cell["python_request"] == "auto" and cell["python_supported"] == ["3.12", "3.13", "3.14"]
    assert len(Index.served) == 1  # the second rule, and every release's Pythons, asked the index no more
    assert load_matrix(matrix_path).resolutions[1].source == "cache" and len(Index.served) == 1

    locked = zarrmatrix("lock", "--matrix", str(matrix_path), cwd=tmp_path, env=index)
    assert locked.returncode == 0, locked.stderr
    assert "2 versions rules, the Pythons of 7 releases" in locked.stderr
    assert "moved: zarr {latest: 2}: (not locked) -> 3.2.1, 3.3.0" in locked.stderr
    lock = json.loads((tmp_path / "matrix.lock.json").read_text())
    assert sorted(e["versions"][-1] for e in lock["resolved"].values()) == ["3.3.0", "3.3.0"]
    assert lock["pythons"]["pypi:zarr"]["3.3.0"] == ["3.12", "3.13", "3.14"]
    listed = zarrmatrix("list", "--matrix", str(matrix_path), "--json", cwd=tmp_path, env=index)

    # Offline and nothing cached, with no lock: a clear error naming the file, the key and the line; exit 2.
    offline = {"ZARRMATRIX_PYPI_JSON": "http://127.0.0.1:9", "ZARRMATRIX_INDEX_CACHE": str(tmp_path / "none")}
    (tmp_path / "elsewhere").mkdir()
    bare = write_matrix(tmp_path / "elsewhere", RULES)
    failed = zarrmatrix("list", "--matrix", str(bare), cwd=tmp_path, env=offline)
    assert failed.returncode == 2
    assert "matrix.yaml:4: cells[0].versions: the rule {latest: 2} needs zarr's releases" in failed.stderr
    # The lock asks no index: the same cells on the same Pythons, offline.
    again = zarrmatrix("list", "--matrix", str(matrix_path), "--locked", "--json", cwd=tmp_path, env=offline)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == [dict(c, versions_rule=dict(c["versions_rule"], source="lock"))
                                        if "versions_rule" in c else c for c in json.loads(listed.stdout)]
    assert json.loads(again.stdout)[0]["versions_rule"]["source"] == "lock"
    monkeypatch.setenv("ZARRMATRIX_PYPI_JSON", "http://127.0.0.1:9")
    monkeypatch.setenv("ZARRMATRIX_LOCKED", "1")
    assert [(c.id, c.python) for c in load_matrix(matrix_path).cells] == [(c.id, c.python) for c in matrix.cells]


def test_a_lock_upgrade_says_what_moved(tmp_path, index):
    matrix_path = write_matrix(tmp_path, RULES)
    assert zarrmatrix("lock", "--matrix", str(matrix_path), cwd=tmp_path, env=index).returncode == 0
    Index.releases = {**RELEASES, "3.4.0": [">=3.12"]}
    kept = zarrmatrix("lock", "--matrix", str(matrix_path), cwd=tmp_path, env=index)
    assert kept.returncode == 0 and "nothing moved" in kept.stderr  # the lock holds: no new release enters
    moved = zarrmatrix("lock", "--matrix", str(matrix_path), "--upgrade", cwd=tmp_path, env=index)
    assert moved.returncode == 0, moved.stderr
    assert "moved: zarr {latest: 2}: 3.2.1, 3.3.0 -> 3.3.0, 3.4.0" in moved.stderr
    assert '"3.4.0"' in (tmp_path / "matrix.lock.json").read_text()


def test_hidden_interpreters_skip_the_cells_that_need_them_and_say_so(tmp_path, index, monkeypatch):
    monkeypatch.setenv("ZARRMATRIX_PYTHONS", only("3.11"))
    cells = {c.id: c for c in load_matrix(write_matrix(tmp_path, RULES)).cells}
    assert cells["old-zarr-3.1.6"].python == "3.11"
    assert cells["zarr-3.3.0"].python is None
    assert cells["zarr-3.3.0"].python_missing == (
        "zarr 3.3.0 needs Python >= 3.12: none found (this machine has Python 3.11); install python3.12, or use "
        "--backend docker")


def test_a_misspelt_rule_says_what_a_rule_is(tmp_path):
    bad = write_matrix(tmp_path, RULES.replace("{latest: 2}", "{latst: 2}"))
    done = zarrmatrix("validate", "--matrix", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert "matrix.yaml:4: cells[0].versions:" in done.stderr and "{latest: N}" in done.stderr


@pytest.mark.integration
def test_latest_two_on_the_real_index(tmp_path):
    """Here, on the index this machine reaches: zarr's newest two minor lines, whatever Python runs zarrmatrix,
    each on the lowest Python here that it supports."""
    from zarrmatrix.versions import fetch_releases

    matrix_path = write_matrix(tmp_path, RULES)
    done = zarrmatrix("list", "--matrix", str(matrix_path), "--json", cwd=tmp_path,
                      env={"ZARRMATRIX_INDEX_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    cells = json.loads(done.stdout)
    assert [c["version"] for c in cells[:2]] == Rule(latest=2).select(list(fetch_releases("pypi", "zarr")))
    here = pythons.available()
    for cell in cells:
        fits = [m for m in cell["python_supported"] if m in here]
        assert cell["python"] == (fits[0] if fits else None), cell


def test_a_pin_may_be_the_newest_release(tmp_path, index, monkeypatch):
    monkeypatch.setenv("ZARRMATRIX_PYTHONS", only("3.11", "3.12"))
    path = write_matrix(tmp_path, "schema_version: 1\ncells:\n  - {library: xarray, versions: ['2026.9.0'], "
                                  "pins: {zarr: {latest: 1}}, roles: [read]}\n")
    # The local index serves zarr alone: xarray's own Python comes from the lock.
    (tmp_path / "matrix.lock.json").write_text(json.dumps({"resolved": {}, "pythons": {
        "pypi:xarray": {"2026.9.0": ["3.11", "3.12", "3.13", "3.14"]}}}))
    cell = load_matrix(path).cells[0]
    assert cell.requirements[:2] == ("xarray==2026.9.0", "zarr==3.3.0")
    assert cell.python == "3.12"  # zarr 3.3.0 needs it, though xarray alone would run on 3.11


@pytest.mark.integration
def test_a_run_without_the_python_a_release_needs_skips_it_and_runs_the_rest(tmp_path, work_dir):
    matrix = write_matrix(tmp_path, "schema_version: 1\ncells:\n  - library: zarr\n    versions: ['3.1.6', '3.4.2']\n"
                                    "    roles: [write, read]\n    writes: [zipstore-v3]\n")
    reports = tmp_path / "reports"
    done = zarrmatrix("run", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir), "--reports",
                      str(reports), "--phase", "write", "read", cwd=tmp_path,
                      env={"ZARRMATRIX_PYTHONS": only("3.11")})
    assert done.returncode == 0, done.stderr[-3000:]
    skipped = json.loads((reports / "results" / "zarr-3.4.2.json").read_text())
    assert skipped["status"] == "skipped"
    assert "zarr 3.4.2 needs Python >= 3.12: none found (this machine has Python 3.11)" in skipped["status_reason"]
    ran = json.loads((reports / "results" / "zarr-3.1.6.json").read_text())
    assert ran["status"] == "ok" and ran["cell"]["python"] == "3.11"
    assert ran["environment"]["python"].startswith("3.11.")
    assert any(r["kind"] == "read" and r["verdict"] == "pass" for r in ran["records"])
