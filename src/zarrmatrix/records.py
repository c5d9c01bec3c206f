"""Typed records: what a cell saw, and how it is written to and read from its result file.

Each record knows its JSON form (`to_json`) and how to come back from it
(`from_json`). The JSON keeps the shape of schema_version 1: keys a class does
not name (facts a probe adds, such as library versions) travel in `extra`, so
nothing a probe reported is lost on the way through.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


class Verdict(StrEnum):
    """What one attempt ended in. Declared best first: a matrix cell shows the best attempt."""

    PASS = "pass"
    # It read every array, but nothing independent gave a reference to compare the data with.
    UNVERIFIED = "unverified"
    PARTIAL = "partial"
    MISMATCH = "mismatch"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASH = "crash"
    NA = "n/a"
    ENV_FAILED = "env-failed"
    SKIPPED = "skipped"

    @property
    def rank(self) -> int:
        """Where the verdict stands, best first: pass is 0, and a larger rank says less for the library."""
        return _RANK[self]


class CellStatus(StrEnum):
    """Whether a cell ran: its records hold the verdicts of what it did."""

    OK = "ok"
    ENV_FAILED = "env-failed"
    SKIPPED = "skipped"


_RANK = {v: i for i, v in enumerate(Verdict)}
# Value -> member, a dict lookup where Verdict(value) goes through the enum machinery: a large report makes
# hundreds of thousands of them.
VERDICT_OF = {v.value: v for v in Verdict}


def best(verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict | None:
    # A Verdict hashes as its value: the rank table answers for members and plain strings alike.
    return min(verdicts, key=_RANK.__getitem__) if verdicts else None


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> frozenset[str]:
    """A record class's field names, looked up once: a thousand results hold a few hundred thousand records."""
    return frozenset(f.name for f in dataclasses.fields(cls))


def _to_json(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_json()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


@dataclass(slots=True)
class _Record:
    """A dataclass with a JSON form; unknown keys are kept in `extra`."""

    KIND: ClassVar[str | None] = None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "extra"}
        data.update(_to_json(getattr(self, "extra", {})))
        if self.KIND is not None:
            data["kind"] = self.KIND
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]):
        names = _field_names(cls)
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        # One pass: a thousand results hold a few hundred thousand records.
        for key, value in data.items():
            if key in names and key != "extra":
                kwargs[key] = value
            elif key != "kind" and key not in names:
                extra[key] = value
        if "extra" in names:
            kwargs["extra"] = extra
        return cls(**cls._convert(kwargs))

    @classmethod
    def _convert(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Turn nested JSON into typed values; subclasses with typed fields override this."""
        return kwargs


@dataclass
class Manifest(_Record):
    """What a writer wrote: per array its shape, dtype and the SHA-256 of its decoded bytes."""

    fixture: str = ""
    writer: str | None = None
    zarr_format: int | None = None
    variant: str = ""
    arrays: list[dict[str, Any]] = field(default_factory=list)
    kind: str | None = None
    zip: dict[str, Any] | None = None
    synthetic: bool = False
    versions: dict[str, Any] = field(default_factory=dict)
    # Set where no writer described the zip: which reader's reading became the reference.
    reference: str | None = None
    # The catalogue id (probes/features.json) of the one feature the fixture isolates, and the hand edit a
    # writer needed to express it.
    feature: str | None = None
    hand_edit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FixtureRecord(_Record):
    """A writer cell's attempt to write one fixture: its manifest, or why it could not."""

    KIND: ClassVar[str] = "fixture"
    fixture: str
    fixture_kind: str
    writer: str
    manifest: Manifest | None = None
    error: dict[str, Any] | None = None
    # The catalogue feature it was to isolate; with an error, a feature this writer cannot write.
    feature: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _convert(cls, kwargs):
        if kwargs.get("manifest") is not None:
            kwargs["manifest"] = Manifest.from_json(kwargs["manifest"])
        return kwargs

    @property
    def written(self) -> bool:
        return not self.error


# slots: a large matrix holds a few hundred thousand reads; without a __dict__ each is smaller and quicker to make.
@dataclass(slots=True)
class ReadRecord(_Record):
    """One read attempt: a reader, a fixture (its zip or its unzipped control), a method, and the verdict."""

    KIND: ClassVar[str] = "read"
    reader: str
    library: str
    library_version: str | None
    zarr_version: str | None
    fixture: str
    variant: str
    method: str
    verdict: Verdict
    reason: str
    call: str
    repro: str
    seconds: float = 0.0
    fixture_format: int | None = None
    control_verdict: Verdict | None = None
    arrays: list[dict[str, Any]] = field(default_factory=list)
    error_type: str | None = None
    error_message: str | None = None
    # The codec pipeline(s) that decoded, where the cell asked zarr for another than its own (zarrs').
    codec_pipeline: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _convert(cls, kwargs):
        kwargs["verdict"] = VERDICT_OF[kwargs["verdict"]]
        if kwargs.get("control_verdict") is not None:
            kwargs["control_verdict"] = VERDICT_OF[kwargs["control_verdict"]]
        return kwargs

    @property
    def found_flaky(self) -> bool:
        """Whether repeats of this attempt disagreed: its record then counts their outcomes (confirm.py)."""
        return "outcomes" in self.extra


@dataclass
class BenchRecord(_Record):
    """One store and operation of the benchmark: raw samples and their statistics beside the limit's."""

    KIND: ClassVar[str] = "bench"
    store: str
    compressor: str
    op: str
    nbytes: int
    samples_s: list[float]
    median_s: float
    iqr_s: float
    q1_s: float
    q3_s: float
    min_s: float
    n: int
    mb_s: float | None
    limit_median_s: float | None
    limit_iqr_s: float | None
    ratio_to_limit: float | None
    verified: bool
    verify_failures: list[dict[str, Any]] = field(default_factory=list)
    shape: list[int] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    dtype: str = ""
    via: str = ""
    limit_kind: str | None = None
    # How well the median is known: its 95% confidence interval, and whether the probe stopped because
    # the interval was within its target (else it ran out of repeats or time: not converged).
    ci_low_s: float | None = None
    ci_high_s: float | None = None
    ci_half_width: float | None = None
    converged: bool | None = None
    stop: str | None = None
    limit_min_s: float | None = None
    below_limit: str | None = None
    cpu_median_s: float | None = None
    peak_bytes: int | None = None
    page_cache: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchErrorRecord(_Record):
    """A store the benchmark could not measure (store None: the whole benchmark failed)."""

    KIND: ClassVar[str] = "bench-error"
    store: str | None
    compressor: str | None
    verdict: Verdict
    error: dict[str, Any]

    @classmethod
    def _convert(cls, kwargs):
        kwargs["verdict"] = Verdict(kwargs["verdict"])
        return kwargs


@dataclass
class BandsRecord(_Record):
    """GDAL reading an N x 28 x 28 array whole through one API (bench_bands.py): the raw samples, or the error."""

    KIND: ClassVar[str] = "bands"
    api: str
    call: str
    bands: int
    gdal_version: str
    samples_s: list[float] = field(default_factory=list)
    error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median_s(self) -> float | None:
        return _median(self.samples_s, self.error)


def _median(samples: list[float], error: dict[str, Any] | None) -> float | None:
    """The median of a benchmark's samples; none where it ended in an error (its samples are partial)."""
    return statistics.median(samples) if samples and error is None else None


@dataclass
class ShardedRecord(_Record):
    """One implementation reading one region of the sharded array out of one store, warm or cold
    (bench_sharded.py): the raw samples, or the error. Where the store is a zip, `store` names its compression."""

    KIND: ClassVar[str] = "sharded"
    implementation: str
    library_version: str | None
    store: str | None
    access: str | None
    cache: str | None
    samples_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_bytes: list[int | None] = field(default_factory=list)
    nbytes: int = 0
    page_cache: str = "warm"
    decoded_by: str | None = None
    # read(2) of as many bytes from the STORED zip, in the same process and cache state: the floor.
    floor_samples_s: list[float] = field(default_factory=list)
    stop: str | None = None
    error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median_s(self) -> float | None:
        return _median(self.samples_s, self.error)

    @property
    def floor_s(self) -> float | None:
        """The floor's best repeat, as the store benchmark takes its limit."""
        return min(self.floor_samples_s) if self.floor_samples_s else None

    @property
    def cpu_median_s(self) -> float | None:
        return _median(self.cpu_s, self.error)

    @property
    def peak_max_bytes(self) -> int | None:
        peaks = [p for p in self.peak_bytes if p is not None]
        return max(peaks) if peaks and self.error is None else None


Record = FixtureRecord | ReadRecord | BenchRecord | BenchErrorRecord | BandsRecord | ShardedRecord
RECORD_TYPES: dict[str, type] = {t.KIND: t for t in (FixtureRecord, ReadRecord, BenchRecord, BenchErrorRecord,
                                                     BandsRecord, ShardedRecord)}
# The record kinds each phase makes: a run of some phases carries the others' over.
PHASE_KINDS = {"write": {"fixture"}, "read": {"read"}, "bench": {"bench", "bench-error"}, "bands": {"bands"},
               "sharded": {"sharded"}}


def record_from_json(data: dict[str, Any]) -> Record:
    return RECORD_TYPES[data["kind"]].from_json(data)


def record_order(record: Record) -> tuple:
    """A stable order of records in a result file, so that two runs diff cleanly."""
    return (record.KIND, getattr(record, "fixture", "") or "", getattr(record, "variant", "") or "",
            getattr(record, "method", "") or "", getattr(record, "store", "") or "",
            getattr(record, "compressor", "") or "", getattr(record, "op", "") or "", getattr(record, "nbytes", 0) or 0,
            getattr(record, "api", "") or "", getattr(record, "bands", 0) or 0, getattr(record, "cache", "") or "",
            getattr(record, "access", "") or "")


@dataclass
class PhaseSpan(_Record):
    """When one phase of a cell's run began (seconds since the epoch) and how long it took, wall clock."""

    start: float = 0.0
    seconds: float = 0.0

    @property
    def end(self) -> float:
        return self.start + self.seconds


@dataclass
class CellResult(_Record):
    """One cell's result file: the cell, its environment, and every record it made."""

    schema_version: int
    cell: dict[str, Any]
    status: CellStatus
    status_reason: str | None
    environment: dict[str, Any]
    host: dict[str, Any]
    started: str
    duration_s: float
    records: list[Record] = field(default_factory=list)
    # SHA-256 over the probe files the cell ran; None in results written before it was recorded.
    probe_digest: str | None = None
    # Per phase (environment, write, read, bench): when it began and how long it took.
    timings: dict[str, PhaseSpan] = field(default_factory=dict)
    # The attempts found flaky in the same environment whose reads this result does not hold (a phase ran with
    # edited probes and dropped them): flakiness is the library's, and the next read phase counts on from these.
    flaky_history: list[ReadRecord] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _convert(cls, kwargs):
        kwargs["status"] = CellStatus(kwargs["status"])
        kwargs["timings"] = {phase: PhaseSpan.from_json(span) for phase, span in kwargs.get("timings", {}).items()}
        kwargs["records"] = [record_from_json(r) for r in kwargs.get("records", [])]
        kwargs["flaky_history"] = [ReadRecord.from_json(r) for r in kwargs.get("flaky_history", [])]
        return kwargs

    @property
    def id(self) -> str:
        return self.cell["id"]

    def of_kind(self, *kinds: str) -> list[Record]:
        return [r for r in self.records if r.KIND in kinds]

    def flaky(self) -> list[ReadRecord]:
        """The attempts found flaky that this result knows of: those of its history, then its own reads'."""
        return [*self.flaky_history, *(r for r in self.records if isinstance(r, ReadRecord) and r.found_flaky)]
