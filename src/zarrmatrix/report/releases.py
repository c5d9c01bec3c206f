"""What each release changed: for the implementations a maintainer releases (zarr-python, GDAL, netCDF-C), each
version's reader cell against the version before it in the same run, fixture by fixture: which fixtures it reads
that the one before did not, and which it rejects that the one before read.

A GDAL version is the GDAL a cell reads with (rasterio's bundled GDAL, or an image's), a netCDF-C version the
library netCDF4 was built with, as each cell's capabilities say; a zarr-python version is the zarr cell's own.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from ..libraries import LIBRARIES, implementations
from ..records import CellResult, Verdict
from .model import READS, ReportModel, _version_key

# Squares that say nothing about the release: a cell that did not run, a fixture whose writer failed.
_NOT_RUN = (Verdict.SKIPPED, Verdict.ENV_FAILED)


@dataclass
class ReleaseChange:
    implementation: str
    version: str
    reader: str
    previous_version: str
    previous_reader: str
    gained: list[str] = field(default_factory=list)   # read now, not by the version before
    lost: list[str] = field(default_factory=list)     # read by the version before, not now
    compared: int = 0

    def sentence(self) -> str:
        parts = []
        if self.gained:
            parts.append(f"reads {len(self.gained)} fixtures {self.previous_version} did not "
                         f"({', '.join(self.gained)})")
        if self.lost:
            parts.append(f"rejects {len(self.lost)} that {self.previous_version} read ({', '.join(self.lost)})")
        said = "; ".join(parts) or f"reads what {self.previous_version} read, of {self.compared} fixtures"
        return f"{self.implementation} {self.version} ({self.reader}) after {self.previous_version}: {said}"


def implementation_version(result: CellResult) -> tuple[str, str] | None:
    """(implementation, version) of a reader cell, where its library row says the report follows its releases."""
    lib = LIBRARIES.get(result.cell.get("library") or "")
    if lib is None or lib.release_version is None:
        return None
    if not lib.release_version:
        version = result.cell.get("version")
    else:
        version = (result.environment or {}).get("capabilities") or {}
        for key in lib.release_version:
            version = version.get(key) if isinstance(version, dict) else None
    return (lib.implementation, str(version)) if version else None


def release_changes(model: ReportModel) -> list[ReleaseChange]:
    """Every followed release against the one before it, oldest first within each implementation."""
    by_impl: dict[str, list[tuple[str, str]]] = {}
    readers = {r.id for r in model.readers}
    for result in model.results:
        found = implementation_version(result)
        if found is None or result.id not in readers or result.status.value != "ok":
            continue
        by_impl.setdefault(found[0], []).append((found[1], result.id))
    changes = []
    for impl in [i for i in implementations() if i in by_impl]:
        cells = sorted(by_impl[impl], key=lambda pair: (_version_key(pair[0]), pair[1]))
        for (old_version, old), (new_version, new) in zip(cells, cells[1:]):
            if old_version == new_version:
                continue
            change = ReleaseChange(impl, new_version, new, old_version, old)
            for fixture in model.fixtures:
                before, after = model.cells.get((old, fixture.name)), model.cells.get((new, fixture.name))
                if before is None or after is None or before.verdict in _NOT_RUN or after.verdict in _NOT_RUN:
                    continue
                change.compared += 1
                if after.verdict in READS and before.verdict not in READS:
                    change.gained.append(fixture.name)
                elif before.verdict in READS and after.verdict not in READS:
                    change.lost.append(fixture.name)
            changes.append(change)
    return changes


def releases_markdown(changes: list[ReleaseChange]) -> str:
    if not changes:
        return "## What each release changed\n\nNo two versions of zarr-python, GDAL or netCDF-C in this run.\n"
    lines = ["## What each release changed", "",
             "Each version's reader against the version before it, on the fixtures both read in this run.", ""]
    lines += [f"- {change.sentence()}" for change in changes]
    return "\n".join(lines) + "\n"


def _count(fixtures: list[str]) -> str:
    return f"<b>{len(fixtures)}</b>: {html.escape(', '.join(fixtures))}" if fixtures else "—"


def releases_html(changes: list[ReleaseChange]) -> str:
    e = html.escape
    if not changes:
        return "<p>No two versions of zarr-python, GDAL or netCDF-C in this run.</p>"
    rows = []
    for c in changes:
        rows.append(
            f"<tr><td>{e(c.implementation)}</td><td><b>{e(c.version)}</b> <code>{e(c.reader)}</code></td>"
            f"<td>{e(c.previous_version)} <code>{e(c.previous_reader)}</code></td>"
            f"<td>{_count(c.gained)}</td><td>{_count(c.lost)}</td><td>{c.compared}</td></tr>")
    return ("<table><thead><tr><th>implementation</th><th>version</th><th>after</th><th>newly read</th>"
            "<th>newly rejected</th><th>fixtures compared</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")
