"""triage.yaml: which upstream issue explains a square. Each entry names a reader (a library or an
implementation), the features or fixtures it covers, the implementation versions it holds for, and the issue's
URL with a one-line note. The report links the squares it matches; `check` prints it beside the verdict."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .libraries import LIBRARIES
from .matrix.load import _key_path, _line_of, read_yaml
from .matrix.model import MatrixError

TRIAGE_FILE = "triage.yaml"
TRIAGE_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Known:
    reader: str
    url: str
    note: str
    feature: str | None = None
    fixture: str | None = None
    versions: SpecifierSet | None = None

    @property
    def label(self) -> str:
        """owner/repo#number for a GitHub issue or pull request, else the URL."""
        found = re.match(r"https://github\.com/([^/]+/[^/]+)/(?:issues|pull)/(\d+)", self.url)
        return f"{found.group(1)}#{found.group(2)}" if found else self.url

    def matches(self, library: str, feature: str | None, fixture: str, version: str | None) -> bool:
        lib = LIBRARIES.get(library)
        if self.reader not in (library, lib.implementation if lib else None):
            return False
        if self.feature is not None and (feature is None or not fnmatchcase(feature, self.feature)):
            return False
        if self.fixture is not None and not fnmatchcase(fixture, self.fixture):
            return False
        if self.versions is not None:
            try:
                return version is not None and Version(version) in self.versions
            except InvalidVersion:
                return False
        return True


@dataclass(frozen=True)
class Triage:
    known: tuple[Known, ...] = ()

    def find(self, library: str, feature: str | None, fixture: str, version: str | None) -> Known | None:
        return next((k for k in self.known if k.matches(library, feature, fixture, version)), None)


def load_triage(path: Path) -> Triage:
    """The triage file, validated (exit 2 with the file, the key and the line on bad input); empty where absent."""
    if not path.exists():
        return Triage()
    schema = json.loads(resources.files("zarrmatrix.schemas").joinpath("triage.schema.json").read_text())
    root = read_yaml(path, TRIAGE_MAX_BYTES, "the triage file", schema, "expected schema_version and known")
    readers = set(LIBRARIES) | {lib.implementation for lib in LIBRARIES.values()}
    entries = []
    for index, entry in enumerate(root["known"]):
        at = ["known", index]
        if entry["reader"] not in readers:
            raise MatrixError(path, _key_path(at + ["reader"]), _line_of(root, at + ["reader"]),
                              f"unknown reader {entry['reader']!r}; expected a library or an implementation: "
                              f"{', '.join(sorted(readers))}")
        versions = None
        if "versions" in entry:
            try:
                versions = SpecifierSet(entry["versions"])
            except InvalidSpecifier:
                raise MatrixError(path, _key_path(at + ["versions"]), _line_of(root, at + ["versions"]),
                                  f"{entry['versions']!r} is not a version range (e.g. '>=3.10,<3.13')") from None
        entries.append(Known(entry["reader"], entry["url"], entry["note"], entry.get("feature"), entry.get("fixture"),
                             versions))
    return Triage(tuple(entries))


def triage_json(known: Known | None) -> dict[str, Any] | None:
    return None if known is None else {"label": known.label, "url": known.url, "note": known.note}
