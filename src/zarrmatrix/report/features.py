"""The Features view, like caniuse: rows are the features of the catalogue, columns the reader implementations,
each square the versions that read every fixture of that feature. Beside it, as wpt.fyi has them, an interop
score per feature and per writer -> reader pair over the core readers (the newest release of each
implementation), and the failures specific to one core reader (it fails, every other core reader passes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..features import Feature, catalogue
from ..libraries import LIBRARIES
from ..records import CellResult
from ..triage import Known, Triage
from .model import READS, FixtureColumn, Reader, ReportModel, Summary, _version_key
from .releases import implementation_version


@dataclass(frozen=True)
class Version:
    """A reader cell as the Features view counts it: its implementation and that implementation's version."""

    reader: Reader
    implementation: str
    version: str


def reader_versions(model: ReportModel) -> list[Version]:
    """Reader cells whose implementation version is known: the implementation's own library (zarr for
    zarr-python), or a library whose releases the report follows (rasterio's GDAL, netCDF4's netCDF-C).
    xarray and fsspec cells read through a zarr-python that is counted in its own cells."""
    results: dict[str, CellResult] = {r.cell["id"]: r for r in model.results}
    out = []
    for reader in model.readers:
        lib = LIBRARIES.get(reader.library)
        if lib is None or lib.not_by_design or reader.id not in results:
            continue
        found = implementation_version(results[reader.id])
        only_library = sum(other.implementation == lib.implementation for other in LIBRARIES.values()) == 1
        if found is None and only_library and reader.version:
            found = (lib.implementation, reader.version)
        if found is not None:
            out.append(Version(reader, *found))
    return sorted(out, key=lambda v: (v.implementation, _version_key(v.version), v.reader.id))


def versions_text(reading: list[str], every: list[str]) -> str:
    """caniuse's words for the versions that read a feature, of every version the matrix has."""
    if not every:
        return "not in this run"
    if not reading:
        return "no version"
    if len(reading) == len(every):
        return "every version" if len(every) == 1 else f"every version ({every[0]} to {every[-1]})"
    if len(reading) == 1:
        return f"{reading[0]} only"
    if every[-len(reading):] == reading:
        return f"≥ {reading[0]}"
    if every[:len(reading)] == reading:
        return f"≤ {reading[-1]}"
    return ", ".join(reading)


@dataclass
class Square:
    implementation: str
    feature: str
    text: str
    level: str  # "all", "some", "none", "untested"
    reading: list[str]
    partly: list[str]
    known: Known | None = None
    # (cell, fixture) pairs left out: the cell fails that writer's plain fixtures of the format alike.
    left_out: int = 0


@dataclass
class FeatureRow:
    feature: Feature
    fixtures: list[FixtureColumn]
    squares: dict[str, Square]
    passed: int = 0
    pairs: int = 0

    @property
    def score(self) -> float | None:
        return self.passed / self.pairs if self.pairs else None


@dataclass
class FeaturesView:
    implementations: list[str]
    rows: list[FeatureRow]
    core: dict[str, Version]
    # (writer implementation, reader implementation) -> (passed, pairs)
    pair_scores: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    # reader implementation -> [(feature id, fixture name)] it alone fails
    specific: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # feature id -> [(writer label, its refusal)]
    cannot_write: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # reader cell id -> its implementation's version
    versions: dict[str, str] = field(default_factory=dict)

    def writers_per_feature(self) -> float:
        counts = [len({f.implementation for f in row.fixtures if f.written_ok}) for row in self.rows]
        return sum(counts) / len(counts) if counts else 0.0


def reads_feature(summary: Summary | None, feature: Feature) -> bool:
    """Whether a reader reads a feature's fixture. A feature is about Zarr, not about the zip: the unzipped
    control counts too (a reader that opens no zip at all, such as netCDF-C built without zip support, still
    shows which features it reads); the zip's own features (group "zip") count on the zip alone."""
    if summary is None:
        return False
    return summary.verdict in READS or (feature.group != "zip" and summary.control_verdict in READS)


def feature_specific(model: ReportModel, reader_id: str, fixture: FixtureColumn) -> bool:
    """Whether a reader's failure on a feature fixture is the feature's: it reads some plain (non-feature)
    fixture of the same writer cell and Zarr format (through the zip or its control), and fails none of them for
    the reason it fails this one. A reader that reads none of that writer's output in that format (no Zarr v3),
    or fails its plain fixtures alike (a codec the writer uses), fails for that instead."""
    failing = model.cells.get((reader_id, fixture.name))
    if failing is None:
        return False
    reads_some, same_reason = False, False
    for plain in model.fixtures:
        if plain.writer != fixture.writer or plain.zarr_format != fixture.zarr_format or not plain.written_ok:
            continue
        summary = model.cells.get((reader_id, plain.name))
        if summary is None:
            continue
        if summary.verdict in READS or summary.control_verdict in READS:
            reads_some = True
        if summary.verdict not in READS and summary.reason == failing.reason:
            same_reason = True
    return reads_some and not same_reason


def explained(model: ReportModel, triage: Triage, reader: Reader, feature: Feature, fixture: FixtureColumn,
              version: str | None) -> Known | None:
    """The known upstream issue behind a reader's failure on a feature fixture, where it failed it for the
    feature's sake (feature_specific); None where it read it, or failed for another reason."""
    summary = model.cells.get((reader.id, fixture.name))
    if summary is None or not summary.attempts or reads_feature(summary, feature):
        return None
    if not feature_specific(model, reader.id, fixture):
        return None
    return triage.find(reader.library, feature.id, fixture.name, version)


def build_features(model: ReportModel, triage: Triage) -> FeaturesView:
    features = catalogue()
    by_feature: dict[str, list[FixtureColumn]] = {}
    cannot: dict[str, list[tuple[str, str]]] = {}
    for fixture in model.feature_fixtures:
        if fixture.written_ok:
            by_feature.setdefault(fixture.feature, []).append(fixture)
        else:
            cannot.setdefault(fixture.feature, []).append((fixture.writer_label, fixture.writer_error or "?"))
    versions = reader_versions(model)
    implementations = list(dict.fromkeys(v.implementation for v in versions))
    core = {}
    for v in versions:
        core[v.implementation] = v  # sorted by version: the last one is the newest
    view = FeaturesView(implementations, [], core, cannot_write=cannot,
                        versions={v.reader.id: v.version for v in versions})
    for feature in features.values():
        fixtures = by_feature.get(feature.id, [])
        row = FeatureRow(feature, fixtures, {})
        for impl in implementations:
            # Cells that attempted the feature's fixtures (a kept result from before the feature existed did not).
            cells = [v for v in versions if v.implementation == impl
                     and any((v.reader.id, f.name) in model.cells and model.cells[(v.reader.id, f.name)].attempts
                             for f in fixtures)]
            reading, partly, known, left_out = [], [], None, 0
            for v in cells:
                seen = [(f, reads_feature(model.cells.get((v.reader.id, f.name)), feature)) for f in fixtures]
                own = {f.name for f, ok in seen if not ok and feature_specific(model, v.reader.id, f)}
                # A fixture the reader fails as it fails that writer's plain fixtures (GDAL 3.10's v3, say) says
                # nothing of the feature: left out, unless that leaves nothing (zarr 2 reads no v3 at all).
                counted = [(f, ok) for f, ok in seen if ok or f.name in own] or seen
                left_out += len(seen) - len(counted)
                got = [ok for _, ok in counted]
                if got and all(got):
                    reading.append(v.version)
                elif any(got):
                    partly.append(v.version)
                known = known or next((k for f in fixtures if f.name in own and (k := triage.find(
                    v.reader.library, feature.id, f.name, v.version))), None)
            every = [v.version for v in cells]
            level = "untested" if not fixtures or not cells else (
                "all" if len(reading) == len(every) else "some" if reading or partly else "none")
            text = versions_text(reading, every) if reading or not partly else \
                f"{versions_text(partly, every)}, some fixtures"
            text = text if fixtures else "no writer wrote it"
            row.squares[impl] = Square(impl, feature.id, text, level, reading, partly, known, left_out)
        for fixture in fixtures:
            verdicts = {impl: reads_feature(model.cells.get((c.reader.id, fixture.name)), feature)
                        for impl, c in core.items() if (c.reader.id, fixture.name) in model.cells
                        and model.cells[(c.reader.id, fixture.name)].attempts}
            row.pairs += len(verdicts)
            row.passed += sum(verdicts.values())
            for impl, ok in verdicts.items():
                key = (fixture.implementation, impl)
                passed, pairs = view.pair_scores.get(key, (0, 0))
                view.pair_scores[key] = (passed + ok, pairs + 1)
                if not ok and len(verdicts) > 1 and all(v for other, v in verdicts.items() if other != impl):
                    view.specific.setdefault(impl, []).append((feature.id, fixture.name))
        view.rows.append(row)
    return view
