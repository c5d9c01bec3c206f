"""One JSON file per cell: its schema, its atomic write, and the merge of many."""

from __future__ import annotations

import json
import os
import platform
import socket
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .libraries import LIBRARIES
from .records import CellResult, CellStatus, Verdict
from .safefs import NAME_SCHEMA_PATTERN, UnsafeInput, read_text, umask

SCHEMA_VERSION = 2


def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 knew no probe digest: its records depend on probes nobody can name now."""
    return dict(data, schema_version=2, probe_digest=None)


# Each older schema version's loader brings a result to the current one (asv keeps one per API version).
UPGRADES = {1: _from_v1}
# Beside a cell's result: what a run that failed or was interrupted got, which never replaces a complete one.
INCOMPLETE_SUFFIX = ".incomplete.json"
# A result holds every read's per-array checksums; the largest real ones are a few MB.
RESULT_MAX_BYTES = 256 << 20


class ResultError(Exception):
    """A result file that is not what the schema promises."""


def schema() -> dict[str, Any]:
    """The shipped schema, its enums taken from the library table and the record enums."""
    data = json.loads(resources.files("zarrmatrix.schemas").joinpath("results.schema.json").read_text())
    data["properties"]["status"]["enum"] = [s.value for s in CellStatus]
    data["$defs"]["verdict"]["enum"] = [v.value for v in Verdict]
    data["$defs"]["read"]["properties"]["library"]["enum"] = list(LIBRARIES)
    data["$defs"]["name"]["pattern"] = NAME_SCHEMA_PATTERN
    return data


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


@lru_cache(maxsize=1)
def _fast_validator() -> Any:
    """The same schema in jsonschema-rs, a hundred times faster: a thousand results validate in a fraction of a
    second instead of half a minute. It only says yes or no; jsonschema says what is wrong."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs.Draft202012Validator(schema())


def validate(result: dict[str, Any], source: str) -> None:
    fast = _fast_validator()
    if fast is not None and fast.is_valid(result):
        return
    errors = sorted(_validator().iter_errors(result), key=lambda e: len(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ResultError(f"{source}: {where}: {first.message[:300]}")


def host_facts() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def results_folder(path: Path) -> Path:
    """A reports folder's results/, or the folder itself where it holds the result files."""
    return path / "results" if (path / "results").is_dir() else path


def write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a
    file and a crash never leaves one. The file gets the mode a plain open() would
    (0666 less the umask), not mkstemp's private 0600: reports are for sharing.
    `durable=False` skips the fsync, for files derived from others (badges)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_result(path: Path, result: CellResult) -> None:
    """Validate, then write atomically."""
    data = result.to_json()
    validate(data, str(path))
    write_text(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False))


def load_result(path: Path) -> CellResult:
    """One result file, validated and typed; ResultError names the file and what is wrong."""
    return load_result_and_json(path)[0]


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number (a timing or a size must be finite)")


def loads_strict(text: str) -> Any:
    """JSON as the standard has it: NaN and Infinity, which Python's json takes, are refused."""
    return json.loads(text, parse_constant=_no_constant)


def load_result_and_json(path: Path, *, follow: bool = True) -> tuple[CellResult, dict[str, Any]]:
    """One result file, validated and typed, and the JSON it was read from. Only a regular file is read
    (`follow=False`: not through a link either)."""
    try:
        data = loads_strict(read_text(path, limit=RESULT_MAX_BYTES, follow=follow))
    except UnsafeInput as exc:
        raise ResultError(f"not a readable result: {exc}") from exc
    except (OSError, ValueError, RecursionError) as exc:  # unreadable, not JSON, NaN, nested too deep
        raise ResultError(f"{path}: not a readable result: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise ResultError(f"{path}: not a result: the JSON is a {type(data).__name__}, not an object")
    try:
        validate(data, str(path))
        current = data
        while current["schema_version"] in UPGRADES:
            current = UPGRADES[current["schema_version"]](current)
        return CellResult.from_json(current), data
    except RecursionError as exc:
        raise ResultError(f"{path}: nested too deep to be a result") from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise ResultError(f"{path}: not a result this version can read: {type(exc).__name__}: {exc}") from exc


def read_result(path: Path) -> CellResult | None:
    """A cell's previous result, or None where there is none (or none that is valid)."""
    try:
        return load_result(path)
    except ResultError:
        return None


def longest_first(folder: Path, cell_ids: list[str]) -> list[str]:
    """`cell_ids`, the cells whose reads took longest in their last result first (the others after, in their
    order): started first, the slow cells overlap with the rest instead of running on alone at the end."""
    took = {}
    for cell_id in cell_ids:
        result = read_result(folder / f"{cell_id}.json")
        took[cell_id] = sum(r.seconds for r in result.of_kind("read")) if result else 0.0
    return sorted(cell_ids, key=lambda cell_id: -took[cell_id])


@dataclass(frozen=True)
class Merged:
    results: list[CellResult]
    problems: list[str]
    incomplete: list[str]


def _load_light(path: Path) -> CellResult | str:
    """One result for a report, validated whole, without its reads' per-array checksums (which no page
    shows, and which are most of a result's bytes); or why it was skipped."""
    try:
        result = load_result(path)
    except ResultError as exc:
        return f"skipped: {exc}"
    for record in result.of_kind("read"):
        record.arrays = []
    return result


def load_results(folder: Path, *, light: bool = False) -> Merged:
    """Every valid result below `folder`, sorted by cell id; invalid files are
    reported, never silently merged. Incomplete results are named, not merged:
    the matrix shows each cell's last complete result. `light`: for reports, without
    the reads' per-array checksums."""
    results, problems, incomplete = [], [], []
    paths = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(INCOMPLETE_SUFFIX):
            incomplete.append(f"{path}: a run that failed or was interrupted left this beside the cell's last "
                              "complete result, which the report shows")
        else:
            paths.append(path)
    # One process: handing typed results back from worker processes costs what parsing them does.
    loaded = [_load_light(p) if light else _load_or_why(p) for p in paths]
    for item in loaded:
        if isinstance(item, str):
            problems.append(item)
        else:
            results.append(item)
    results.sort(key=lambda r: r.id)
    return Merged(results, problems, incomplete)


def _load_or_why(path: Path) -> CellResult | str:
    try:
        return load_result(path)
    except ResultError as exc:
        return f"skipped: {exc}"
