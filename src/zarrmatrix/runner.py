"""Phases, timeouts and parallelism: provision the cells, write fixtures, read
every fixture (and its control), benchmark the stores, save one result per cell.

A cell whose environment cannot be built, or whose probe crashes, keeps its
place: it gets a verdict, and the other cells go on.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import backends
from .backends.base import Environment, Mounts
from .fixtures import Fixture, discover, remove_written_by
from .matrix import Cell, Matrix
from .process import ProcessResult
from .results import SCHEMA_VERSION, ResultError, host_facts, validate, write_result
from .verdicts import Context, Judgement, judge

CAPABILITIES_TIMEOUT_S = 120
PHASE_KINDS = {"write": {"fixture"}, "read": {"read"}, "bench": {"bench", "bench-error"}}
LIST_TIMEOUT_S = 120


@dataclass(frozen=True)
class Layout:
    """Where a run reads and writes: reports/ for output, a work folder for
    environments and scratch, and the probes that ship into environments."""

    reports: Path
    work: Path
    probes: Path
    fixtures_dir: Path | None = None

    @property
    def results(self) -> Path:
        return self.reports / "results"

    @property
    def fixtures(self) -> Path:
        return self.fixtures_dir or self.reports / "fixtures"

    @property
    def scratch(self) -> Path:
        return self.work / "scratch"

    def mounts(self) -> Mounts:
        return Mounts(probes=self.probes, fixtures=self.fixtures, work=self.scratch)


@dataclass
class CellRun:
    """One cell's run: its environment, its status and the records it gathers."""

    cell: Cell
    backend: str
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    t0: float = field(default_factory=time.perf_counter)
    env: Environment | None = None
    status: str = "ok"
    status_reason: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    # The --list-methods run, kept when it failed: its import error is every attempt's verdict.
    failed_listing: ProcessResult | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ready(self) -> bool:
        return self.status == "ok" and self.env is not None

    def add(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.records.append(record)

    def to_result(self) -> dict[str, Any]:
        caps = self.capabilities
        identity = self.env.identity() if self.env else {}
        return {
            "schema_version": SCHEMA_VERSION,
            "cell": dict(self.cell.to_json(), backend=self.backend),
            "status": self.status,
            "status_reason": self.status_reason,
            "environment": {
                "python": caps.get("python"),
                "freeze": caps.get("freeze", []),
                "capabilities": {k: v for k, v in caps.items() if k not in ("freeze",)},
                "image_id": identity.get("image_id"),
                "image_digest": identity.get("image_digest"),
                "identity": identity,
                "reused": None if self.env is None else self.env.reused,
                "provision_s": None if self.env is None else round(self.env.provision_s, 3),
            },
            "host": host_facts(),
            "started": self.started,
            "duration_s": round(time.perf_counter() - self.t0, 3),
            "records": sorted(self.records, key=_record_order),
        }


def _record_order(record: dict[str, Any]) -> tuple:
    return (record["kind"], record.get("fixture", ""), record.get("variant", ""), record.get("method", ""),
            record.get("store", ""), record.get("compressor", ""), record.get("op", ""))


@dataclass(frozen=True)
class Attempt:
    result: ProcessResult
    records: list[dict[str, Any]]

    @property
    def final(self) -> dict[str, Any] | None:
        finals = [r for r in self.records if not r.get("kind", "").endswith("-begin")]
        return finals[-1] if finals else None


class Runner:
    def __init__(self, matrix: Matrix, layout: Layout, *, backend_choice: str | None = None, jobs: int = 2,
                 console: Console | None = None, mnist_dir: str | None = None,
                 repro_prefix: Sequence[str] = ("zarrmatrix", "reproduce")):
        self.matrix = matrix
        self.layout = layout
        self.backend_choice = backend_choice
        self.jobs = max(1, jobs)
        self.console = console or Console(stderr=True)
        self.mnist_dir = mnist_dir
        self.repro_prefix = list(repro_prefix)
        self.selector = backends.Selector(matrix, layout.work, self.console)

    # -- the phases -------------------------------------------------------

    def run(self, cells: Sequence[Cell], phases: Iterable[str] = ("write", "read", "bench")) -> list[CellRun]:
        phases = set(phases)
        # A cell takes part in the phases its roles name: `--phase bench` builds no reader.
        cells = [c for c in cells if c.roles & phases]
        runs = self.provision(cells)
        try:
            if "write" in phases:
                self.write_phase(runs)
            if "read" in phases:
                fixtures = discover(self.layout.fixtures)
                if not fixtures:
                    self.console.print(f"[yellow]no fixtures in {self.layout.fixtures}: "
                                       "run the writer cells first (nox -s matrix)[/]")
                self.read_phase(runs, fixtures)
            if "bench" in phases:
                self.bench_phase(runs)
        finally:
            self.finish(runs, phases)
        return runs

    def finish(self, runs: Sequence[CellRun], phases: Iterable[str]) -> None:
        """Save each cell's result. Records of phases not run this time are carried
        over from the cell's previous result, so `--phase bench` keeps the reads."""
        kept = set().union(*(kinds for phase, kinds in PHASE_KINDS.items() if phase not in set(phases)))
        for run in runs:
            path = self.layout.results / f"{run.cell.id}.json"
            if kept and run.status == "ok":
                run.records.extend(r for r in previous_records(path, run) if r["kind"] in kept)
            write_result(path, run.to_result())
            if run.env is not None:
                run.env.close()

    def provision(self, cells: Sequence[Cell]) -> list[CellRun]:
        self.layout.scratch.mkdir(parents=True, exist_ok=True)
        runs = []
        for cell in cells:
            decision = self.selector.choose(cell, self.backend_choice)
            run = CellRun(cell, decision.name or "none")
            if decision.backend is None:
                run.status, run.status_reason = "skipped", decision.reason
            runs.append(run)
        self.parallel([r for r in runs if r.status == "ok"], self._provision_one, "building environments")
        return runs

    def _provision_one(self, run: CellRun) -> None:
        backend = self.selector.backend(run.backend)
        try:
            run.env = backend.provision(run.cell, self.layout.mounts())
        except Exception as exc:  # EnvFailed, or anything else: this cell fails, the others go on
            run.status, run.status_reason = "env-failed", str(exc)
            self.console.print(f"[red]{run.cell.id}: environment failed[/]: {str(exc).strip()[:300]}")
            return
        self._capabilities(run)
        how = "reused" if run.env.reused else f"built in {run.env.provision_s:.1f} s"
        self.console.print(f"{run.cell.id}: {run.backend} environment {how}")

    def _capabilities(self, run: CellRun) -> None:
        result = run.env.run_probe("capabilities.py", [], timeout=CAPABILITIES_TIMEOUT_S,
                                   mounts=self.layout.mounts())
        try:
            run.capabilities = json.loads(result.stdout)
        except json.JSONDecodeError:
            run.capabilities = {"error": result.tail(), "freeze": []}

    def write_phase(self, runs: Sequence[CellRun]) -> None:
        self.layout.fixtures.mkdir(parents=True, exist_ok=True)
        tasks = []
        for run in runs:
            if "write" in run.cell.roles and run.ready:
                remove_written_by(self.layout.fixtures, run.cell.id)
                tasks.extend((run, kind) for kind in run.cell.writes)
        if not tasks:
            return
        mnist = self._mnist_folder() if any(k.startswith("mnist-") for _, k in tasks) else None
        self.parallel(tasks, lambda task: self._write_one(*task, mnist), "writing fixtures")

    def _mnist_folder(self) -> str | None:
        from .mnist import prepare

        # Copied below the scratch folder, which every backend's probes can see.
        folder, note = prepare(self.mnist_dir or self.matrix.fixtures.mnist_dir,
                               download=self.matrix.fixtures.mnist_download,
                               into=self.layout.scratch / "mnist")
        self.console.print(f"MNIST: {note}")
        return folder

    def _write_one(self, run: CellRun, kind: str, mnist: str | None) -> None:
        mounts = self.layout.mounts()
        request = {"kind": kind, "cell_id": run.cell.id,
                   "out_dir": run.env.env_path(self.layout.fixtures, mounts),
                   "mnist_dir": None}
        if mnist is not None:
            request["mnist_dir"] = run.env.env_path(Path(mnist), mounts)
        attempt = self.attempt(run, "write_fixtures.py", request, run.cell.timeout_s, fixtures_writable=True)
        record = attempt.final
        if record is None:
            verdict = judge(attempt.result, None, None, Context(run.cell.library, None, None), run.cell.timeout_s)
            record = {"kind": "fixture", "fixture": f"{run.cell.id}__{kind}.zip", "fixture_kind": kind,
                      "writer": run.cell.id, "manifest": None,
                      "error": {"type": verdict.error_type or verdict.verdict, "message": verdict.reason}}
        if record.get("error"):
            self.console.print(f"[yellow]{run.cell.id}: could not write {kind}[/]: "
                               f"{record['error'].get('message', '')[:200]}")
        run.add(record)

    def read_phase(self, runs: Sequence[CellRun], fixtures: Sequence[Fixture],
                   expected: Callable[[Fixture], list[dict[str, Any]] | None] | None = None) -> None:
        readers = [r for r in runs if "read" in r.cell.roles and r.ready]
        self.parallel(readers, self.list_methods, "asking readers for their methods")
        tasks = []
        for run in readers:
            for fixture in fixtures:
                if not run.methods:
                    tasks.append((run, fixture, "zip", None))
                    continue
                for method in run.methods:
                    tasks.append((run, fixture, "zip", method))
                    tasks.append((run, fixture, "folder", method))
        expected = expected or (lambda f: f.arrays)
        self.parallel(tasks, lambda t: t[0].add(self.read_attempt(*t, expected=expected(t[1]))),
                       "reading fixtures")
        for run in readers:
            link_controls(run.records)

    def list_methods(self, run: CellRun) -> None:
        result = run.env.run_probe(f"read_{run.cell.library}.py", ["--list-methods"], timeout=LIST_TIMEOUT_S,
                                   mounts=self.layout.mounts())
        try:
            run.methods = list(json.loads(result.stdout.strip().splitlines()[-1]))
        except (json.JSONDecodeError, IndexError):
            run.methods = []
            run.failed_listing = result
            run.capabilities.setdefault("probe_import_error", result.tail())

    def read_attempt(self, run: CellRun, fixture: Fixture, variant: str, method: str | None,
                     expected: list[dict[str, Any]] | None) -> dict[str, Any]:
        """One attempt, in its own process: open `fixture` (or its control) with `method`."""
        cell = run.cell
        base = {"kind": "read", "reader": cell.id, "library": cell.library,
                "library_version": cell.version, "zarr_version": None, "fixture": fixture.name,
                "variant": variant, "method": method or "import", "fixture_format": fixture.zarr_format,
                "control_verdict": None, "arrays": [], "error_type": None, "error_message": None,
                "repro": self.repro(run, fixture, method or "import", variant)}
        ctx = Context(cell.library, None, fixture.zarr_format)
        if method is None:
            # The probe could not even list its methods: its import failed, which is the verdict.
            result = run.failed_listing or run.env.run_probe(
                f"read_{cell.library}.py", ["--list-methods"], timeout=cell.timeout_s, mounts=self.layout.mounts())
            return _fill(base, judge(result, None, expected, ctx, cell.timeout_s),
                         call=f"import {cell.library}", seconds=result.seconds)
        path = fixture.zip_path if variant == "zip" else fixture.control_path
        if path is None:
            return _fill(base, Judgement("error", f"the zip could not be unzipped for the control: "
                                                  f"{fixture.control_error}"), call="zipfile.ZipFile.extractall",
                         seconds=0.0)
        mounts = self.layout.mounts()
        request = {"fixture": {"path": run.env.env_path(path, mounts), "variant": variant, "name": fixture.name,
                               "zarr_format": fixture.zarr_format},
                   "method": method,
                   "arrays": None if expected is None else
                   [{k: a[k] for k in ("path", "shape", "dtype") if k in a} for a in expected]}
        attempt = self.attempt(run, f"read_{cell.library}.py", request, cell.timeout_s)
        begun = next((r for r in attempt.records if r.get("kind") == "attempt-begin"), {})
        final = attempt.final
        seen = final or begun
        ctx = Context(cell.library, seen.get("zarr_version"), fixture.zarr_format)
        verdict = judge(attempt.result, final, expected, ctx, cell.timeout_s)
        base.update(library_version=seen.get("library_version") or cell.version,
                    zarr_version=seen.get("zarr_version"))
        return _fill(base, verdict, call=seen.get("call") or method, seconds=round(attempt.result.seconds, 3))

    def bench_phase(self, runs: Sequence[CellRun]) -> None:
        from .bench import run_bench

        benchers = [r for r in runs if "bench" in r.cell.roles and r.ready]
        # One at a time: two benchmarks on two cores would time each other.
        for run in benchers:
            self.console.print(f"{run.cell.id}: benchmarking stores")
            for record in run_bench(self, run):
                run.add(record)

    # -- plumbing ---------------------------------------------------------

    def repro(self, run: CellRun, fixture: Fixture, method: str, variant: str) -> str:
        """The one command that runs this attempt again, in the same kind of environment."""
        import shlex

        argv = [*self.repro_prefix, "--matrix", str(self.matrix.path), "--backend", run.backend, run.cell.id,
                fixture.name, method, "--variant", variant]
        if run.backend == "docker":
            for public, local in sorted(self.matrix.docker.base_images.items()):
                argv += ["--base-image", f"{public}={local}"]
        if self.layout.fixtures_dir is not None:
            argv += ["--fixtures", str(self.layout.fixtures)]
        return shlex.join(argv)

    def attempt(self, run: CellRun, probe: str, request: dict[str, Any], timeout: float,
                 fixtures_writable: bool = False) -> Attempt:
        self.layout.scratch.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{run.cell.id}-", dir=self.layout.scratch))
        # A container's user is not the host's: it must be able to write its records here.
        folder.chmod(0o777)
        try:
            (folder / "request.json").write_text(json.dumps(request))
            mounts = self.layout.mounts()
            args = ["--request", run.env.env_path(folder / "request.json", mounts),
                    "--out", run.env.env_path(folder / "records.jsonl", mounts)]
            result = run.env.run_probe(probe, args, timeout=timeout, mounts=mounts,
                                       fixtures_writable=fixtures_writable)
            records = []
            out = folder / "records.jsonl"
            if out.exists():
                for line in out.read_text(errors="replace").splitlines():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
            return Attempt(result, records)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def parallel(self, items: Sequence[Any], fn: Callable[[Any], None], description: str) -> None:
        if not items:
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=len(items))

            def step(item: Any) -> None:
                try:
                    fn(item)
                except Exception as exc:  # one task's bug must not lose the other cells' results
                    self.console.print(f"[red]internal error in {description}[/]: {type(exc).__name__}: {exc}")
                    self.console.print_exception()
                finally:
                    progress.advance(task)

            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                for future in [pool.submit(step, item) for item in items]:
                    future.result()


def _fill(base: dict[str, Any], verdict: Judgement, *, call: str, seconds: float) -> dict[str, Any]:
    return dict(base, verdict=verdict.verdict, reason=verdict.reason, error_type=verdict.error_type,
                error_message=(verdict.error_message or None) and verdict.error_message[:2000],
                arrays=verdict.arrays, call=call, seconds=seconds)


def previous_records(path: Path, run: CellRun) -> list[dict[str, Any]]:
    """The records of this cell's last result, if it ran in the same kind of environment
    with the same pins: a result never mixes records from two environments."""
    try:
        data = json.loads(path.read_text())
        validate(data, str(path))
    except (OSError, json.JSONDecodeError, ResultError):
        return []
    cell = data["cell"]
    if cell["backend"] != run.backend or cell.get("env_key") != run.cell.env_key():
        return []
    return data["records"]


def link_controls(records: list[dict[str, Any]]) -> None:
    """Give each zip attempt the verdict of the same method on the unzipped control."""
    controls = {(r["reader"], r["fixture"], r["method"]): r["verdict"]
                for r in records if r["kind"] == "read" and r["variant"] == "folder"}
    for record in records:
        if record["kind"] == "read" and record["variant"] == "zip":
            record["control_verdict"] = controls.get((record["reader"], record["fixture"], record["method"]))
