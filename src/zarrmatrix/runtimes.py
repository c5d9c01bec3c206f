"""What runs a library's probes: Python or Node. Everything that differs between them lives here, named by the
library row (`Library.runtime`): the probes' file extension, the registry its packages and versions rules come
from, how a pin and a version are written, the Dockerfile and base image of its cells under Docker, where it runs
on the host, whether each cell chooses its interpreter, and whether it can fork an attempt from a warm server.
A third runtime (Rust, through a Python binding or a binary of its own) is one more instance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

_DIST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_NPM_NAME = re.compile(r"(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*")
_NPM_VERSION = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")


class PinError(ValueError):
    """A pin or version that is not of the runtime's grammar; the message says what is expected."""


def _pypi_pin(name: str, spec: str) -> str:
    if not _DIST_NAME.fullmatch(name):
        raise PinError(f"'{name}' is not a valid distribution name")
    try:
        SpecifierSet(spec)
    except InvalidSpecifier as exc:
        raise PinError(f"{spec!r} is not a PEP 440 version specifier (e.g. '<0.16', '==2.18.7')") from exc
    try:
        return str(Requirement(f"{name}{spec}"))
    except InvalidRequirement as exc:
        raise PinError(f"{name}{spec!r} is not a valid requirement: {exc}") from exc


def _npm_pin(name: str, version: str) -> str:
    if not _NPM_NAME.fullmatch(name):
        raise PinError(f"'{name}' is not a valid npm package name")
    if not _NPM_VERSION.fullmatch(version):
        raise PinError(f"{version!r} is not an exact npm version (e.g. '0.2.0')")
    return f"{name}@{version}"


def _npm_version(dist: str, version: str) -> str:
    if not _NPM_VERSION.fullmatch(version):
        raise PinError(f"{version!r} is not an exact npm version (e.g. '0.7.5')")
    return f"{dist}@{version}"


@dataclass(frozen=True)
class Runtime:
    name: str
    extension: str                       # of its probes: read_<library>.<extension>
    registry: str                        # where its packages and versions rules come from
    dockerfile: str                      # docker/<dockerfile>.Dockerfile builds its cells' images
    host_backend: str                    # the backend that runs its cells on the host
    # Each cell runs on an interpreter of its own choosing (python: auto); False where one serves all.
    chooses_interpreter: bool
    # A probe can serve attempts from a warm interpreter, forking one child each (Node cannot fork).
    supports_fork_server: bool
    # Requirements every cell gets unless it pins them itself.
    implicit: tuple[str, ...]
    pin: Callable[[str, str], str]       # (name, spec) -> the requirement; PinError where it is not one
    version: Callable[[str, str], str]   # (distribution, exact version) -> the requirement
    package_of: Callable[[str], str]     # a requirement -> its package name

    # The public base image of a cell's image, for the Python it runs on (mapped to a local one offline).
    base_image: Callable[[str], str]
    exact: Callable[[str], str]          # an exact version as a pin's spec: "==1.2.3" or "1.2.3"

    def where(self, python: str | None, missing: str | None) -> str:
        """Where a cell of this runtime runs on the host, for `zarrmatrix list`."""
        if not self.chooses_interpreter:
            return f"{self.name} (npm folder)"
        return f"{self.name} {python}" if python else f"skipped: {missing}"


PYTHON = Runtime("python", "py", "pypi", "python", "venv", chooses_interpreter=True, supports_fork_server=True,
                 implicit=("numpy",), pin=_pypi_pin, version=lambda dist, v: f"{dist}=={v}",
                 package_of=lambda requirement: Requirement(requirement).name,
                 base_image=lambda python: f"python:{python}-slim", exact=lambda v: f"=={v}")
# Debian's nodejs (18 in bookworm) runs zarrita; the same local base serves the GDAL 3.6 cell.
NODE = Runtime("node", "mjs", "npm", "node", "node", chooses_interpreter=False, supports_fork_server=False,
               implicit=(), pin=_npm_pin, version=_npm_version,
               package_of=lambda requirement: requirement.rsplit("@", 1)[0],
               base_image=lambda python: "debian:bookworm-slim", exact=lambda v: v)
