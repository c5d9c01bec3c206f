"""Merge the results of shards (one CI job per cell, each with its own reports folder) into one.

Every result is validated; one cell with two different results is refused, naming both files; a fixture is
copied once, and a fixture that two shards hold differently, or whose manifest differs from the one its writer
recorded, is refused: the merged verdicts would otherwise compare readers against different data. Nothing in
the target that differs from what would be merged is overwritten.

Shards are input like any other (downloads, a fork's pull request): every file is validated before the first
write, names come from the id grammar, links are refused in the shards and in the target, and each file is
copied through a temporary file linked into place, under the target's reports lock.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .fixtures import MANIFEST_SUFFIX, read_manifest
from .lock import ReportsLock
from .results import INCOMPLETE_SUFFIX, ResultError, load_result_and_json, results_folder
from .safefs import UnsafeInput, check_name, copy_new, not_own_folder, not_regular

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
        result, data = load_result_and_json(path, follow=False)
    except ResultError as exc:
        return str(exc)
    if path.name != f"{result.id}.json":
        return f"{path}: holds the result of cell {result.id}, whose file is {result.id}.json"
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
        folder = results_folder(source)
        if not folder.is_dir():
            raise UserError(f"{source}: no such folder of results")
        paths += [p for p in sorted(folder.glob("*.json")) if not p.name.endswith(INCOMPLETE_SUFFIX)
                  and not p.name.startswith(".")]
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
            try:
                check_name(name, "fixture")
            except UnsafeInput as exc:
                raise UserError(f"{manifest}: {exc}; nothing was merged") from None
            for path in (manifest, zip_path):
                why = "is a symbolic link" if path.is_symlink() else not_regular(path)
                if why:
                    raise UserError(f"{path}: {why}; a shard's fixtures are regular files; nothing was merged")
            read_manifest(manifest, follow=False)
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
            on_disk = read_manifest(Path(str(fixtures[fixture]) + MANIFEST_SUFFIX), follow=False)
            if json.dumps(on_disk.arrays, sort_keys=True) != arrays:
                raise UserError(f"fixture {fixture}: its manifest differs from the one {checked.cell_id} recorded "
                                "when it wrote it (another run's fixture?); nothing was merged")


def merge(sources: list[Path], into: Path) -> MergeSummary:
    results = _collect_results(sources)
    if not results:
        raise UserError(f"no results in {', '.join(map(str, sources))}")
    fixtures = _collect_fixtures(sources)
    _check_manifests(results, fixtures)
    out_results, out_fixtures = into / "results", into / "fixtures"
    for folder in (into, out_results, out_fixtures):
        if why := not_own_folder(folder):
            raise UserError(f"{folder}: {why}; merge writes only into real folders (nothing was written)")
    with ReportsLock(into):
        return _merge_into(results, fixtures, out_results, out_fixtures)


def _occupied(target: Path) -> bool:
    """Something is at `target`: a file, a folder, or a link (even one to nothing)."""
    return target.is_symlink() or target.exists()


def _merge_into(results: dict[str, _Checked], fixtures: dict[str, Path], out_results: Path,
                out_fixtures: Path) -> MergeSummary:
    # Refuse before writing anything: a target that already holds something else stays as it is.
    for cell_id, checked in results.items():
        target = out_results / f"{cell_id}.json"
        if _occupied(target):
            there = _check(target)
            if isinstance(there, str) or there.digest != checked.digest:
                raise UserError(f"{target} already holds another result for {cell_id}; merge into an empty "
                                "folder (nothing was overwritten)")
    for name, zip_path in fixtures.items():
        for src, dst in _fixture_files(zip_path, out_fixtures / name):
            if _occupied(dst) and (dst.is_symlink() or not dst.is_file()
                                   or not filecmp.cmp(dst, src, shallow=False)):
                raise UserError(f"{dst} already exists and differs from {src}; nothing was overwritten")
    summary = MergeSummary()
    out_results.mkdir(parents=True, exist_ok=True)
    for cell_id, checked in sorted(results.items()):
        target = out_results / f"{cell_id}.json"
        if _occupied(target):
            summary.already_there += 1
        else:
            # The file as validated, byte for byte.
            copy_new(checked.path, target)
        summary.results[cell_id] = checked.path
    if fixtures:
        out_fixtures.mkdir(parents=True, exist_ok=True)
    for name, zip_path in sorted(fixtures.items()):
        for src, dst in _fixture_files(zip_path, out_fixtures / name):
            if not _occupied(dst):
                copy_new(src, dst)
        summary.fixtures[name] = zip_path
    return summary


def _fixture_files(zip_path: Path, target: Path) -> tuple[tuple[Path, Path], ...]:
    """(source, target) for a fixture's zip and its manifest."""
    return ((zip_path, target), (Path(str(zip_path) + MANIFEST_SUFFIX), Path(str(target) + MANIFEST_SUFFIX)))
