"""What `check` says of the Zarr features in a user's zip: the catalogue features its metadata uses and, from
the matrix's own results (the feature fixtures), the reader cells that fail each one, with the upstream issue
triage.yaml knows for them."""

from __future__ import annotations

from pathlib import Path

from .features import Feature, catalogue
from .report.features import reader_versions, reads_feature
from .report.model import READS, ReportModel, build_model
from .results import load_results
from .triage import Known, Triage
from .zipfacts import ZipFacts


def features_in(facts: ZipFacts) -> list[str]:
    """Every catalogue feature some array of the zip uses, in catalogue order."""
    found = {f for array in facts.arrays for f in array.get("features") or ()}
    return [f for f in catalogue() if f in found]


def matrix_model(results: Path) -> ReportModel | None:
    """The matrix's results (reports/results), where they hold feature fixtures."""
    if not results.is_dir():
        return None
    merged = load_results(results, light=True)
    model = build_model(merged.results, merged.problems, merged.incomplete)
    return model if model.feature_fixtures else None


def failures(model: ReportModel, feature: str, triage: Triage) -> list[tuple[str, int, int, Known | None]]:
    """(reader label, fixtures it fails, fixtures of the feature, known issue) for every reader cell that fails
    some fixture of `feature`."""
    fixtures = [f for f in model.feature_fixtures if f.feature == feature and f.written_ok]
    spec: Feature = catalogue()[feature]
    versions = {v.reader.id: v.version for v in reader_versions(model)}
    out = []
    for reader in model.readers:
        seen = [(f, model.cells.get((reader.id, f.name))) for f in fixtures]
        failed = [f for f, s in seen if s is not None and s.attempts and not reads_feature(s, spec)]
        if failed:
            known = next((k for f in failed if (k := triage.find(reader.library, feature, f.name,
                                                                 versions.get(reader.id, reader.version)))), None)
            out.append((reader.label, len(failed), sum(s is not None and bool(s.attempts) for _, s in seen), known))
    return out


def feature_report(facts: ZipFacts, model: ReportModel | None, triage: Triage) -> list[str]:
    """Lines for the terminal: each feature the zip uses, and who fails it in the matrix."""
    found = features_in(facts)
    if not found:
        return []
    titles = catalogue()
    lines = [f"features of {Path(facts.path).name}: {', '.join(found)}"]
    for feature in found:
        if model is None:
            lines.append(f"  {feature} ({titles[feature].title}): no matrix results with feature fixtures to compare")
            continue
        failing = failures(model, feature, triage)
        if not failing:
            lines.append(f"  {feature} ({titles[feature].title}): every reader cell of the matrix reads it")
            continue
        named = "; ".join(f"{label} fails {k} of {n}" + (f" (known: {known.label})" if known else "")
                          for label, k, n, known in failing)
        lines.append(f"  {feature} ({titles[feature].title}): {named}")
    return lines


def known_for(model: ReportModel, facts: dict[str, ZipFacts], triage: Triage) -> dict[tuple[str, str], str]:
    """For each failing (reader, user's zip) square: the known issue of a feature the zip uses, as "known: ...". """
    versions = {v.reader.id: v.version for v in reader_versions(model)}
    notes = {}
    for (reader_id, fixture), summary in model.cells.items():
        if fixture not in facts or summary.verdict in READS:
            continue
        reader = next((r for r in model.readers if r.id == reader_id), None)
        if reader is None:
            continue
        for feature in features_in(facts[fixture]):
            known = triage.find(reader.library, feature, fixture, versions.get(reader_id, reader.version))
            if known:
                notes[(reader_id, fixture)] = f"known: {known.label}"
                break
    return notes
