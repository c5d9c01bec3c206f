"""Which Python a cell runs on: the interpreters this machine has, and the lowest one a release supports.

A release supports a Python minor version when one of its wheels is built for it on this platform (its tags) and
its Requires-Python admits it; a release with no wheel at all (an sdist only) by its Requires-Python alone. The
interpreters are found the ways they are installed here: uv's own discovery, `python3.N` on PATH, and pyenv's
versions folder (whose shims answer only for the global version, so uv alone misses the others). Each candidate
is asked its version; one that does not answer is passed over. `ZARRMATRIX_PYTHONS` (paths, separated by the
path separator) replaces the search: what it names is all there is.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, platform_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from .process import run_process

# The Python minor versions a release's support is read for; the oldest a probe runs under is 3.9.
KNOWN = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
PROBE_TIMEOUT_S = 10
ASK = "import platform, sys; print(platform.python_implementation(), '%d.%d.%d' % sys.version_info[:3])"


@dataclass(frozen=True)
class Interpreter:
    minor: str     # "3.12"
    version: str   # "3.12.1"
    path: str


def minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(p) for p in minor.split("."))


@lru_cache(maxsize=None)
def _host_tags(minor: str) -> frozenset[Tag]:
    """Every wheel tag a CPython of `minor` takes on this platform."""
    version = minor_key(minor)
    platforms = list(platform_tags())
    return frozenset([*cpython_tags(python_version=version, platforms=platforms),
                      *compatible_tags(python_version=version, platforms=platforms)])


def supported_minors(files: list[dict[str, str | None]]) -> list[str]:
    """The minor versions of KNOWN a release supports, from its files: each {"requires": Requires-Python or None,
    "filename": its name or None}. Wheels decide where there are any; an sdist-only release, its Requires-Python."""
    wheels = [f for f in files if (f.get("filename") or "").endswith(".whl")]
    out = []
    for minor in KNOWN:
        for f in wheels or files:
            if not _admits(f.get("requires"), minor):
                continue
            if f in wheels:
                try:
                    tags = parse_wheel_filename(f["filename"])[3]
                except InvalidWheelFilename:
                    continue
                if not tags & _host_tags(minor):
                    continue
            out.append(minor)
            break
    return out


def _admits(requires: str | None, minor: str) -> bool:
    if not requires:
        return True
    try:
        return Version(f"{minor}.0") in SpecifierSet(requires) or Version(f"{minor}.99") in SpecifierSet(requires)
    except InvalidSpecifier:
        return True


def _candidates(named: str | None) -> list[str]:
    """Where to look, in order: `named` alone where given; else the interpreter zarrmatrix runs on, `python3.N`
    on PATH and pyenv's versions (uv's own list comes on top of these, in `_available`)."""
    if named is not None:
        return [p for p in named.split(os.pathsep) if p]
    # The interpreter zarrmatrix runs on, by its base installation where that is a virtual environment.
    found = [getattr(sys, "_base_executable", None) or sys.executable]
    for minor in KNOWN:
        path = shutil.which(f"python{minor}")
        if path:
            found.append(path)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        found += [str(p / "bin" / "python3") for p in sorted(pyenv.iterdir()) if (p / "bin" / "python3").exists()]
    return found


def _uv_listed() -> list[str]:
    """The interpreters uv's own discovery finds."""
    uv = shutil.which("uv")
    if not uv:
        return []
    listed = run_process([uv, "python", "list", "--only-installed", "--output-format", "json"],
                         timeout=PROBE_TIMEOUT_S * 3, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    try:
        return [item["path"] for item in json.loads(listed.stdout or "[]") if item.get("path")]
    except (ValueError, TypeError, KeyError):
        return []


def _ask(candidate: str) -> Interpreter | None:
    """The candidate's CPython version, or None where it does not answer as a CPython of KNOWN."""
    try:
        answer = run_process([candidate, "-c", ASK], timeout=PROBE_TIMEOUT_S)
    except OSError:
        return None
    parts = answer.stdout.split()
    if answer.returncode != 0 or len(parts) != 2 or parts[0] != "CPython":
        return None
    minor = ".".join(parts[1].split(".")[:2])
    return Interpreter(minor, parts[1], candidate) if minor in KNOWN else None


def available() -> dict[str, Interpreter]:
    """One working CPython per minor version (the first found, in the order of the search), among KNOWN."""
    return _available(os.environ.get("ZARRMATRIX_PYTHONS"))


@lru_cache(maxsize=8)
def _available(named: str | None) -> dict[str, Interpreter]:
    # Every candidate is asked at once (a second each, one after another, on every command that loads a
    # matrix); the answers are then taken in the order of the search.
    with ThreadPoolExecutor(max_workers=8) as pool:
        listed = pool.submit(_uv_listed) if named is None else None
        asked: list[Future[Interpreter | None]] = []
        seen: set[str] = set()

        def ask_new(candidates: list[str]) -> None:
            for candidate in candidates:
                real = os.path.realpath(candidate)
                if real not in seen:
                    seen.add(real)
                    asked.append(pool.submit(_ask, candidate))

        ask_new(_candidates(named))
        # uv's list is awaited only once the other candidates are being asked.
        if listed is not None:
            ask_new(listed.result())
        answers = [future.result() for future in asked]
    found: dict[str, Interpreter] = {}
    for interpreter in answers:
        if interpreter is not None and interpreter.minor not in found:
            found[interpreter.minor] = interpreter
    return dict(sorted(found.items(), key=lambda item: minor_key(item[0])))


def describe_needs(supported: list[str]) -> str:
    """">= 3.12", "3.10 to 3.12", or the list, for a message."""
    if not supported:
        return "a Python this platform has no wheel for"
    ordered = sorted(supported, key=minor_key)
    contiguous = [KNOWN.index(m) for m in ordered] == list(range(KNOWN.index(ordered[0]),
                                                                 KNOWN.index(ordered[-1]) + 1))
    if contiguous and ordered[-1] == KNOWN[-1]:
        return f">= {ordered[0]}"
    if contiguous:
        return f"{ordered[0]} to {ordered[-1]}"
    return ", ".join(ordered)
