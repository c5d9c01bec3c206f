"""The runner's own logic, offline: fake environments stand in for venvs and
containers, so these tests need no network, no uv and no Docker."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from zarrmatrix.backends import Decision, Selector
from zarrmatrix.backends.base import Backend, Environment, Mounts
from zarrmatrix.backends.docker import container_path, translate_exit
from zarrmatrix.matrix import load_matrix
from zarrmatrix.plan import link_controls
from zarrmatrix.process import ProcessResult
from zarrmatrix.records import BenchErrorRecord, CellStatus, ReadRecord, Verdict
from zarrmatrix.results_folder import carry_over
from zarrmatrix.runner import Layout, Runner

from .conftest import write_matrix

THREE_READERS = """
schema_version: 1
defaults: {python: "3.11"}  # made-up releases: no index says which Python they need
cells:
  - library: zarr
    versions: ["1.0", "2.0", "3.0"]
    roles: [read]
"""
ARRAYS = [{"path": "a", "shape": [2], "dtype": "int32", "sha256": "ab" * 32}]


class FakeEnvironment(Environment):
    """Answers like a probe would: its capabilities, its methods, and a read that matches the manifest."""

    opened: list["FakeEnvironment"] = []

    def __init__(self, cell, mounts, capabilities):
        super().__init__(cell, "venv", mounts)
        self.capabilities = capabilities
        self.closed = False
        FakeEnvironment.opened.append(self)

    def run_probe(self, probe, args, *, timeout):
        assert not self.closed, "a probe ran in a closed environment"
        if probe == "capabilities.py":
            return ProcessResult((probe,), 0, json.dumps(self.capabilities), "", 0.01, False)
        if "--list-methods" in args:
            return ProcessResult((probe,), 0, '["m"]\n', "", 0.01, False)
        out = Path(args[args.index("--out") + 1])
        out.write_text(json.dumps({"kind": "attempt", "arrays": [{"path": "a", "sha256": "ab" * 32}],
                                   "library_version": self.cell.version, "call": "fake.open()"}) + "\n")
        return ProcessResult((probe,), 0, "", "", 0.01, False)

    def start_probe(self, probe, args, stderr):
        raise OSError("fake environments run each attempt as a process")

    def writer(self):
        return self

    def close(self):
        self.closed = True


class FakeBackend(Backend):
    name = "venv"

    def __init__(self, bad_cell=None):
        self.bad_cell = bad_cell

    def provision(self, cell, mounts):
        # A capabilities probe that reports a number for the Python version: the result fails its schema.
        python = 3 if cell.id == self.bad_cell else "3.11.7"
        return FakeEnvironment(cell, mounts, {"python": python, "freeze": [f"zarr=={cell.version}"]})


class FakeSelector:
    def __init__(self, backend):
        self._backend = backend

    def choose(self, cell, requested):
        return Decision("venv", self._backend)

    def backend(self, name):
        return self._backend


@pytest.fixture
def layout(tmp_path):
    fixtures = tmp_path / "reports" / "fixtures"
    fixtures.mkdir(parents=True)
    import zipfile

    with zipfile.ZipFile(fixtures / "f.zip", "w") as zf:
        zf.writestr(".zgroup", "{}")
    (fixtures / "f.zip.manifest.json").write_text(json.dumps({"fixture": "f.zip", "zarr_format": 2,
                                                              "arrays": ARRAYS}))
    return Layout(reports=tmp_path / "reports", work=tmp_path / "work", probes=tmp_path / "probes")


def runner_for(tmp_path, layout, backend):
    FakeEnvironment.opened = []
    matrix = load_matrix(write_matrix(tmp_path, THREE_READERS))
    runner = Runner(matrix, layout, jobs=2, console=Console(file=open("/dev/null", "w")),
                    selector=FakeSelector(backend))
    return matrix, runner


def test_a_cell_whose_result_fails_validation_costs_the_others_nothing(tmp_path, layout):
    matrix, runner = runner_for(tmp_path, layout, FakeBackend(bad_cell="zarr-2.0"))
    runs = runner.run(matrix.cells, phases=["read"])
    assert [r.cell.id for r in runs] == ["zarr-1.0", "zarr-2.0", "zarr-3.0"]
    saved = sorted(p.name for p in layout.results.glob("*.json"))
    assert saved == ["zarr-1.0.json", "zarr-3.0.json"]
    assert runner.unsaved == ["zarr-2.0"]
    for name in saved:
        result = json.loads((layout.results / name).read_text())
        reads = [r for r in result["records"] if r["kind"] == "read"]
        assert len(reads) == 2 and {r["verdict"] for r in reads} == {"pass"}
        assert {r["control_verdict"] for r in reads if r["variant"] == "zip"} == {"pass"}
    assert len(FakeEnvironment.opened) == 3 and all(env.closed for env in FakeEnvironment.opened)


def test_every_environment_closes_when_a_phase_fails(tmp_path, layout, monkeypatch):
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the read phase")

    monkeypatch.setattr(runner, "read_phase", broken)
    with pytest.raises(RuntimeError):
        runner.run(matrix.cells, phases=["read"])
    assert len(FakeEnvironment.opened) == 3 and all(env.closed for env in FakeEnvironment.opened)


def test_backend_selection(tmp_path, monkeypatch):
    matrix = load_matrix(write_matrix(tmp_path, """
        schema_version: 1
        cells:
          - library: zarr
            versions: ["3.1.6"]
            roles: [read]
          - library: gdal
            id: gdal-x
            image: {dockerfile: gdal, base: "debian:bookworm-slim"}
            roles: [read]
        """))
    zarr, gdal = matrix.cells
    console = Console(file=open("/dev/null", "w"))

    def selector(docker_ok):
        monkeypatch.setattr("zarrmatrix.backends.docker_answers",
                            lambda timeout=15: (docker_ok, "engine 28" if docker_ok else "no engine"))
        chosen = Selector(matrix, tmp_path, console)
        chosen.docker()  # asks the engine once, now, while the patch holds
        return chosen

    with_docker, without = selector(True), selector(False)
    assert with_docker.choose(zarr, None).name == "docker"
    assert with_docker.choose(zarr, "venv").name == "venv"
    assert with_docker.choose(gdal, None).name == "docker"
    assert without.choose(zarr, None).name == "venv"
    skipped = without.choose(gdal, None)
    assert skipped.backend is None and "needs docker (no engine)" in skipped.reason
    assert without.choose(zarr, "docker").backend is None
    assert with_docker.choose(gdal, "venv").reason == "skipped: needs docker (the cell runs in an image)"


def test_docker_path_translation(tmp_path):
    mounts = Mounts(probes=tmp_path / "p", fixtures=tmp_path / "f", work=tmp_path / "w")
    assert container_path(tmp_path / "f" / "a.zip", mounts) == "/zm/fixtures/a.zip"
    assert container_path(tmp_path / "w" / "x" / "r.json", mounts) == "/zm/work/x/r.json"
    assert container_path(tmp_path / "p", mounts) == "/zm/probes"
    with pytest.raises(ValueError, match="not below a folder the container sees"):
        container_path(tmp_path / "elsewhere", mounts)


def test_exit_codes_from_inside_a_container():
    def result(code):
        return ProcessResult(("docker",), code, "", "", 1.0, False)

    assert translate_exit(result(124), timeout=5, elapsed=5.1).timed_out
    assert translate_exit(result(137), timeout=5, elapsed=5.2).timed_out
    killed = translate_exit(result(137), timeout=50, elapsed=1.0)
    assert not killed.timed_out and killed.signal_name == "SIGKILL"
    assert translate_exit(result(139), timeout=5, elapsed=1).signal_name == "SIGSEGV"
    assert translate_exit(result(1), timeout=5, elapsed=1).returncode == 1


def read(reader, fixture, variant, method, verdict):
    return ReadRecord(reader=reader, library="zarr", library_version="1", zarr_version="1", fixture=fixture,
                      variant=variant, method=method, verdict=verdict, reason=str(verdict), call="c", repro="r")


def test_link_controls_pairs_each_zip_attempt_with_its_folder_twin():
    records = [read("z", "f.zip", "zip", "m", Verdict.ERROR), read("z", "f.zip", "folder", "m", Verdict.PASS),
               read("z", "f.zip", "zip", "n", Verdict.PASS), read("z", "g.zip", "folder", "n", Verdict.ERROR)]
    link_controls(records)
    assert [r.control_verdict for r in records if r.variant == "zip"] == [Verdict.PASS, None]


def test_carry_over_keeps_other_phases_only_from_the_same_environment_and_probes(tmp_path, layout):
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    runs = runner.run(matrix.cells[:1], phases=["read"])
    first = runs[0].to_result()
    bench_error = BenchErrorRecord(None, None, Verdict.TIMEOUT, {"message": "killed"})
    previous = carry_over(first, None, ["read"])
    previous.records.append(bench_error)
    again = runs[0].to_result()
    kept = carry_over(again, previous, ["read"])
    assert bench_error in kept.records and len(kept.records) == len(again.records) + 1
    assert carry_over(again, previous, ["read", "bench"]).records == again.records
    other_env = dict(previous.cell, env_key="0" * 16)
    assert carry_over(again, replace(previous, cell=other_env), ["read"]).records == again.records
    # Records made by an edited probe, or by probes nobody named (a version 1 result), are not carried over.
    assert carry_over(again, replace(previous, probe_digest="0" * 64), ["read"]).records == again.records
    assert carry_over(again, replace(previous, probe_digest=None), ["read"]).records == again.records
    failed = replace(again, status=CellStatus.ENV_FAILED)
    assert carry_over(failed, previous, ["read"]).records == failed.records


def test_the_flaky_history_outlives_a_write_with_edited_probes_but_not_another_environment(tmp_path, layout):
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    runs = runner.run(matrix.cells[:1], phases=["read"])
    previous = runs[0].to_result()
    flaky = replace(previous.of_kind("read")[0], extra={"outcomes": {"pass": 3, "error": 1}, "flaky_reason": "x"})
    previous = replace(previous, records=[flaky, *previous.records[1:]])
    written = replace(runs[0].to_result(), records=[], probe_digest="1" * 64)
    kept = carry_over(written, previous, ["write"])
    assert kept.records == [] and kept.flaky_history == [flaky]
    # A later bench with the same (edited) probes keeps it; the next read phase counts on from it and drops it.
    assert carry_over(written, kept, ["bench"]).flaky_history == [flaky]
    assert carry_over(written, kept, ["read"]).flaky_history == []
    other_env = replace(previous, cell=dict(previous.cell, env_key="0" * 16))
    assert carry_over(written, other_env, ["write"]).flaky_history == []
    # Through the result file, typed.
    from zarrmatrix.records import CellResult

    assert CellResult.from_json(json.loads(json.dumps(kept.to_json()))).flaky_history == [flaky]


def test_a_reference_reader_needs_another_reader_to_pass_and_disagreement_is_named():
    from zarrmatrix.plan import judge_against_reference
    from zarrmatrix.records import Manifest

    manifest = Manifest(fixture="f.zip", arrays=[{"path": "a", "sha256": "ab" * 32}], reference="zarr-3.0 store-object")
    alone = [read("zarr-3.0", "f.zip", "zip", "store-object", Verdict.PASS),
             read("zarr-2.0", "f.zip", "zip", "m", Verdict.ERROR)]
    judge_against_reference(manifest, alone)
    assert [r.verdict for r in alone] == [Verdict.UNVERIFIED, Verdict.ERROR]
    assert "this reader is the reference" in alone[0].reason

    other = read("gdal", "f.zip", "zip", "classic", Verdict.MISMATCH)
    other.arrays = [{"path": "a", "status": "wrong", "sha256": "cd" * 32}]
    confirmed = [read("zarr-3.0", "f.zip", "zip", "store-object", Verdict.PASS),
                 read("fsspec", "f.zip", "zip", "url", Verdict.PASS), other]
    judge_against_reference(manifest, confirmed)
    assert [r.verdict for r in confirmed] == [Verdict.PASS, Verdict.PASS, Verdict.MISMATCH]
    assert other.reason == ("readers disagree with the reference (zarr-3.0 store-object): a: cdcdcdcdcdcd here, "
                            "abababababab in the reference")


class SkippingSelector(FakeSelector):
    """The cell zarr-2.0 cannot run here (as a GDAL image cell where no Docker engine answers)."""

    def choose(self, cell, requested):
        if cell.id == "zarr-2.0":
            return Decision("none", None, "skipped: needs docker (no engine)")
        return super().choose(cell, requested)


def test_a_skipped_cell_keeps_the_result_of_the_run_where_it_ran(tmp_path, layout):
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    runner.run(matrix.cells, phases=["read"])
    kept = (layout.results / "zarr-2.0.json").read_bytes()
    assert json.loads(kept)["status"] == "ok"
    again = Runner(matrix, layout, jobs=2, console=Console(file=open("/dev/null", "w")),
                   selector=SkippingSelector(FakeBackend()))
    again.run(matrix.cells, phases=["read"])
    assert (layout.results / "zarr-2.0.json").read_bytes() == kept
    assert json.loads((layout.results / "zarr-1.0.json").read_text())["status"] == "ok"
    # Where the cell never ran, its skip is its result.
    (layout.results / "zarr-2.0.json").unlink()
    again.run(matrix.cells, phases=["read"])
    result = json.loads((layout.results / "zarr-2.0.json").read_text())
    assert result["status"] == "skipped" and "needs docker" in result["status_reason"]


def interrupted_read(tmp_path, layout, monkeypatch) -> None:
    """A read phase whose attempts are all journaled, then cut short (as by Ctrl-C) before the results."""
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())

    def ctrl_c(runs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "bench_phase", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        runner.run(matrix.cells, phases=["read", "bench"])
    assert (layout.results / "zarr-1.0.journal.jsonl").is_file()


def resumed(tmp_path, layout) -> dict[str, int]:
    matrix, runner = runner_for(tmp_path, layout, FakeBackend())
    runner.run(matrix.cells, phases=["read"])
    results = {p.stem: json.loads(p.read_text()) for p in layout.results.glob("zarr-*.json")}
    return {cell: r["environment"]["resumed_attempts"] for cell, r in results.items()}


def test_a_journal_written_by_an_edited_probe_is_not_resumed(tmp_path, layout, monkeypatch):
    layout.probes.mkdir()
    (layout.probes / "read_zarr.py").write_text("# the probe as it was\n")
    interrupted_read(tmp_path, layout, monkeypatch)
    assert resumed(tmp_path, layout) == {"zarr-1.0": 2, "zarr-2.0": 2, "zarr-3.0": 2}
    first = json.loads((layout.results / "zarr-1.0.json").read_text())["probe_digest"]
    interrupted_read(tmp_path, layout, monkeypatch)
    (layout.probes / "_zmprobe.py").write_text("# a helper every Python probe imports, edited\n")
    assert resumed(tmp_path, layout) == {"zarr-1.0": 0, "zarr-2.0": 0, "zarr-3.0": 0}
    assert json.loads((layout.results / "zarr-1.0.json").read_text())["probe_digest"] not in (None, first)


def test_a_result_of_schema_version_1_is_read_without_a_probe_digest(tmp_path):
    from zarrmatrix.results import load_result

    from .test_report import read, result

    data = result("zarr-1.0", "zarr", "1.0", [read("zarr-1.0", "zarr", "f.zip", "pass")]).to_json()
    data["schema_version"] = 1
    data.pop("probe_digest")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    old = load_result(path)
    assert old.schema_version == 2 and old.probe_digest is None


def test_the_slowest_reads_of_the_last_run_start_first():
    from types import SimpleNamespace

    from zarrmatrix.plan import read_tasks

    a, b = (SimpleNamespace(cell=SimpleNamespace(id=name, library="zarr"), methods=["m"]) for name in "ab")
    f1, f2 = SimpleNamespace(name="f1.zip", manifest=None), SimpleNamespace(name="f2.zip", manifest=None)
    took = {("b", "f2.zip", "zip", "m"): 200.0, ("a", "f1.zip", "folder", "m"): 5.0}
    order = [(t[0].cell.id, t[1].name, t[2]) for t in read_tasks([a, b], [f1, f2], {}, took)]
    assert order == [("b", "f2.zip", "zip"), ("a", "f1.zip", "folder"), ("a", "f1.zip", "zip"), ("a", "f2.zip", "zip"),
                     ("a", "f2.zip", "folder"), ("b", "f1.zip", "zip"), ("b", "f1.zip", "folder"),
                     ("b", "f2.zip", "folder")]
    done = {"b": {("f2.zip", "zip", "m")}}
    assert ("b", "f2.zip", "zip") not in [(t[0].cell.id, t[1].name, t[2]) for t in read_tasks([a, b], [f1, f2], done)]


def test_a_feature_fixture_is_read_by_the_feature_method_alone():
    from types import SimpleNamespace

    from zarrmatrix.plan import read_tasks

    zarr = SimpleNamespace(cell=SimpleNamespace(id="zarr-3.4.2", library="zarr"),
                           methods=["path-string", "store-object"])
    plain = SimpleNamespace(name="zipstore-v3.zip", manifest=None)
    feature = SimpleNamespace(name="x__feature-bool.zip", manifest=SimpleNamespace(feature="bool"))
    tasks = {(t[1].name, t[2], t[3]) for t in read_tasks([zarr], [plain, feature], {})}
    assert tasks == {("zipstore-v3.zip", v, m) for v in ("zip", "folder") for m in zarr.methods} | {
        ("x__feature-bool.zip", "zip", "store-object")}


def test_a_feature_control_is_read_where_the_zip_failed():
    from types import SimpleNamespace

    from zarrmatrix.plan import feature_controls

    def zip_read(fixture, verdict):
        return SimpleNamespace(KIND="read", fixture=fixture, variant="zip", method="store-object",
                               verdict=Verdict(verdict))

    failed, passed, plain = (SimpleNamespace(name=n, manifest=SimpleNamespace(feature=f))
                             for n, f in (("a__feature-x.zip", "x"), ("b__feature-x.zip", "x"), ("p.zip", None)))
    run = SimpleNamespace(cell=SimpleNamespace(id="zarr-3.4.2", library="zarr"), methods=["store-object"],
                          records=[zip_read(failed.name, "error"), zip_read(passed.name, "pass"),
                                   zip_read(plain.name, "error")])
    tasks = feature_controls([run], [failed, passed, plain], {})
    assert [(t[1].name, t[2], t[3]) for t in tasks] == [("a__feature-x.zip", "folder", "store-object")]
    # A control its journal already holds is not read again.
    journal = {"zarr-3.4.2": {(failed.name, "folder", "store-object")}}
    assert feature_controls([run], [failed, passed, plain], journal) == []


class ScriptedEnvironment(FakeEnvironment):
    """Reads the zip of cell zarr-1.0 with the checksums `SCRIPT` hands out in turn (a wrong one is a
    mismatch): a reader that races."""

    SCRIPT: list[str] = []

    def run_probe(self, probe, args, *, timeout):
        result = super().run_probe(probe, args, timeout=timeout)
        if "--request" in args and self.cell.id == "zarr-1.0":
            request = json.loads(Path(args[args.index("--request") + 1]).read_text())
            if request["fixture"]["variant"] == "zip":
                out = Path(args[args.index("--out") + 1])
                record = json.loads(out.read_text())
                record["arrays"][0]["sha256"] = ScriptedEnvironment.SCRIPT.pop(0)
                out.write_text(json.dumps(record) + "\n")
        return result


class ScriptedBackend(FakeBackend):
    def provision(self, cell, mounts):
        return ScriptedEnvironment(cell, mounts, {"python": "3.11.7", "freeze": [f"zarr=={cell.version}"]})


def scripted_zip_read(tmp_path, layout):
    """A read phase of the scripted cell, run anew at each call: its zip attempt's record."""
    matrix, runner = runner_for(tmp_path, layout, ScriptedBackend())
    cell = [c for c in matrix.cells if c.id == "zarr-1.0"]

    def zip_read():
        runner.run(cell, phases=["read"])
        result = json.loads((layout.results / "zarr-1.0.json").read_text())
        return next(r for r in result["records"] if r["kind"] == "read" and r["variant"] == "zip")

    return zip_read


def test_a_verdict_that_moved_since_the_last_run_is_settled_by_repeats_and_a_flaky_one_stays_flaky(tmp_path,
                                                                                                    layout):
    """The verdict of a racing reader is a sample: where it differs from the last result's, the attempt runs
    nine times more; where they differ, it is flaky for good, its verdict the worst outcome seen so far, and
    later runs make one attempt each, counted with the others."""
    good, bad = "ab" * 32, "cd" * 32
    zip_read = scripted_zip_read(tmp_path, layout)
    ScriptedEnvironment.SCRIPT = [good]
    assert zip_read()["verdict"] == "pass"
    # The same verdict as last time: one attempt.
    ScriptedEnvironment.SCRIPT = [good, bad]
    assert zip_read()["verdict"] == "pass" and ScriptedEnvironment.SCRIPT == [bad]
    # Moved: nine more attempts; 2 of 10 pass.
    ScriptedEnvironment.SCRIPT = [bad] * 8 + [good] * 2
    record = zip_read()
    assert record["verdict"] == "mismatch" and record["outcomes"] == {"mismatch": 8, "pass": 2}
    assert record["reason"].startswith("flaky: 10 attempts so far (mismatch 8, pass 2); ")
    assert ScriptedEnvironment.SCRIPT == []
    # Found flaky: one attempt, counted with the others, and a pass now does not make it pass.
    ScriptedEnvironment.SCRIPT = [good, good]
    record = zip_read()
    assert record["verdict"] == "mismatch" and record["outcomes"] == {"mismatch": 8, "pass": 3}
    assert "flaky: 11 attempts so far" in record["reason"] and record["reason"].count("flaky") == 1
    assert ScriptedEnvironment.SCRIPT == [good]


def test_settling_takes_the_worst_verdict_seen_and_counts_every_outcome():
    from zarrmatrix.confirm import settle

    def rec(verdict):
        return ReadRecord(reader="c", library="zarr", library_version="1", zarr_version=None, fixture="f",
                          variant="zip", method="m", verdict=Verdict(verdict), reason=verdict, call="", repro="")

    assert settle([rec("pass")] * 3).reason == "pass"
    mixed = settle([rec("pass"), rec("error"), rec("pass"), rec("pass")])
    assert mixed.verdict is Verdict.ERROR and mixed.extra["outcomes"] == {"pass": 3, "error": 1}
    assert mixed.reason == "flaky: 4 attempts so far (pass 3, error 1); error"
    # Worse than anything this run saw, in an earlier run: that run's record says what went wrong.
    earlier = settle([rec("pass")] * 2, flaky=mixed)
    assert earlier.verdict is Verdict.ERROR and earlier.reason == "flaky: 6 attempts so far (pass 5, error 1); error"


def test_every_zip_attempt_of_a_method_found_flaky_is_sampled_alone_after_the_others():
    from zarrmatrix.confirm import MOVED_REPEATS, SUSPECT_READS, Confirmation, flaky_ones, repeats, suspects

    def rec(method, fixture="racy.zip", variant="zip", verdict=Verdict.PARTIAL, **extra):
        return ReadRecord(reader="fsspec", library="fsspec", library_version="1", zarr_version=None,
                          fixture=fixture, variant=variant, method=method, verdict=verdict, reason="", call="",
                          repro="", extra=extra)

    found = rec("url-chaining", outcomes={"partial": 6, "error": 4}, flaky_reason="corrupt zip member")
    flaky = flaky_ones([found, rec("filesystem-object"), rec("url-chaining", fixture="other.zip")])
    assert list(flaky) == [("fsspec", "racy.zip", "zip", "url-chaining")]
    # The method, on every zip; not the cell's other methods.
    assert suspects(flaky) == {("fsspec", "url-chaining")}
    assert repeats(rec("url-chaining"), None, found) == 0
    assert repeats(rec("filesystem-object", verdict=Verdict.ERROR), rec("filesystem-object")) == MOVED_REPEATS
    assert repeats(rec("filesystem-object"), rec("filesystem-object")) is None

    confirmation = Confirmation(last={}, flaky=flaky)
    never = lambda: pytest.fail("no repeat at once")  # noqa: E731
    # Another zip of the flaky method: left for later; its folder, and the other method, stand at once.
    assert confirmation.first("t1", ("fsspec", "other.zip", "zip", "url-chaining"), rec("url-chaining", "other.zip"),
                              never) is None
    plain = rec("url-chaining", "other.zip", "folder")
    assert confirmation.first("t2", ("fsspec", "other.zip", "folder", "url-chaining"), plain, never) is plain
    assert confirmation.first("t3", ("fsspec", "other.zip", "zip", "filesystem-object"),
                              rec("filesystem-object", "other.zip"), never) is not None
    # The zip already found flaky: one attempt, counted with the others, at once.
    counted = confirmation.first("t4", ("fsspec", "racy.zip", "zip", "url-chaining"), rec("url-chaining"), never)
    assert counted.extra["outcomes"] == {"partial": 7, "error": 4} and counted.verdict is Verdict.ERROR
    [(task, first)] = confirmation.later
    assert task == "t1"
    asked = []

    def sample(again):
        asked.append(again)
        return [rec("url-chaining", "other.zip"), rec("url-chaining", "other.zip", verdict=Verdict.ERROR)]

    sampled = confirmation.alone(first, 60, lambda timeout: pytest.fail("no timeout to confirm"), sample)
    # One attempt, reading the zip SUSPECT_READS more times in its process: all its reads count.
    assert asked == [SUSPECT_READS] and SUSPECT_READS.reads >= 5 and sampled.verdict is Verdict.ERROR
    assert sampled.extra["outcomes"] == {"partial": 2, "error": 1}


def test_a_zip_sampled_alike_often_enough_is_sampled_no_more():
    from zarrmatrix.confirm import STEADY_READS, SUSPECT_READS, Confirmation

    def rec(fixture, verdict=Verdict.PASS, **extra):
        return ReadRecord(reader="fsspec", library="fsspec", library_version="1", zarr_version=None,
                          fixture=fixture, variant="zip", method="m", verdict=verdict, reason="", call="",
                          repro="", extra=extra)

    racy = rec("racy.zip", Verdict.ERROR, outcomes={"pass": 3, "error": 1})
    flaky = {("fsspec", "racy.zip", "zip", "m"): racy}
    key = ("fsspec", "other.zip", "zip", "m")
    never = lambda *args: pytest.fail("not sampled")  # noqa: E731
    runs, last = 0, None
    while True:
        confirmation = Confirmation(last={key: last} if last else {}, flaky=flaky)
        record = confirmation.first("t", key, rec("other.zip"), never)
        if record is not None:
            break
        [(_, first)] = confirmation.later
        last = confirmation.alone(first, 60, never, lambda again: [rec("other.zip")] * again.reads)
        runs += 1
        assert last.verdict is Verdict.PASS and last.extra["steady_reads"] == runs * (SUSPECT_READS.reads + 1)
    # Sampled in as many runs as it takes to reach STEADY_READS reads alike; then one attempt, counted on.
    assert runs == -(-STEADY_READS // (SUSPECT_READS.reads + 1))
    assert record.extra["steady_reads"] == last.extra["steady_reads"] + 1
    # A race seen in a sample: flaky, and no longer counted as steady.
    confirmation = Confirmation(last={}, flaky=flaky)
    assert confirmation.first("t", key, rec("other.zip"), never) is None
    raced = confirmation.alone(rec("other.zip"), 60, never,
                               lambda again: [rec("other.zip"), rec("other.zip", Verdict.MISMATCH)])
    assert raced.verdict is Verdict.MISMATCH and raced.found_flaky and "steady_reads" not in raced.extra


def test_a_flaky_attempt_stays_flaky_after_a_probe_edit(tmp_path, layout):
    good, bad = "ab" * 32, "cd" * 32
    zip_read = scripted_zip_read(tmp_path, layout)
    ScriptedEnvironment.SCRIPT = [good]
    zip_read()
    ScriptedEnvironment.SCRIPT = [bad] + [good] * 9
    assert zip_read()["outcomes"] == {"mismatch": 1, "pass": 9}
    layout.probes.mkdir(parents=True, exist_ok=True)
    (layout.probes / "read_zarr.py").write_text("# an edited probe\n")
    ScriptedEnvironment.SCRIPT = [good, good]
    record = zip_read()
    assert record["verdict"] == "mismatch" and record["outcomes"] == {"mismatch": 1, "pass": 10}
    assert ScriptedEnvironment.SCRIPT == [good]


def test_a_verdict_a_new_probe_moved_is_news_not_a_race(tmp_path, layout):
    good, bad = "ab" * 32, "cd" * 32
    zip_read = scripted_zip_read(tmp_path, layout)
    ScriptedEnvironment.SCRIPT = [good]
    zip_read()
    layout.probes.mkdir(parents=True, exist_ok=True)
    (layout.probes / "read_zarr.py").write_text("# an edited probe\n")
    ScriptedEnvironment.SCRIPT = [bad, good]
    record = zip_read()
    assert record["verdict"] == "mismatch" and "outcomes" not in record and ScriptedEnvironment.SCRIPT == [good]
