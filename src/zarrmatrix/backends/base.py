"""What every isolation backend offers: provision a cell's environment, run a
probe in it, and say what is installed there."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..matrix import Cell
from ..process import ProcessResult


class EnvFailed(Exception):
    """The environment could not be built; the message is the installer's own."""


class BackendUnavailable(Exception):
    """The backend cannot run here at all (e.g. no Docker engine answers)."""


@dataclass(frozen=True)
class Mounts:
    """The host folders a probe sees: the probes (read-only), the fixtures
    (read-only while reading) and a scratch folder for requests and records."""

    probes: Path
    fixtures: Path
    work: Path


@dataclass
class Environment(ABC):
    cell: Cell
    backend: str
    reused: bool = False
    provision_s: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)

    @abstractmethod
    def run_probe(self, probe: str, args: Sequence[str], *, timeout: float, mounts: Mounts,
                  fixtures_writable: bool = False) -> ProcessResult:
        """Run probes/<probe> with `args`, whose paths are host paths below `mounts`."""

    def env_path(self, host_path: Path, mounts: Mounts) -> str:
        """How a probe in this environment names a host path below `mounts`."""
        return str(host_path)

    def identity(self) -> dict[str, Any]:
        """What makes this environment reproducible, for the result file."""
        return {}

    def close(self) -> None:
        """Release what the environment holds (a running container)."""


class Backend(ABC):
    name: str

    @abstractmethod
    def provision(self, cell: Cell, mounts: Mounts) -> Environment:
        """Build (or reuse) the environment of `cell`; raise EnvFailed if it cannot be built."""
