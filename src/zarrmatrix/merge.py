"""Merge the results of shards (one CI job per cell, each with its own reports folder) into one.

Every result is validated; one cell with two different results is refused, naming both files; a fixture is
copied once, and a fixture that two shards hold differently, or whose manifest differs from the one its writer
recorded, is refused: the merged verdicts would otherwise compare readers against different data. Nothing in
the target that differs from what would be merged is overwritten.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import multiprocessing
import os
import shutil
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .results import INCOMPLETE_SUFFIX, ResultError, load_result_and_json

MANIFEST_SUFFIX = ".manifest.json"

# Past this many files, merge checks results in a process per core (it hands back only a digest per file).
PARALLEL_FILES = 64


def pool_context() -> multiprocessing.context.BaseContext:
    """fork where this process has no thread but its own (the workers start at once, nothing to import);
    spawn otherwise, since a forked child would inherit another thread's locks half-held."""
    return multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")


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


@dataclass(frozen=True)
class _Checked:
    """What merging needs of one validated result file: whose it is, what it holds, what it wrote."""

    path: Path
    cell_id: str
    digest: str
    manifests: tuple[tuple[str, str], ...]   # (fixture, its manifest's arrays as JSON), per fixture written


def _check(path: Path) -> _Checked | str:
    try:
        result, data = load_result_and_json(path)
    except ResultError as exc:
        return str(exc)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    manifests = tuple((rec.fixture, json.dumps(rec.manifest.to_json().get("arrays"), sort_keys=True))
                      for rec in result.of_kind("fixture") if rec.manifest is not None)
    return _Checked(path, result.id, hashlib.sha256(canonical.encode()).hexdigest(), manifests)


def _check_all(paths: list[Path]) -> list[_Checked | str]:
    workers = min(len(paths) // PARALLEL_FILES, os.cpu_count() or 1)
    if workers < 2:
        return [_check(p) for p in paths]
    with ProcessPoolExecutor(workers, mp_context=pool_context()) as pool:
        return list(pool.map(_check, paths, chunksize=max(1, len(paths) // (workers * 4))))


def _collect_results(sources: list[Path]) -> dict[str, _Checked]:
    paths = []
    for source in sources:
        folder = _results_dir(source)
        if not folder.is_dir():
            raise UserError(f"{source}: no such folder of results")
        paths += [p for p in sorted(folder.glob("*.json")) if not p.name.endswith(INCOMPLETE_SUFFIX)]
    found: dict[str, _Checked] = {}
    for item in _check_all(paths):
        if isinstance(item, str):
            raise UserError(f"{item}; nothing was merged")
        if item.cell_id in found and found[item.cell_id].digest != item.digest:
            raise UserError(f"cell {item.cell_id}: two different results, {found[item.cell_id].path} and "
                            f"{item.path}; a cell runs in one shard only; nothing was merged")
        found.setdefault(item.cell_id, item)
    return found


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


def _check_manifests(results: dict[str, _Checked], fixtures: dict[str, Path]) -> None:
    """The manifest each writer recorded is the manifest of the fixture the readers read."""
    for checked in results.values():
        for fixture, arrays in checked.manifests:
            if fixture not in fixtures:
                continue
            on_disk = json.loads(Path(str(fixtures[fixture]) + MANIFEST_SUFFIX).read_text(encoding="utf-8"))
            if json.dumps(on_disk.get("arrays"), sort_keys=True) != arrays:
                raise UserError(f"fixture {fixture}: its manifest differs from the one {checked.cell_id} recorded "
                                "when it wrote it (another run's fixture?); nothing was merged")


def merge(sources: list[Path], into: Path) -> MergeSummary:
    results = _collect_results(sources)
    if not results:
        raise UserError(f"no results in {', '.join(map(str, sources))}")
    fixtures = _collect_fixtures(sources)
    _check_manifests(results, fixtures)
    out_results, out_fixtures = into / "results", into / "fixtures"
    # Refuse before writing anything: a target that already holds something else stays as it is.
    for cell_id, checked in results.items():
        target = out_results / f"{cell_id}.json"
        if target.exists():
            there = _check(target)
            if isinstance(there, str) or there.digest != checked.digest:
                raise UserError(f"{target} already holds another result for {cell_id}; merge into an empty "
                                "folder (nothing was overwritten)")
    for name, zip_path in fixtures.items():
        target = out_fixtures / name
        if target.exists() and not filecmp.cmp(target, zip_path, shallow=False):
            raise UserError(f"{target} already exists and differs from {zip_path}; nothing was overwritten")
    summary = MergeSummary()
    out_results.mkdir(parents=True, exist_ok=True)
    for cell_id, checked in sorted(results.items()):
        target = out_results / f"{cell_id}.json"
        if target.exists():
            summary.already_there += 1
        else:
            # The file as validated, byte for byte.
            shutil.copyfile(checked.path, target)
        summary.results[cell_id] = checked.path
    if fixtures:
        out_fixtures.mkdir(parents=True, exist_ok=True)
    for name, zip_path in sorted(fixtures.items()):
        for src, dst in ((zip_path, out_fixtures / name),
                         (Path(str(zip_path) + MANIFEST_SUFFIX), out_fixtures / (name + MANIFEST_SUFFIX))):
            if not dst.exists():
                shutil.copyfile(src, dst)
        summary.fixtures[name] = zip_path
    return summary
