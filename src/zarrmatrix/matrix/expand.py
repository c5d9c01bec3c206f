"""One matrix.yaml entry into cells: its roles (and its newest and oldest versions' own), its pins in its
runtime's grammar, its versions (a list, or a rule resolved against the index or the lock), and the Python each
cell runs on."""

from __future__ import annotations

import re
import sys
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from ruamel.yaml.comments import CommentedMap

from .. import pythons
from ..libraries import LIBRARIES, benchers, sharded_readers, writers
from ..runtimes import PinError, Runtime
from ..safefs import UnsafeInput, check_name
from ..versions import ResolveError, Resolver, Rule
from .model import Cell, ImageSpec

# A version becomes a requirement and a file name: no white space anywhere (packaging would strip it).
_PLAIN_VERSION = re.compile(r"[0-9A-Za-z.!+_-]+")


def _sort_key(version: Any) -> Version:
    try:
        return Version(str(version))
    except InvalidVersion:
        return Version("0")


def _requirements(entry: CommentedMap, at: list[Any], runtime: Runtime, fail, resolver: Resolver) -> list[str]:
    """The entry's pins as requirements in its runtime's grammar; {latest: 1} is the newest release, resolved
    (and locked) like a versions rule."""
    out = []
    for name, spec in (entry.get("pins") or {}).items():
        where = at + ["pins", name]
        if isinstance(spec, dict):
            try:
                found = resolver.resolve(runtime.registry, str(name), Rule.parse(spec))
            except ResolveError as exc:
                raise fail(where, str(exc)) from exc
            spec = runtime.exact(found.versions[-1])
        try:
            out.append(runtime.pin(str(name), str(spec)))
        except PinError as exc:
            raise fail(where, str(exc)) from None
    return out


def python_request(entry: CommentedMap, defaults: dict) -> str:
    return str(entry.get("python") or defaults["python"])


def _python(lib, version: str | None, requirements: list[str], request: str, at: list[Any], fail,
            resolver: Resolver) -> dict[str, Any]:
    """The Cell fields that say which Python it runs on. `auto`: the lowest Python here that every release
    the cell pins exactly (the library's and each `==` pin's) supports, read from the index (or the lock)."""
    if not lib.runtime.chooses_interpreter or lib.needs_image:
        return {"python": None, "python_request": request}
    found = pythons.available()
    if request != "auto":
        here = found.get(request)
        return {"python": request, "python_request": request, "python_path": here.path if here else None}
    supported = list(pythons.KNOWN)
    needs, unknown = [], []
    for requirement in requirements:
        pinned = Requirement(requirement)
        exact = [s.version for s in pinned.specifier if s.operator == "=="]
        if not exact or "*" in exact[0]:
            continue
        try:
            own = resolver.supported_pythons(pinned.name, exact[0])
        except ResolveError as exc:
            if resolver.locked:
                raise fail(at + ["versions"], str(exc)) from exc
            # The index cannot say (a release it does not have, or no index and nothing cached): the cell
            # runs on the Python zarrmatrix runs on, and its installer says what it makes of the pins.
            unknown.append(str(exc))
            continue
        if set(own) != set(supported):
            needs.append(f"{pinned.name} {exact[0]} needs Python {pythons.describe_needs(own)}")
        supported = [m for m in supported if m in own]
    fits = [found[m] for m in supported if m in found]
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if unknown and host in supported and host in found:
        fits = [found[host]]
    if fits:
        return {"python": fits[0].minor, "python_request": request, "python_path": fits[0].path,
                "python_supported": tuple(supported),
                "python_note": f"{'; '.join(unknown)}: on the Python zarrmatrix runs on" if unknown else None}
    have = ", ".join(found) or "none"
    wanted = f"install python{supported[0]}, or use --backend docker" if supported else \
        "no Python has wheels of all of them for this platform"
    return {"python": None, "python_request": request, "python_supported": tuple(supported),
            "python_missing": f"{'; '.join(needs) or f'{lib.distribution} {version}: no Python fits'}: none found "
                              f"(this machine has Python {have}); {wanted}"}


def _versions(entry: CommentedMap, at: list[Any], defaults: dict, lib, fail, resolver: Resolver
              ) -> tuple[list, dict | None]:
    """The exact versions a cell entry names, or those its rule resolves to (and how it was resolved)."""
    raw = entry.get("versions")
    if not isinstance(raw, dict):
        return list(raw or []), None
    if lib.distribution is None:
        raise fail(at + ["versions"], f"{lib.name} has no package on an index to resolve a rule against")
    rule = Rule.parse(raw)
    if rule.since is not None:
        try:
            Version(rule.since)
        except InvalidVersion as exc:
            raise fail(at + ["versions", "from"], f"{rule.since!r} is not a version (e.g. '2.13')") from exc
    try:
        request = python_request(entry, defaults)
        python = "" if not lib.runtime.chooses_interpreter or request == "auto" else request
        found = resolver.resolve(lib.runtime.registry, lib.distribution, rule, python)
    except ResolveError as exc:
        raise fail(at + ["versions"], str(exc)) from exc
    return list(found.versions), found.to_json()


def _roles(raw: CommentedMap, at: list[Any], lib, fail) -> tuple[frozenset[str], tuple[str, ...]]:
    """The roles and writes of an entry (or of its `newest` or `oldest`), checked against what the library can."""
    roles = frozenset(raw["roles"])
    writes = tuple(raw.get("writes") or ())
    if writes and "write" not in roles:
        raise fail(at + ["writes"], "lists fixtures, but the cell has no 'write' role")
    if "write" in roles:
        if not lib.writes:
            raise fail(at + ["roles"], f"a {lib.name} cell cannot write fixtures; only "
                                       f"{' and '.join(writers())} cells can")
        if not writes:
            raise fail(at, "a cell with the 'write' role needs 'writes', the fixtures it writes")
        for i, kind in enumerate(writes):
            if kind not in lib.writes:
                raise fail(at + ["writes", i], f"a {lib.name} cell cannot write '{kind}'")
    if "bench" in roles and not lib.benches:
        raise fail(at + ["roles"], f"only {' and '.join(benchers())} cells can run the store benchmark")
    if "sharded" in roles and not lib.sharded_reader:
        raise fail(at + ["roles"], f"only {', '.join(sharded_readers())} cells can run the sharded-read benchmark")
    return roles, writes


def expand(entry: CommentedMap, at: list[Any], defaults: dict, fail, resolver: Resolver) -> list[Cell]:
    library = entry["library"]
    lib = LIBRARIES[library]
    roles, writes = _roles(entry, at, lib, fail)
    image = None
    if "image" in entry:
        raw = entry["image"]
        image = ImageSpec(dockerfile=raw["dockerfile"], base=raw["base"], label=raw.get("label"))
    if lib.needs_image and image is None:
        raise fail(at, f"a {library} cell needs 'image': it has no wheels, its bindings come from an image")
    overrides = {}
    for end in ("newest", "oldest"):
        if end in entry:
            raw = dict(entry[end])
            raw.setdefault("roles", entry["roles"])
            raw.setdefault("writes", [] if "write" not in raw["roles"] else entry.get("writes") or [])
            overrides[end] = _roles(raw, at + [end], lib, fail)

    pins = _requirements(entry, at, lib.runtime, fail, resolver)
    pinned = {canonicalize_name(lib.runtime.package_of(r)) for r in pins}
    versions, rule = _versions(entry, at, defaults, lib, fail, resolver)
    if not versions:
        if image is None:
            raise fail(at, "needs 'versions' (exact releases of the library), or an 'image'")
        versions = [None]
    id_template = entry.get("id") or ("{library}-{version}" if versions != [None] else None)
    if id_template is None:
        raise fail(at, "a cell without 'versions' needs an 'id'")
    if len(versions) > 1 and "{version}" not in id_template:
        raise fail(at + ["id"], "several versions need '{version}' in the id, so that each cell's id is unique")

    ordered = sorted(range(len(versions)), key=lambda i: _sort_key(versions[i]))
    ends = {ordered[-1]: "newest", ordered[0]: "oldest"} if versions != [None] else {}
    cells = []
    for i, version in enumerate(versions):
        cell_roles, cell_writes = overrides.get(ends.get(i, ""), (roles, writes))
        requirements = list(pins)
        if version is not None:
            where = at + ["versions", i]
            try:
                if not _PLAIN_VERSION.fullmatch(str(version)):
                    raise InvalidVersion(str(version))
                Version(str(version))
            except InvalidVersion as exc:
                raise fail(where, f"{version!r} is not an exact PEP 440 version (e.g. '2.18.7')") from exc
            dist = lib.distribution
            if dist is None:
                raise fail(where, f"{library} has no PyPI distribution to pin; use 'image'")
            if canonicalize_name(dist) in pinned:
                raise fail(at + ["pins"], f"pins {dist} again; its version comes from 'versions'")
            try:
                requirements.insert(0, lib.runtime.version(dist, str(version)))
            except PinError as exc:
                raise fail(where, str(exc)) from None
        if not lib.needs_image:
            requirements += [r for r in lib.runtime.implicit if canonicalize_name(r) not in pinned]
        cell_id = id_template.replace("{library}", library).replace("{version}", str(version or ""))
        try:
            check_name(cell_id, "cell id")
        except UnsafeInput:
            raise fail(at + ["id"], f"{cell_id!r} is not a valid cell id (letters, digits, . _ + -)") from None
        cells.append(
            Cell(
                id=cell_id,
                library=library,
                version=None if version is None else str(version),
                **_python(lib, version, requirements, python_request(entry, defaults), at, fail, resolver),
                requirements=tuple(requirements),
                roles=cell_roles,
                writes=cell_writes,
                backend=str(entry.get("backend") or defaults["backend"]),
                timeout_s=float(entry.get("timeout_s") or defaults["timeout_s"]),
                image=image,
                versions_rule=rule,
            )
        )
    return cells
