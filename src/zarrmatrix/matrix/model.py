"""The matrix as typed objects: a Cell (one library-version combination), the configurations, and the Matrix that
holds them. What backends, the runner and the report import; nothing here reads a file."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from packaging.version import InvalidVersion, Version

from ..errors import UserError
from ..fixtures import ExtractionLimits
from ..versions import Resolution

# The Pythons of the images a Python cell may run in under Docker (python:X-slim, or a local base for it).
IMAGE_PYTHONS = ("3.11", "3.12", "3.13")


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
    # Where the index could not say which Pythons a release supports: why, and that the host's was taken.
    python_note: str | None = None

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
            **({"python_note": self.python_note} if self.python_note else {}),
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
    """The store benchmark (matrix.yaml's `bench`; the defaults are the schema's)."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: str
    repeats: int
    max_repeats: int
    within: float
    budget_s: float
    sizes: tuple[str, ...]
    drop_caches: bool
    stores: tuple[str, ...]
    compressors: tuple[str, ...]

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
class ShardedConfig:
    """The sharded-read benchmark (matrix.yaml's `sharded`; the defaults are the schema's): one int32 array,
    sharded, read whole, one shard (a chunk of the array's grid) and one inner chunk (a sub-chunk)."""

    shape: tuple[int, int]
    shards: tuple[int, int]
    chunks: tuple[int, int]
    repeats: int
    max_repeats: int
    within: float
    budget_s: float
    caches: tuple[str, ...]

    ITEMSIZE = 4
    # Where the writer puts the array, per store the readers read it from.
    STORE_FILES = {"folder": "array.zarr", "zip-stored": "array-zip-stored.zip",
                   "zip-deflated": "array-zip-deflated.zip"}
    ACCESSES = ("whole", "chunk", "sub-chunk")

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.ITEMSIZE

    def accesses(self) -> dict[str, list[list[int]]]:
        """The region each access reads ([start, stop] per dimension): the whole array, the second shard along
        each dimension where there is one (not the first, which a reader may have met opening the array), and
        the second inner chunk of that shard."""
        shard = [min(1, (s - 1) // c) * c for s, c in zip(self.shape, self.shards)]
        inner = [o + min(1, (min(c, s - o) - 1) // i) * i for o, s, c, i in zip(shard, self.shape, self.shards,
                                                                             self.chunks)]
        return dict(zip(self.ACCESSES, ([[0, s] for s in self.shape],
                                        [[o, min(s, o + c)] for o, s, c in zip(shard, self.shape, self.shards)],
                                        [[o, min(s, o + i)] for o, s, i in zip(inner, self.shape, self.chunks)])))

    def write_request(self, folder: str) -> dict[str, Any]:
        return {"write": True, "folder": folder, "shape": list(self.shape), "shards": list(self.shards),
                "chunks": list(self.chunks)}

    def read_request(self, library: str, stores: dict[str, str],
                     skip: Sequence[tuple[str, str, str]] = ()) -> dict[str, Any]:
        """`skip`: the (cache, store, access) units already recorded."""
        return {"library": library, "stores": stores, "accesses": self.accesses(), "caches": list(self.caches),
                "repeats": self.repeats, "max_repeats": self.max_repeats, "within": self.within,
                "budget_s": self.budget_s, "unit_timeout_s": self.unit_timeout_s(), "skip": [list(k) for k in skip]}

    def units(self) -> int:
        """How many (cache, store, access) a reader times."""
        return len(self.caches) * len(self.STORE_FILES) * len(self.ACCESSES)

    def unit_timeout_s(self) -> float:
        """One unit's deadline: three budgets, as one read slower than the budget may take (a warm-up and one
        timed read), and half a minute more. A unit past it is recorded as hung."""
        return 3 * self.budget_s + 30

    def timeout_s(self) -> float:
        """The probe's: every unit at its deadline, and a margin (each unit keeps its own deadline)."""
        return self.units() * self.unit_timeout_s() + 120


@dataclass(frozen=True)
class DockerConfig:
    base_images: dict[str, str]
    ca_bundle: str | None
    memory: str
    pids: int


# The form of a size, as the schema's "size" pattern has it: bytes, or with k, m or g.
SIZE = re.compile(r"[1-9][0-9]*[kmg]?")


def size_bytes(text: str) -> int:
    """'4g' -> 4 GiB: the schema has checked the form."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


@dataclass(frozen=True)
class Limits:
    """Bounds on what hostile input may cost: a probe's memory in a venv, and what a control may unzip to."""

    probe_memory: str
    unzipped: str
    compression_ratio: float

    def extraction(self) -> ExtractionLimits:
        return ExtractionLimits(max_bytes=size_bytes(self.unzipped), max_ratio=self.compression_ratio)


@dataclass(frozen=True)
class FixtureConfig:
    mnist_dir: str | None
    mnist_download: bool
    mnist_split: str


@dataclass(frozen=True)
class Matrix:
    path: Path
    cells: tuple[Cell, ...]
    bench: BenchConfig
    sharded: ShardedConfig
    docker: DockerConfig
    fixtures: FixtureConfig
    limits: Limits
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


