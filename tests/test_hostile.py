"""Hostile input, one test per finding of the attacker's pass: nothing is written outside its folder or through a
link, nothing hangs (every command here runs under a timeout) or prints a traceback, and no wrong answer passes.
Each test asserts what is on disk afterwards."""

import json
import math
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zarrmatrix.bench import bench_record
from zarrmatrix.results import write_result
from zarrmatrix.safefs import UnsafeInput, check_name, copy_new
from zarrmatrix.zipfacts import find_store, inspect_zip

from .conftest import zarr_cell, zarrmatrix
from .test_report import fixture, read, result

QUICK = 60  # seconds: every command here answers at once, or it hangs
FIXTURE = "zarr-3.1.6__zipstore-v3.zip"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = zarrmatrix(*args, cwd=cwd, timeout=QUICK, env=env)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    return done


def result_json(cell_id: str, records=(), **cell) -> dict:
    data = result("zarr-3.1.6", "zarr", "3.1.6", list(records)).to_json()
    data["cell"]["id"] = cell_id
    data["cell"].update(cell)
    return data


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def snapshot(folder: Path) -> dict[str, bytes | str]:
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else "")
            for p in sorted(folder.rglob("*"))}


# -- names from data are names -------------------------------------------------------------

@pytest.mark.parametrize("bad", ["../../victim", "/abs/victim", "a/b", ".hidden", "zarr-3.1.6\n", "", "x" * 300])
def test_a_name_from_data_is_never_a_path(bad):
    with pytest.raises(UnsafeInput):
        check_name(bad, "cell id")
    assert check_name("xarray-2026.9.0-zarr3+np2", "cell id") == "xarray-2026.9.0-zarr3+np2"


def test_report_writes_no_badge_outside_its_folder(tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text("the user's own file")
    reports = tmp_path / "reports"
    write_json(reports / "results" / "a.json", result_json(str(tmp_path / "victim")))
    write_json(reports / "results" / "b.json", result_json("../../victim"))
    write_result(reports / "results" / "zarr-3.1.6.json", result("zarr-3.1.6", "zarr", "3.1.6", [
        read("zarr-3.1.6", "zarr", FIXTURE, "pass")]))
    done = run("report", "--reports", str(reports), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "the user's own file"
    assert sorted(p.name for p in (reports / "badges").iterdir()) == ["zarr-3.1.6.json"]
    assert "a.json" in done.stderr and "b.json" in done.stderr and "cell/id" in done.stderr
    assert not (tmp_path / "victim.json.tmp").exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "reports", "victim.json"]


def test_report_refuses_a_badges_folder_that_is_a_link(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    reports = tmp_path / "reports"
    write_result(reports / "results" / "zarr-3.1.6.json", result("zarr-3.1.6", "zarr", "3.1.6", [
        read("zarr-3.1.6", "zarr", FIXTURE, "pass")]))
    (reports / "badges").symlink_to(elsewhere)
    done = run("report", "--reports", str(reports), cwd=tmp_path)
    assert done.returncode == 2 and "badges: is a symbolic link" in done.stderr
    assert list(elsewhere.iterdir()) == []


def shard_with(root: Path, cell_id: str = "zarr-3.1.6") -> Path:
    write_result(root / "results" / f"{cell_id}.json", result(cell_id, "zarr", "3.1.6", [
        fixture(FIXTURE, cell_id, 3), read(cell_id, "zarr", FIXTURE, "pass")], roles=("write", "read")))
    (root / "fixtures").mkdir(parents=True, exist_ok=True)
    (root / "fixtures" / FIXTURE).write_bytes(b"zip bytes")
    write_json(root / "fixtures" / f"{FIXTURE}.manifest.json", {"fixture": FIXTURE, "arrays": [], "zarr_format": 3})
    return root


def refused_merge(shard: Path, into: Path, said: str) -> None:
    """`merge` refuses the shard, naming the problem, and the target is not made."""
    done = run("merge", str(shard), "--into", str(into), cwd=into.parent)
    assert done.returncode == 2 and said in done.stderr, done.stderr
    assert not into.exists()


def test_merge_refuses_ids_that_are_paths_before_writing_anything(tmp_path):
    shard = shard_with(tmp_path / "shard")
    write_json(shard / "results" / "evil.json", result_json("../../outside"))
    write_json(shard / "results" / "slash.json", result_json("a/b"))
    refused_merge(shard, tmp_path / "out", "cell/id")
    assert not (tmp_path / "outside.json").exists()


def test_merge_refuses_a_result_filed_under_another_name(tmp_path):
    shard = shard_with(tmp_path / "shard")
    write_json(shard / "results" / "other.json", result_json("zarr-9"))
    refused_merge(shard, tmp_path / "out", "whose file is zarr-9.json")


def test_merge_copies_no_link_from_a_shard(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root:x:0:0")
    shard = shard_with(tmp_path / "shard")
    (shard / "fixtures" / "leak.zip").symlink_to(secret)
    write_json(shard / "fixtures" / "leak.zip.manifest.json", {"fixture": "leak.zip", "arrays": []})
    refused_merge(shard, tmp_path / "out", "leak.zip: is a symbolic link")

    linked = shard_with(tmp_path / "linked")
    os.replace(linked / "results" / "zarr-3.1.6.json", tmp_path / "real.json")
    (linked / "results" / "zarr-3.1.6.json").symlink_to(tmp_path / "real.json")
    refused_merge(linked, tmp_path / "out2", "symbolic link")


def test_merge_never_writes_through_a_link_in_the_target(tmp_path):
    shard = shard_with(tmp_path / "shard")
    into = tmp_path / "out"
    (into / "results").mkdir(parents=True)
    (into / "results" / "zarr-3.1.6.json").symlink_to(tmp_path / "dangling-target")
    done = run("merge", str(shard), "--into", str(into), cwd=tmp_path)
    assert done.returncode == 2 and "nothing was overwritten" in done.stderr
    assert not (tmp_path / "dangling-target").exists()
    (into / "results" / "zarr-3.1.6.json").unlink()
    (into / "fixtures").symlink_to(tmp_path)
    done = run("merge", str(shard), "--into", str(into), cwd=tmp_path)
    assert done.returncode == 2 and "fixtures: is a symbolic link" in done.stderr
    assert not (tmp_path / FIXTURE).exists() and list((into / "results").iterdir()) == []


def test_merge_refuses_a_manifest_that_is_not_one(tmp_path):
    shard = shard_with(tmp_path / "shard")
    (shard / "fixtures" / f"{FIXTURE}.manifest.json").write_text('{"arrays": 5}')
    refused_merge(shard, tmp_path / "out", "not a valid manifest")


def test_a_merge_with_markup_in_its_paths_ends_cleanly(tmp_path):
    shard = shard_with(tmp_path / "[bold]shard[/]")
    into = tmp_path / "out[/red]"
    done = run("merge", str(shard), "--into", str(into), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"into {into}" in done.stderr and (into / "results" / "zarr-3.1.6.json").is_file()


def test_copy_new_replaces_nothing(tmp_path):
    source = tmp_path / "source"
    source.write_text("new")
    target = tmp_path / "target"
    target.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        copy_new(source, target)
    assert not (tmp_path / "nowhere").exists() and [p.name for p in tmp_path.iterdir()].count("target") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source", "target"]  # no temporary file left


# -- only regular files, in bounded memory, and nothing hangs ------------------------------------

@pytest.fixture
def specials(tmp_path):
    fifo = tmp_path / "x.zip"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.zip"
    zero.symlink_to("/dev/zero")
    return fifo, zero


def test_check_refuses_fifos_and_devices_at_once(tmp_path, specials):
    fifo, zero = specials
    matrix = tmp_path / "m.yaml"
    matrix.write_text("schema_version: 1\ncells:\n  - {library: zarr, versions: ['3.1.6'], python: '3.11', "
                      "roles: [read]}\n")
    done = run("check", str(fifo), str(zero), "/dev/zero", "--matrix", str(matrix), "--out", str(tmp_path / "out"),
               cwd=tmp_path)
    assert done.returncode == 2 and "no zip file to check" in done.stderr
    text = done.stderr.replace("\n", "")
    assert "x.zip: is a FIFO (named pipe), not a regular file" in text
    assert "zero.zip: is a character device, not a regular file" in text
    assert not (tmp_path / "out").exists()


def test_inspect_names_fifos_and_devices(tmp_path, specials):
    fifo, zero = specials
    done = run("inspect", str(fifo), str(zero), str(tmp_path / "missing.zip"), "--json", cwd=tmp_path)
    assert done.returncode == 1
    facts = json.loads(done.stdout)
    assert [f["problem"] for f in facts] == ["is a FIFO (named pipe), not a regular file",
                                             "is a character device, not a regular file", "no such file"]


def test_a_fifo_in_results_hangs_nothing(tmp_path):
    reports = shard_with(tmp_path / "reports")
    os.mkfifo(reports / "results" / "pipe.json")
    done = run("report", "--reports", str(reports), cwd=tmp_path)
    assert done.returncode == 0 and "pipe.json: is a FIFO" in done.stderr.replace("\n", "")
    done = run("compare", str(reports), str(reports), cwd=tmp_path)
    assert done.returncode == 0 and "pipe.json" in done.stderr.replace("\n", "")
    done = run("merge", str(reports), "--into", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2 and "pipe.json: is a FIFO" in done.stderr and not (tmp_path / "out").exists()


def duplicated_zip(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("zarr.json", json.dumps({"zarr_format": 3, "node_type": "group"}))
        for i in range(count):
            zf.writestr(zipfile.ZipInfo(f"a/c/{i % (count // 2)}"), b"x")
    return path


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_inspect_finds_every_duplicate_in_one_pass(tmp_path):
    facts = inspect_zip(duplicated_zip(tmp_path / "dups.zip", 6000))
    assert facts.members == 6001 and len(facts.duplicates) == 3000
    assert facts.duplicates[0] == {"name": "a/c/0", "count": 2, "last_is_latest_written": True, "differ": False}


def test_a_deeply_nested_comment_is_not_parsed(tmp_path):
    path = tmp_path / "deep.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("zarr.json", json.dumps({"zarr_format": 3, "node_type": "group"}))
        zf.comment = b"[" * 30000 + b"]" * 30000
    done = run("inspect", str(path), "--json", cwd=tmp_path)
    facts = json.loads(done.stdout)[0]
    assert facts["comment_json"] is None and "nests deeper than 32 levels" in facts["comment_problem"]
    assert done.returncode == 0  # a bad comment is a poor .ozx, not a broken zip


# -- tracebacks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("verdicts", [
    "not json", "[]", '{"cells": 1}', '{"name": "r", "readers": {"x": 5}, "kinds": {}, "cells": {}}',
    '{"name": "r", "readers": {}, "kinds": {}, "cells": {"x": {"f": "nonsense"}}}',
    '{"name": "r", "readers": {}, "kinds": {}, "cells": {"x": ["pass"]}}', '{"version": 9}'])
def test_a_malformed_kept_run_is_left_out_of_the_history(tmp_path, verdicts):
    reports = shard_with(tmp_path / "reports")
    kept = reports / "runs" / "2026-01-01T00-00-00Z-deadbeef"
    kept.mkdir(parents=True)
    (kept / "verdicts.json").write_text(verdicts)
    done = run("report", "--reports", str(reports), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "run 2026-01-01T00-00-00Z-deadbeef left out" in done.stderr.replace("\n", "")
    assert (reports / "history.html").is_file() and (kept / "verdicts.json").read_text() == verdicts


def test_a_closed_stdout_ends_quietly(tmp_path):
    matrix = tmp_path / "m.yaml"
    matrix.write_text("schema_version: 1\ncells:\n" + "".join(
        f"  - {{library: zarr, id: z{i}, versions: ['3.1.6'], roles: [read]}}\n" for i in range(400)))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "zarrmatrix", "list", "--json", "--matrix", str(matrix)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=QUICK, cwd=tmp_path)
    finally:
        os.close(write_end)
    assert done.returncode == 141 and done.stderr == ""


LOCKED = "schema_version: 1\ncells:\n  - {library: zarr, versions: {latest: 2}, roles: [read]}\n"


@pytest.mark.parametrize("lock, expected", [
    ("[]", "resolved: expected an object"), ('{"resolved": {"k": 5}}', "resolved.k: expected 'versions'"),
    ('{"resolved": {"k": {"versions": ["3.1.6\\n"], "resolved_at": "x"}}}', "resolved.k: expected 'versions'"),
    ('{"resolved": {"k": {"versions": ["3.1.6"], "resolved_at": "x", "package": "zarr", "rule": {"to": "3"}}}}',
     "resolved.k: expected 'versions'"),
    ("{", "not a readable lock file")])
def test_a_torn_lock_file_is_named(tmp_path, lock, expected):
    (tmp_path / "m.yaml").write_text(LOCKED)
    (tmp_path / "m.lock.json").write_text(lock)
    done = run("list", "--matrix", "m.yaml", "--locked", cwd=tmp_path)
    assert done.returncode == 2 and expected in done.stderr and "m.lock.json" in done.stderr


@pytest.mark.parametrize("cache", ["[]", '{"releases": {"3.1.6": 5}, "fetched": 1, "fetched_at": "x"}',
                                   '{"releases": [], "fetched": 1}', "fifo"])
def test_a_torn_index_cache_is_ignored(tmp_path, cache):
    (tmp_path / "m.yaml").write_text(LOCKED)
    folder = tmp_path / "cache"
    folder.mkdir()
    if cache == "fifo":
        os.mkfifo(folder / "pypi-zarr.json")
    else:
        (folder / "pypi-zarr.json").write_text(cache)
    offline = {"ZARRMATRIX_PYPI_JSON": "http://127.0.0.1:9", "ZARRMATRIX_INDEX_CACHE": str(folder)}
    done = run("list", "--matrix", "m.yaml", cwd=tmp_path, env=offline)
    assert done.returncode == 2 and "cannot be reached" in done.stderr and "nothing is cached" in done.stderr


def test_a_lock_file_that_is_a_link_is_not_truncated(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("the user's notes")
    reports = shard_with(tmp_path / "reports")
    (reports / ".zarrmatrix.lock").symlink_to(precious)
    done = run("report", "--reports", str(reports), cwd=tmp_path)
    assert done.returncode == 2 and ".zarrmatrix.lock: cannot be the lock file" in done.stderr
    assert precious.read_text() == "the user's notes"


def test_a_version_or_id_ending_in_a_newline_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text('schema_version: 1\ncells:\n  - {library: zarr, versions: ["3.1.6\\n"], '
                                     "roles: [read]}\n")
    done = run("validate", "--matrix", "a.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "a.yaml:3: cells[0].versions[0]: '3.1.6\\n' is not an exact" in done.stderr
    (tmp_path / "b.yaml").write_text('schema_version: 1\ncells:\n  - {library: zarr, id: "z\\n", '
                                     'versions: ["3.1.6"], roles: [read]}\n')
    done = run("validate", "--matrix", "b.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "b.yaml:3: cells[0].id" in done.stderr


# -- compare -------------------------------------------------------------------------------------

def bench_raw(samples):
    return {"kind": "bench", "store": "zip", "compressor": "none", "op": "read", "nbytes": 2**20,
            "samples_s": samples, "shape": [16], "chunks": [16], "dtype": "int8"}


def bench_result(folder: Path, cell_id: str, samples) -> Path:
    records = [bench_record(bench_raw(samples)).to_json()] if samples else []
    data = result(cell_id, "zarr", "3.1.6", records, roles=("bench",)).to_json()
    write_json(folder / "results" / f"{cell_id}.json", data)
    return folder


def test_compare_refuses_nan_timings_and_names_lost_benchmarks(tmp_path):
    old = bench_result(tmp_path / "old", "zarr-3.1.6", [0.01] * 6)
    lost = bench_result(tmp_path / "lost", "zarr-3.1.6", None)
    done = run("compare", str(old), str(lost), "--fail-on-regression", cwd=tmp_path)
    assert done.returncode == 1 and "Benchmarks lost" in done.stdout
    nan = tmp_path / "nan"
    bench_result(nan, "zarr-3.1.6", [0.01] * 6)
    path = nan / "results" / "zarr-3.1.6.json"
    path.write_text(path.read_text().replace("0.01", "NaN"))
    done = run("compare", str(old), str(nan), "--fail-on-regression", cwd=tmp_path)
    assert done.returncode == 2 and "NaN is not a JSON number" in done.stderr
    for factor in ("nan", "inf", "1", "0.5", "x"):
        done = run("compare", str(old), str(old), "--factor", factor, cwd=tmp_path)
        assert done.returncode == 2 and "must be a finite number above 1" in done.stderr, factor


def test_a_nan_from_a_probe_becomes_an_error_record():
    from zarrmatrix.attempt import Attempt
    from zarrmatrix.bench import bench_records
    from zarrmatrix.process import ProcessResult

    attempt = Attempt(records=[bench_raw([0.01, math.nan])], result=ProcessResult(("x",), 0, "", "", 0.1, False))
    records = bench_records(attempt, "zarr", 60)
    assert [r.KIND for r in records] == ["bench-error"] and "not a finite number" in records[0].error["message"]


def test_runs_with_no_cell_in_common_do_not_compare_clean(tmp_path):
    a = bench_result(tmp_path / "a", "zarr-3.1.6", [0.01] * 6)
    b = bench_result(tmp_path / "b", "zarr-3.0.10", [0.01] * 6)
    done = run("compare", str(a), str(b), "--fail-on-regression", cwd=tmp_path)
    assert done.returncode == 1 and "no cell in common" in done.stderr and "No cell in common" in done.stdout
    assert run("compare", str(a), str(b), cwd=tmp_path).returncode == 0


# -- inspect, right on damaged and split zips ----------------------------------------------------

def v3_store(path: Path, root_meta: bytes = b'{"zarr_format": 3, "node_type": "group"}', comment: bytes = b"",
             extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("zarr.json", root_meta)
        zf.writestr("a/zarr.json", json.dumps({"zarr_format": 3, "node_type": "array", "shape": [4],
                                               "data_type": "int8"}))
        zf.writestr("a/c/0", b"\x01\x02\x03\x04")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        zf.comment = comment
    return path


def test_an_unreadable_root_zarr_json_makes_the_zip_invalid(tmp_path):
    facts = inspect_zip(v3_store(tmp_path / "bad.zip", root_meta=b"{not json"))
    assert not facts.valid and "zarr.json: cannot be read" in facts.root_metadata_problem
    assert inspect_zip(v3_store(tmp_path / "good.zip")).valid
    assert inspect_zip(v3_store(tmp_path / "good.zip")).arrays == [{"path": "a", "shape": [4], "dtype": "int8",
                                                                     "features": ["int8"]}]


def test_end_records_that_lie_are_problems(tmp_path):
    path = v3_store(tmp_path / "lie.zip")
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, at + 8, 60000, 60000)
    path.write_bytes(bytes(data))
    facts = inspect_zip(path)
    assert not facts.valid and "the end record claims 60,000 entries; the central directory holds 3" in facts.problems


def test_unsafe_names_and_damaged_headers_are_problems(tmp_path):
    facts = inspect_zip(v3_store(tmp_path / "evil.zip", extra={"../evil": b"x", "/etc/cron.d/x": b"x"}))
    assert "member '../evil': unsafe name (a '..' component)" in facts.problems
    assert "member '/etc/cron.d/x': unsafe name (an absolute path)" in facts.problems
    assert not facts.valid and facts.rfc9.errors
    path = v3_store(tmp_path / "torn.zip")
    data = bytearray(path.read_bytes())
    second = data.find(b"PK\x03\x04", 4)
    data[second:second + 4] = b"XXXX"
    path.write_bytes(bytes(data))
    facts = inspect_zip(path)
    assert any("no local header at offset" in p for p in facts.problems) and not facts.valid


def test_every_segment_of_a_split_archive_is_a_multipart_error(tmp_path):
    whole = v3_store(tmp_path / "whole.zip").read_bytes()
    first = tmp_path / "split.z01"
    first.write_bytes(b"PK\x07\x08" + whole[: len(whole) // 2])
    last = bytearray(whole)
    at = last.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", last, at + 4, 1, 0)  # this disk 1, the central directory on disk 0
    (tmp_path / "split.zip").write_bytes(bytes(last))
    done = run("inspect", str(first), str(tmp_path / "split.zip"), "--json", cwd=tmp_path)
    assert done.returncode == 1
    for facts in json.loads(done.stdout):
        assert facts["multipart"] and "multi-part (split) archive" in facts["rfc9"]["errors"]


def test_a_zip_inside_the_zip_is_found_by_its_content(tmp_path):
    inner = v3_store(tmp_path / "inner.zip").read_bytes()
    path = v3_store(tmp_path / "outer.zip", extra={"a/c/1": inner, "notes.zip": b"not a zip at all"})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/c/2", inner)
    facts = inspect_zip(path)
    assert facts.nested_zips == ["a/c/1", "a/c/2"]
    assert "a zip inside the zip: a/c/1, a/c/2" in facts.rfc9.errors


def test_a_comment_that_declares_json_first_must_be_true(tmp_path):
    comment = json.dumps({"ome": {"version": "0.5", "zipFile": {"centralDirectory": {"jsonFirst": True}}}}).encode()
    misleading = inspect_zip(v3_store(tmp_path / "m.ozx", comment=comment, extra={"b/zarr.json": b"{}"}))
    assert any(e.startswith("misleading sort") for e in misleading.rfc9.errors)
    honest = tmp_path / "h.ozx"
    with zipfile.ZipFile(honest, "w") as zf:
        zf.writestr("zarr.json", '{"zarr_format": 3, "node_type": "group"}')
        zf.writestr("a/zarr.json", '{"zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "int8"}')
        zf.writestr("a/c/0", b"\x01\x02\x03\x04")
        zf.comment = comment
    assert not any(e.startswith("misleading sort") for e in inspect_zip(honest).rfc9.errors)


# -- check never passes on part of a store --------------------------------------------------------

def test_arrays_side_by_side_are_every_one_a_part_of_the_store():
    assert find_store(["a/.zarray", "a/0", "b/.zarray", "b/0"]) == ("", 2, ["a", "b"])
    assert find_store(["s.zarr/a/.zarray", "s.zarr/b/zarr.json"]) == ("s.zarr", 2, ["a", "b"])
    assert find_store(["a/.zarray", "g/sub/.zarray"]) == ("", 2, ["a", "g/sub"])
    assert find_store([".zgroup", "a/.zarray", "b/.zarray"]) == ("", 2, [])
    assert find_store(["store.zarr/.zgroup", "store.zarr/a/.zarray"]) == ("store.zarr", 2, [])
    assert find_store(["__MACOSX/a/.zarray", "x/.zarray"]) == ("x", 2, [])


class Run:
    def __init__(self, cell_id, library, version, methods):
        from zarrmatrix.matrix import Cell

        self.cell = Cell(id=cell_id, library=library, version=version, python="3.11", requirements=(),
                         roles=frozenset({"read"}), writes=(), backend="venv", timeout_s=60, image=None)
        self.methods = methods


def test_a_reference_comes_from_a_reader_by_name_before_the_classic_view():
    from zarrmatrix.plan import reference_candidates

    readers = [Run("rasterio-1.4.4", "rasterio", "1.4.4", ["rasterio.open"]),
               Run("zarrita-0.7.5", "zarrita", "0.7.5", ["zarr.open"]),
               Run("gdal-3.6", "gdal", "3.6.2", ["multidim", "classic"]),
               Run("zarr-3.1.6", "zarr", "3.1.6", ["store-object"]), Run("zarr-2.18.7", "zarr", "2.18.7", ["s"]),
               Run("h5py-3.12.1", "h5py", "3.12.1", ["h5py.File"])]
    order = [(run.cell.id, method) for run, method in reference_candidates(readers)]
    assert order == [("zarr-3.1.6", "store-object"), ("zarr-2.18.7", "s"), ("gdal-3.6", "multidim"),
                     ("zarrita-0.7.5", "zarr.open"), ("gdal-3.6", "classic"), ("rasterio-1.4.4", "rasterio.open")]


def test_a_classic_reference_is_named_as_the_metadata_names_its_array():
    from zarrmatrix.plan import reference_arrays

    stacked = [{"path": "", "sha256": "abc", "observed": {"shape": [1, 4, 5], "dtype": "int16"}}]
    listed = [{"path": "temperature", "shape": [4, 5], "dtype": "<i2"}]
    assert reference_arrays(stacked, listed, stacked=True) == [
        {"path": "temperature", "sha256": "abc", "shape": [4, 5], "dtype": "int16"}]
    # Two arrays listed, one raster it cannot name: the arrays keep their names, with no checksum to judge by.
    two = [{"path": "a", "shape": [4]}, {"path": "b", "shape": [4]}]
    assert reference_arrays(stacked, two, stacked=True) == [
        {"path": "a", "sha256": None, "shape": [4], "dtype": None},
        {"path": "b", "sha256": None, "shape": [4], "dtype": None}]
    # A by-name reader that read part of what the metadata lists is no reference.
    assert reference_arrays([{"path": "a", "sha256": "1"}], two, stacked=False) is None


def test_a_read_against_a_reference_without_a_checksum_is_unverified():
    from zarrmatrix.verdicts import Context, _compare

    got = _compare([{"path": "a", "sha256": "1"}], [{"path": "a", "sha256": None}], Context("zarr", None, 2))
    assert got.verdict.value == "unverified" and "no checksum" in got.reason


def test_report_merge_and_prune_take_the_reports_lock(tmp_path):
    from zarrmatrix.lock import ReportsLock

    shard = shard_with(tmp_path / "shard")
    reports = tmp_path / "reports"
    with ReportsLock(reports):
        for args in (("report", "--reports", str(reports)), ("merge", str(shard), "--into", str(reports)),
                     ("prune-runs", "--keep", "1", "--reports", str(reports))):
            done = run(*args, cwd=tmp_path)
            assert done.returncode == 2 and "in use by another zarrmatrix run" in done.stderr, args
    assert sorted(p.name for p in reports.iterdir()) == [".zarrmatrix.lock"]


def test_prune_runs_keeps_the_newest_and_touches_nothing_else(tmp_path):
    runs = tmp_path / "reports" / "runs"
    for name in ("2026-01-01T00-00-00Z-aaaaaaaa", "2026-02-01T00-00-00Z-bbbbbbbb", "2026-03-01T00-00-00Z-cccccccc"):
        (runs / name / "results").mkdir(parents=True)
        (runs / name / "verdicts.json").write_text("{}")
    (runs / "notes").mkdir()
    (runs / "0000-link").symlink_to(tmp_path)
    done = run("prune-runs", "--keep", "2", "--reports", str(tmp_path / "reports"), cwd=tmp_path)
    assert done.returncode == 0 and "removed 1 runs" in done.stderr
    assert sorted(p.name for p in runs.iterdir()) == ["0000-link", "2026-02-01T00-00-00Z-bbbbbbbb",
                                                      "2026-03-01T00-00-00Z-cccccccc", "notes"]
    assert run("prune-runs", "--keep", "0", "--reports", str(tmp_path / "reports"), cwd=tmp_path).returncode == 2


TWO_ZARRS = """
schema_version: 1
defaults: {timeout_s: 90}
cells:
""" + zarr_cell("3.1.6") + zarr_cell("2.18.7")


def root_arrays_zip(path: Path) -> Path:
    """Two format-2 arrays at the root of a zip, with no root group: what `check` once passed on one of."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, fill in (("a", 1), ("b", 7)):
            zf.writestr(f"{name}/.zarray", json.dumps({
                "zarr_format": 2, "shape": [6], "chunks": [4], "dtype": "<i2", "compressor": None,
                "fill_value": 0, "filters": None, "order": "C"}))
            zf.writestr(f"{name}/0", struct.pack("<4h", *([fill] * 4)))
            zf.writestr(f"{name}/1", struct.pack("<4h", *([fill + 1] * 4)))
    return path


@pytest.mark.integration
def test_check_reads_every_array_of_a_store_with_no_root_group(tmp_path, work_dir):
    from zarrmatrix.results import load_results

    from .conftest import write_matrix

    matrix = write_matrix(tmp_path, TWO_ZARRS)
    mine = root_arrays_zip(tmp_path / "two arrays (final).zip")
    before = mine.read_bytes()
    out = tmp_path / "out"
    done = zarrmatrix("check", str(mine), "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir),
                      "--out", str(out), "--json", str(tmp_path / "v.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and mine.read_bytes() == before
    assert "no root group: a, b sit side by side" in done.stderr
    verdicts = {v["reader"]: v for v in json.loads((tmp_path / "v.json").read_text()) if v.get("fixture")}
    assert {v["fixture"] for v in verdicts.values()} == {"two-arrays-final-.zip"}
    assert {r: v["verdict"] for r, v in verdicts.items()} == {"zarr-3.1.6": "pass", "zarr-2.18.7": "pass"}
    manifest = json.loads((out / "fixtures" / "two-arrays-final-.zip.manifest.json").read_text())
    assert sorted(a["path"] for a in manifest["arrays"]) == ["a", "b"]
    for res in load_results(out / "results").results:
        zips = [r for r in res.of_kind("read") if r.variant == "zip"]
        # Every attempt that passed read both arrays; one that opened neither (zarr 3's path string takes a
        # zip for a folder) fails as it does on any zip.
        assert any(r.verdict.value == "pass" for r in zips)
        for record in zips:
            read_ok = sorted(a["path"] for a in record.arrays if a["status"] == "ok")
            assert read_ok == ["a", "b"] if record.verdict.value == "pass" else read_ok == [], record


def test_compare_with_markup_in_paths_and_results(tmp_path):
    old = bench_result(tmp_path / "[bold]old[/]", "zarr-3.1.6", [0.01] * 6)
    new = bench_result(tmp_path / "new[/red]", "zarr-3.1.6", [0.01] * 6)
    (new / "results" / "[bold]broken.json").write_text("[")
    done = run("compare", str(old), str(new), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[bold]broken.json" in done.stderr.replace("\n", "") and "0 regressions" in done.stdout
