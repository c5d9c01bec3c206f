"""Isolation backends behind one interface, and the choice among them."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..libraries import LIBRARIES
from ..matrix import Cell, Matrix, size_bytes
from ..process import run_process
from .base import Backend, BaseImageUnavailable, EnvFailed, Environment, Mounts
from .venv import VenvBackend

__all__ = ["Backend", "EnvFailed", "Environment", "Mounts", "Selector", "docker_answers"]


def docker_answers(timeout: float = 15) -> tuple[bool, str]:
    """Whether a Docker engine answers here, and what it said."""
    if shutil.which("docker") is None:
        return False, "no docker client on PATH"
    try:
        result = run_process(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=timeout)
    except OSError as exc:
        return False, str(exc)
    if result.timed_out:
        return False, "docker info timed out"
    if result.returncode != 0:
        return False, result.tail(300).strip()
    return True, f"Docker engine {result.stdout.strip()}"


@dataclass(frozen=True)
class Decision:
    name: str | None
    backend: Backend | None
    reason: str | None = None


class Selector:
    """Picks each cell's backend: the CLI's choice, else the cell's setting;
    'auto' means docker where an engine answers, venv elsewhere. A cell that
    needs an image is skipped, never dropped, where docker cannot run."""

    def __init__(self, matrix: Matrix, work: Path, console: Console):
        self.matrix = matrix
        self.work = work
        self.console = console
        self._docker: tuple[bool, str] | None = None
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def docker(self) -> tuple[bool, str]:
        with self._lock:
            if self._docker is None:
                self._docker = docker_answers()
                ok, said = self._docker
                self.console.print(f"docker: {escape(said)}" if ok else f"docker: not available ({escape(said)}); "
                                   "cells without an image run in uv virtual environments")
            return self._docker

    def backend(self, name: str) -> Backend:
        with self._lock:
            if name not in self._backends:
                memory = size_bytes(self.matrix.limits.probe_memory)
                if name == "venv":
                    self._backends[name] = VenvBackend(self.work / "envs", memory)
                elif name == "node":
                    from .node import NodeBackend, node_binary

                    self._backends[name] = NodeBackend(self.work / "envs", node_binary() or "node", memory)
                else:
                    from .docker import DockerBackend

                    self._backends[name] = DockerBackend(self.matrix.docker, self.work / "docker")
            return self._backends[name]

    def choose(self, cell: Cell, requested: str | None) -> Decision:
        wanted = requested or cell.backend
        if LIBRARIES[cell.library].runtime.host_backend == "node":
            return self._choose_node(wanted)
        if wanted == "venv" and cell.needs_docker:
            return Decision("none", None, "skipped: needs docker (the cell runs in an image)")
        if wanted == "venv":
            return self._venv(cell)

        ok, said = self.docker()
        if ok:
            return Decision("docker", self.backend("docker"))
        if wanted == "docker" or cell.needs_docker:
            return Decision("none", None, f"skipped: needs docker ({said})")
        return self._venv(cell)

    def fallback(self, cell: Cell, requested: str | None, failed: str, error: Exception) -> Decision | None:
        """Where an image could not be built for want of its base image, `auto` runs a cell that needs no image
        on the host instead: whatever works here. None where it cannot."""
        wanted = requested or cell.backend
        if wanted != "auto" or failed != "docker" or cell.needs_docker or not isinstance(error, BaseImageUnavailable):
            return None
        if LIBRARIES[cell.library].runtime.host_backend == "node":
            decision = self._choose_node("venv")
        else:
            decision = self._venv(cell)
        return decision if decision.backend is not None else None

    def _venv(self, cell: Cell) -> Decision:
        """A uv environment, where an interpreter the cell's releases support is here."""
        if cell.python is None:
            return Decision("none", None, f"skipped: {cell.python_missing or 'no Python fits'}")
        return Decision("venv", self.backend("venv"))

    def _choose_node(self, wanted: str) -> Decision:
        """Node cells: an image with Debian's nodejs under docker; else an npm folder on the host's node (auto
        and venv, the quicker where node is here); else Docker where no node is found, or skipped."""
        from .node import node_binary

        if wanted == "docker":
            ok, said = self.docker()
            return Decision("docker", self.backend("docker")) if ok else Decision(
                "none", None, f"skipped: needs docker ({said})")
        if node_binary() is not None:
            return Decision("node", self.backend("node"))
        if wanted == "auto" and self.docker()[0]:
            return Decision("docker", self.backend("docker"))
        return Decision("none", None, "skipped: needs node (Debian: apt-get install nodejs npm)")
