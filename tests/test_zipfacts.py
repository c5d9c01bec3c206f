"""zarrmatrix inspect: what a zip is, read from its bytes, and its RFC-9 verdict."""

import importlib.util
import json
import zipfile

import pytest

from zarrmatrix.zipfacts import inspect_zip

from .conftest import PROBES, zarrmatrix


def packing():
    spec = importlib.util.spec_from_file_location("_packing", PROBES / "_packing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store(tmp_path):
    """A small Zarr v3 folder: a group, a subgroup, two arrays and their chunks."""
    root = tmp_path / "img.zarr"
    for folder, meta in (("", {"zarr_format": 3, "node_type": "group"}),
                         ("s0", {"zarr_format": 3, "node_type": "array"}),
                         ("labels", {"zarr_format": 3, "node_type": "group"}),
                         ("labels/l0", {"zarr_format": 3, "node_type": "array"})):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "zarr.json").write_text(json.dumps(meta))
    for chunk in ("s0/c/0/0", "s0/c/0/1", "labels/l0/c/0"):
        (root / chunk).parent.mkdir(parents=True, exist_ok=True)
        (root / chunk).write_bytes(b"\x01" * 64)
    return root


def test_an_rfc9_zip_has_no_error_and_no_warning(tmp_path, store):
    target = tmp_path / "image.ozx"
    packing().pack(str(store), str(target), "rfc9")
    facts = inspect_zip(target)
    assert facts.rfc9.errors == [] and facts.rfc9.warnings == [], facts.rfc9
    assert facts.zip64_end_record and facts.zip64_members == facts.members == 7
    assert facts.comment_json == {"ome": {"version": "0.5"}}
    assert facts.root == "" and facts.zarr_format == 3 and facts.compression == {"store": 7}
    with zipfile.ZipFile(target) as zf:  # and Python's own reader still reads every member
        assert zf.testzip() is None


def test_each_departure_from_rfc9_is_named(tmp_path, store):
    target = tmp_path / "image.zip"
    packing().pack(str(store), str(target), "against-rfc9")
    warnings = " | ".join(inspect_zip(target).rfc9.warnings)
    for expected in ("missing comment", "not ZIP64", "unsorted", "DEFLATE-compressed", "not named .ozx"):
        assert expected in warnings
    nested = tmp_path / "nested.zip"
    packing().pack(str(store), str(nested), "nested")
    facts = inspect_zip(nested)
    assert facts.nested and facts.root == "store.zarr"
    assert facts.rfc9.errors == ["root not Zarr v3: the store is nested under store.zarr/"]


def test_duplicates_junk_and_directories(tmp_path, store):
    target = tmp_path / "messy.zip"
    packing().pack(str(store), str(target), "macos")
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(target, "a") as zf:
        zf.writestr("zarr.json", json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {"v": 2}}))
    facts = inspect_zip(target)
    assert facts.duplicates == [{"name": "zarr.json", "count": 2, "last_is_latest_written": True, "differ": True}]
    assert ".DS_Store" in facts.junk and any(j.startswith("__MACOSX/") for j in facts.junk)
    assert facts.root == ""  # junk is not the store
    dirs = tmp_path / "dirs.zip"
    packing().pack(str(store), str(dirs), "dirs")
    assert inspect_zip(dirs).directory_entries == 6  # s0/ s0/c/ s0/c/0/ labels/ labels/l0/ labels/l0/c/


def test_inspect_json_and_a_file_that_is_no_zip(tmp_path, store):
    target = tmp_path / "image.ozx"
    packing().pack(str(store), str(target), "rfc9")
    (tmp_path / "notes.txt").write_text("hello")
    done = zarrmatrix("inspect", str(target), str(tmp_path / "notes.txt"), "--json", cwd=tmp_path, timeout=60)
    assert done.returncode == 1, done.stderr  # one file of two is no zip
    ozx, notes = json.loads(done.stdout)
    assert ozx["rfc9"]["verdict"] == "valid" and ozx["nested"] is False and ozx["members"] == 7 and ozx["valid"]
    assert notes["is_zip"] is False and notes["rfc9"]["errors"] == ["not a zip file"] and not notes["valid"]
    alone = zarrmatrix("inspect", str(target), cwd=tmp_path, timeout=60)
    assert alone.returncode == 0, alone.stderr
    assert zarrmatrix("inspect", cwd=tmp_path, timeout=60).returncode == 2  # usage
