"""What a zip is, read from its bytes with no library under test: its members and
their compression, duplicates, ZIP64, the order of its metadata, its comment, junk
and directory entries, where the Zarr root is, and an RFC-9 (zipped OME-Zarr, .ozx)
verdict in the categories of the OME-Zarr zip test kit.

Python's zipfile says little about ZIP64, so the end records and every header's
extra fields are read here; zipfile gives the member list.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

EOCD = b"PK\x05\x06"
EOCD64_LOCATOR = b"PK\x06\x07"
ZIP64_EXTRA = 0x0001
METADATA = ("zarr.json", ".zgroup", ".zarray")
JUNK_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")
RFC9_COMMENT = {"ome": {"version": "0.5"}}


@dataclass
class Rfc9:
    """RFC-9's recommendations for a zipped OME-Zarr: errors make it no .ozx, warnings a poor one."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "invalid" if self.errors else ("valid, with warnings" if self.warnings else "valid")


@dataclass
class ZipFacts:
    path: str
    bytes: int
    is_zip: bool
    problem: str | None = None
    members: int = 0
    compression: dict[str, int] = field(default_factory=dict)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    zip64_end_record: bool = False
    zip64_members: int = 0
    multipart: bool = False
    comment: str | None = None
    comment_json: Any = None
    directory_entries: int = 0
    junk: list[str] = field(default_factory=list)
    nested_zips: list[str] = field(default_factory=list)
    root: str | None = None
    zarr_format: int | None = None
    metadata_first_local: bool = False
    metadata_first_central: bool = False
    central_matches_local: bool = True
    rfc9: Rfc9 = field(default_factory=Rfc9)

    @property
    def nested(self) -> bool:
        """The store sits under a folder of the zip, not at its root (what `zip -r x.zip x.zarr` makes)."""
        return bool(self.root)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["nested"] = self.nested
        data["rfc9"]["verdict"] = self.rfc9.verdict
        return data

    def summary(self) -> str:
        """One line, for a table."""
        if not self.is_zip:
            return f"not a zip: {self.problem}"
        parts = [f"{self.members} members", "+".join(f"{k} {v}" for k, v in sorted(self.compression.items()))]
        if self.duplicates:
            parts.append(f"{sum(d['count'] - 1 for d in self.duplicates)} duplicate entries")
        if self.zip64_end_record or self.zip64_members:
            parts.append("ZIP64")
        if self.nested:
            parts.append(f"store nested under {self.root}/")
        if self.junk:
            parts.append(f"{len(self.junk)} junk entries")
        if self.directory_entries:
            parts.append(f"{self.directory_entries} directory entries")
        parts.append(f"RFC-9: {self.rfc9.verdict}")
        return ", ".join(parts)


def _extra_ids(extra: bytes) -> set[int]:
    ids, at = set(), 0
    while at + 4 <= len(extra):
        header, size = struct.unpack_from("<HH", extra, at)
        ids.add(header)
        at += 4 + size
    return ids


def _end_records(data: bytes) -> tuple[bool, bool]:
    """(a ZIP64 end record is there, the archive spans several disks) from the end of central directory."""
    at = data.rfind(EOCD, max(0, len(data) - 65557))
    if at < 0:
        return False, False
    disk, cd_disk = struct.unpack_from("<HH", data, at + 4)
    zip64 = at >= 20 and data[at - 20:at - 16] == EOCD64_LOCATOR
    return zip64, disk != 0 or cd_disk != 0


def _is_junk(name: str) -> bool:
    return name.startswith("__MACOSX/") or PurePosixPath(name).name in JUNK_NAMES


def find_root(names: list[str]) -> tuple[str | None, int | None]:
    """The folder of the zip that holds the Zarr root ("" for the zip's own root), and its format."""
    best: tuple[int, str, int] | None = None
    for name in names:
        if _is_junk(name):
            continue
        path = PurePosixPath(name)
        if path.name not in METADATA:
            continue
        folder = "" if str(path.parent) == "." else str(path.parent)
        depth = 0 if not folder else folder.count("/") + 1
        fmt = 3 if path.name == "zarr.json" else 2
        if best is None or (depth, folder) < (best[0], best[1]):
            best = (depth, folder, fmt)
    return (best[1], best[2]) if best else (None, None)


def _metadata_first(order: list[str], root: str) -> bool:
    """RFC-9's order: the root zarr.json first, the other zarr.json files right after it, breadth-first."""
    meta = [n for n in order if PurePosixPath(n).name == "zarr.json"]
    if not meta or order[: len(meta)] != meta:
        return False
    root_meta = f"{root}/zarr.json" if root else "zarr.json"
    depths = [n.count("/") for n in meta]
    return meta[0] == root_meta and depths == sorted(depths)


def inspect_zip(path: Path) -> ZipFacts:
    if not path.is_file():
        facts = ZipFacts(path=str(path), bytes=0, is_zip=False,
                         problem="is a directory" if path.is_dir() else "no such file")
        facts.rfc9.errors.append(facts.problem)
        return facts
    data = path.read_bytes()
    facts = ZipFacts(path=str(path), bytes=len(data), is_zip=zipfile.is_zipfile(path))
    if not facts.is_zip:
        facts.problem = "no end of central directory record" if EOCD not in data[-65557:] else "unreadable"
        facts.rfc9.errors.append("not a zip file")
        return facts
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            comment = zf.comment
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        facts.is_zip, facts.problem = False, f"{type(exc).__name__}: {exc}"
        facts.rfc9.errors.append("not a readable zip file")
        return facts
    names = [i.filename for i in infos]
    facts.members = len(infos)
    facts.compression = dict(Counter(zipfile.compressor_names.get(i.compress_type, str(i.compress_type))
                                     for i in infos if not i.is_dir()))
    for name, count in sorted(Counter(names).items()):
        if count > 1:
            same = [i for i in infos if i.filename == name]
            facts.duplicates.append({"name": name, "count": count,
                                     "last_is_latest_written": same[-1].header_offset == max(
                                         i.header_offset for i in same)})
    facts.zip64_end_record, facts.multipart = _end_records(data)
    for info in infos:
        local = data[info.header_offset:info.header_offset + 30]
        local_extra = b""
        if len(local) == 30 and local[:4] == b"PK\x03\x04":
            name_len, extra_len = struct.unpack_from("<HH", local, 26)
            start = info.header_offset + 30 + name_len
            local_extra = data[start:start + extra_len]
        if ZIP64_EXTRA in _extra_ids(info.extra) | _extra_ids(local_extra):
            facts.zip64_members += 1
    facts.comment = comment.decode("utf-8", errors="replace") if comment else None
    if facts.comment:
        try:
            facts.comment_json = json.loads(facts.comment)
        except ValueError:
            facts.comment_json = None
    facts.directory_entries = sum(i.is_dir() for i in infos)
    facts.junk = [n for n in names if _is_junk(n)]
    facts.nested_zips = [n for n in names if n.lower().endswith((".zip", ".ozx"))]
    facts.root, facts.zarr_format = find_root(names)
    files = [n for n in names if not n.endswith("/")]
    local_order = [i.filename for i in sorted(infos, key=lambda i: i.header_offset) if not i.is_dir()]
    facts.central_matches_local = files == local_order
    root = facts.root or ""
    facts.metadata_first_central = _metadata_first(files, root)
    facts.metadata_first_local = _metadata_first(local_order, root)
    facts.rfc9 = rfc9_verdict(facts, path)
    return facts


def rfc9_verdict(facts: ZipFacts, path: Path) -> Rfc9:
    verdict = Rfc9()
    if facts.root != "" or facts.zarr_format != 3:
        where = "no Zarr metadata" if facts.root is None else (
            f"the store is nested under {facts.root}/" if facts.root else "Zarr format 2 metadata")
        verdict.errors.append(f"root not Zarr v3: {where}")
    if facts.nested_zips:
        verdict.errors.append(f"a zip inside the zip: {', '.join(facts.nested_zips[:3])}")
    if facts.multipart:
        verdict.errors.append("multi-part (split) archive")
    if not (isinstance(facts.comment_json, dict) and isinstance(facts.comment_json.get("ome"), dict)
            and facts.comment_json["ome"].get("version")):
        verdict.warnings.append(f"missing comment: expected the JSON {json.dumps(RFC9_COMMENT)}")
    if not (facts.zip64_end_record and facts.zip64_members == facts.members):
        verdict.warnings.append(f"not ZIP64 (end record: {'yes' if facts.zip64_end_record else 'no'}, "
                                f"{facts.zip64_members} of {facts.members} members)")
    if not (facts.metadata_first_local and facts.metadata_first_central):
        verdict.warnings.append("unsorted: the root zarr.json first and the other zarr.json files breadth-first, "
                                "in the local headers and the central directory")
    deflated = {k: v for k, v in facts.compression.items() if k != "store"}
    if deflated:
        verdict.warnings.append("DEFLATE-compressed: " + ", ".join(f"{v} members {k}" for k, v in deflated.items())
                                + " (RFC-9 asks for STORED)")
    if path.suffix.lower() != ".ozx":
        verdict.warnings.append(f"not named .ozx ({path.name})")
    return verdict
