"""What every isolation backend offers: provision a cell's environment, run a
probe in it, and say what is installed there."""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..matrix import Cell
from ..process import ProcessResult


class EnvFailed(Exception):
    """The environment could not be built; the message is the installer's own."""


class BaseImageUnavailable(EnvFailed):
    """An image could not be built for want of its base image: no registry answers, and no local image stands in
    for it. A cell that needs no image can run on the host instead (`auto`)."""


@dataclass(frozen=True)
class Mounts:
    """The host folders a probe sees: the probes (read-only), the fixtures
    (read-only unless an environment is built to write them) and a scratch
    folder for requests and records."""

    probes: Path
    fixtures: Path
    work: Path


class Environment(ABC):
    """A cell's environment, bound to the folders its probes see when it is built.

        with backend.provision(cell, mounts) as env:
            result = env.run_probe("read_zarr.py", ["--list-methods"], timeout=60)

    Leaving the block releases what it holds (a running container)."""

    def __init__(self, cell: Cell, backend: str, mounts: Mounts, *, fixtures_writable: bool = False,
                 reused: bool = False, provision_s: float = 0.0):
        self.cell = cell
        self.backend = backend
        self.mounts = mounts
        self.fixtures_writable = fixtures_writable
        self.reused = reused
        self.provision_s = provision_s

    @abstractmethod
    def run_probe(self, probe: str, args: Sequence[str], *, timeout: float) -> ProcessResult:
        """Run probes/<probe> with `args`, whose paths are already in this environment's terms (env_path)."""

    @abstractmethod
    def start_probe(self, probe: str, args: Sequence[str], stderr: Path) -> subprocess.Popen:
        """Start probes/<probe> as a long-lived process with pipes on stdin and stdout (an attempt server);
        its stderr goes to the host file `stderr`. Its caller ends it by closing stdin."""

    def env_path(self, host_path: Path) -> str:
        """How a probe in this environment names a host path below its mounts."""
        return str(host_path)

    def identity(self) -> dict[str, Any]:
        """What makes this environment reproducible, for the result file."""
        return {}

    def probe_env(self) -> dict[str, str]:
        """The environment variables a probe is given, recorded in the result."""
        return {}

    def limits(self) -> dict[str, Any]:
        """The resource limits a probe runs under, recorded in the result."""
        return {}

    @abstractmethod
    def writer(self) -> Environment:
        """The same environment, with the fixtures folder writable: a writer cell's, used as a context manager."""

    def close(self) -> None:
        """Release what the environment holds (a running container)."""

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Backend(ABC):
    name: str

    @abstractmethod
    def provision(self, cell: Cell, mounts: Mounts) -> Environment:
        """Build (or reuse) the environment of `cell`, its fixtures read-only; raise EnvFailed if it cannot."""
