"""Versions rules: resolved against an index (a local one here, PyPI in the integration test), cached,
recorded in every cell, frozen by `zarrmatrix lock`, reused by --locked, and a clear error offline."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zarrmatrix.matrix import load_matrix
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

    def do_GET(self):
        Index.served.append(self.path)
        if self.path != "/zarr/json":
            self.send_error(404)
            return
        body = json.dumps({"releases": {v: [{"requires_python": r, "yanked": False} for r in reqs]
                                        for v, reqs in RELEASES.items()}}).encode()
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
    assert Rule(latest=1).select(["1.0.0", "1.1.0rc1"]) == ["1.0.0"]
    assert installable({"1.0": [None], "2.0": [">=9"]}, "3.11") == ["1.0"]


def test_resolved_cached_recorded_locked_and_offline(tmp_path, index, monkeypatch):
    matrix_path = write_matrix(tmp_path, RULES)
    matrix = load_matrix(matrix_path)
    assert [c.id for c in matrix.cells] == ["zarr-3.0.10", "zarr-3.1.6", "old-zarr-2.16.1", "old-zarr-2.17.2",
                                            "old-zarr-2.18.7", "old-zarr-3.0.10", "old-zarr-3.1.6"]
    cell = matrix.cells[0].to_json()
    assert cell["versions_rule"]["rule"] == {"latest": 2} and cell["versions_rule"]["source"] == "index"
    assert cell["versions_rule"]["versions"] == ["3.0.10", "3.1.6"] and cell["requirements"][0] == "zarr==3.0.10"
    assert len(Index.served) == 1  # the second rule over the same package came from the cache
    assert matrix.resolutions[1].source == "cache"

    locked = zarrmatrix("lock", "--matrix", str(matrix_path), cwd=tmp_path, env=index)
    assert locked.returncode == 0, locked.stderr
    assert "2 versions rules" in locked.stderr and "zarr {latest: 2} for Python 3.11 -> 3.0.10, 3.1.6" in locked.stderr
    lock = json.loads((tmp_path / "matrix.lock.json").read_text())
    assert sorted(e["versions"][-1] for e in lock["resolved"].values()) == ["3.1.6", "3.1.6"]

    # Offline and nothing cached: a clear error naming the file, the key and the line; exit 2.
    offline = {"ZARRMATRIX_PYPI_JSON": "http://127.0.0.1:9", "ZARRMATRIX_INDEX_CACHE": str(tmp_path / "none")}
    failed = zarrmatrix("list", "--matrix", str(matrix_path), cwd=tmp_path, env=offline)
    assert failed.returncode == 2
    assert "matrix.yaml:4: cells[0].versions: the rule {latest: 2} needs zarr's releases" in failed.stderr
    # --locked asks no index: the same cells, offline.
    again = zarrmatrix("list", "--matrix", str(matrix_path), "--locked", "--json", cwd=tmp_path, env=offline)
    assert again.returncode == 0, again.stderr
    assert [c["id"] for c in json.loads(again.stdout)] == [c.id for c in matrix.cells]
    assert json.loads(again.stdout)[0]["versions_rule"]["source"] == "lock"
    monkeypatch.setenv("ZARRMATRIX_PYPI_JSON", "http://127.0.0.1:9")
    monkeypatch.setenv("ZARRMATRIX_LOCKED", "1")
    assert [c.id for c in load_matrix(matrix_path).cells] == [c.id for c in matrix.cells]


def test_a_misspelt_rule_says_what_a_rule_is(tmp_path):
    bad = write_matrix(tmp_path, RULES.replace("{latest: 2}", "{latst: 2}"))
    done = zarrmatrix("validate", "--matrix", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert "matrix.yaml:4: cells[0].versions:" in done.stderr and "{latest: N}" in done.stderr


@pytest.mark.integration
def test_latest_two_on_the_real_index(tmp_path):
    """Here, on the index this machine reaches: zarr's newest 3.0 and 3.1 releases for Python 3.11."""
    matrix_path = write_matrix(tmp_path, RULES)
    done = zarrmatrix("list", "--matrix", str(matrix_path), "--json", cwd=tmp_path,
                      env={"ZARRMATRIX_INDEX_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    ids = [c["id"] for c in json.loads(done.stdout)]
    assert ids[:2] == ["zarr-3.0.10", "zarr-3.1.6"]
