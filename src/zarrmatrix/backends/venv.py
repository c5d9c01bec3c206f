"""The embedded default: one uv virtual environment per cell, keyed by a hash of its pins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from ..matrix import Cell
from ..process import ProcessResult, run_process, start_process
from .base import Backend, EnvFailed, Environment, Mounts
from .host import (
    INSTALL_TIMEOUT_S,
    READY,
    memory_limit_facts,
    memory_limited,
    outliving_guard,
    probe_environ,
)


def uv_binary() -> str:
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    # uv's finder fails where sysconfig has no EXE variable (seen on pyenv builds): fall back to PATH.
    except (ImportError, FileNotFoundError, TypeError):
        found = shutil.which("uv")
        if found is None:
            raise EnvFailed("uv is not installed: pip install uv") from None
        return found


class VenvEnvironment(Environment):
    """A uv venv. A process on the host can write wherever the user can: the
    writable-fixtures mode changes nothing here, and there is nothing to release."""

    def __init__(self, cell: Cell, root: Path, mounts: Mounts, *, memory_bytes: int | None = None,
                 **kwargs: Any):
        super().__init__(cell, "venv", mounts, **kwargs)
        self.root = root
        self.memory_bytes = memory_bytes

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run_probe(self, probe: str, args: Sequence[str], *, timeout: float) -> ProcessResult:
        argv = memory_limited([str(self.python), str(self.mounts.probes / probe), *args], self.memory_bytes)
        return run_process(outliving_guard(argv, timeout), timeout=timeout, env=self.probe_env(),
                           cwd=self.mounts.work)

    def start_probe(self, probe: str, args: Sequence[str], stderr: Path) -> subprocess.Popen:
        argv = memory_limited([str(self.python), str(self.mounts.probes / probe), *args], self.memory_bytes)
        return start_process(argv, stderr=stderr, env=self.probe_env(), cwd=self.mounts.work)

    def probe_env(self) -> dict[str, str]:
        return probe_environ(self.mounts.work / "home")

    def limits(self) -> dict[str, Any]:
        return memory_limit_facts(self.memory_bytes)

    def writer(self) -> VenvEnvironment:
        return VenvEnvironment(self.cell, self.root, self.mounts, memory_bytes=self.memory_bytes,
                               fixtures_writable=True, reused=self.reused, provision_s=self.provision_s)

    def identity(self) -> dict[str, Any]:
        return {"venv": str(self.root), "env_key": self.cell.env_key()}


class VenvBackend(Backend):
    """uv venvs under `envs_dir`, shared by every cell with the same pins and reused while they hold."""

    name = "venv"

    def __init__(self, envs_dir: Path, memory_bytes: int | None = None):
        self.envs_dir = envs_dir
        self.memory_bytes = memory_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def provision(self, cell: Cell, mounts: Mounts) -> VenvEnvironment:
        key = cell.env_key()
        root = self.envs_dir / f"py{cell.python}-{key}"
        with self._lock(key):
            started = time.perf_counter()
            if (root / READY).exists():
                return VenvEnvironment(cell, root, mounts, memory_bytes=self.memory_bytes, reused=True,
                                       provision_s=time.perf_counter() - started)
            if root.exists():
                shutil.rmtree(root)
            self._create(cell, root)
            return VenvEnvironment(cell, root, mounts, memory_bytes=self.memory_bytes, reused=False,
                                   provision_s=time.perf_counter() - started)

    def _create(self, cell: Cell, root: Path) -> None:
        uv = uv_binary()
        env = dict(os.environ)
        # uv would otherwise try to download a missing Python from the network.
        env.setdefault("UV_PYTHON_DOWNLOADS", "never")
        env.pop("VIRTUAL_ENV", None)
        root.parent.mkdir(parents=True, exist_ok=True)
        # The interpreter found for the cell by path: uv's own search misses pyenv's non-global versions.
        interpreter = cell.python_path or str(cell.python)
        made = run_process([uv, "venv", "--quiet", "--python", interpreter, str(root)],
                           timeout=INSTALL_TIMEOUT_S, env=env)
        if made.returncode != 0:
            raise EnvFailed(f"uv venv --python {interpreter} failed: {made.tail()}")
        python = root / "bin" / "python"
        installed = run_process(
            [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python),
             *cell.requirements],
            timeout=INSTALL_TIMEOUT_S,
            env=env,
        )
        if installed.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise EnvFailed(installed.tail(4000).strip() or f"uv pip install exited {installed.returncode}")
        (root / READY).write_text(json.dumps({
            "requirements": list(cell.requirements),
            "python": cell.python,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host_python": sys.version.split()[0],
        }, indent=1))
