"""What one run of the matrix knows of each cell: where things land (Layout), and a cell's run (CellRun): its
environment, its status, the records it gathers, and the result they make."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .attempt import AttemptServer
from .backends.base import Environment, Mounts
from .journal import Journal
from .libraries import LIBRARIES
from .matrix import Cell
from .process import ProcessResult
from .records import CellResult, CellStatus, PhaseSpan, Record, record_order
from .results import SCHEMA_VERSION, host_facts


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
    # Where `auto` could not build the cell's image and ran it on the host instead: why.
    fallback: str | None = None
    # Per phase: from the start of its first step to the end of its last, wall clock.
    timings: dict[str, PhaseSpan] = field(default_factory=dict)
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

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Count what runs inside towards `phase`, whose span grows to cover each step, however it ends."""
        start = time.time()
        try:
            yield
        finally:
            end = time.time()
            with self.lock:
                span = self.timings.get(phase)
                if span is not None:
                    start, end = min(start, span.start), max(end, span.end)
                self.timings[phase] = PhaseSpan(start=round(start, 3), seconds=round(end - start, 3))

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
                "fallback": self.fallback,
                "resumed_attempts": self.resumed,
            },
            host=host_facts(),
            started=self.started,
            duration_s=round(time.perf_counter() - self.t0, 3),
            records=sorted(self.records, key=record_order),
            probe_digest=self.probe_digest,
            timings=dict(self.timings),
        )
