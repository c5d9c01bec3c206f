"""The schema of matrix.yaml, its validation, and its expansion into cells.

matrix.yaml is read once, here, into frozen dataclasses. Every error names the
file, the key path, the line and what was expected, so that a typo never
reaches a subprocess.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import jsonschema
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent

from . import pythons
from .errors import UserError
from .fixtures import ExtractionLimits
from .libraries import LIBRARIES, benchers, fixture_kinds, writers
from .runtimes import PinError, Runtime
from .safefs import UnsafeInput, check_name, read_regular
from .versions import Resolution, ResolveError, Resolver, Rule

MATRIX_MAX_BYTES = 16 << 20
# The Pythons of the images a Python cell may run in under Docker (python:X-slim, or a local base for it).
IMAGE_PYTHONS = ("3.11", "3.12", "3.13")

# A version becomes a requirement and a file name: no white space anywhere (packaging would strip it).
_PLAIN_VERSION = re.compile(r"[0-9A-Za-z.!+_-]+")
# npm's names (scoped ones too) and the exact versions a Node cell pins.


class MatrixError(UserError):
    """An invalid matrix file: where, and what was expected."""

    def __init__(self, path: Path, key_path: str, line: int | None, message: str):
        self.path = path
        self.key_path = key_path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else str(path)
        key = f" {key_path}:" if key_path else ""
        super().__init__(f"{where}:{key} {message}")


@dataclass(frozen=True)
class ImageSpec:
    dockerfile: str
    base: str
    label: str | None = None


@dataclass(frozen=True)
class Cell:
    """One library-version combination, run in its own environment."""

    id: str
    library: str
    version: str | None
    # The Python minor version the cell runs on here ("3.12"); None where none fits, or for Node and image cells.
    python: str | None
    requirements: tuple[str, ...]
    roles: frozenset[str]
    writes: tuple[str, ...]
    backend: str
    timeout_s: float
    image: ImageSpec | None = None
    # Where `version` came from when matrix.yaml gave a rule ({latest: 3}): the rule, its source, when.
    versions_rule: dict[str, Any] | None = None
    # What matrix.yaml asked ("auto", or a version), the interpreter found for it, the minor versions the
    # cell's releases support, and why the cell cannot run here where no interpreter fits.
    python_request: str = "auto"
    python_path: str | None = None
    python_supported: tuple[str, ...] = ()
    python_missing: str | None = None

    @property
    def image_python(self) -> str:
        """The Python of the cell's image under Docker: the request, or the lowest the releases support of
        those the project's images carry."""
        if self.python_request != "auto":
            return self.python_request
        fits = [m for m in IMAGE_PYTHONS if m in self.python_supported]
        return fits[0] if fits else IMAGE_PYTHONS[0]

    @property
    def needs_docker(self) -> bool:
        return self.image is not None

    @property
    def version_key(self) -> tuple:
        """Sorts cells by version, newest last; cells without a version (images) first."""
        try:
            return (1, Version(self.version or ""))
        except InvalidVersion:
            return (0, Version("0"))

    @property
    def label(self) -> str:
        """How the report names this cell's library and version."""
        version = self.version or (self.image.label if self.image else None) or "?"
        return f"{self.library} {version}"

    def env_key(self) -> str:
        """A short hash of everything that decides what is installed."""
        payload = {
            "python": self.python,
            "requirements": sorted(self.requirements),
            "image": None if self.image is None else self.image.__dict__,
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return digest[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "library": self.library,
            "version": self.version,
            "label": self.label,
            "python": self.python,
            "python_request": self.python_request,
            **({"python_supported": list(self.python_supported)} if self.python_supported else {}),
            **({"python_missing": self.python_missing} if self.python_missing else {}),
            "requirements": list(self.requirements),
            "roles": sorted(self.roles),
            "writes": list(self.writes),
            "backend": self.backend,
            "image": None if self.image is None else dict(self.image.__dict__),
            "env_key": self.env_key(),
            **({"versions_rule": self.versions_rule} if self.versions_rule else {}),
        }


@dataclass(frozen=True)
class BenchConfig:
    shape: tuple[int, ...] = (1024, 1024)
    chunks: tuple[int, ...] = (256, 256)
    dtype: str = "int32"
    repeats: int = 7
    max_repeats: int = 50
    within: float = 0.05
    budget_s: float = 60.0
    sizes: tuple[str, ...] = ()
    drop_caches: bool = False
    stores: tuple[str, ...] = ("zip", "fsspec-memory", "directory", "zarr-memory")
    compressors: tuple[str, ...] = ("default", "none")

    # The chunk rule of a size sweep: square chunks of at most this many elements a side.
    SWEEP_CHUNK_SIDE = 512

    def layouts(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(shape, chunks) per size: the sweep's square arrays, or the one shape the matrix names."""
        if not self.sizes:
            return [(self.shape, self.chunks)]
        itemsize = int("".join(c for c in self.dtype if c.isdigit())) // 8
        out = []
        for size in self.sizes:
            side = max(1, math.isqrt(size_bytes(size) // itemsize))
            chunk = min(side, self.SWEEP_CHUNK_SIDE)
            out.append(((side, side), (chunk, chunk)))
        return out

    def request(self, shape: tuple[int, ...], chunks: tuple[int, ...]) -> dict[str, Any]:
        return {
            "shape": list(shape),
            "chunks": list(chunks),
            "dtype": self.dtype,
            "repeats": self.repeats,
            "max_repeats": self.max_repeats,
            "within": self.within,
            "budget_s": self.budget_s,
            "drop_caches": self.drop_caches,
            "stores": list(self.stores),
            "compressors": list(self.compressors),
        }


@dataclass(frozen=True)
class DockerConfig:
    base_images: dict[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None
    memory: str = "4g"
    pids: int = 512


# The form of a size, as the schema's "size" pattern has it: bytes, or with k, m or g.
SIZE = re.compile(r"[1-9][0-9]*[kmg]?")


def size_bytes(text: str) -> int:
    """'4g' -> 4 GiB: the schema has checked the form."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


@dataclass(frozen=True)
class Limits:
    """Bounds on what hostile input may cost: a probe's memory in a venv, and what a control may unzip to."""

    probe_memory: str = "4g"
    unzipped: str = "4g"
    compression_ratio: float = 1000.0

    def extraction(self) -> ExtractionLimits:
        return ExtractionLimits(max_bytes=size_bytes(self.unzipped), max_ratio=self.compression_ratio)


@dataclass(frozen=True)
class FixtureConfig:
    mnist_dir: str | None = None
    mnist_download: bool = True


@dataclass(frozen=True)
class Matrix:
    path: Path
    cells: tuple[Cell, ...]
    bench: BenchConfig
    docker: DockerConfig
    fixtures: FixtureConfig
    limits: Limits = Limits()
    # How each `versions` rule was resolved, in file order.
    resolutions: tuple[Resolution, ...] = ()
    # (registry, package) -> version -> the Python minor versions it supports: what the lock file keeps.
    pythons: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)

    def select(self, ids: Sequence[str] | None) -> list[Cell]:
        if not ids:
            return list(self.cells)
        known = {c.id: c for c in self.cells}
        missing = [i for i in ids if i not in known]
        if missing:
            hint = ", ".join(sorted(known))
            raise MatrixError(self.path, "cells", None, f"no cell named {missing}; known: {hint}")
        return [known[i] for i in ids]


def schema() -> dict[str, Any]:
    """The shipped schema, its enums of libraries and fixture kinds taken from the library table."""
    data = json.loads(resources.files("zarrmatrix.schemas").joinpath("matrix.schema.json").read_text())
    cell = data["$defs"]["cell"]["properties"]
    cell["library"]["enum"] = list(LIBRARIES)
    data["$defs"]["writes"]["items"]["enum"] = list(fixture_kinds())
    return data


def _line_of(root: Any, path: Iterable[Any]) -> int | None:
    """The 1-based line of the deepest node of `path` that the YAML tree knows."""
    node, line = root, getattr(getattr(root, "lc", None), "line", None)
    for key in path:
        try:
            if isinstance(node, CommentedMap):
                line = node.lc.key(key)[0]
            elif isinstance(node, CommentedSeq):
                line = node.lc.item(key)[0]
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return None if line is None else line + 1


def _key_path(path: Iterable[Any]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _describe(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """A message a person can act on, and the path of the offending key."""
    path = list(error.absolute_path)
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "versions" in path:
        return path, (f"{dict(error.instance)!r} is not a versions rule; write a list of exact versions, "
                      '{latest: N} (N from 1 to 50), or {from: "2.13", every: minor}')
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        if extra and allowed:
            bad = extra[0]
            close = difflib.get_close_matches(bad, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return path + [bad], f"unknown key '{bad}'{hint}; expected one of: {', '.join(allowed)}"
    if error.validator == "enum":
        choices = ", ".join(repr(c) for c in error.validator_value)
        return path, f"{error.instance!r} is not allowed; expected one of: {choices}"
    if error.validator == "required":
        return path, f"{error.message}"
    if error.validator == "pattern":
        return path, f"{error.instance!r} does not match the expected form {error.validator_value!r}"
    return path, error.message


def _no_aliases(path: Path, yaml: YAML, text: str) -> None:
    """Refuse YAML aliases before anything expands them: a few hundred bytes of nested
    aliases (a "billion laughs") would otherwise take gigabytes. A matrix never needs one."""
    try:
        for event in yaml.parse(text):
            if isinstance(event, AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else None
                raise MatrixError(path, "", line, f"YAML alias '*{event.anchor}': aliases are not allowed in a "
                                                  "matrix file; write the value out")
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MatrixError(path, "", line, f"not valid YAML: {exc.problem}") from exc


def _finite(path: Path, root: Any) -> None:
    """Every number finite: YAML's .nan and .inf pass a JSON schema's bounds, and nothing here means them."""
    def walk(node: Any, at: list[Any]) -> None:
        if isinstance(node, float) and not math.isfinite(node):
            raise MatrixError(path, _key_path(at), _line_of(root, at), f"{node!r} is not a finite number")
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            walk(value, at + [key])

    walk(root, [])


def load_matrix(path: str | Path, *, locked: bool | None = None, refresh: bool = False) -> Matrix:
    """The matrix file, validated and expanded into cells. `versions` rules, and the Pythons each release
    supports, come from the lock file beside it where it holds them, else from the index; only from the lock
    file when `locked` (or $ZARRMATRIX_LOCKED); only from the index when `locked` is False (see Resolver)."""
    path = Path(path)
    if locked is None and os.environ.get("ZARRMATRIX_LOCKED", "") not in ("", "0"):
        locked = True
    try:
        data = read_regular(path, limit=MATRIX_MAX_BYTES)
        text = data.decode("utf-8")
    except UnsafeInput as exc:
        raise MatrixError(path, "", None, f"cannot read the matrix file: {str(exc).removeprefix(f'{path}: ')}"
                          ) from None
    except OSError as exc:
        raise MatrixError(path, "", None, f"cannot read the matrix file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MatrixError(path, "", line, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8") from exc
    yaml = YAML(typ="rt")
    _no_aliases(path, yaml, text)
    try:
        root = yaml.load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MatrixError(path, "", line, f"duplicate key: {exc.problem}") from exc
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MatrixError(path, "", line, f"not valid YAML: {exc.problem}") from exc
    if root is None:
        raise MatrixError(path, "", None, "the file is empty; expected a mapping with 'cells'")
    _finite(path, root)
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(root), key=lambda e: (len(e.absolute_path), str(e.path)))
    if errors:
        key_path, message = _describe(errors[0])
        raise MatrixError(path, _key_path(key_path), _line_of(root, key_path), message)
    return _build(path, root, Resolver(path, locked=locked, refresh=refresh))


def _build(path: Path, root: CommentedMap, resolver: Resolver) -> Matrix:
    def fail(key_path: list[Any], message: str) -> MatrixError:
        return MatrixError(path, _key_path(key_path), _line_of(root, key_path), message)

    defaults = root.get("defaults", {}) or {}
    cells: list[Cell] = []
    seen: dict[str, list[Any]] = {}
    for index, entry in enumerate(root["cells"]):
        for cell in _expand(entry, ["cells", index], defaults, fail, resolver):
            if cell.id in seen:
                raise fail(["cells", index], f"cell id '{cell.id}' is used twice")
            seen[cell.id] = ["cells", index]
            cells.append(cell)

    bench_raw = root.get("bench", {}) or {}
    bench = BenchConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in bench_raw.items()}
    )
    if len(bench.chunks) != len(bench.shape):
        raise fail(["bench", "chunks"], f"has {len(bench.chunks)} dimensions, shape has {len(bench.shape)}")
    if bench.max_repeats < bench.repeats:
        raise fail(["bench", "max_repeats"], f"is {bench.max_repeats}, below repeats ({bench.repeats})")

    docker_raw = root.get("docker", {}) or {}
    docker = DockerConfig(
        base_images=dict(docker_raw.get("base_images", {}) or {}),
        ca_bundle=docker_raw.get("ca_bundle"),
        memory=docker_raw.get("memory", "4g"),
        pids=int(docker_raw.get("pids", 512)),
    )
    fixtures_raw = root.get("fixtures", {}) or {}
    fixtures = FixtureConfig(
        mnist_dir=fixtures_raw.get("mnist_dir"),
        mnist_download=bool(fixtures_raw.get("mnist_download", True)),
    )
    limits_raw = root.get("limits", {}) or {}
    limits = Limits(probe_memory=str(limits_raw.get("probe_memory", Limits.probe_memory)),
                    unzipped=str(limits_raw.get("unzipped", Limits.unzipped)),
                    compression_ratio=float(limits_raw.get("compression_ratio", Limits.compression_ratio)))
    return Matrix(path=path, cells=tuple(cells), bench=bench, docker=docker, fixtures=fixtures, limits=limits,
                  resolutions=tuple(resolver.resolutions), pythons=resolver.pythons)


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
    return str(entry.get("python") or defaults.get("python") or "auto")


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
    needs = []
    for requirement in requirements:
        pinned = Requirement(requirement)
        exact = [s.version for s in pinned.specifier if s.operator == "=="]
        if not exact or "*" in exact[0]:
            continue
        try:
            own = resolver.supported_pythons(pinned.name, exact[0])
        except ResolveError as exc:
            raise fail(at + ["versions"], str(exc)) from exc
        if set(own) != set(supported):
            needs.append(f"{pinned.name} {exact[0]} needs Python {pythons.describe_needs(own)}")
        supported = [m for m in supported if m in own]
    fits = [found[m] for m in supported if m in found]
    if fits:
        return {"python": fits[0].minor, "python_request": request, "python_path": fits[0].path,
                "python_supported": tuple(supported)}
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
    return roles, writes


def _expand(entry: CommentedMap, at: list[Any], defaults: dict, fail, resolver: Resolver) -> list[Cell]:
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
                backend=str(entry.get("backend") or defaults.get("backend") or "auto"),
                timeout_s=float(entry.get("timeout_s") or defaults.get("timeout_s") or 120),
                image=image,
                versions_rule=rule,
            )
        )
    return cells
