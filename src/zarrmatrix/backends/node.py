"""Node cells (zarrita.js): one npm folder per cell, keyed by a hash of its pins and reused like the uv
environments. Node resolves a probe's imports from the probe's own folder upwards, so each run gets a
folder of its own below its scratch, with the probes copied in and node_modules linked to the cell's."""

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
from ..tls import ca_bundle
from .base import Backend, EnvFailed, Environment, Mounts
from .host import INSTALL_TIMEOUT_S, READY, memory_limit_facts, memory_limited, outliving_guard, probe_environ

# The Node probes, and the reference arrays and feature catalogue the writer reads.
NODE_PROBES = ("*.mjs", "reference_arrays.json", "features.json")
# One lock for laying probe folders: attempts of one cell start from several threads at once.
_LAYING = threading.Lock()


def lay_node_probes(mounts: Mounts, cell: Cell, node_modules: Path | str) -> Path:
    """This run's copy of the Node probes in its work folder, beside a link to the cell's node_modules (a host
    folder, or a path inside a container, where the link resolves). Node resolves a probe's imports from the
    probe's own folder upwards, and the probes folder has no node_modules.

    Laid once, each file by a rename: attempts start in parallel, and a probe copied over while another Node
    reads it would be read half-written (a Node that runs an empty module exits 0 and says nothing)."""
    folder = mounts.work / f"node-{cell.env_key()}"
    with _LAYING:
        if (folder / READY).is_file():
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / "node_modules"
        if not link.is_symlink():
            link.symlink_to(node_modules, target_is_directory=True)
        for pattern in NODE_PROBES:
            for probe in mounts.probes.glob(pattern):
                partial = folder / f".{probe.name}.partial"
                shutil.copyfile(probe, partial)
                os.replace(partial, folder / probe.name)
        (folder / READY).write_text("{}")
    return folder


def node_binary() -> str | None:
    """The node that runs Node cells: $ZARRMATRIX_NODE if set (a path, or a name on PATH), else node on PATH;
    None where there is none."""
    wanted = os.environ.get("ZARRMATRIX_NODE") or "node"
    return shutil.which(wanted)


class NodeEnvironment(Environment):
    """An npm folder on the host; like a venv, there is nothing to release and nothing read-only."""

    def __init__(self, cell: Cell, root: Path, mounts: Mounts, *, node: str, memory_bytes: int | None = None,
                 **kwargs: Any):
        super().__init__(cell, "node", mounts, **kwargs)
        self.root = root
        self.node = node
        self.memory_bytes = memory_bytes

    def _argv(self, probe: str, args: Sequence[str]) -> list[str]:
        # Not RLIMIT_AS: V8 reserves address space for each WebAssembly memory (zarrita's zstd and blosc),
        # many GiB that are never used, and a 4 GiB address space fails every such codec.
        folder = lay_node_probes(self.mounts, self.cell, self.root / "node_modules")
        return memory_limited([self.node, str(folder / probe), *args], self.memory_bytes, "data")

    def run_probe(self, probe: str, args: Sequence[str], *, timeout: float) -> ProcessResult:
        return run_process(outliving_guard(self._argv(probe, args), timeout), timeout=timeout,
                           env=self.probe_env(), cwd=self.mounts.work)

    def start_probe(self, probe: str, args: Sequence[str], stderr: Path) -> subprocess.Popen:
        return start_process(self._argv(probe, args), stderr=stderr, env=self.probe_env(), cwd=self.mounts.work)

    def probe_env(self) -> dict[str, str]:
        env = probe_environ(self.mounts.work / "home")
        # Node's own knobs from the user's shell (NODE_OPTIONS, NODE_PATH) never reach a probe.
        env["NODE_NO_WARNINGS"] = "1"
        return env

    def limits(self) -> dict[str, Any]:
        return memory_limit_facts(self.memory_bytes, "data")

    def writer(self) -> NodeEnvironment:
        return NodeEnvironment(self.cell, self.root, self.mounts, node=self.node, memory_bytes=self.memory_bytes,
                               fixtures_writable=True, reused=self.reused, provision_s=self.provision_s)

    def identity(self) -> dict[str, Any]:
        return {"npm_folder": str(self.root), "env_key": self.cell.env_key()}


class NodeBackend(Backend):
    """npm folders under `envs_dir`, one per set of pins, installed once and reused while they hold."""

    name = "node"

    def __init__(self, envs_dir: Path, node: str, memory_bytes: int | None = None):
        self.envs_dir = envs_dir
        self.node = node
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()

    def provision(self, cell: Cell, mounts: Mounts) -> NodeEnvironment:
        root = self.envs_dir / f"node-{cell.env_key()}"
        with self._lock:
            started = time.perf_counter()
            reused = (root / READY).exists()
            if not reused:
                self._create(cell, root)
            return NodeEnvironment(cell, root, mounts, node=self.node, memory_bytes=self.memory_bytes,
                                   reused=reused, provision_s=time.perf_counter() - started)

    def _create(self, cell: Cell, root: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise EnvFailed("npm is not installed (Debian: apt-get install npm)")
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        dependencies = dict(spec.rsplit("@", 1) for spec in cell.requirements)
        (root / "package.json").write_text(json.dumps(
            {"name": "zarrmatrix-cell", "private": True, "type": "module", "dependencies": dependencies}, indent=1))
        env = dict(os.environ)
        # npm trusts the host's CA bundle (a TLS-intercepting proxy) the way pip does through PIP_CERT.
        bundle = ca_bundle(env=env)
        if bundle and "NODE_EXTRA_CA_CERTS" not in env:
            env["NODE_EXTRA_CA_CERTS"] = str(bundle)
        installed = run_process([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
                                 "--loglevel=error"], timeout=INSTALL_TIMEOUT_S, env=env, cwd=root)
        if installed.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise EnvFailed(installed.tail(4000).strip() or f"npm install exited {installed.returncode}")
        version = run_process([self.node, "--version"], timeout=60)
        (root / READY).write_text(json.dumps({
            "requirements": list(cell.requirements),
            "node": version.stdout.strip(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host_python": sys.version.split()[0],
        }, indent=1))
