"""The report model: merged results turned into rows, columns and cells, sorted
deterministically. Renderers (html, markdown, terminal) only read this."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Sequence

from packaging.version import InvalidVersion, Version

from ..features import catalogue, feature_of_kind
from ..libraries import LIBRARIES, implementations
from ..records import BenchRecord, CellResult, CellStatus, FixtureRecord, ReadRecord, Verdict, best
from ..verdicts import PATH_STRING_CAVEAT

_LIB_ORDER = {name: i for i, name in enumerate(LIBRARIES)}
_IMPL_ORDER = {name: i for i, name in enumerate(implementations())}
# Read verdicts that count as "reads it": the data matched, or nobody independent could say otherwise.
READS = (Verdict.PASS, Verdict.UNVERIFIED)


def implementation_of(library: str | None) -> str:
    lib = LIBRARIES.get(library or "")
    return lib.implementation if lib else "other"


@lru_cache(maxsize=4096)
def _version_key(text: str | None) -> tuple:
    """Versions sort as versions, also where a label leads with one ("3.10 (Debian trixie)")."""
    found = re.match(r"\s*v?(\d+(\.\d+)*)", str(text or ""))
    try:
        return (0, Version(found.group(1)), str(text)) if found else (1, Version("0"), str(text))
    except InvalidVersion:
        return (1, Version("0"), str(text))


@dataclass(frozen=True)
class Reader:
    id: str
    label: str
    library: str
    version: str | None
    backend: str
    status: CellStatus
    status_reason: str | None
    roles: frozenset[str] = frozenset()

    @property
    def implementation(self) -> str:
        return implementation_of(self.library)

    def sort_key(self) -> tuple:
        return (_IMPL_ORDER.get(self.implementation, 99), _LIB_ORDER.get(self.library, 99),
                _version_key(self.version or self.label.split(" ", 1)[-1]),
                self.id)


@dataclass(frozen=True)
class FixtureColumn:
    name: str
    writer: str | None
    writer_label: str
    zarr_format: int | None
    variant: str
    synthetic: bool
    writer_error: str | None = None
    implementation: str = "brought by the user"
    # The catalogue feature the fixture isolates: such fixtures make the Features view, not the matrix.
    feature: str | None = None

    @property
    def written_ok(self) -> bool:
        return self.writer_error is None

    @property
    def label(self) -> str:
        fmt = f"v{self.zarr_format}" if self.zarr_format else "v?"
        tag = " (synthetic)" if self.synthetic else ""
        failed = " — writer failed" if self.writer_error else ""
        return f"{self.writer_label} · {fmt} · {self.variant}{tag}{failed}"

    def sort_key(self, writers: dict[str, Reader]) -> tuple:
        w = writers.get(self.writer or "")
        lib = _LIB_ORDER.get(w.library, 99) if w else 99
        return (_IMPL_ORDER.get(self.implementation, 99), lib, _version_key(w.version if w else None),
                self.zarr_format or 0, self.variant, self.name)


@dataclass
class Summary:
    """One cell of the matrix: the best zip attempt, and the control beside it."""

    reader: str
    fixture: str
    verdict: Verdict
    reason: str
    control_verdict: Verdict | None
    best: ReadRecord | None
    attempts: list[ReadRecord] = field(default_factory=list)

    @property
    def zip_specific(self) -> bool:
        return self.verdict is not Verdict.PASS and self.control_verdict is Verdict.PASS

    def to_json(self) -> dict[str, Any]:
        b = self.best
        return {
            "reader": self.reader, "library": b and b.library, "library_version": b and b.library_version,
            "zarr_version": b and b.zarr_version, "fixture": self.fixture, "verdict": self.verdict.value,
            "reason": self.reason, "control_verdict": self.control_verdict and self.control_verdict.value,
            "method": b and b.method, "call": b and b.call, "error_type": b and b.error_type,
            "error_message": b and b.error_message, "repro": b and b.repro,
            "attempts": [{"method": a.method, "variant": a.variant, "verdict": a.verdict.value, "reason": a.reason,
                          "call": a.call} for a in self.attempts],
        }


def summarize(reader: str, fixture: str, records: Sequence[ReadRecord]) -> Summary:
    zips = [r for r in records if r.variant == "zip"]
    folders = [r for r in records if r.variant == "folder"]
    verdict = best([r.verdict for r in zips]) or Verdict.SKIPPED
    # Of the attempts with the best verdict, the most informative: a call's own caveat comes last.
    chosen = min((r for r in zips if r.verdict == verdict), key=lambda r: r.reason == PATH_STRING_CAVEAT,
                 default=None)
    control = best([r.verdict for r in folders])
    others = {r.verdict for r in zips} - {verdict}
    reason = chosen.reason if chosen else "not attempted"
    if Verdict.MISMATCH in others:
        reason += " — another method returned different data (mismatch)"
    return Summary(reader, fixture, verdict, reason, control, chosen, sorted(
        records, key=lambda r: (r.variant != "zip", r.method)))


@dataclass(frozen=True)
class BenchRow:
    """A benchmark record and the cell that measured it."""

    cell: str
    record: BenchRecord

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)


@dataclass
class Pairing:
    """One writer cell's fixtures read by one reader cell: how many it reads, and the pair's verdict."""

    writer: Reader
    reader: Reader
    read: int
    of: int
    verdict: Verdict


@dataclass
class Overview:
    """One square of the implementation x implementation overview: every writer version of one
    implementation against every reader version of another, and the best pair."""

    writer: str
    reader: str
    pairs: list[Pairing]

    @property
    def best(self) -> Pairing | None:
        # The best verdict, then the pair that read the most: a writer of one fixture read whole says less
        # than a writer of eleven.
        return min(self.pairs, key=lambda p: (p.verdict.rank, -p.read, -p.of), default=None)


@dataclass
class ReportModel:
    results: list[CellResult]
    readers: list[Reader]
    fixtures: list[FixtureColumn]
    cells: dict[tuple[str, str], Summary]
    bench: list[BenchRow]
    problems: list[str]
    incomplete: list[str] = field(default_factory=list)
    writers: list[Reader] = field(default_factory=list)
    feature_fixtures: list[FixtureColumn] = field(default_factory=list)

    def overview(self) -> list[Overview]:
        """Writer implementation x reader implementation, both in table order; only pairs that met."""
        writers = {w.id: w for w in self.writers}
        by_writer: dict[str, list[FixtureColumn]] = {}
        for fixture in self.fixtures:
            if fixture.writer in writers and fixture.written_ok:
                by_writer.setdefault(fixture.writer, []).append(fixture)
        squares: dict[tuple[str, str], Overview] = {}
        for writer_id, fixtures in by_writer.items():
            writer = writers[writer_id]
            for reader in self.readers:
                summaries = [self.cells[(reader.id, f.name)] for f in fixtures if (reader.id, f.name) in self.cells]
                if not summaries:
                    continue
                read = sum(s.verdict in READS for s in summaries)
                if read == len(fixtures):
                    verdict = best([s.verdict for s in summaries]) or Verdict.PASS
                elif read:
                    verdict = Verdict.PARTIAL
                else:
                    verdict = best([s.verdict for s in summaries]) or Verdict.SKIPPED
                key = (writer.implementation, reader.implementation)
                squares.setdefault(key, Overview(*key, [])).pairs.append(
                    Pairing(writer, reader, read, len(fixtures), verdict))
        return sorted(squares.values(), key=lambda o: (_IMPL_ORDER.get(o.writer, 99), _IMPL_ORDER.get(o.reader, 99)))

    def attempts_of(self, reader_id: str) -> Iterator[tuple[FixtureColumn, Summary, ReadRecord | None]]:
        """Every attempt of one reader, fixture by fixture; None for a square without attempts (a skipped cell)."""
        for fixture in self.fixtures:
            summary = self.cells.get((reader_id, fixture.name))
            if summary is None:
                continue
            if not summary.attempts:
                yield fixture, summary, None
            for attempt in summary.attempts:
                yield fixture, summary, attempt

    def summaries(self) -> list[Summary]:
        return [self.cells[(r.id, f.name)] for r in self.readers for f in self.fixtures
                if (r.id, f.name) in self.cells]


def _reader_of(result: CellResult) -> Reader:
    cell = result.cell
    return Reader(cell["id"], cell["label"], cell["library"], cell.get("version"), cell["backend"],
                  result.status, result.status_reason, frozenset(cell.get("roles") or ()))


def _fixture_column(rec: FixtureRecord, writer: Reader | None) -> FixtureColumn:
    manifest = rec.manifest
    feature = (manifest and manifest.feature) or rec.feature or feature_of_kind(rec.fixture_kind)
    known = catalogue().get(feature or "")
    return FixtureColumn(
        name=rec.fixture, writer=rec.writer, writer_label=writer.label if writer else rec.writer,
        zarr_format=(manifest and manifest.zarr_format) or (known.zarr_format if known else None)
        or (3 if rec.fixture_kind.endswith("-v3") else 2),
        variant=(manifest and manifest.variant) or rec.fixture_kind, synthetic=bool(manifest and manifest.synthetic),
        writer_error=None if rec.written else str(rec.error.get("message") or rec.error.get("type") or "?"),
        implementation=writer.implementation if writer else "other",
        feature=feature)


def build_model(results: list[CellResult], problems: Sequence[str] = (), incomplete: Sequence[str] = ()
                ) -> ReportModel:
    writers = {r.id: _reader_of(r) for r in results}
    columns: dict[str, FixtureColumn] = {}
    for result in results:
        for rec in result.of_kind("fixture"):
            columns[rec.fixture] = _fixture_column(rec, writers.get(rec.writer))
    grouped: dict[tuple[str, str], list[ReadRecord]] = {}
    for result in results:
        for rec in result.of_kind("read"):
            grouped.setdefault((rec.reader, rec.fixture), []).append(rec)
            if rec.fixture not in columns:
                columns[rec.fixture] = FixtureColumn(rec.fixture, None, rec.fixture, rec.fixture_format,
                                                     "brought by the user", False)
    readers = sorted((_reader_of(r) for r in results if "read" in r.cell["roles"]), key=Reader.sort_key)
    fixtures = sorted(columns.values(), key=lambda c: c.sort_key(writers))
    cells: dict[tuple[str, str], Summary] = {}
    for reader in readers:
        for fixture in fixtures:
            key = (reader.id, fixture.name)
            if key in grouped:
                cells[key] = summarize(reader.id, fixture.name, grouped[key])
            elif reader.status is not CellStatus.OK:
                cells[key] = Summary(reader.id, fixture.name, Verdict(reader.status.value),
                                     (reader.status_reason or reader.status).strip().splitlines()[-1][:300],
                                     None, None)
            elif not fixture.written_ok:
                why = fixture.writer_error.strip().splitlines()[-1][:200] if fixture.writer_error.strip() else "?"
                cells[key] = Summary(reader.id, fixture.name, Verdict.SKIPPED, f"writer failed: {why}", None, None)
    bench = [BenchRow(r.id, rec) for r in results for rec in r.of_kind("bench")]
    writer_rows = sorted((w for w in writers.values() if "write" in w.roles), key=Reader.sort_key)
    return ReportModel(results, readers, [f for f in fixtures if f.feature is None], cells, bench, list(problems),
                       list(incomplete), writer_rows, [f for f in fixtures if f.feature is not None])
