"""Cells in pinned Docker images: one image per set of pins, one container per
cell, each attempt `docker exec`'d as its own process (cibuildwheel's pattern).

The container has no network, runs as an unprivileged user with every
capability dropped, sees the probes and fixtures read-only, and has memory and
pids limits. Timeouts are enforced inside the container, because killing the
`docker exec` client does not kill the process it started.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from .. import tls
from ..libraries import LIBRARIES
from ..matrix import Cell, DockerConfig
from ..process import ProcessResult, run_process, start_process
from .base import Backend, BaseImageUnavailable, EnvFailed, Environment, Mounts
from .host import SINGLE_THREADED
from .node import lay_node_probes

BUILD_TIMEOUT_S = 1800
DOCKER_TIMEOUT_S = 120
# The outer client waits this much longer than the in-container timeout.
CLIENT_GRACE_S = 30
IN_CONTAINER = {"probes": "/zm/probes", "fixtures": "/zm/fixtures", "work": "/zm/work"}
DOCKER_DIR = Path(__file__).resolve().parents[3] / "docker"
# What docker build says when the base image cannot be had: no registry, no name resolution, no such image.
PULL_FAILED = (r"pull access denied|no such host|failed to resolve source metadata|manifest unknown|"
               r"failed to do request|dial tcp|i/o timeout|server misbehaving|TLS handshake timeout|"
               r"repository does not exist|not found: manifest")
# Every container of a run carries it, so that a test (or a person) can see none is left behind.
CONTAINER_LABEL = "zarrmatrix.container=1"
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGKILL}


def _docker(*args: str, timeout: float = DOCKER_TIMEOUT_S) -> ProcessResult:
    return run_process(["docker", *args], timeout=timeout)


def container_path(host_path: Path, mounts: Mounts) -> str:
    """How a process in the container names a host path below one of `mounts`."""
    host_path = Path(host_path).resolve()
    for key in ("probes", "fixtures", "work"):
        root = Path(getattr(mounts, key)).resolve()
        if host_path == root or root in host_path.parents:
            return str(Path(IN_CONTAINER[key]) / host_path.relative_to(root))
    raise ValueError(f"{host_path} is not below a folder the container sees")


def translate_exit(result: ProcessResult, timeout: float, elapsed: float) -> ProcessResult:
    """Map `timeout`'s and the shell's 128+N exit codes back to what a local process reports."""
    code = result.returncode
    timed_out = code == 124 or (code == 128 + signal.SIGKILL and elapsed >= timeout)
    if timed_out:
        return ProcessResult(result.argv, -signal.SIGKILL, result.stdout, result.stderr, elapsed, True)
    if code is not None and code > 128 and (code - 128) in {int(s) for s in CRASH_SIGNALS}:
        return ProcessResult(result.argv, -(code - 128), result.stdout, result.stderr, elapsed, False)
    return result


def dockerfiles_dir() -> Path:
    """docker/ ships inside the wheel as zarrmatrix/docker; in a checkout it sits at the top."""
    packaged = Path(__file__).resolve().parents[1] / "docker"
    return packaged if packaged.is_dir() else DOCKER_DIR


def ca_bundle(config: DockerConfig) -> Path | None:
    """The CA bundle image builds trust: the matrix's, else the one the host's pip or TLS stack uses."""
    return tls.ca_bundle(config.ca_bundle)


# Where node.Dockerfile installs a Node cell's pins.
NODE_MODULES_IN_IMAGE = "/opt/zm/node_modules"


def dockerfile_name(cell: Cell) -> str:
    """The Dockerfile under docker/ that builds a cell's image: its own, or python, or node."""
    return cell.image.dockerfile if cell.image else LIBRARIES[cell.library].runtime.dockerfile


class DockerEnvironment(Environment):
    """A cell's image, and the one container that runs its attempts, started at
    the first attempt with the mounts the environment was built with.

        with backend.provision(cell, mounts) as env:
            result = env.run_probe("read_zarr.py", ["--list-methods"], timeout=60)
            with env.writer() as writer:          # its own container, fixtures read-write
                writer.run_probe("write_fixtures.py", [...], timeout=60)
    """

    def __init__(self, cell: Cell, mounts: Mounts, image: str, image_id: str, config: DockerConfig,
                 **kwargs: Any):
        super().__init__(cell, "docker", mounts, **kwargs)
        self.image = image
        self.image_id = image_id
        self.config = config
        self._container: str | None = None
        self._lock = threading.Lock()

    def env_path(self, host_path: Path) -> str:
        return container_path(host_path, self.mounts)

    def _command(self, probe: str) -> list[str]:
        """How the container runs a probe: python3 on the mounted probes; node on the copy laid in the work
        folder beside a link to the image's node_modules (Node resolves imports from the probe's folder)."""
        if not probe.endswith(".mjs"):
            return ["python3", f"{IN_CONTAINER['probes']}/{probe}"]
        folder = lay_node_probes(self.mounts, self.cell, NODE_MODULES_IN_IMAGE)
        return ["node", self.env_path(folder / probe)]

    def start_probe(self, probe: str, args: Sequence[str], stderr: Path) -> subprocess.Popen:
        container = self._ensure()
        return start_process(["docker", "exec", "--interactive", container, *self._command(probe), *args],
                             stderr=stderr)

    def probe_env(self) -> dict[str, str]:
        return dict(SINGLE_THREADED)

    def limits(self) -> dict[str, Any]:
        return {"memory": self.config.memory, "pids": self.config.pids, "how": "docker run --memory --pids-limit"}

    def writer(self) -> DockerEnvironment:
        return DockerEnvironment(self.cell, self.mounts, self.image, self.image_id, self.config,
                                 fixtures_writable=True, reused=self.reused, provision_s=self.provision_s)

    def _start(self) -> str:
        mounts = self.mounts
        name = f"zarrmatrix-{self.cell.id}-{uuid.uuid4().hex[:8]}".replace("+", "-")
        fixtures_mode = "rw" if self.fixtures_writable else "ro"
        for folder in (mounts.work, mounts.fixtures):
            Path(folder).mkdir(parents=True, exist_ok=True)
        # The container's user is not the host's: it must be able to write its records.
        os.chmod(mounts.work, 0o1777)
        if self.fixtures_writable:
            os.chmod(mounts.fixtures, 0o1777)
        result = _docker(
            "run", "--detach", "--rm", "--name", name, "--label", CONTAINER_LABEL,
            "--network", "none",
            "--user", "10001:10001", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--memory", self.config.memory, "--pids-limit", str(self.config.pids),
            "--volume", f"{Path(mounts.probes).resolve()}:{IN_CONTAINER['probes']}:ro",
            "--volume", f"{Path(mounts.fixtures).resolve()}:{IN_CONTAINER['fixtures']}:{fixtures_mode}",
            "--volume", f"{Path(mounts.work).resolve()}:{IN_CONTAINER['work']}:rw",
            "--workdir", IN_CONTAINER["work"],
            *[arg for name, value in SINGLE_THREADED.items() for arg in ("--env", f"{name}={value}")],
            "--entrypoint", "sleep", self.image, "infinity",
        )
        if result.returncode != 0:
            raise EnvFailed(f"docker run {self.image} failed: {result.tail()}")
        return name

    def _ensure(self) -> str:
        with self._lock:
            if self._container is None:
                self._container = self._start()
            return self._container

    def _stop(self) -> None:
        if self._container is not None:
            _docker("rm", "--force", self._container)
            self._container = None

    def run_probe(self, probe: str, args: Sequence[str], *, timeout: float) -> ProcessResult:
        container = self._ensure()
        inner = ["timeout", "--signal=KILL", f"{timeout:g}", *self._command(probe), *args]
        started = time.perf_counter()
        result = run_process(["docker", "exec", container, *inner], timeout=timeout + CLIENT_GRACE_S)
        elapsed = time.perf_counter() - started
        if result.timed_out:
            # The engine did not end it: remove the container so nothing lingers; the next attempt starts anew.
            with self._lock:
                self._stop()
            return result
        return translate_exit(result, timeout, elapsed)

    def identity(self) -> dict[str, Any]:
        inspected = _docker("image", "inspect", "--format", "{{json .RepoDigests}}", self.image)
        digests = inspected.stdout.strip().strip("[]").replace('"', "")
        return {"image": self.image, "image_id": self.image_id, "image_digest": digests or None,
                "dockerfile": self.dockerfile_name}

    @property
    def dockerfile_name(self) -> str:
        return dockerfile_name(self.cell)

    def close(self) -> None:
        with self._lock:
            self._stop()


class DockerBackend(Backend):
    name = "docker"

    def __init__(self, config: DockerConfig, work: Path):
        self.config = config
        self.work = work
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def base_image(self, cell: Cell) -> str:
        public = cell.image.base if cell.image else LIBRARIES[cell.library].runtime.base_image(cell.image_python)
        return self.config.base_images.get(public, public)

    def dockerfile(self, cell: Cell) -> Path:
        return dockerfiles_dir() / f"{dockerfile_name(cell)}.Dockerfile"

    def tag(self, cell: Cell) -> str:
        """A tag from everything the image is built from: Dockerfile, base, pins, CA bundle."""
        digest = hashlib.sha256()
        digest.update(self.dockerfile(cell).read_bytes())
        digest.update(self.base_image(cell).encode())
        digest.update("\n".join(sorted(cell.requirements)).encode())
        bundle = ca_bundle(self.config)
        if bundle is not None:
            digest.update(bundle.read_bytes())
        return f"zarrmatrix/cell:{digest.hexdigest()[:16]}"

    def provision(self, cell: Cell, mounts: Mounts) -> DockerEnvironment:
        tag = self.tag(cell)
        with self._guard:
            lock = self._locks.setdefault(tag, threading.Lock())
        with lock:
            started = time.perf_counter()
            found = _docker("image", "inspect", "--format", "{{.Id}}", tag)
            reused = found.returncode == 0
            if not reused:
                self._build(cell, tag)
                found = _docker("image", "inspect", "--format", "{{.Id}}", tag)
            return DockerEnvironment(cell, mounts, tag, found.stdout.strip(), self.config, reused=reused,
                                     provision_s=time.perf_counter() - started)

    def _build(self, cell: Cell, tag: str) -> None:
        context = Path(tempfile.mkdtemp(prefix="zarrmatrix-build-"))
        try:
            shutil.copy2(self.dockerfile(cell), context / "Dockerfile")
            # A library that needs an image (GDAL) takes its Python bindings from the distribution, not PyPI.
            requirements = [] if LIBRARIES[cell.library].needs_image else list(cell.requirements)
            (context / "requirements.txt").write_text("\n".join(requirements) + "\n")
            bundle = ca_bundle(self.config)
            (context / "ca-bundle.crt").write_bytes(bundle.read_bytes() if bundle else b"")
            result = run_process(
                ["docker", "build", "--build-arg", f"BASE={self.base_image(cell)}", "--tag", tag,
                 "--label", f"zarrmatrix.cell={cell.id}", str(context)],
                timeout=BUILD_TIMEOUT_S,
            )
        finally:
            shutil.rmtree(context, ignore_errors=True)
        if result.returncode != 0 and re.search(PULL_FAILED, result.stderr + result.stdout):
            said = next((line.strip() for line in (result.stderr + result.stdout).splitlines()
                         if re.search(PULL_FAILED, line)), "")
            raise BaseImageUnavailable(f"docker: base image {self.base_image(cell)} cannot be pulled (no registry "
                                       f"answers, and no local image stands in for it: --base-image): {said[:300]}")
        if result.returncode != 0 or result.timed_out:
            raise EnvFailed(f"docker build of {cell.id} from {self.base_image(cell)} failed:\n{result.tail(4000)}")
