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

SCHEMA_VERSION = 1


class ResultError(Exception):
    """A result file that is not what the schema promises."""


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("zarrmatrix.schemas").joinpath("results.schema.json").read_text()
    return jsonschema.Draft202012Validator(json.loads(text))


def validate(result: dict[str, Any], source: str) -> None:
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


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Validate, then write through a temporary file and a rename, so a reader
    never sees half a file and a crash never leaves one."""
    validate(result, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Merged:
    results: list[dict[str, Any]]
    problems: list[str]


def load_results(folder: Path) -> Merged:
    """Every valid result below `folder`, sorted by cell id; invalid files are
    reported, never silently merged."""
    results, problems = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            validate(data, str(path))
        except (OSError, json.JSONDecodeError, ResultError) as exc:
            problems.append(f"{path}: skipped: {exc}")
            continue
        results.append(data)
    results.sort(key=lambda r: r["cell"]["id"])
    return Merged(results, problems)
