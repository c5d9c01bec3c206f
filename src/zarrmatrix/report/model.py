"""The report model: merged results turned into rows, columns and cells, sorted
deterministically. Renderers (html, markdown, terminal) only read this."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from packaging.version import InvalidVersion, Version

from ..matrix import LIBRARIES
from ..verdicts import best

_LIB_ORDER = {name: i for i, name in enumerate(LIBRARIES)}


def _version_key(text: str | None) -> tuple:
    """Versions sort as versions, also where a label leads with one ("3.10 (Debian trixie)")."""
    found = re.match(r"\s*v?(\d+(\.\d+)*)", str(text or ""))
    try:
        return (0, Version(found.group(1)), str(text)) if found else (1, Version("0"), str(text))
    except InvalidVersion:
        return (1, Version("0"), str(text))


@dataclass(frozen=True)
class Reader:
    id: str
    label: str
    library: str
    version: str | None
    backend: str
    status: str
    status_reason: str | None

    def sort_key(self) -> tuple:
        return (_LIB_ORDER.get(self.library, 99), _version_key(self.version or self.label.split(" ", 1)[-1]),
                self.id)


@dataclass(frozen=True)
class FixtureColumn:
    name: str
    writer: str | None
    writer_label: str
    zarr_format: int | None
    variant: str
    synthetic: bool
    written_ok: bool

    @property
    def label(self) -> str:
        fmt = f"v{self.zarr_format}" if self.zarr_format else "v?"
        tag = " (synthetic)" if self.synthetic else ""
        return f"{self.writer_label} · {fmt} · {self.variant}{tag}"

    def sort_key(self, writers: dict[str, Reader]) -> tuple:
        w = writers.get(self.writer or "")
        lib = _LIB_ORDER.get(w.library, 99) if w else 99
        return (lib, _version_key(w.version if w else None), self.zarr_format or 0, self.variant, self.name)


@dataclass
class Summary:
    """One cell of the matrix: the best zip attempt, and the control beside it."""

    reader: str
    fixture: str
    verdict: str
    reason: str
    control_verdict: str | None
    best: dict[str, Any] | None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def zip_specific(self) -> bool:
        return self.verdict != "pass" and self.control_verdict == "pass"

    def to_json(self) -> dict[str, Any]:
        b = self.best or {}
        return {
            "reader": self.reader, "library": b.get("library"), "library_version": b.get("library_version"),
            "zarr_version": b.get("zarr_version"), "fixture": self.fixture, "verdict": self.verdict,
            "reason": self.reason, "control_verdict": self.control_verdict, "method": b.get("method"),
            "call": b.get("call"), "error_type": b.get("error_type"), "error_message": b.get("error_message"),
            "repro": b.get("repro"),
            "attempts": [{k: a.get(k) for k in ("method", "variant", "verdict", "reason", "call")}
                         for a in self.attempts],
        }


def summarize(reader: str, fixture: str, records: Sequence[dict[str, Any]]) -> Summary:
    zips = [r for r in records if r["variant"] == "zip"]
    folders = [r for r in records if r["variant"] == "folder"]
    verdict = best([r["verdict"] for r in zips]) or "skipped"
    chosen = next((r for r in zips if r["verdict"] == verdict), None)
    control = best([r["verdict"] for r in folders])
    others = sorted({r["verdict"] for r in zips} - {verdict})
    reason = chosen["reason"] if chosen else "not attempted"
    if "mismatch" in others:
        reason += " — another method returned different data (mismatch)"
    return Summary(reader, fixture, verdict, reason, control, chosen, sorted(
        records, key=lambda r: (r["variant"] != "zip", r["method"])))


@dataclass
class ReportModel:
    results: list[dict[str, Any]]
    readers: list[Reader]
    fixtures: list[FixtureColumn]
    cells: dict[tuple[str, str], Summary]
    bench: list[dict[str, Any]]
    problems: list[str]

    def summaries(self) -> list[Summary]:
        return [self.cells[(r.id, f.name)] for r in self.readers for f in self.fixtures
                if (r.id, f.name) in self.cells]


def _reader_of(result: dict[str, Any]) -> Reader:
    cell = result["cell"]
    return Reader(cell["id"], cell["label"], cell["library"], cell.get("version"), cell["backend"],
                  result["status"], result.get("status_reason"))


def build_model(results: list[dict[str, Any]], problems: Sequence[str] = ()) -> ReportModel:
    writers = {r["cell"]["id"]: _reader_of(r) for r in results}
    columns: dict[str, FixtureColumn] = {}
    for result in results:
        for rec in result["records"]:
            if rec["kind"] != "fixture":
                continue
            manifest = rec.get("manifest") or {}
            w = writers.get(rec["writer"])
            columns[rec["fixture"]] = FixtureColumn(
                name=rec["fixture"], writer=rec["writer"], writer_label=w.label if w else rec["writer"],
                zarr_format=manifest.get("zarr_format") or (3 if rec["fixture_kind"].endswith("-v3") else 2),
                variant=manifest.get("variant") or rec["fixture_kind"], synthetic=bool(manifest.get("synthetic")),
                written_ok=not rec.get("error"))
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        for rec in result["records"]:
            if rec["kind"] == "read":
                grouped.setdefault((rec["reader"], rec["fixture"]), []).append(rec)
                if rec["fixture"] not in columns:
                    columns[rec["fixture"]] = FixtureColumn(rec["fixture"], None, rec["fixture"],
                                                            rec.get("fixture_format"), "brought by the user",
                                                            False, True)
    readers = sorted((_reader_of(r) for r in results if "read" in r["cell"]["roles"]), key=Reader.sort_key)
    fixtures = sorted(columns.values(), key=lambda c: c.sort_key(writers))
    cells: dict[tuple[str, str], Summary] = {}
    for reader in readers:
        for fixture in fixtures:
            key = (reader.id, fixture.name)
            if key in grouped:
                cells[key] = summarize(reader.id, fixture.name, grouped[key])
            elif reader.status != "ok":
                cells[key] = Summary(reader.id, fixture.name, reader.status,
                                     (reader.status_reason or reader.status).strip().splitlines()[-1][:300],
                                     None, None)
            elif not fixture.written_ok:
                cells[key] = Summary(reader.id, fixture.name, "skipped", "the writer could not write this fixture",
                                     None, None)
    bench = [dict(rec, cell=r["cell"]["id"]) for r in results for rec in r["records"] if rec["kind"] == "bench"]
    return ReportModel(results, readers, fixtures, cells, bench, list(problems))
