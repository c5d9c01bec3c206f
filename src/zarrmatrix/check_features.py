"""What `check` says of the Zarr features in a user's zip: the catalogue features its metadata uses and, from
the matrix's own results (the feature fixtures), the reader cells that fail each one, with the upstream issue
triage.yaml knows for them."""

from __future__ import annotations

from pathlib import Path

from .features import Feature, catalogue
from .report.features import explained, feature_specific, reader_versions, reads_feature
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


def failures(model: ReportModel, feature: str, triage: Triage) -> tuple[list[tuple[str, int, int, Known | None]], int]:
    """(reader label, fixtures it fails, fixtures of the feature, known issue) for every reader cell that fails
    some fixture of `feature` for the feature's sake (see feature_specific); and how many others fail it only
    where they fail the writer's plain fixtures too."""
    fixtures = [f for f in model.feature_fixtures if f.feature == feature and f.written_ok]
    spec: Feature = catalogue()[feature]
    versions = {v.reader.id: v.version for v in reader_versions(model)}
    out, elsewhere = [], 0
    for reader in model.readers:
        seen = [(f, model.cells.get((reader.id, f.name))) for f in fixtures]
        failed = [f for f, s in seen if s is not None and s.attempts and not reads_feature(s, spec)]
        own = [f for f in failed if feature_specific(model, reader.id, f)]
        if failed and not own:
            elsewhere += 1
        if own:
            known = next((k for f in own if (k := triage.find(reader.library, feature, f.name,
                                                              versions.get(reader.id, reader.version)))), None)
            out.append((reader.label, len(own), sum(s is not None and bool(s.attempts) for _, s in seen), known))
    return out, elsewhere


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
        failing, elsewhere = failures(model, feature, triage)
        others = (f" ({elsewhere} more fail it where they fail the same writer's plain fixtures too)"
                  if elsewhere else "")
        if not failing:
            lines.append(f"  {feature} ({titles[feature].title}): no reader cell fails it for its own sake{others}")
            continue
        named = "; ".join(f"{label} fails {k} of {n}" + (f" (known: {known.label})" if known else "")
                          for label, k, n, known in failing)
        lines.append(f"  {feature} ({titles[feature].title}): {named}{others}")
    return lines


def known_for(model: ReportModel, facts: dict[str, ZipFacts], triage: Triage,
              reference: ReportModel | None) -> dict[tuple[str, str], str]:
    """For each (reader, user's zip) square that failed in an attempt: the known issue of a feature the zip uses,
    as "known: ...", where the matrix's results (`reference`) show the same reader cell failing that feature for
    the feature's sake (see failures), with the same verdict (an error is not explained by a known mismatch)."""
    if reference is None:
        return {}
    versions = {v.reader.id: v.version for v in reader_versions(reference)}
    found: dict[tuple[str, str, str], Known] = {}
    for feature in {f for fact in facts.values() for f in features_in(fact)}:
        fixtures = [f for f in reference.feature_fixtures if f.feature == feature and f.written_ok]
        for reader in reference.readers:
            for f in fixtures:
                known = explained(reference, triage, reader, catalogue()[feature], f,
                                  versions.get(reader.id, reader.version))
                if known:
                    verdict = reference.cells[(reader.id, f.name)].verdict.value
                    found.setdefault((reader.id, feature, verdict), known)
    notes = {}
    for (reader_id, fixture), summary in model.cells.items():
        if fixture not in facts or summary.verdict in READS or not summary.attempts:
            continue
        for feature in features_in(facts[fixture]):
            known = found.get((reader_id, feature, summary.verdict.value))
            if known:
                notes[(reader_id, fixture)] = f"known: {known.label}"
                break
    return notes
