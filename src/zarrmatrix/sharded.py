"""The sharded-read benchmark (probes/bench_sharded.py): one sharded array, written once by a zarr 3 cell into
this run's scratch and zipped STORED and DEFLATED, then read by every cell with the `sharded` role out of the
folder and each zip, whole, one shard and one inner chunk, with the page cache warm and dropped.

The question it answers is the one RFC-9 rests on: a reader of a DEFLATED zip must inflate a whole shard member to
reach one inner chunk, where a STORED zip lets it read the chunk's bytes alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from packaging.version import Version
from rich.console import Console
from rich.markup import escape

from . import bands
from .attempt import Attempt, run_attempt
from .cell_run import CellRun
from .libraries import LIBRARIES
from .matrix.model import ShardedConfig
from .records import CellResult, ShardedRecord
from .stats import median_ci

STORES = tuple(ShardedConfig.STORE_FILES)
ACCESSES = ShardedConfig.ACCESSES


def writes_the_array(run: CellRun) -> bool:
    """A zarr 3 cell: the array is written with zarr-python's own sharding."""
    return run.ready and run.cell.library == "zarr" and Version(run.cell.version).major >= 3


def probe_error(implementation: str, message: str) -> ShardedRecord:
    return ShardedRecord(implementation=implementation, library_version=None, store=None, access=None, cache=None,
                         error={"type": "probe", "message": message[-2000:]}, stop="error")


def unit_of(raw: dict[str, Any]) -> tuple[str, str, str]:
    return raw.get("cache"), raw.get("store"), raw.get("access")


def sharded_records(attempt: Attempt, library: str, fixture: dict[str, Any]) -> list[ShardedRecord]:
    """The probe's records, each with the facts of the array it read. Where the probe did not finish (it crashed,
    or was killed), the unit it had begun without recording gets an error with the probe's last words; where it
    had begun none, one error says the probe died."""
    facts = {"writer": f"zarr-python {fixture['zarr_version']}", "shape": fixture["shape"],
             "shards": fixture["shards"], "chunks": fixture["chunks"]}
    records = []
    for raw in attempt.records:
        if raw.get("kind") == "sharded":
            stored = fixture["stored_bytes"].get(raw.get("store"))
            records.append(ShardedRecord.from_json(dict(raw, **facts, stored_bytes=stored)))
    if attempt.result.returncode == 0 and not attempt.result.timed_out:
        return records
    done = {(r.cache, r.store, r.access) for r in records}
    begun = [raw for raw in attempt.records if raw.get("kind") == "sharded-begin"]
    hung = next((raw for raw in reversed(begun) if unit_of(raw) not in done), None)
    why = ended(attempt)
    if hung is not None:
        # The unit's record, as the probe would have made it, with what ended the probe for its error.
        records.append(ShardedRecord.from_json(dict(
            hung, **facts, stored_bytes=fixture["stored_bytes"].get(hung.get("store")), kind="sharded",
            implementation=hung.get("implementation", library), library_version=hung.get("library_version"),
            error={"type": "probe", "message": f"the probe {why} during this read"}, stop="error")))
    elif not begun:
        records.append(probe_error(library, f"the probe {why} before its first read"))
    return records


# What a dying runtime says first, before its stack: V8's fatal errors, a Python exception's last line.
TELLING = re.compile(r"^(FATAL ERROR: .*|Fatal Python error: .*|MemoryError.*|\w+(\.\w+)*Error: .*)$", re.M)


def ended(attempt: Attempt) -> str:
    """How the probe ended, and its telling line (else its stderr's tail)."""
    result = attempt.result
    if result.timed_out:
        how = "was killed at the phase's time limit"
    elif result.signal is not None:
        how = f"was killed by {result.signal_name}"
    else:
        how = f"exited with {result.returncode}"
    telling = TELLING.findall(result.stderr or "")
    said = telling[-1][0] if telling else result.tail(600).strip()
    return f"{how}" + (f" ({said})" if said else "")


def read_every_unit(run: CellRun, config: ShardedConfig, stores: dict[str, str],
                    fixture: dict[str, Any]) -> list[ShardedRecord]:
    """Every unit of the cell, its probe run anew after a unit that crashed it or hung (each such unit recorded
    as an error and skipped), until each unit has a record or the probe dies before beginning one."""
    records: list[ShardedRecord] = []
    while True:
        done = {(r.cache, r.store, r.access) for r in records if r.store is not None}
        request = config.read_request(run.cell.library, stores, skip=sorted(done))
        attempt = run_attempt(run.env, LIBRARIES[run.cell.library].sharded_probe, request, config.timeout_s())
        got = sharded_records(attempt, run.cell.library, fixture)
        records.extend(got)
        finished = attempt.result.returncode == 0 and not attempt.result.timed_out
        progress = {(r.cache, r.store, r.access) for r in got if r.store is not None} - done
        if not finished and not progress and not any(r.store is None for r in got):
            records.append(probe_error(run.cell.library, f"the probe {ended(attempt)} without recording a unit: "
                                       "the units left have no figure"))
        if finished or not progress or len(done | progress) >= config.units():
            return records


def run_phase(runs: Sequence[CellRun], config: ShardedConfig, scratch: Path, console: Console,
              stopping: Callable[[], bool]) -> None:
    """Write the array with the first zarr 3 cell among `runs`, then time each cell's reads, one cell at a time."""
    readers = [r for r in runs if r.ready and "sharded" in r.cell.roles]
    if not readers:
        return
    folder = scratch / "sharded"
    folder.mkdir(parents=True, exist_ok=True)
    # A container's user is not the host's: the writer must be able to write here.
    folder.chmod(0o777)
    writer = next((r for r in readers if writes_the_array(r)), None)
    fixture, why = None, "no zarr 3 cell among those run writes the array (add one: --cells zarr-<3.x> ...)"
    if writer is not None:
        console.print(f"{escape(writer.cell.id)}: writing the sharded array {config.shape[0]:,} x "
                      f"{config.shape[1]:,} int32 ({config.nbytes / 2**20:,.0f} MiB), shards {list(config.shards)}, "
                      f"inner chunks {list(config.chunks)}; zipping it STORED and DEFLATED")
        with writer.timed("sharded"):
            request = config.write_request(writer.env.env_path(folder))
            attempt = run_attempt(writer.env, LIBRARIES["zarr"].sharded_probe, request, config.timeout_s())
        fixture = next((raw for raw in attempt.records if raw.get("kind") == "sharded-fixture"), None)
        why = f"{writer.cell.id} could not write the sharded array: {attempt.result.tail()}"
    for run in readers:
        if stopping():
            return
        if fixture is None:
            run.add(probe_error(run.cell.library, why))
            continue
        stores = {store: run.env.env_path(folder / name) for store, name in config.STORE_FILES.items()}
        console.print(f"{escape(run.cell.id)}: timing reads of the sharded array (folder, zip STORED, zip DEFLATED)")
        with run.timed("sharded"):
            records = read_every_unit(run, config, stores, fixture)
        for record in records:
            run.add(record)
            console.print(f"  {escape(line(record))}")


def seconds(value: float) -> str:
    """As the band benchmark writes a time, and an inner chunk's sub-millisecond reads in µs."""
    return bands.seconds(value) if value >= 0.001 else f"{value * 1e6:.0f} µs"


def line(record: ShardedRecord) -> str:
    head = f"{record.access or '-'} from {record.store or '-'} ({record.cache or '-'})"
    if record.error or not record.samples_s:
        return f"{head}: {(record.error or {}).get('type', '')}: {(record.error or {}).get('message', '')[:160]}"
    ci = median_ci(record.samples_s)
    decoded = f", decoded by {record.decoded_by.rsplit('.', 1)[-1]}" if record.decoded_by else ""
    return f"{head}: {seconds(ci.median)} [{seconds(ci.low)}, {seconds(ci.high)}], n={len(record.samples_s)}{decoded}"


@dataclass(frozen=True)
class Bar:
    """One implementation's read of one access from one store and cache state, as the report draws it."""

    label: str  # the implementation, with the version and the pipeline asked where it has one
    record: ShardedRecord


def label(record: ShardedRecord) -> str:
    name = f"{record.implementation} {record.library_version or ''}".strip()
    asked = record.extra.get("codec_pipeline_asked")
    return f"{name} + zarrs {record.extra.get('zarrs_version') or ''}".strip() if asked else name


def bars(results: Sequence[CellResult]) -> list[Bar]:
    return [Bar(label(record), record) for result in results for record in result.of_kind("sharded")]
