"""A reports folder's results, as one run writes them: each cell's result (replaced only by a complete run,
written atomically), the incomplete result a cut-short run leaves beside it, each cell's journal of finished
attempts, the records a run carries over from the cell's last result, and the folder's lock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

from rich.console import Console
from rich.markup import escape

from .cell_run import CellRun
from .fixtures import Fixture
from .journal import JOURNAL_SUFFIX, Journal
from .lock import CellLocks, ReportsLock
from .records import PHASE_KINDS, CellResult, CellStatus, ReadRecord, record_order
from .results import INCOMPLETE_SUFFIX, read_result, write_result


class ResultsFolder:
    """`<reports>/results/`: what a run saves, resumes and carries over."""

    def __init__(self, reports: Path, console: Console):
        self.reports = reports
        self.folder = reports / "results"
        self.console = console

    def lock(self, *, shared: bool = False) -> ReportsLock:
        """The folder's lock (see lock.py)."""
        return ReportsLock(self.reports, shared=shared)

    def cell_locks(self, cell_ids: Iterable[str]) -> CellLocks:
        return CellLocks(self.reports, cell_ids)

    def open_journal(self, run: CellRun, fixtures: Sequence[Fixture], *, fresh: bool) -> list[ReadRecord]:
        """The cell's journal: the attempts an earlier run of the same environment, fixtures and methods
        finished (none with --fresh) are this run's too, and every attempt this run finishes goes in."""
        path = self.folder / f"{run.cell.id}{JOURNAL_SUFFIX}"
        header = {"cell": run.cell.id, "backend": run.backend, "env_key": run.cell.env_key(),
                  "probe_digest": run.probe_digest, "fixtures": {f.name: f.sha256 for f in fixtures},
                  "methods": run.methods}
        if fresh:
            path.unlink(missing_ok=True)
        run.journal = Journal(path, header)
        done = run.journal.resume()
        run.records.extend(done)
        run.resumed = len(done)
        if done:
            self.console.print(f"{escape(run.cell.id)}: resumed {len(done)} attempts from its journal "
                               f"({escape(path.name)}); --fresh runs them again")
        return done

    def save(self, runs: Sequence[CellRun], phases: Iterable[str], *, complete: bool) -> list[str]:
        """Save each cell's result on its own: one that cannot be saved is named, and the others still are.

        Only a complete run replaces a cell's result. A run that failed or was interrupted leaves the
        last complete result as it was and saves what it got beside it, marked, as <id>.incomplete.json.
        Returns the ids of the cells not saved."""
        unsaved = []
        for run in runs:
            path = self.folder / f"{run.cell.id}.json"
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


def same_pins(previous: CellResult, backend: str, env_key: str) -> bool:
    """Whether `previous` ran in the same kind of environment, with the same pins."""
    return previous.cell.get("backend") == backend and previous.cell.get("env_key") == env_key


def same_environment(previous: CellResult, backend: str, env_key: str, probe_digest: str | None) -> bool:
    """Whether `previous` ran in the same kind of environment, with the same pins and the same probes."""
    return (same_pins(previous, backend, env_key)
            and previous.probe_digest is not None and previous.probe_digest == probe_digest)


def carry_over(result: CellResult, previous: CellResult | None, phases: Iterable[str]) -> CellResult:
    """`result`, with the records of the phases not run this time taken from the cell's previous
    result (so `--phase bench` keeps the reads), if it ran in the same kind of environment with the
    same pins and the same probes: a result never mixes records from two environments, or from a probe
    and its edited self. Where only the probes differ and the reads did not run, the attempts found flaky go
    on as the result's `flaky_history` (confirm.py)."""
    ran = set(phases)
    kept = set().union(*(kinds for phase, kinds in PHASE_KINDS.items() if phase not in ran))
    if not kept or previous is None or result.status is not CellStatus.OK:
        return result
    if not same_pins(previous, result.cell["backend"], result.cell["env_key"]):
        return result
    same_probes = previous.probe_digest is not None and previous.probe_digest == result.probe_digest
    if "read" not in ran:
        result = replace(result, flaky_history=previous.flaky_history if same_probes else previous.flaky())
    if not same_probes:
        return result
    records = result.records + [r for r in previous.records if r.KIND in kept]
    timings = {**{phase: span for phase, span in previous.timings.items()
                  if phase in PHASE_KINDS and phase not in ran}, **result.timings}
    return replace(result, records=sorted(records, key=record_order), timings=timings)
