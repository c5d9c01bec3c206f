"""Versions as rules resolved against the package index, so that a matrix tracks the releases instead of going
stale: `{latest: 3}` is the newest release of each of the last three minor series, `{from: "2.13", every: minor}`
the newest release of every minor series since 2.13.

A rule is resolved when the matrix is loaded, from PyPI's JSON API (npm's registry for Node cells), cached for a
day, and recorded in every cell. `zarrmatrix lock` freezes the resolutions into a lock file beside the matrix,
and a run with `--locked` (or ZARRMATRIX_LOCKED=1) takes them from there and asks no index at all. Offline, a rule
with nothing cached and nothing locked is an error, never an empty matrix.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from .pythons import KNOWN, supported_minors
from .results import write_text
from .safefs import UnsafeInput, read_text
from .tls import ca_bundle

# An index cache entry or a lock file: a package's release list is some hundred kB.
CACHE_MAX_BYTES = 64 << 20

CACHE_TTL_S = 24 * 3600
FETCH_TIMEOUT_S = 30
LOCK_SUFFIX = ".lock.json"


class ResolveError(Exception):
    """A rule could not be resolved; the message says why and what to do."""


@dataclass(frozen=True)
class Rule:
    """A parsed `versions` rule."""

    latest: int | None = None
    since: str | None = None
    until: str | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Rule:
        if "latest" in raw:
            return cls(latest=int(raw["latest"]))
        return cls(since=str(raw["from"]), until=str(raw["to"]) if raw.get("to") is not None else None)

    def to_json(self) -> dict[str, Any]:
        if self.latest is not None:
            return {"latest": self.latest}
        return {"from": self.since, **({"to": self.until} if self.until else {}), "every": "minor"}

    def __str__(self) -> str:
        if self.latest is not None:
            return f"{{latest: {self.latest}}}"
        until = f', to: "{self.until}"' if self.until else ""
        return f'{{from: "{self.since}"{until}, every: minor}}'

    def select(self, versions: list[str]) -> list[str]:
        """The newest final release of each minor series the rule names, oldest first."""
        newest: dict[tuple[int, int], Version] = {}
        for text in versions:
            try:
                v = Version(text)
            except InvalidVersion:
                continue
            if v.is_prerelease or v.is_devrelease:
                continue
            series = (v.major, v.minor)
            if series not in newest or v > newest[series]:
                newest[series] = v
        series = sorted(newest)
        if self.latest is not None:
            chosen = series[-self.latest:]
        else:
            floor = Version(self.since)
            ceiling = Version(self.until) if self.until else None
            chosen = [s for s in series if s >= (floor.major, floor.minor)
                      and (ceiling is None or s <= (ceiling.major, ceiling.minor))]
        return [str(newest[s]) for s in chosen]


@dataclass(frozen=True)
class Resolution:
    registry: str           # "pypi" or "npm"
    package: str
    python: str             # the cell's Python, which a release must support ("" for npm)
    rule: Rule
    versions: tuple[str, ...]
    source: str             # "index", "cache" or "lock"
    resolved_at: str

    def key(self) -> str:
        return lock_key(self.registry, self.package, self.python, self.rule)

    def to_json(self) -> dict[str, Any]:
        return {"registry": self.registry, "package": self.package, "python": self.python,
                "rule": self.rule.to_json(), "versions": list(self.versions), "source": self.source,
                "resolved_at": self.resolved_at}

    def describe(self) -> str:
        for_python = f" for Python {self.python}" if self.python else ""
        return (f"{self.package} {self.rule}{for_python} -> {', '.join(self.versions) or 'nothing'} "
                f"({self.registry}, from the {self.source}, resolved {self.resolved_at})")


def lock_key(registry: str, package: str, python: str, rule: Rule) -> str:
    for_python = f" python{python}" if python else ""
    return f"{registry}:{package}{for_python} {json.dumps(rule.to_json(), sort_keys=True)}"


def as_files(entries: list[Any]) -> list[dict[str, str | None]]:
    """A release's files as {"requires", "filename"}; a bare string (or None) is a Requires-Python alone, as the
    index caches of earlier versions hold them."""
    return [e if isinstance(e, dict) else {"requires": e, "filename": None} for e in entries]


def installable(releases: dict[str, list[Any]], python: str) -> list[str]:
    """The releases with a file that supports `python` (every release where `python` is "")."""
    if not python:
        return list(releases)
    return [version for version, files in releases.items() if python in supported_minors(as_files(files))]


def _ssl_context() -> ssl.SSLContext:
    # Behind a TLS-intercepting proxy the host's bundle is the one to trust, as pip's PIP_CERT is.
    bundle = ca_bundle()
    return ssl.create_default_context(cafile=str(bundle) if bundle else None)


def index_url(registry: str, package: str) -> str:
    if registry == "npm":
        base = os.environ.get("ZARRMATRIX_NPM_REGISTRY", "https://registry.npmjs.org")
        return f"{base.rstrip('/')}/{urllib.parse.quote(package, safe='@')}"
    base = os.environ.get("ZARRMATRIX_PYPI_JSON", "https://pypi.org/pypi")
    return f"{base.rstrip('/')}/{package}/json"


def fetch_releases(registry: str, package: str) -> dict[str, list[Any]]:
    """Every release the index offers, with the Requires-Python and the name of each of its files that is not
    yanked (npm: every release not deprecated, with no Python constraint)."""
    request = urllib.request.Request(index_url(registry, package), headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S, context=_ssl_context()) as response:
        data = json.load(response)
    if registry == "npm":
        return {v: [None] for v, meta in (data.get("versions") or {}).items() if not (meta or {}).get("deprecated")}
    releases = {}
    for version, files in (data.get("releases") or {}).items():
        kept = [{"requires": f.get("requires_python"), "filename": f.get("filename")}
                for f in files if not f.get("yanked")]
        if kept:
            releases[version] = kept
    return releases


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("ZARRMATRIX_INDEX_CACHE") or Path(base) / "zarrmatrix" / "index")


def lock_path(matrix_path: Path) -> Path:
    return matrix_path.with_name(matrix_path.stem + LOCK_SUFFIX)


class Resolver:
    """Resolves rules, and the Pythons each release supports, from the lock file, else a fresh cache, else the
    index, else an older cache.

    `locked=True` takes everything from the lock file and asks no index (an entry it lacks is an error);
    `locked=None`, the default, takes what the lock file holds and asks the index for the rest; `locked=False`
    (with `refresh`, for `zarrmatrix lock --upgrade`) ignores the lock file and asks the index anew."""

    def __init__(self, matrix_path: Path, *, locked: bool | None = None, refresh: bool = False):
        self.matrix_path = matrix_path
        self.locked = locked
        self.refresh = refresh
        self.resolutions: list[Resolution] = []
        # (registry, package) -> version -> the Python minor versions it supports, for the lock file.
        self.pythons: dict[tuple[str, str], dict[str, list[str]]] = {}
        self._lock: dict[str, Any] | None = None
        self._releases: dict[tuple[str, str], tuple[dict[str, list[Any]], str, str]] = {}

    def _lock_file(self) -> dict[str, Any]:
        if self._lock is None:
            path = lock_path(self.matrix_path)
            if self.locked is False or (self.locked is None and not path.exists()):
                self._lock = {"resolved": {}, "pythons": {}}
            else:
                self._lock = read_lock(path)
        return self._lock

    def resolve(self, registry: str, package: str, rule: Rule, python: str = "") -> Resolution:
        """`rule` over the releases of `package` that support `python` (every release where it is "")."""
        key = lock_key(registry, package, python, rule)
        entry = self._lock_file()["resolved"].get(key)
        if entry is not None:
            found = Resolution(registry, package, python, rule, tuple(entry["versions"]), "lock",
                               entry["resolved_at"])
        elif self.locked:
            raise ResolveError(f"{lock_path(self.matrix_path)} has no resolution of {package} {rule}; "
                               "run `zarrmatrix lock` again")
        else:
            releases, source, when = self.releases(registry, package, f"the rule {rule}")
            found = Resolution(registry, package, python, rule, tuple(rule.select(installable(releases, python))),
                               source, when)
        if not found.versions:
            raise ResolveError(f"{package} {rule} matches no release on the index"
                               + (f" for Python {python}" if python else ""))
        if found not in self.resolutions:
            self.resolutions.append(found)
        return found

    def supported_pythons(self, package: str, version: str) -> list[str]:
        """The Python minor versions (of pythons.KNOWN) that `package`'s release `version` has a file for."""
        known = self.pythons.get(("pypi", package), {}).get(version)
        if known is not None:
            return known
        locked = self._lock_file()["pythons"].get(f"pypi:{package}", {}).get(version)
        if locked is not None:
            found = list(locked)
        elif self.locked:
            raise ResolveError(f"{lock_path(self.matrix_path)} does not say which Pythons {package} {version} "
                               "supports; run `zarrmatrix lock` again")
        else:
            releases, _, _ = self.releases("pypi", package, f"the Python that {package} {version} needs")
            if version not in releases:
                raise ResolveError(f"{package} {version} is not on the index ({index_url('pypi', package)})")
            found = supported_minors(as_files(releases[version]))
        self.pythons.setdefault(("pypi", package), {})[version] = found
        return found

    def releases(self, registry: str, package: str, why: str) -> tuple[dict[str, list[Any]], str, str]:
        """(releases, "cache" or "index", when): a fresh cache, else the index, else an older cache."""
        if (registry, package) in self._releases:
            return self._releases[(registry, package)]
        cached = cache_dir() / f"{registry}-{package.replace('/', '+')}.json"
        stale = read_cache(cached)
        if stale and not self.refresh and time.time() - stale.get("fetched", 0) < CACHE_TTL_S:
            found = (stale["releases"], "cache", stale["fetched_at"])
        else:
            try:
                releases = fetch_releases(registry, package)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                if not stale:
                    raise ResolveError(f"{why} needs {package}'s releases from {index_url(registry, package)}, "
                                       f"which cannot be reached ({exc}), and nothing is cached or locked; run "
                                       "once online, or `zarrmatrix lock` where the index answers and then "
                                       "--locked") from exc
                found = (stale["releases"], "cache", stale["fetched_at"])
            else:
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                write_text(cached, json.dumps({"fetched": time.time(), "fetched_at": now, "releases": releases}),
                           durable=False)
                found = (releases, "index", now)
        self._releases[(registry, package)] = found
        return found


def read_cache(path: Path) -> dict[str, Any] | None:
    """An index cache entry, or None where there is none or it is not one (torn, edited, a FIFO): the
    index is then asked again, as if nothing were cached."""
    try:
        data = json.loads(read_text(path, limit=CACHE_MAX_BYTES))
    except (OSError, ValueError, RecursionError, UnsafeInput):
        return None
    if not (isinstance(data, dict) and isinstance(data.get("releases"), dict)
            and isinstance(data.get("fetched"), (int, float)) and isinstance(data.get("fetched_at"), str)):
        return None
    for files in data["releases"].values():
        if not isinstance(files, list) or not all(
                f is None or isinstance(f, str) or (isinstance(f, dict) and all(
                    v is None or isinstance(v, str) for v in f.values())) for f in files):
            return None
    return data


def _is_rule(raw: Any) -> bool:
    """`raw` is a rule as `Rule.to_json` writes it (`zarrmatrix lock` prints each moved rule)."""
    if not isinstance(raw, dict):
        return False
    try:
        Rule.parse(raw)
    except (KeyError, TypeError, ValueError):
        return False
    return True


def read_lock(path: Path) -> dict[str, Any]:
    """The lock file's resolutions, each checked: a torn or edited lock file is named with the key that is
    wrong, never a traceback."""
    if not path.exists():
        raise ResolveError(f"--locked, but there is no lock file {path}; run `zarrmatrix lock` first")
    try:
        data = json.loads(read_text(path, limit=CACHE_MAX_BYTES))
    except UnsafeInput as exc:
        raise ResolveError(f"{exc} (the lock file)") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ResolveError(f"{path}: not a readable lock file: {type(exc).__name__}: {str(exc)[:200]}; run "
                           "`zarrmatrix lock` again") from None
    resolved = data.get("resolved") if isinstance(data, dict) else None
    if not isinstance(resolved, dict):
        raise ResolveError(f"{path}: resolved: expected an object of resolutions; run `zarrmatrix lock` again")
    for key, entry in resolved.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("versions"), list)
                and all(isinstance(v, str) and v == v.strip() and v for v in entry["versions"])
                and isinstance(entry.get("resolved_at"), str) and isinstance(entry.get("package"), str)
                and _is_rule(entry.get("rule"))):
            raise ResolveError(f"{path}: resolved.{key}: expected 'versions' (a list of versions), "
                               "'resolved_at', 'package' and 'rule'; run `zarrmatrix lock` again")
    pythons = data.get("pythons", {})
    if not isinstance(pythons, dict):
        raise ResolveError(f"{path}: pythons: expected an object; run `zarrmatrix lock` again")
    for package, versions in pythons.items():
        if not isinstance(versions, dict) or not all(
                isinstance(minors, list) and all(m in KNOWN for m in minors) for minors in versions.values()):
            raise ResolveError(f"{path}: pythons.{package}: expected each version's Python minor versions "
                               f"(of {', '.join(KNOWN)}); run `zarrmatrix lock` again")
    return {"resolved": resolved, "pythons": pythons}


def write_lock(matrix_path: Path, resolutions: list[Resolution],
               pythons: dict[tuple[str, str], dict[str, list[str]]]) -> Path:
    path = lock_path(matrix_path)
    body = {"schema_version": 1, "matrix": matrix_path.name,
            "resolved": {r.key(): {"package": r.package, "registry": r.registry, "python": r.python,
                                   "rule": r.rule.to_json(), "versions": list(r.versions),
                                   "resolved_at": r.resolved_at} for r in resolutions},
            "pythons": {f"{registry}:{package}": dict(sorted(versions.items()))
                        for (registry, package), versions in sorted(pythons.items())}}
    write_text(path, json.dumps(body, indent=1, sort_keys=True) + "\n")
    return path


def lock_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What moved between two lock files, one line each: a rule's versions, a release's Pythons."""
    lines = []
    for key in sorted(set(before["resolved"]) | set(after["resolved"])):
        old, new = before["resolved"].get(key), after["resolved"].get(key)
        if old is None or new is None or old["versions"] != new["versions"]:
            entry = new or old
            was = ", ".join(old["versions"]) if old else "(not locked)"
            now = ", ".join(new["versions"]) if new else "(no longer used)"
            lines.append(f"{entry['package']} {Rule.parse(entry['rule'])}: {was} -> {now}")
    for package in sorted(set(before["pythons"]) | set(after["pythons"])):
        old, new = before["pythons"].get(package, {}), after["pythons"].get(package, {})
        for version in sorted(set(old) | set(new)):
            if old.get(version) != new.get(version) and old.get(version) is not None and new.get(version) is not None:
                lines.append(f"{package.split(':', 1)[1]} {version}: Python {', '.join(old[version])} -> "
                             f"{', '.join(new[version])}")
    return lines
