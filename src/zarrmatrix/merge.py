"""Merge the results of shards (one CI job per cell, each with its own reports folder) into one.

Every result is validated; one cell with two different results is refused, naming both files; a fixture is
copied once, and a fixture that two shards hold differently, or whose manifest differs from the one its writer
recorded, is refused: the merged verdicts would otherwise compare readers against different data. Nothing in
the target that differs from what would be merged is overwritten.
"""

from __future__ import annotations

import filecmp
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .records import CellResult
from .results import INCOMPLETE_SUFFIX, ResultError, load_result, write_result

MANIFEST_SUFFIX = ".manifest.json"


@dataclass
class MergeSummary:
    results: dict[str, Path] = field(default_factory=dict)
    fixtures: dict[str, Path] = field(default_factory=dict)
    already_there: int = 0


def _results_dir(source: Path) -> Path:
    return source / "results" if (source / "results").is_dir() else source


def _fixtures_dir(source: Path) -> Path | None:
    folder = source / "fixtures"
    return folder if folder.is_dir() else None


def _same_result(a: CellResult, b: CellResult) -> bool:
    return json.dumps(a.to_json(), sort_keys=True) == json.dumps(b.to_json(), sort_keys=True)


def _collect_results(sources: list[Path]) -> tuple[dict[str, CellResult], dict[str, Path]]:
    results: dict[str, CellResult] = {}
    where: dict[str, Path] = {}
    for source in sources:
        folder = _results_dir(source)
        if not folder.is_dir():
            raise UserError(f"{source}: no such folder of results")
        for path in sorted(folder.glob("*.json")):
            if path.name.endswith(INCOMPLETE_SUFFIX):
                continue
            try:
                result = load_result(path)
            except ResultError as exc:
                raise UserError(f"{exc}; nothing was merged") from exc
            if result.id in results and not _same_result(results[result.id], result):
                raise UserError(f"cell {result.id}: two different results, {where[result.id]} and {path}; "
                                "a cell runs in one shard only; nothing was merged")
            results.setdefault(result.id, result)
            where.setdefault(result.id, path)
    return results, where


def _collect_fixtures(sources: list[Path]) -> dict[str, Path]:
    """Each fixture's zip by name, from the first shard that holds it; the same name held differently fails."""
    found: dict[str, Path] = {}
    for source in sources:
        folder = _fixtures_dir(source)
        if folder is None:
            continue
        for manifest in sorted(folder.glob("*" + MANIFEST_SUFFIX)):
            name = manifest.name[: -len(MANIFEST_SUFFIX)]
            zip_path = folder / name
            if not zip_path.is_file():
                raise UserError(f"{manifest}: the manifest of a fixture that is not there ({zip_path})")
            if name in found:
                other = found[name]
                if not (filecmp.cmp(other, zip_path, shallow=False) and filecmp.cmp(
                        Path(str(other) + MANIFEST_SUFFIX), manifest, shallow=False)):
                    raise UserError(f"fixture {name}: {other} and {zip_path} differ; shards must read the fixtures "
                                    "one writer job wrote; nothing was merged")
                continue
            found[name] = zip_path
    return found


def _check_manifests(results: dict[str, CellResult], fixtures: dict[str, Path]) -> None:
    """The manifest each writer recorded is the manifest of the fixture the readers read."""
    for result in results.values():
        for rec in result.of_kind("fixture"):
            if rec.manifest is None or rec.fixture not in fixtures:
                continue
            on_disk = json.loads(Path(str(fixtures[rec.fixture]) + MANIFEST_SUFFIX).read_text(encoding="utf-8"))
            recorded = json.loads(json.dumps(rec.manifest.to_json()))
            if on_disk.get("arrays") != recorded.get("arrays"):
                raise UserError(f"fixture {rec.fixture}: its manifest differs from the one {result.id} recorded when "
                                "it wrote it (another run's fixture?); nothing was merged")


def merge(sources: list[Path], into: Path) -> MergeSummary:
    results, where = _collect_results(sources)
    if not results:
        raise UserError(f"no results in {', '.join(map(str, sources))}")
    fixtures = _collect_fixtures(sources)
    _check_manifests(results, fixtures)
    out_results, out_fixtures = into / "results", into / "fixtures"
    # Refuse before writing anything: a target that already holds something else stays as it is.
    for cell_id, result in results.items():
        target = out_results / f"{cell_id}.json"
        if target.exists():
            try:
                same = _same_result(load_result(target), result)
            except ResultError:
                same = False
            if not same:
                raise UserError(f"{target} already holds another result for {cell_id}; merge into an empty "
                                "folder (nothing was overwritten)")
    for name, zip_path in fixtures.items():
        target = out_fixtures / name
        if target.exists() and not filecmp.cmp(target, zip_path, shallow=False):
            raise UserError(f"{target} already exists and differs from {zip_path}; nothing was overwritten")
    summary = MergeSummary()
    out_results.mkdir(parents=True, exist_ok=True)
    for cell_id, result in sorted(results.items()):
        target = out_results / f"{cell_id}.json"
        if target.exists():
            summary.already_there += 1
        else:
            write_result(target, result)
        summary.results[cell_id] = where[cell_id]
    if fixtures:
        out_fixtures.mkdir(parents=True, exist_ok=True)
    for name, zip_path in sorted(fixtures.items()):
        for src, dst in ((zip_path, out_fixtures / name),
                         (Path(str(zip_path) + MANIFEST_SUFFIX), out_fixtures / (name + MANIFEST_SUFFIX))):
            if not dst.exists():
                shutil.copyfile(src, dst)
        summary.fixtures[name] = zip_path
    return summary
