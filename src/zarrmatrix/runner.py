"""Phases and parallelism: provision the cells, write fixtures, read every
fixture (and its control), benchmark the stores, save one result per cell.

A cell whose environment cannot be built, or whose probe crashes, keeps its
place: it gets a verdict, and the other cells go on. Every environment is
closed whatever happens, and each cell's result is saved on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import backends
from .attempt import IMPORT, AttemptServer, ReproCommand, ServerGone, list_methods, read_attempt, run_attempt
from .backends.base import Environment, Mounts
from .bench import TIMEOUT_FACTOR, bench_records
from .consoles import message_console
from .fixtures import Fixture, discover, manifest_path, remove_written_by
from .journal import JOURNAL_SUFFIX, Journal
from .libraries import LIBRARIES
from .lock import ReportsLock
from .matrix import Cell, Matrix
from .probe_files import probe_digest
from .process import ProcessResult, kill_running
from .records import (
    PHASE_KINDS,
    CellResult,
    CellStatus,
    FixtureRecord,
    Manifest,
    ReadRecord,
    Record,
    Verdict,
    record_order,
)
from .reference import judge_against_reference, reference_arrays, reference_candidates
from .results import INCOMPLETE_SUFFIX, SCHEMA_VERSION, host_facts, read_result, write_result, write_text
from .verdicts import Context, judge
from .zipfacts import inspect_zip

CAPABILITIES_TIMEOUT_S = 120


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
        """This run's scratch folder: requests, records, the probes' home. Its own, so that a run that
        was killed leaves a folder the next run can tell is stale."""
        return self.work / "scratch" / f"run-{os.getpid()}"

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
    status: CellStatus = CellStatus.OK
    status_reason: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    # The --list-methods run, kept when it failed: its import error is every attempt's verdict.
    failed_listing: ProcessResult | None = None
    # How its read attempts ran: "fork" (children of its attempt server) or "process", and why.
    isolation: str | None = None
    server: AttemptServer | None = None
    journal: Journal | None = None
    resumed: int = 0
    probe_digest: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ready(self) -> bool:
        return self.status is CellStatus.OK and self.env is not None

    @property
    def probe(self) -> str:
        return LIBRARIES[self.cell.library].probe

    def add(self, record: Record) -> None:
        with self.lock:
            self.records.append(record)

    def to_result(self) -> CellResult:
        caps = self.capabilities
        identity = self.env.identity() if self.env else {}
        return CellResult(
            schema_version=SCHEMA_VERSION,
            cell=dict(self.cell.to_json(), backend=self.backend),
            status=self.status,
            status_reason=self.status_reason,
            environment={
                "python": caps.get("python"),
                "freeze": caps.get("freeze", []),
                "capabilities": {k: v for k, v in caps.items() if k != "freeze"},
                "image_id": identity.get("image_id"),
                "image_digest": identity.get("image_digest"),
                "identity": identity,
                "reused": None if self.env is None else self.env.reused,
                "provision_s": None if self.env is None else round(self.env.provision_s, 3),
                "probe_env": None if self.env is None else self.env.probe_env(),
                "limits": None if self.env is None else self.env.limits(),
                "isolation": self.isolation,
                "resumed_attempts": self.resumed,
            },
            host=host_facts(),
            started=self.started,
            duration_s=round(time.perf_counter() - self.t0, 3),
            records=sorted(self.records, key=record_order),
            probe_digest=self.probe_digest,
        )


class Runner:
    def __init__(self, matrix: Matrix, layout: Layout, *, backend_choice: str | None = None, jobs: int = 2,
                 console: Console | None = None, mnist_dir: str | None = None,
                 selector: backends.Selector | None = None, isolation: str = "fork", fresh: bool = False,
                 lock: bool = True):
        self.matrix = matrix
        self.layout = layout
        self.backend_choice = backend_choice
        self.jobs = max(1, jobs)
        self.console = console or message_console()
        self.mnist_dir = mnist_dir
        self.selector = selector or backends.Selector(matrix, layout.work, self.console)
        self._envs_lock = threading.Lock()
        self.isolation = isolation
        self.fresh = fresh
        # False where the caller holds the reports folder's lock itself (check, from its first file on).
        self.lock = lock
        # Set when the run is told to stop: no attempt starts, and what was running is not recorded.
        self.stopping = threading.Event()
        self._servers: list[AttemptServer] = []
        # The ids of the cells whose result could not be saved in the last run.
        self.unsaved: list[str] = []

    # -- the one entry point ----------------------------------------------

    def run(self, cells: Sequence[Cell], phases: Iterable[str] = ("write", "read", "bench")) -> list[CellRun]:
        """Run `phases` for `cells` and save one result per cell. Environments are closed
        whatever happens; a cell whose result cannot be saved does not keep the others from it."""
        phases = set(phases)
        # A cell takes part in the phases its roles name: `--phase bench` builds no reader.
        cells = [c for c in cells if c.roles & phases]
        runs: list[CellRun] = []
        complete = False
        with ExitStack() as envs:
            if self.lock:
                envs.enter_context(ReportsLock(self.layout.reports))
            clean_stale_scratch(self.layout.scratch.parent)
            envs.callback(shutil.rmtree, self.layout.scratch, ignore_errors=True)
            try:
                runs.extend(self.provision(cells, envs))
                if "write" in phases:
                    self.write_phase(runs)
                if "read" in phases:
                    fixtures = discover(self.layout.fixtures, self.matrix.limits.extraction())
                    if not fixtures:
                        self.console.print(f"[yellow]no fixtures in {escape(str(self.layout.fixtures))}: "
                                           "run the writer cells first (nox -s matrix)[/]")
                    self.read_phase(runs, fixtures)
                if "bench" in phases:
                    self.bench_phase(runs)
                complete = True
            finally:
                self.unsaved = self.save(runs, phases, complete=complete)
        return runs

    # -- provisioning -------------------------------------------------------

    def provision(self, cells: Sequence[Cell], envs: ExitStack) -> list[CellRun]:
        """One CellRun per cell; every environment built is entered into `envs`, which closes it."""
        self.layout.scratch.mkdir(parents=True, exist_ok=True)
        runs = []
        for cell in cells:
            decision = self.selector.choose(cell, self.backend_choice)
            run = CellRun(cell, decision.name or "none", probe_digest=probe_digest(cell.library, self.layout.probes))
            if decision.backend is None:
                run.status, run.status_reason = CellStatus.SKIPPED, decision.reason
            runs.append(run)
        self.parallel([r for r in runs if r.status is CellStatus.OK], lambda r: self._provision_one(r, envs),
                      "building environments")
        return runs

    def _provision_one(self, run: CellRun, envs: ExitStack) -> None:
        backend = self.selector.backend(run.backend)
        try:
            env = backend.provision(run.cell, self.layout.mounts())
        except Exception as exc:  # EnvFailed, or anything else: this cell fails, the others go on
            run.status, run.status_reason = CellStatus.ENV_FAILED, str(exc)
            self.console.print(f"[red]{escape(run.cell.id)}: environment failed[/]: "
                               f"{escape(str(exc).strip()[:300])}")
            return
        with self._envs_lock:
            run.env = envs.enter_context(env)
        self._capabilities(run)
        how = "reused" if env.reused else f"built in {env.provision_s:.1f} s"
        self.console.print(f"{escape(run.cell.id)}: {run.backend} environment {how}")

    def _capabilities(self, run: CellRun) -> None:
        result = run.env.run_probe(LIBRARIES[run.cell.library].capabilities_probe, [], timeout=CAPABILITIES_TIMEOUT_S)
        try:
            run.capabilities = json.loads(result.stdout)
        except json.JSONDecodeError:
            run.capabilities = {"error": result.tail(), "freeze": []}

    # -- write ---------------------------------------------------------------

    def write_phase(self, runs: Sequence[CellRun]) -> None:
        self.layout.fixtures.mkdir(parents=True, exist_ok=True)
        writers = [r for r in runs if "write" in r.cell.roles and r.ready]
        if not writers:
            return
        kinds = [k for r in writers for k in r.cell.writes]
        mnist = self._mnist_folder() if any(k.startswith("mnist-") for k in kinds) else None
        # Writers get environments of their own that may write the fixtures folder; readers never do.
        with ExitStack() as stack:
            tasks = []
            for run in writers:
                writer = stack.enter_context(run.env.writer())
                remove_written_by(self.layout.fixtures, run.cell.id)
                tasks.extend((run, writer, kind) for kind in run.cell.writes)
            self.parallel(tasks, lambda task: self._write_one(*task, mnist), "writing fixtures")

    def _mnist_folder(self) -> str | None:
        from .mnist import prepare

        # Copied below the scratch folder, which every backend's probes can see.
        folder, note = prepare(self.mnist_dir or self.matrix.fixtures.mnist_dir,
                               download=self.matrix.fixtures.mnist_download,
                               into=self.layout.scratch / "mnist")
        self.console.print(f"MNIST: {escape(note)}")
        return folder

    def _write_one(self, run: CellRun, writer: Environment, kind: str, mnist: str | None) -> None:
        request = {"kind": kind, "cell_id": run.cell.id, "out_dir": writer.env_path(self.layout.fixtures),
                   "mnist_dir": None if mnist is None else writer.env_path(Path(mnist))}
        attempt = run_attempt(writer, LIBRARIES[run.cell.library].writer_probe, request, run.cell.timeout_s)
        if attempt.final is not None:
            record = FixtureRecord.from_json(attempt.final)
            written = self.layout.fixtures / record.fixture
            if record.written and written.is_file():
                facts = inspect_zip(written)
                record.extra.update(zip_facts=facts.to_json(), zip_summary=facts.summary())
        else:
            verdict = judge(attempt.result, None, None, Context(run.cell.library, None, None), run.cell.timeout_s)
            suffix = "ozx" if kind.startswith("ozx-") else "zip"
            record = FixtureRecord(fixture=f"{run.cell.id}__{kind}.{suffix}", fixture_kind=kind, writer=run.cell.id,
                                   error={"type": verdict.error_type or verdict.verdict.value,
                                          "message": verdict.reason})
        if record.error:
            # A writer killed half-way cannot clean up after itself.
            for leftover in self.layout.fixtures.glob(f".{run.cell.id}__{kind}.*.partial"):
                leftover.unlink()
            self.console.print(f"[yellow]{escape(run.cell.id)}: could not write {escape(kind)}[/]: "
                               f"{escape(str(record.error.get('message', ''))[:200])}")
        run.add(record)

    # -- read ----------------------------------------------------------------

    def read_phase(self, runs: Sequence[CellRun], fixtures: Sequence[Fixture]) -> None:
        readers = [r for r in runs if "read" in r.cell.roles and r.ready]
        self.parallel(readers, self._list_methods, "asking readers for their methods")
        fixtures = [f if f.manifest is not None else self._with_reference(readers, f) for f in fixtures]
        tasks = []
        for run in readers:
            done = {(r.fixture, r.variant, r.method) for r in self._open_journal(run, fixtures)}
            for fixture in fixtures:
                wanted = [("zip", None)] if not run.methods else [
                    (variant, method) for method in run.methods for variant in ("zip", "folder")]
                tasks.extend((run, fixture, variant, method) for variant, method in wanted
                             if (fixture.name, variant, method or IMPORT) not in done)
        try:
            self.parallel([r for r in readers if r.methods and any(t[0] is r for t in tasks)], self._start_server,
                          "starting attempt servers")
            self.parallel(tasks, self._read_task, "reading fixtures")
        finally:
            self._close_servers()
        for run in readers:
            link_controls(run.records)
        for fixture in fixtures:
            if fixture.manifest is not None and fixture.manifest.reference is not None:
                judge_against_reference(fixture.manifest, [r for run in readers for r in run.records
                                                           if r.KIND == "read" and r.fixture == fixture.name])

    def _open_journal(self, run: CellRun, fixtures: Sequence[Fixture]) -> list[ReadRecord]:
        """The cell's journal: the attempts an earlier run of the same environment, fixtures and methods
        finished (none with --fresh) are this run's too, and every attempt this run finishes goes in."""
        path = self.layout.results / f"{run.cell.id}{JOURNAL_SUFFIX}"
        header = {"cell": run.cell.id, "backend": run.backend, "env_key": run.cell.env_key(),
                  "probe_digest": run.probe_digest, "fixtures": {f.name: f.sha256 for f in fixtures},
                  "methods": run.methods}
        if self.fresh:
            path.unlink(missing_ok=True)
        run.journal = Journal(path, header)
        done = run.journal.resume()
        run.records.extend(done)
        run.resumed = len(done)
        if done:
            self.console.print(f"{escape(run.cell.id)}: resumed {len(done)} attempts from its journal "
                               f"({escape(path.name)}); --fresh runs them again")
        return done

    def _start_server(self, run: CellRun) -> None:
        if self.isolation != "fork" or not LIBRARIES[run.cell.library].runtime.supports_fork_server:
            # Node cannot fork a running interpreter: a Node probe starts afresh for each attempt.
            run.isolation = "process"
            return
        server, how = AttemptServer.start(run.env, run.probe)
        run.server, run.isolation = server, how if server else f"process ({how})"
        if server is not None:
            with self._envs_lock:
                self._servers.append(server)
        else:
            self.console.print(f"[yellow]{escape(run.cell.id)}: one process per attempt[/]: {escape(how)}")

    def _close_servers(self) -> None:
        with self._envs_lock:
            servers, self._servers = self._servers, []
        for server in servers:
            server.close()

    def _read_task(self, task: tuple) -> None:
        run = task[0]
        if self.stopping.is_set():
            return
        try:
            record = self.read(*task)
        except ServerGone:
            if self.stopping.is_set():
                return
            raise
        # An attempt the stop cut short says nothing about the library: it is neither kept nor journaled.
        if self.stopping.is_set():
            return
        run.add(record)
        run.journal.append(record)

    def stop(self) -> None:
        """Stop now: no attempt starts, running ones are killed (servers kill their children)."""
        self.stopping.set()
        self._close_servers()
        kill_running()

    def _list_methods(self, run: CellRun) -> None:
        run.methods, listing = list_methods(run.env, run.probe)
        if not run.methods:
            run.failed_listing = listing
            run.capabilities.setdefault("probe_import_error", listing.tail())

    def read(self, run: CellRun, fixture: Fixture, variant: str, method: str | None) -> ReadRecord:
        """One read attempt of `run`'s cell, checked against the fixture's manifest."""
        repro = self.repro_command(run).for_attempt(run.cell.id, fixture.name, method or IMPORT, variant)
        return read_attempt(run.env, run.probe, fixture, variant, method, expected=fixture.arrays, repro=repro,
                            failed_listing=run.failed_listing, server=run.server)

    def repro_command(self, run: CellRun) -> ReproCommand:
        # A Node cell goes to its npm folder whatever the backend, so `auto` brings it back there.
        backend = "auto" if run.backend == "node" else run.backend
        return ReproCommand(self.matrix.path, backend, self.matrix.docker.base_images, self.layout.fixtures_dir)

    def _with_reference(self, readers: Sequence[CellRun], fixture: Fixture) -> Fixture:
        """A fixture nobody described (a user's zip): a reader that reads every array the metadata lists, by
        name, becomes the reference (zarr first, then the others in table order, newest first; GDAL's classic
        API, which stacks bands into one raster, last); its checksums become the manifest every other reader
        must match."""
        listed = inspect_zip(fixture.zip_path).arrays
        for run, method in reference_candidates(readers):
            repro = self.repro_command(run).for_attempt(run.cell.id, fixture.name, method, "zip")
            record = read_attempt(run.env, run.probe, fixture, "zip", method, expected=None, repro=repro)
            if record.verdict is not Verdict.UNVERIFIED or not record.arrays:
                continue
            stacked = method in LIBRARIES[run.cell.library].stacked_methods
            arrays = reference_arrays(record.arrays, listed, stacked=stacked)
            if arrays is None:
                continue
            manifest = Manifest(fixture=fixture.name, writer=None, zarr_format=fixture.zarr_format,
                                variant="brought by the user", reference=f"{run.cell.id} {method}", arrays=arrays)
            self.console.print(f"{escape(fixture.name)}: reference is {escape(manifest.reference)}, "
                               f"{len(manifest.arrays)} arrays")
            write_text(manifest_path(fixture.zip_path), json.dumps(manifest.to_json(), indent=1))
            return replace(fixture, manifest=manifest)
        self.console.print(f"[yellow]{escape(fixture.name)}: no reader could read it whole; there is no "
                           "reference to check the others against, and what they read is `unverified`[/]")
        return fixture

    # -- bench ---------------------------------------------------------------

    def bench_phase(self, runs: Sequence[CellRun]) -> None:
        config = self.matrix.bench
        # One at a time: two benchmarks on two cores would time each other.
        for run in [r for r in runs if "bench" in r.cell.roles and r.ready]:
            for shape, chunks in config.layouts():
                if self.stopping.is_set():
                    return
                self.console.print(f"{escape(run.cell.id)}: benchmarking stores, shape {shape}, chunks {chunks}")
                request = dict(config.request(shape, chunks), library=run.cell.library,
                               work_dir=run.env.env_path(self.layout.scratch))
                # Each store may take its budget; the probe's timeout covers them all, and a margin.
                timeout = max(run.cell.timeout_s * TIMEOUT_FACTOR,
                              2 * config.budget_s * len(config.stores) * len(config.compressors))
                for record in bench_records(run_attempt(run.env, "bench_stores.py", request, timeout),
                                            run.cell.library, timeout):
                    if record.KIND == "bench" and not record.verified:
                        self.console.print(f"[red]{escape(run.cell.id)}: {record.store}/{record.compressor} read "
                                           f"back WRONG data in {len(record.verify_failures)} of {record.n} repeats[/]")
                    run.add(record)

    # -- saving --------------------------------------------------------------

    def save(self, runs: Sequence[CellRun], phases: Iterable[str], *, complete: bool) -> list[str]:
        """Save each cell's result on its own: one that cannot be saved is named, and the others still are.

        Only a complete run replaces a cell's result. A run that failed or was interrupted leaves the
        last complete result as it was and saves what it got beside it, marked, as <id>.incomplete.json.
        Returns the ids of the cells not saved."""
        unsaved = []
        for run in runs:
            path = self.layout.results / f"{run.cell.id}.json"
            partial = path.with_name(f"{run.cell.id}{INCOMPLETE_SUFFIX}")
            try:
                previous = read_result(path)
                if run.status is CellStatus.SKIPPED and previous is not None and previous.status is CellStatus.OK:
                    # A cell that could not run here (no Docker, no node) did nothing: the result of the run
                    # where it did stays as it is.
                    self.console.print(f"{escape(run.cell.id)}: {escape(run.status_reason or 'skipped')}; its "
                                       f"result from {escape(previous.started)} ({previous.cell.get('backend')}) "
                                       "is kept")
                    continue
                result = carry_over(run.to_result(), previous, phases)
                if complete:
                    write_result(path, result)
                    partial.unlink(missing_ok=True)
                    if run.journal is not None:
                        run.journal.remove()
                else:
                    result.extra["incomplete"] = "the run failed or was interrupted before this cell finished"
                    write_result(partial, result)
            except Exception as exc:  # one cell's bad result must not cost the others theirs
                unsaved.append(run.cell.id)
                self.console.print(f"[red]{escape(run.cell.id)}: result not saved[/]: "
                                   f"{escape(f'{type(exc).__name__}: {exc}'[:500])}")
        return unsaved

    # -- plumbing ------------------------------------------------------------

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
                    self.console.print(f"[red]internal error in {description}[/]: "
                                       f"{escape(f'{type(exc).__name__}: {exc}')}")
                    self.console.print_exception()
                finally:
                    progress.advance(task)

            pool = ThreadPoolExecutor(max_workers=self.jobs)
            try:
                pending = {pool.submit(step, item) for item in items}
                while pending:
                    # A short wait, not one long join: a Ctrl-C reaches the main thread at once.
                    _, pending = wait(pending, timeout=0.2)
            except BaseException:
                self.stop()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)


def clean_stale_scratch(folder: Path) -> None:
    """Remove the scratch folders of runs that are no longer alive (a kill -9 leaves its folder behind)."""
    for stale in folder.glob("run-*"):
        try:
            os.kill(int(stale.name.removeprefix("run-")), 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:
            continue  # alive, someone else's


def carry_over(result: CellResult, previous: CellResult | None, phases: Iterable[str]) -> CellResult:
    """`result`, with the records of the phases not run this time taken from the cell's previous
    result (so `--phase bench` keeps the reads), if it ran in the same kind of environment with the
    same pins and the same probes: a result never mixes records from two environments, or from a probe
    and its edited self."""
    kept = set().union(*(kinds for phase, kinds in PHASE_KINDS.items() if phase not in set(phases)))
    if not kept or previous is None or result.status is not CellStatus.OK:
        return result
    same = (previous.cell.get("backend") == result.cell["backend"]
            and previous.cell.get("env_key") == result.cell["env_key"]
            and previous.probe_digest is not None and previous.probe_digest == result.probe_digest)
    if not same:
        return result
    records = result.records + [r for r in previous.records if r.KIND in kept]
    return replace(result, records=sorted(records, key=record_order))




def link_controls(records: list[Record]) -> None:
    """Give each zip attempt the verdict of the same method on the unzipped control."""
    reads = [r for r in records if isinstance(r, ReadRecord)]
    controls = {(r.reader, r.fixture, r.method): r.verdict for r in reads if r.variant == "folder"}
    for record in reads:
        if record.variant == "zip":
            record.control_verdict = controls.get((record.reader, record.fixture, record.method))
