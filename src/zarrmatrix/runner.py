"""The phases of a run: provision the cells, write fixtures, read every
fixture (and its control), benchmark the stores, save one result per cell.

A cell whose environment cannot be built, or whose probe crashes, keeps its
place: it gets a verdict, and the other cells go on. Every environment is
closed whatever happens, and each cell's result is saved on its own.
"""

from __future__ import annotations

import json
import shutil
import threading
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from rich.console import Console
from rich.markup import escape

from . import backends, bands, sharded
from .alone import Machine
from .attempt import IMPORT, Again, ReproCommand, ServerGone, list_methods, read_attempt, read_attempts, run_attempt
from .backends.base import EnvFailed, Environment
from .bench import TIMEOUT_FACTOR, bench_records
from .cell_run import CellRun, Layout
from .confirm import Confirmation, key_of
from .consoles import message_console
from .execute import Executor, clean_stale_scratch
from .fixtures import Fixture, discover, manifest_path, remove_written_by, writer_records
from .libraries import LIBRARIES
from .matrix import Cell, Matrix
from .plan import (
    durations,
    feature_controls,
    judge_against_reference,
    link_controls,
    read_tasks,
    reference_arrays,
    reference_candidates,
)
from .probe_files import BANDS_PROBE, probe_digest
from .records import (
    CellStatus,
    Manifest,
    ReadRecord,
    Verdict,
)
from .results import read_result, write_text
from .results_folder import ResultsFolder, same_environment, same_pins
from .verdicts import Context, judge
from .zipfacts import inspect_zip

CAPABILITIES_TIMEOUT_S = 120


class Runner:
    """The phases of a run: provision the cells, write fixtures, read every fixture (and its control), benchmark
    the stores; the plan says which attempts (plan.py), the executor runs them (execute.py), and the results
    folder keeps what they found (results_folder.py)."""

    def __init__(self, matrix: Matrix, layout: Layout, *, backend_choice: str | None = None, jobs: int = 2,
                 console: Console | None = None,
                 selector: backends.Selector | None = None, isolation: str = "fork", fresh: bool = False,
                 lock: bool = True):
        self.matrix = matrix
        self.layout = layout
        self.backend_choice = backend_choice
        self.console = console or message_console()
        self.selector = selector or backends.Selector(matrix, layout.work, self.console)
        self.executor = Executor(jobs, self.console, isolation)
        self.machine = Machine(layout.work)
        self.results = ResultsFolder(layout.reports, self.console)
        self._envs_lock = threading.Lock()
        self.fresh = fresh
        # False where the caller holds the reports folder's lock itself (check, from its first file on).
        self.lock = lock
        # The ids of the cells whose result could not be saved in the last run.
        self.unsaved: list[str] = []

    @property
    def isolation(self) -> str:
        return self.executor.isolation

    @property
    def stopping(self) -> threading.Event:
        return self.executor.stopping

    def parallel(self, items: Sequence[Any], fn: Callable[[Any], None], description: str) -> None:
        self.executor.parallel(items, fn, description)

    def stop(self) -> None:
        self.executor.stop()

    # -- the one entry point ----------------------------------------------

    def run(self, cells: Sequence[Cell], phases: Iterable[str] = ("write", "read", "bench")) -> list[CellRun]:
        """Run `phases` for `cells` and save one result per cell. Environments are closed
        whatever happens; a cell whose result cannot be saved does not keep the others from it."""
        phases = set(phases)
        # A cell takes part in the phases its roles name (`--phase bench` builds no reader), and in the band
        # benchmark where it reads with GDAL.
        cells = [c for c in cells if c.roles & phases or "bands" in phases and LIBRARIES[c.library].bands_apis]
        runs: list[CellRun] = []
        complete = False
        with ExitStack() as envs:
            if self.lock:
                # Writing fixtures changes what every cell reads: that run has the folder to itself. Reads and
                # benches of different cells may run side by side (nox -j), each cell by one run at a time.
                writes = "write" in phases
                envs.enter_context(self.results.lock(shared=not writes))
                if not writes:
                    envs.enter_context(self.results.cell_locks(c.id for c in cells))
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
                if "bands" in phases:
                    self.bands_phase(runs)
                if "sharded" in phases:
                    sharded.run_phase(runs, self.matrix.sharded, self.layout.scratch, self.console,
                                      self.stopping.is_set)
                complete = True
            finally:
                self.unsaved = self.results.save(runs, phases, complete=complete)
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
        with run.timed("environment"):
            self._provision(run, envs)

    def _provision(self, run: CellRun, envs: ExitStack) -> None:
        backend = self.selector.backend(run.backend)
        try:
            env = backend.provision(run.cell, self.layout.mounts())
        except EnvFailed as exc:
            instead = self.selector.fallback(run.cell, self.backend_choice, run.backend, exc)
            if instead is None:
                run.status, run.status_reason = CellStatus.ENV_FAILED, str(exc)
                self.console.print(f"[red]{escape(run.cell.id)}: environment failed[/]: "
                                   f"{escape(str(exc).strip()[:300])}")
                return
            run.fallback = f"{exc}; ran in a {instead.name} environment instead"
            run.backend = instead.name
            self.console.print(f"[yellow]{escape(run.cell.id)}: {escape(run.fallback)}[/]")
            self._provision(run, envs)
            return
        except Exception as exc:  # anything else: this cell fails, the others go on
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
        folder, note = prepare(self.matrix.fixtures.mnist_dir, split=self.matrix.fixtures.mnist_split,
                               download=self.matrix.fixtures.mnist_download,
                               into=self.layout.scratch / "mnist")
        self.console.print(f"MNIST: {escape(note)}")
        return folder

    def _write_one(self, run: CellRun, writer: Environment, kind: str, mnist: str | None) -> None:
        with run.timed("write"):
            self._write(run, writer, kind, mnist)

    def _write(self, run: CellRun, writer: Environment, kind: str, mnist: str | None) -> None:
        request = {"kind": kind, "cell_id": run.cell.id, "out_dir": writer.env_path(self.layout.fixtures),
                   "mnist": {"dir": None if mnist is None else writer.env_path(Path(mnist)),
                             "split": self.matrix.fixtures.mnist_split}}
        attempt = run_attempt(writer, LIBRARIES[run.cell.library].writer_probe, request, run.cell.timeout_s)
        records = writer_records(attempt, self.layout.fixtures, run.cell.id, kind,
                                 judge(attempt.result, None, None, Context(run.cell.library, None, None),
                                       run.cell.timeout_s))
        for record in records:
            if record.error:
                self.console.print(f"[yellow]{escape(run.cell.id)}: could not write {escape(record.fixture_kind)}[/]: "
                                   f"{escape(str(record.error.get('message', ''))[:200])}")
            run.add(record)

    # -- read ----------------------------------------------------------------

    def read_phase(self, runs: Sequence[CellRun], fixtures: Sequence[Fixture]) -> None:
        readers = [r for r in runs if "read" in r.cell.roles and r.ready]
        self.parallel(readers, self._list_methods, "asking readers for their methods")
        fixtures = [f if f.manifest is not None else self._with_reference(readers, f) for f in fixtures]
        done = {run.cell.id: {(r.fixture, r.variant, r.method)
                              for r in self.results.open_journal(run, fixtures, fresh=self.fresh)}
                for run in readers}
        took, self.confirmation = {}, Confirmation()
        for run in readers:
            previous = read_result(self.layout.results / f"{run.cell.id}.json")
            if previous is None:
                continue
            took.update(durations(previous.records))
            # A verdict a new probe moved is news, not a race; the races found are the library's.
            if same_pins(previous, run.backend, run.cell.env_key()):
                self.confirmation.learn(previous, same_probes=same_environment(
                    previous, run.backend, run.cell.env_key(), run.probe_digest))
        tasks = read_tasks(readers, fixtures, done, took)
        try:
            self.parallel([r for r in readers if r.methods and any(t[0] is r for t in tasks)],
                          self.executor.start_server, "starting attempt servers")
            self.parallel(tasks, self._read_task, "reading fixtures")
            self._confirm_later()
            # Which feature fixtures' zips failed is known once the zip attempts left for later are confirmed.
            self.parallel(feature_controls(readers, fixtures, done), self._read_task, "reading feature controls")
            self._confirm_later()
        finally:
            self.executor.close_servers()
        for run in readers:
            link_controls(run.records)
        for fixture in fixtures:
            if fixture.manifest is not None and fixture.manifest.reference is not None:
                judge_against_reference(fixture.manifest, [r for run in readers for r in run.records
                                                           if r.KIND == "read" and r.fixture == fixture.name])

    def _read_task(self, task: tuple) -> None:
        run, fixture, variant, method = task
        if self.stopping.is_set():
            return
        try:
            with self.machine.shared(), run.timed("read"):
                record = self.confirmation.first(task, key_of(run.cell.id, fixture.name, variant, method),
                                                 self.read(*task), lambda: self.read(*task))
        except ServerGone:
            if self.stopping.is_set():
                return
            raise
        # An attempt the stop cut short says nothing about the library: it is neither kept nor journaled; one left
        # to be confirmed alone is kept once it is.
        if self.stopping.is_set() or record is None:
            return
        run.add(record)
        run.journal.append(record)

    def _confirm_later(self) -> None:
        """The attempts left for later, one at a time, each with the machine to itself (alone.py)."""
        while self.confirmation.later and not self.stopping.is_set():
            self._confirm_alone(*self.confirmation.later.pop(0))

    def _confirm_alone(self, task: tuple, first: ReadRecord) -> None:
        run, fixture, variant, method = task
        limit = run.cell.timeout_s
        with self.machine.alone(), run.timed("read"):
            record = self.confirmation.alone(first, limit, lambda timeout: self.read(*task, timeout=timeout),
                                             lambda again: self.sample(*task, again=again))
        if first.verdict is Verdict.TIMEOUT:
            self.console.print(f"{escape(run.cell.id)}: {escape(fixture.name)} ({variant}, "
                               f"{escape(method or IMPORT)}) timed out at {limit:g} s; alone at {2 * limit:g} s: "
                               f"{record.verdict.value} in {record.seconds:.0f} s")
        run.add(record)
        run.journal.append(record)

    def _list_methods(self, run: CellRun) -> None:
        run.methods, listing = list_methods(run.env, run.probe)
        if not run.methods:
            run.failed_listing = listing
            run.capabilities.setdefault("probe_import_error", listing.tail())

    def read(self, run: CellRun, fixture: Fixture, variant: str, method: str | None,
             timeout: float | None = None) -> ReadRecord:
        """One read attempt of `run`'s cell, checked against the fixture's manifest."""
        return self.sample(run, fixture, variant, method, timeout=timeout)[0]

    def sample(self, run: CellRun, fixture: Fixture, variant: str, method: str | None,
               timeout: float | None = None, again: Again | None = None) -> list[ReadRecord]:
        """`read`, and with `again` the records of the reads its process made again after it."""
        repro = self.repro_command(run).for_attempt(run.cell.id, fixture.name, method or IMPORT, variant)
        return read_attempts(run.env, run.probe, fixture, variant, method, expected=fixture.arrays, repro=repro,
                             failed_listing=run.failed_listing, server=run.server, timeout=timeout, again=again)

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
                with run.timed("bench"):
                    attempt = run_attempt(run.env, "bench_stores.py", request, timeout)
                for record in bench_records(attempt, run.cell.library, timeout):
                    if record.KIND == "bench" and not record.verified:
                        self.console.print(f"[red]{escape(run.cell.id)}: {record.store}/{record.compressor} read "
                                           f"back WRONG data in {len(record.verify_failures)} of {record.n} repeats[/]")
                    run.add(record)

    def bands_phase(self, runs: Sequence[CellRun]) -> None:
        """GDAL's read time against the band count, one cell at a time (each times its reads)."""
        for run in [r for r in runs if LIBRARIES[r.cell.library].bands_apis and r.ready]:
            if self.stopping.is_set():
                return
            apis = LIBRARIES[run.cell.library].bands_apis
            self.console.print(f"{escape(run.cell.id)}: timing GDAL's {' and '.join(apis)} API against the band count")
            with run.timed("bands"):
                attempt = run_attempt(run.env, BANDS_PROBE, bands.request(apis, run.env.env_path(self.layout.scratch)),
                                      bands.timeout_s())
            for record in bands.band_records(attempt, apis):
                run.add(record)
            result = run.to_result()
            for curve in bands.curves([result]):
                self.console.print(f"  {escape(curve.sentence())}")

