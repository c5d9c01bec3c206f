"""Fault injection: each way the tool once lost a user's data, or let hostile input
cost the machine, and what must be on disk afterwards. The offline cases use the
fake environments of test_runner; the rest run real cells in uv environments."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from zarrmatrix.errors import UserError
from zarrmatrix.fixtures import ExtractionLimits, extract_control
from zarrmatrix.lock import ReportsLock

from .conftest import write_matrix, zarr_cell, zarrmatrix
from .test_runner import FakeBackend, FakeEnvironment, layout, runner_for  # noqa: F401  (layout is a fixture)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


# -- check owns only what it creates -------------------------------------------------

def test_check_refuses_a_folder_it_did_not_make(tmp_path):
    mine = tmp_path / "mine.zip"
    with zipfile.ZipFile(mine, "w") as zf:
        zf.writestr("zarr.json", "{}")
    out = tmp_path / "my-documents"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    (out / "results").mkdir()
    (out / "results" / "keep.json").write_text("{}")
    matrix = write_matrix(tmp_path, "schema_version: 1\ncells:\n  - {library: zarr, versions: ['3.1.6'], "
                                    "roles: [read]}\n")
    done = zarrmatrix("check", str(mine), "--matrix", str(matrix), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "did not make" in done.stderr and "Traceback" not in done.stderr
    assert (out / "thesis.tex").read_text() == "years of work"
    assert (out / "results" / "keep.json").read_text() == "{}"
    assert sorted(p.name for p in out.iterdir()) == ["results", "thesis.tex"]


# -- a failed or interrupted run never overwrites a complete result -------------------

def test_a_corrupt_manifest_names_the_file_and_keeps_the_results(tmp_path, layout):  # noqa: F811
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    runner.run(matrix.cells, phases=["read"])
    before = snapshot(layout.results)
    assert len(before) == 3
    (layout.fixtures / "f.zip.manifest.json").write_text('{"fixture": "f.zip", "arrays": [')
    with pytest.raises(UserError, match=r"f\.zip\.manifest\.json: not a valid manifest"):
        runner.run(matrix.cells, phases=["read"])
    after = snapshot(layout.results)
    assert {k: v for k, v in after.items() if not k.endswith(".incomplete.json")} == before
    assert sorted(k for k in after if k.endswith(".incomplete.json")) == [
        "zarr-1.0.incomplete.json", "zarr-2.0.incomplete.json", "zarr-3.0.incomplete.json"]
    assert all(env.closed for env in FakeEnvironment.opened)


def test_ctrl_c_keeps_the_complete_results_and_the_next_complete_run_replaces_them(tmp_path, layout, monkeypatch):  # noqa: F811
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    runner.run(matrix.cells, phases=["read"])
    before = snapshot(layout.results)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(runner, "read_phase", interrupted)
        with pytest.raises(KeyboardInterrupt):
            runner.run(matrix.cells, phases=["read"])
    partial = json.loads((layout.results / "zarr-1.0.incomplete.json").read_text())
    assert "interrupted" in partial["incomplete"] and partial["records"] == []
    assert {k: v for k, v in snapshot(layout.results).items() if ".incomplete" not in k} == before
    from zarrmatrix.results import load_results

    merged = load_results(layout.results)
    assert [r.id for r in merged.results] == ["zarr-1.0", "zarr-2.0", "zarr-3.0"]
    assert len(merged.incomplete) == 3 and not merged.problems
    runner.run(matrix.cells, phases=["read"])
    assert not list(layout.results.glob("*.incomplete.json"))


# -- one run per reports folder ------------------------------------------------------

def test_a_second_run_on_the_same_reports_refuses(tmp_path, layout):  # noqa: F811
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    with ReportsLock(layout.reports):
        with pytest.raises(UserError, match=rf"in use by another zarrmatrix run \(pid {os.getpid()}\)"):
            runner.run(matrix.cells, phases=["read"])
    assert not layout.results.exists()
    assert FakeEnvironment.opened == []


def test_a_stale_lock_from_a_dead_process_is_taken_over(tmp_path, layout):  # noqa: F811
    holder = subprocess.Popen(["python", "-c", "import fcntl, os, sys, time\n"
                               "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'99999'); print('held', flush=True)\n"
                               "time.sleep(600)\n", str(layout.reports / ".zarrmatrix.lock")],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    with pytest.raises(UserError, match="pid 99999"):
        runner.run(matrix.cells, phases=["read"])
    holder.kill()
    holder.wait()
    runner.run(matrix.cells, phases=["read"])
    assert len(snapshot(layout.results)) == 3


def test_cells_read_side_by_side_but_each_by_one_run(tmp_path, layout):  # noqa: F811
    """nox -j runs one `zarrmatrix run --cells <id> --phase read` per cell at once: they share the folder; a
    second run of a cell being run, and a run that writes fixtures, are refused while they go on."""
    from zarrmatrix.lock import CellLocks

    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    first, *others = matrix.cells
    with ReportsLock(layout.reports, shared=True), CellLocks(layout.reports, [first.id]):
        runner.run(others, phases=["read"])
        assert sorted(p.name for p in layout.results.glob("*.json")) == sorted(f"{c.id}.json" for c in others)
        with pytest.raises(UserError, match=rf"cell {first.id} is being run by another zarrmatrix run"):
            runner.run([first], phases=["read"])
        with pytest.raises(UserError, match=r"in use by another zarrmatrix run \(cells being read and benched\)"):
            runner.run(matrix.cells, phases=["write", "read"])
    runner.run([first], phases=["read"])
    assert len(snapshot(layout.results)) == 3
    # Each result keeps where its time went, for the wall-time split.
    spans = json.loads((layout.results / f"{first.id}.json").read_text())["timings"]
    assert set(spans) == {"environment", "read"} and all(span["seconds"] >= 0 for span in spans.values())


# -- bounded extraction --------------------------------------------------------------

def zip_bomb(path: Path, nbytes: int, block: bytes = bytes(2**20)) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("zarr.json", "w") as handle:
            for _ in range(nbytes // len(block)):
                handle.write(block)
    return path


def test_a_zip_bomb_is_not_unzipped(tmp_path):
    bomb = zip_bomb(tmp_path / "bomb.zip", 256 * 2**20)
    assert bomb.stat().st_size < 400_000
    folder, error = extract_control(bomb, tmp_path / "controls")
    assert folder is None and "a zip bomb" in error and "over the limit of 1,000:1" in error
    assert not any(p.is_file() for p in (tmp_path / "controls").rglob("*"))
    big = zip_bomb(tmp_path / "big.zip", 8 * 2**20, block=os.urandom(2**20))
    folder, error = extract_control(big, tmp_path / "controls", ExtractionLimits(max_bytes=4 * 2**20))
    assert folder is None and "over the limit of 4,194,304" in error
    folder, error = extract_control(big, tmp_path / "controls", ExtractionLimits(max_bytes=16 * 2**20))
    assert error is None and (folder / "zarr.json").stat().st_size == 8 * 2**20


# -- hostile result files and text ---------------------------------------------------

def test_report_survives_any_file_in_results(tmp_path):
    reports = tmp_path / "reports"
    results = reports / "results"
    results.mkdir(parents=True)
    (results / "random.json").write_bytes(os.urandom(4096))
    (results / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (results / "list.json").write_text("[1, 2]")
    markup = "[bold red]x.zip"
    (results / f"{markup}.json").write_text(json.dumps({"schema_version": 1, "cell": "[/] closes nothing"}))
    done = zarrmatrix("report", "--reports", str(reports), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("random.json", "deep.json", "list.json", f"{markup}.json"):
        assert name in done.stderr.replace("\n", "")
    page = (reports / "index.html").read_text()
    assert "[bold red]x.zip" in page and "random.json" in page


def test_reports_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        done = zarrmatrix("report", "--reports", str(tmp_path / "reports"), cwd=tmp_path)
    finally:
        os.umask(old)
    assert done.returncode == 0
    for name in ("index.html", "summary.md"):
        assert stat.S_IMODE((tmp_path / "reports" / name).stat().st_mode) == 0o644


# -- the matrix loader ---------------------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    (b"schema_version: 1\n# caf\xe9\ncells: []\n", "x.yaml:2: not UTF-8 text"),
    (b"schema_version: 1\ndefaults: {timeout_s: .nan}\ncells:\n  - {library: zarr, versions: ['3.1.6'], "
     b"roles: [read]}\n", "x.yaml:2: defaults.timeout_s: nan is not a finite number"),
    (b"schema_version: 1\ndefaults: {timeout_s: -5}\ncells:\n  - {library: zarr, versions: ['3.1.6'], "
     b"roles: [read]}\n", "x.yaml:2: defaults.timeout_s:"),
    (b"schema_version: 1\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     b"c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ncells: []\n", "x.yaml:3: YAML alias '*a'"),
])
def test_the_matrix_loader_refuses_hostile_files(tmp_path, body, expected):
    (tmp_path / "x.yaml").write_bytes(body)
    done = zarrmatrix("validate", "--matrix", "x.yaml", cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {expected}"), done.stderr


# -- real cells ----------------------------------------------------------------------

ZARR3_READER = """
schema_version: 1
defaults: {timeout_s: 60}
limits: {probe_memory: 768m}
cells:
""" + zarr_cell()


def zarr_v2_zip(path: Path, shape: int, chunk: int, data: bytes = b"") -> Path:
    """A format-2 array in a zip, written by hand: `shape` int8 elements, one chunk of `chunk` if data is given."""
    meta = {"zarr_format": 2, "shape": [shape], "chunks": [chunk], "dtype": "|i1", "compressor": None,
            "fill_value": 0, "filters": None, "order": "C"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(".zarray", json.dumps(meta))
        if data:
            zf.writestr("0", data)
    return path


@pytest.mark.integration
def test_check_keeps_its_inputs_apart_and_intact(tmp_path, work_dir):
    matrix = write_matrix(tmp_path, ZARR3_READER)
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        zarr_v2_zip(tmp_path / folder / "data.zip", 16, 16, bytes(range(16)) if folder == "d1" else bytes(16))
    (tmp_path / "notes.txt").write_text("not a zip")
    huge = zarr_v2_zip(tmp_path / "huge.zip", 2**30, 2**30)
    out = tmp_path / "out"
    args = ("--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir), "--out", str(out))
    first = zarrmatrix("check", str(tmp_path / "d1" / "data.zip"), str(tmp_path / "d2" / "data.zip"),
                       str(tmp_path / "notes.txt"), str(tmp_path / "missing.zip"), str(tmp_path / "d1"),
                       str(huge), *args, "--json", str(tmp_path / "v.json"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    verdicts = json.loads((tmp_path / "v.json").read_text())
    by_source = {}
    for v in verdicts:
        by_source.setdefault(v["source"], []).append(v)
    assert {v["fixture"] for v in by_source[str(tmp_path / "d1" / "data.zip")]} == {"data.zip"}
    assert {v["fixture"] for v in by_source[str(tmp_path / "d2" / "data.zip")]} == {"data-2.zip"}
    assert by_source[str(tmp_path / "notes.txt")][0]["reason"].startswith("skipped: not a zip file")
    assert by_source[str(tmp_path / "missing.zip")][0]["reason"] == "no such file"
    assert by_source[str(tmp_path / "d1")][0]["reason"].startswith("is a directory")
    # 1 GiB declared in 200 bytes: the probe runs out of its 768 MiB, and says so; the host does not.
    assert huge.stat().st_size < 1000
    huge_verdict = by_source[str(huge)][0]
    assert huge_verdict["verdict"] in ("error", "crash") and "MemoryError" in json.dumps(huge_verdict) + first.stdout

    # Checking a zip that lives in the check's own fixtures folder leaves it intact.
    inside = out / "fixtures" / "data.zip"
    original = inside.read_bytes()
    again = zarrmatrix("check", str(inside), *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert inside.read_bytes() == original
    assert "who can open data.zip?" in again.stdout


WRITER_HANGS = '''
import json, os, sys, time
args = sys.argv
request = json.load(open(args[args.index("--request") + 1]))
name = "%s__%s.zip" % (request["cell_id"], request["kind"])
with open(os.path.join(request["out_dir"], ".%s.%s.partial" % (name, request["kind"])), "wb") as handle:
    handle.write(b"PK half a zip")
time.sleep(3600)
'''


@pytest.mark.integration
def test_a_writer_that_hangs_leaves_no_fixture_and_no_blame(tmp_path, work_dir, probes_copy):
    matrix = write_matrix(tmp_path, ZARR3_READER.replace("timeout_s: 60", "timeout_s: 5").replace(
        "roles: [read]", "roles: [write, read]\n    writes: [zipstore-v3]"))
    (probes_copy / "write_fixtures.py").write_text(WRITER_HANGS)
    reports = tmp_path / "reports"
    done = zarrmatrix("run", "--matrix", str(matrix), "--backend", "venv", "--work", str(work_dir), "--reports",
                      str(reports), "--probes-dir", str(probes_copy), "--phase", "write", "read", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (reports / "fixtures").iterdir() if p.name != "_controls") == []
    result = json.loads((reports / "results" / "zarr-3.1.6.json").read_text())
    (written,) = [r for r in result["records"] if r["kind"] == "fixture"]
    assert written["error"]["type"] == "timeout" and "killed after the 5 s limit" in written["error"]["message"]
    assert not [r for r in result["records"] if r["kind"] == "read"]
    report = zarrmatrix("report", "--reports", str(reports), cwd=tmp_path)
    assert report.returncode == 0
    summary = (reports / "summary.md").read_text()
    assert "skipped" in summary and "writer failed" in (reports / "index.html").read_text()


@pytest.mark.integration
def test_probes_do_not_see_the_users_zarr_config(tmp_path, work_dir):
    home = tmp_path / "home"
    (home / ".config" / "zarr").mkdir(parents=True)
    (home / ".config" / "zarr" / "zarr.yaml").write_text("async:\n  concurrency: 0\n")
    fixture = zarr_v2_zip(tmp_path / "small.zip", 16, 16, bytes(range(16)))
    matrix = write_matrix(tmp_path, ZARR3_READER.replace("timeout_s: 60", "timeout_s: 30"))
    env = dict(os.environ, HOME=str(home), ZARR_ASYNC__CONCURRENCY="0")
    done = subprocess.run(["python", "-m", "zarrmatrix", "check", str(fixture), "--matrix", str(matrix),
                           "--backend", "venv", "--work", str(work_dir), "--out", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "results" / "zarr-3.1.6.json").read_text())
    reads = [r for r in result["records"] if r["kind"] == "read" and r["method"] == "store-object"]
    # Read whole, not timed out; the only reader is its own reference, so the data are unverified.
    assert {r["verdict"] for r in reads} == {"unverified"}
    probe_env = result["environment"]["probe_env"]
    assert probe_env["HOME"].startswith(str(work_dir)) and not any(k.startswith("ZARR_") for k in probe_env)
    assert result["environment"]["limits"]["address_space_bytes"] == 768 * 2**20


FOLDERS_HANG = '''
import json, os, runpy, time

import _zmprobe

real = _zmprobe.read_one


def hang_on_folders(library, methods, versions, request_path, out_path):
    hang = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hang-on-folders")
    if os.path.exists(hang) and json.load(open(request_path))["fixture"]["variant"] == "folder":
        time.sleep(3600)
    return real(library, methods, versions, request_path, out_path)


_zmprobe.read_one = hang_on_folders
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_real_read_zarr.py"), run_name="__main__")
'''


@pytest.mark.integration
@pytest.mark.parametrize("isolation", ["fork", "process"])
def test_kill_9_keeps_results_leaves_no_probe_and_the_next_run_resumes(tmp_path, work_dir, probes_copy, isolation):
    args = writer_reader_run(tmp_path, work_dir, probes_copy, isolation, timeout_s=8)
    results = tmp_path / "reports" / "results"
    assert subprocess.run(args, cwd=tmp_path, capture_output=True, timeout=600).returncode == 0
    before = snapshot(results)
    uninterrupted = verdicts(results / "zarr-3.1.6.json")
    # The same probe files for the run that is killed and the one that resumes (a journal made by other
    # probes is not resumed): a flag file, which no probe digest covers, makes the folder attempts hang.
    (probes_copy / "read_zarr.py").rename(probes_copy / "_real_read_zarr.py")
    (probes_copy / "read_zarr.py").write_text(FOLDERS_HANG)
    (probes_copy / "hang-on-folders").touch()
    runner = subprocess.Popen(args + ["--phase", "read"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    journal = results / "zarr-3.1.6.journal.jsonl"
    # Both zip attempts journaled (a header and two lines), both folder attempts hanging.
    wait_for_lines(journal, 3)
    runner.kill()
    runner.wait()
    killed = time.monotonic()
    while probes_running(probes_copy) and time.monotonic() - killed < 60:
        time.sleep(0.2)
    # An orphaned probe dies by its guard, 5 s past its limit: 8 s, or twice that for an attempt that had timed out
    # and was being confirmed alone when the runner died.
    assert not probes_running(probes_copy) and time.monotonic() - killed < 2 * 8 + 5 + 3
    assert snapshot(results) == before
    (probes_copy / "hang-on-folders").unlink()
    resumed = subprocess.run(args + ["--phase", "read"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "zarr-3.1.6: resumed 2 attempts from its journal" in resumed.stderr.replace("\n", " ")
    result = json.loads((results / "zarr-3.1.6.json").read_text())
    assert result["environment"]["resumed_attempts"] == 2
    assert verdicts(results / "zarr-3.1.6.json") == uninterrupted
    assert not journal.exists()


def writer_reader_run(tmp_path, work_dir, probes_copy, isolation, timeout_s) -> list[str]:
    """The command line of a zarr 3.1.6 cell that writes one fixture and reads it, with the given isolation."""
    matrix = write_matrix(tmp_path, ZARR3_READER.replace("timeout_s: 60", f"timeout_s: {timeout_s}").replace(
        "roles: [read]", "roles: [write, read]\n    writes: [zipstore-v3]"))
    return [sys.executable, "-m", "zarrmatrix", "run", "--matrix", str(matrix), "--backend", "venv", "--work",
            str(work_dir), "--reports", str(tmp_path / "reports"), "--probes-dir", str(probes_copy),
            "--isolation", isolation, "--jobs", "2"]


def wait_for_lines(path: Path, count: int, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (path.exists() and len(path.read_text().splitlines()) == count):
        time.sleep(0.2)
    text = path.read_text()
    assert len(text.splitlines()) == count
    return text


def verdicts(path: Path) -> dict:
    records = json.loads(path.read_text())["records"]
    return {(r["fixture"], r["variant"], r["method"]): (r["verdict"], r["control_verdict"]) for r in records
            if r["kind"] == "read"}


def probes_running(probes: Path) -> bool:
    return subprocess.run(["pgrep", "-f", str(probes)], capture_output=True).returncode == 0


@pytest.mark.integration
@pytest.mark.parametrize("isolation, sig, code", [("fork", signal.SIGINT, 130), ("process", signal.SIGTERM, 143)])
def test_ctrl_c_stops_at_once_and_keeps_the_journal(tmp_path, work_dir, probes_copy, isolation, sig, code):
    args = writer_reader_run(tmp_path, work_dir, probes_copy, isolation, timeout_s=300)
    results = tmp_path / "reports" / "results"
    assert subprocess.run(args + ["--phase", "write"], cwd=tmp_path, capture_output=True, timeout=600).returncode == 0
    written = (results / "zarr-3.1.6.json").read_bytes()
    (probes_copy / "read_zarr.py").rename(probes_copy / "_real_read_zarr.py")
    (probes_copy / "read_zarr.py").write_text(FOLDERS_HANG)
    (probes_copy / "hang-on-folders").touch()
    runner = subprocess.Popen(args + ["--phase", "read"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    journal = results / "zarr-3.1.6.journal.jsonl"
    kept = wait_for_lines(journal, 3)
    runner.send_signal(sig)
    sent = time.monotonic()
    _, stderr = runner.communicate(timeout=60)
    took = time.monotonic() - sent
    assert runner.returncode == code, stderr[-2000:]
    assert took < 10, f"stopping took {took:.1f} s"
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    assert journal.read_text() == kept
    assert not probes_running(probes_copy)
    assert (results / "zarr-3.1.6.incomplete.json").exists()
    assert (results / "zarr-3.1.6.json").read_bytes() == written


def test_check_takes_the_lock_before_it_replaces_anything(tmp_path):
    mine = tmp_path / "mine.zip"
    with zipfile.ZipFile(mine, "w") as zf:
        zf.writestr("zarr.json", "{}")
    out = tmp_path / "out"
    (out / "fixtures").mkdir(parents=True)
    (out / ".zarrmatrix-check").write_text("")
    (out / "fixtures" / "earlier.zip").write_bytes(b"an earlier check's copy")
    matrix = write_matrix(tmp_path, "schema_version: 1\ncells:\n  - {library: zarr, versions: ['3.1.6'], "
                                    "roles: [read]}\n")
    with ReportsLock(out):
        done = zarrmatrix("check", str(mine), "--matrix", str(matrix), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2 and "in use by another zarrmatrix run" in done.stderr
    assert (out / "fixtures" / "earlier.zip").read_bytes() == b"an earlier check's copy"


FOLDERS_SLOW = FOLDERS_HANG.replace("time.sleep(3600)", "time.sleep(6)")


@pytest.mark.integration
def test_a_timeout_is_confirmed_alone_before_it_is_a_verdict(tmp_path, work_dir, probes_copy):
    """Folder attempts that take 6 s against a 4 s limit: each times out beside the others, then passes alone at
    twice the limit, and says how slow it was. The zip attempts are not touched."""
    args = writer_reader_run(tmp_path, work_dir, probes_copy, "fork", timeout_s=4)
    assert subprocess.run(args + ["--phase", "write"], cwd=tmp_path, capture_output=True, timeout=600).returncode == 0
    (probes_copy / "read_zarr.py").rename(probes_copy / "_real_read_zarr.py")
    (probes_copy / "read_zarr.py").write_text(FOLDERS_SLOW)
    (probes_copy / "hang-on-folders").touch()
    done = subprocess.run(args + ["--phase", "read"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    reads = [r for r in json.loads((tmp_path / "reports" / "results" / "zarr-3.1.6.json").read_text())["records"]
             if r["kind"] == "read"]
    folders = [r for r in reads if r["variant"] == "folder" and r["method"] == "store-object"]
    assert folders and all(r["verdict"] == "pass" for r in folders), folders
    for r in folders:
        assert "slow: past the 4 s limit beside other attempts" in r["reason"] and r["confirmed_alone"] is True
        assert 3.5 < r["first_attempt_s"] < 8 and 5.5 < r["seconds"] < 8
    assert "timed out at 4 s; alone at 8 s: pass" in done.stderr.replace("\n", " ")
    assert all("confirmed_alone" not in r for r in reads if r["variant"] == "zip")
