"""`zarrmatrix merge` on shards built here: what it merges, and every way it refuses (exit 2, nothing written)."""

import json
import shutil

from zarrmatrix.results import write_result

from .conftest import zarrmatrix
from .test_report import fixture, read, result

FIXTURE = "zarr-3.1.6__zipstore-v3.zip"
MANIFEST = {"fixture": FIXTURE, "arrays": [], "zarr_format": 3, "variant": "ZipStore"}


def shard(root, cell_id, records, roles=("read",)):
    write_result(root / "results" / f"{cell_id}.json", result(cell_id, "zarr", cell_id.split("-")[1], records,
                                                               roles=roles))


def with_fixture(root, manifest=MANIFEST, data=b"zip bytes"):
    (root / "fixtures").mkdir(parents=True, exist_ok=True)
    (root / "fixtures" / FIXTURE).write_bytes(data)
    (root / "fixtures" / f"{FIXTURE}.manifest.json").write_text(json.dumps(manifest))


def test_merge_and_its_refusals(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shard(a, "zarr-3.1.6", [fixture(FIXTURE, "zarr-3.1.6", 3), read("zarr-3.1.6", "zarr", FIXTURE, "pass")],
          roles=("write", "read"))
    with_fixture(a)
    shard(b, "zarr-2.18.7", [read("zarr-2.18.7", "zarr", FIXTURE, "error")])
    with_fixture(b)
    done = zarrmatrix("merge", str(a), str(b), "--into", str(tmp_path / "merged"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "merged" / "results").iterdir()) == ["zarr-2.18.7.json",
                                                                                "zarr-3.1.6.json"]
    assert (tmp_path / "merged" / "fixtures" / FIXTURE).read_bytes() == b"zip bytes"
    assert (tmp_path / "merged" / "results" / "zarr-3.1.6.json").read_bytes() == \
        (a / "results" / "zarr-3.1.6.json").read_bytes()

    def refused(*sources, into="out"):
        done = zarrmatrix("merge", *map(str, sources), "--into", str(tmp_path / into), cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        return done.stderr

    # The same cell with two different results.
    c = tmp_path / "c"
    shard(c, "zarr-2.18.7", [read("zarr-2.18.7", "zarr", FIXTURE, "pass")])
    assert "cell zarr-2.18.7: two different results" in refused(b, c)
    # Two shards holding different zips under one name.
    d = tmp_path / "d"
    shutil.copytree(b, d)
    (d / "fixtures" / FIXTURE).write_bytes(b"other bytes")
    assert f"fixture {FIXTURE}:" in refused(a, d) and "differ" in refused(a, d)
    # A fixture whose manifest is not the one its writer recorded.
    e = tmp_path / "e"
    shard(e, "zarr-3.1.6", [fixture(FIXTURE, "zarr-3.1.6", 3)], roles=("write", "read"))
    with_fixture(e, dict(MANIFEST, arrays=[{"path": "x", "sha256": "0" * 64}]))
    assert "its manifest differs from the one zarr-3.1.6 recorded" in refused(e)
    # A result that does not validate names its file.
    f = tmp_path / "f"
    (f / "results").mkdir(parents=True)
    (f / "results" / "broken.json").write_text('{"schema_version": 1}')
    assert "broken.json" in refused(f)
    # A target that holds another result for a cell is left as it is.
    held = (tmp_path / "merged" / "results" / "zarr-2.18.7.json").read_bytes()
    assert "already holds another result for zarr-2.18.7" in refused(c, into="merged")
    assert (tmp_path / "merged" / "results" / "zarr-2.18.7.json").read_bytes() == held
    assert not (tmp_path / "out").exists()
