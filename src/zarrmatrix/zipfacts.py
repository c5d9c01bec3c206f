"""What a zip is, read from its bytes with no library under test: its members and
their compression, duplicates, ZIP64, the order of its metadata, its comment, junk
and directory entries, where the Zarr root is, the arrays its metadata lists, what
is damaged or unsafe in it, and an RFC-9 (zipped OME-Zarr, .ozx) verdict in the
categories of the OME-Zarr zip test kit.

A zip brought by a user may be tens of GB, or hostile: the end records, the central
directory and each local header are read with seeks (memory grows with the number of
members, never with the file), duplicates are found with a dict, and the comment is
parsed only when it is nested no deeper than COMMENT_DEPTH. zipfile gives the member
list; the end records and every header's extra fields are read here, since zipfile
says little about ZIP64 and nothing about counts and offsets that disagree.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .features import features_of
from .rfc9 import Rfc9, rfc9_verdict
from .safefs import UnsafeInput, not_regular, open_regular
from .zip_layout import METADATA, find_store, folder_of, is_junk, metadata_first, unsafe_name

EOCD = b"PK\x05\x06"
EOCD64 = b"PK\x06\x06"
EOCD64_LOCATOR = b"PK\x06\x07"
LOCAL = b"PK\x03\x04"
# The first bytes of every segment of a split archive but the last (APPNOTE 8.5.3).
SPANNED = b"PK\x07\x08"
ZIP_MAGICS = (LOCAL, EOCD, SPANNED)
ZIP64_EXTRA = 0x0001
# The end record, with the longest comment a zip can have.
TAIL = 22 + 65535
COMMENT_DEPTH = 32
# A metadata document larger than this is not parsed (real ones are a few kB).
METADATA_MAX_BYTES = 16 << 20
# Bytes read at each local header: the header, its name, and usually its extra field and first data bytes.
LOCAL_READ = 30 + 512


@dataclass
class ZipFacts:
    path: str
    bytes: int
    is_zip: bool
    problem: str | None = None
    # What is damaged or unsafe in a readable zip: headers, counts and offsets that disagree, unsafe names.
    problems: list[str] = field(default_factory=list)
    members: int = 0
    compression: dict[str, int] = field(default_factory=dict)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    zip64_end_record: bool = False
    zip64_members: int = 0
    multipart: bool = False
    comment: str | None = None
    comment_json: Any = None
    comment_problem: str | None = None
    directory_entries: int = 0
    junk: list[str] = field(default_factory=list)
    nested_zips: list[str] = field(default_factory=list)
    root: str | None = None
    zarr_format: int | None = None
    # Where the root folder holds no metadata of its own: the nodes below it, each read as a store of its own.
    parts: list[str] = field(default_factory=list)
    # The arrays the metadata lists: path below the root, shape, data type as written.
    arrays: list[dict[str, Any]] = field(default_factory=list)
    root_metadata_problem: str | None = None
    metadata_first_local: bool = False
    metadata_first_central: bool = False
    central_matches_local: bool = True
    rfc9: Rfc9 = field(default_factory=Rfc9)

    @property
    def nested(self) -> bool:
        """The store sits under a folder of the zip, not at its root (what `zip -r x.zip x.zarr` makes)."""
        return bool(self.root)

    @property
    def valid(self) -> bool:
        """A readable zip, undamaged, holding a Zarr store whose root metadata reads; named .ozx, an RFC-9
        one too."""
        return (self.is_zip and not self.problems and self.root is not None and not self.root_metadata_problem
                and not (self.path.lower().endswith(".ozx") and self.rfc9.errors))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["nested"] = self.nested
        data["valid"] = self.valid
        data["rfc9"]["verdict"] = self.rfc9.verdict
        return data

    def summary(self) -> str:
        """One line, for a table."""
        if not self.is_zip:
            return f"not a zip: {self.problem}"
        parts = ["valid" if self.valid else "INVALID", f"{self.members} members",
                 "+".join(f"{k} {v}" for k, v in sorted(self.compression.items()))]
        if self.problems:
            parts.append(f"{len(self.problems)} problems")
        if self.duplicates:
            parts.append(f"{sum(d['count'] - 1 for d in self.duplicates)} duplicate entries")
        if self.zip64_end_record or self.zip64_members:
            parts.append("ZIP64")
        if self.nested:
            parts.append(f"store nested under {self.root}/")
        if self.parts:
            parts.append(f"no root group: {len(self.parts)} nodes at the root")
        if self.junk:
            parts.append(f"{len(self.junk)} junk entries")
        if self.directory_entries:
            parts.append(f"{self.directory_entries} directory entries")
        parts.append(f"RFC-9: {self.rfc9.verdict}")
        return ", ".join(p for p in parts if p)


def _extra_ids(extra: bytes) -> set[int]:
    ids, at = set(), 0
    while at + 4 <= len(extra):
        header, size = struct.unpack_from("<HH", extra, at)
        ids.add(header)
        at += 4 + size
    return ids


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def bounded_json(text: str, what: str) -> Any:
    """JSON nested no deeper than COMMENT_DEPTH; ValueError otherwise."""
    if json_depth(text) > COMMENT_DEPTH:
        raise ValueError(f"{what} nests deeper than {COMMENT_DEPTH} levels; not parsed")
    return json.loads(text)


@dataclass
class _EndRecords:
    at: int              # where the end record starts in the file
    disk: int
    cd_disk: int
    entries: int         # what the end records claim
    cd_size: int
    cd_offset: int
    comment: bytes
    zip64: bool
    cd_end: int          # where the central directory must end: the ZIP64 end record, or the end record


def _end_records(fd: int, size: int) -> _EndRecords | None:
    start = max(0, size - TAIL)
    tail = os.pread(fd, size - start, start)
    at = tail.rfind(EOCD)
    while at >= 0 and at + 22 > len(tail):
        at = tail.rfind(EOCD, 0, at)
    if at < 0:
        return None
    disk, cd_disk, _, entries, cd_size, cd_offset, comment_len = struct.unpack_from("<HHHHIIH", tail, at + 4)
    comment = tail[at + 22: at + 22 + comment_len]
    record = _EndRecords(start + at, disk, cd_disk, entries, cd_size, cd_offset, comment, False, start + at)
    locator_at = start + at - 20
    if locator_at >= 0:
        locator = os.pread(fd, 20, locator_at)
        if locator[:4] == EOCD64_LOCATOR:
            _, eocd64_at, _ = struct.unpack_from("<IQI", locator, 4)
            eocd64 = os.pread(fd, 56, eocd64_at) if eocd64_at < size else b""
            record.zip64 = True
            if len(eocd64) == 56 and eocd64[:4] == EOCD64:
                disk64, cd_disk64, _, entries64, cd_size64, cd_offset64 = struct.unpack_from("<IIQQQQ", eocd64, 16)
                record.disk, record.cd_disk = max(disk, disk64), max(cd_disk, cd_disk64)
                record.entries, record.cd_size, record.cd_offset = entries64, cd_size64, cd_offset64
                record.cd_end = eocd64_at
    return record


def inspect_zip(path: Path) -> ZipFacts:
    why = not_regular(path)
    if why:
        return _not_a_zip(path, 0, why)
    try:
        fd = open_regular(path)
    except UnsafeInput as exc:
        return _not_a_zip(path, 0, str(exc))
    try:
        return _inspect(path, fd)
    finally:
        os.close(fd)


def _not_a_zip(path: Path, size: int, problem: str, *, multipart: bool = False) -> ZipFacts:
    facts = ZipFacts(path=str(path), bytes=size, is_zip=False, problem=problem, multipart=multipart)
    facts.rfc9.errors.append("multi-part (split) archive" if multipart else
                             "not a zip file" if "central directory" in problem else problem)
    return facts


def _inspect(path: Path, fd: int) -> ZipFacts:
    size = os.fstat(fd).st_size
    head = os.pread(fd, 4, 0)
    end = _end_records(fd, size)
    if head == SPANNED:
        return _not_a_zip(path, size, "a segment of a split (multi-part) archive", multipart=True)
    if end is None:
        return _not_a_zip(path, size, "no end of central directory record")
    if end.disk or end.cd_disk:
        return _not_a_zip(path, size, f"the last segment of a split (multi-part) archive (disk {end.disk}; its "
                                      f"central directory starts on disk {end.cd_disk})", multipart=True)
    facts = ZipFacts(path=str(path), bytes=size, is_zip=True, zip64_end_record=end.zip64)
    try:
        with open(fd, "rb", closefd=False) as handle, zipfile.ZipFile(handle) as zf:
            infos = zf.infolist()
            _read_members(facts, zf, infos, fd, size)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError,
            struct.error) as exc:
        facts.is_zip, facts.problem = False, f"{type(exc).__name__}: {exc}"
        facts.rfc9.errors.append("not a readable zip file")
        return facts
    if end.entries != len(infos):
        facts.problems.append(f"the end record claims {end.entries:,} entries; the central directory holds "
                              f"{len(infos):,}")
    if end.cd_offset + end.cd_size != end.cd_end:
        facts.problems.append(f"the end record places the central directory at {end.cd_offset:,} with "
                              f"{end.cd_size:,} bytes, ending at {end.cd_offset + end.cd_size:,}; it ends at "
                              f"{end.cd_end:,} (data before the zip, or a damaged record)")
    _read_comment(facts, end.comment)
    facts.rfc9 = rfc9_verdict(facts, path)
    return facts


def _read_members(facts: ZipFacts, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], fd: int, size: int) -> None:
    names = [i.filename for i in infos]
    facts.members = len(infos)
    facts.compression = dict(Counter(zipfile.compressor_names.get(i.compress_type, str(i.compress_type))
                                     for i in infos if not i.is_dir()))
    by_name: dict[str, list[zipfile.ZipInfo]] = {}
    for info in infos:
        by_name.setdefault(info.filename, []).append(info)
    for name, same in sorted(by_name.items()):
        if len(same) > 1:
            facts.duplicates.append({"name": name, "count": len(same),
                                     "last_is_latest_written": same[-1].header_offset == max(
                                         i.header_offset for i in same),
                                     "differ": _copies_differ(same)})
    for name in by_name:
        why = unsafe_name(name)
        if why:
            facts.problems.append(f"member {name!r}: unsafe name ({why})")
    damaged = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        problem = _check_local(facts, info, fd, size)
        if problem:
            damaged += 1
            if damaged <= 20:
                facts.problems.append(f"member {info.filename!r}: {problem}")
    if damaged > 20:
        facts.problems.append(f"... and {damaged - 20:,} more members with a damaged local header")
    facts.directory_entries = sum(i.is_dir() for i in infos)
    facts.junk = [n for n in names if is_junk(n)]
    facts.root, facts.zarr_format, facts.parts = find_store(names)
    files = [n for n in names if not n.endswith("/")]
    local_order = [i.filename for i in sorted(infos, key=lambda i: i.header_offset) if not i.is_dir()]
    facts.central_matches_local = files == local_order
    root = facts.root or ""
    facts.metadata_first_central = metadata_first(files, root)
    facts.metadata_first_local = metadata_first(local_order, root)
    if facts.root is not None:
        _read_metadata(facts, zf, by_name)


def _check_local(facts: ZipFacts, info: zipfile.ZipInfo, fd: int, size: int) -> str | None:
    """Check one member's local header against its central entry, count its ZIP64 extra field, and look at
    its first bytes for a zip inside the zip. What is wrong, or None."""
    if info.header_offset + 30 > size:
        return f"its local header would start at {info.header_offset:,}, past the end of the file"
    raw_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", errors="replace")
    block = os.pread(fd, LOCAL_READ + len(raw_name), info.header_offset)
    if block[:4] != LOCAL:
        return f"no local header at offset {info.header_offset:,}"
    name_len, extra_len = struct.unpack_from("<HH", block, 26)
    if block[30:30 + name_len] != raw_name:
        return (f"its local header names {block[30:30 + name_len].decode('utf-8', 'replace')!r}; the central "
                "directory names it otherwise")
    start = 30 + name_len
    extra = block[start:start + extra_len]
    if len(extra) < extra_len:
        extra = os.pread(fd, extra_len, info.header_offset + start)
    if ZIP64_EXTRA in _extra_ids(info.extra) | _extra_ids(extra):
        facts.zip64_members += 1
    data_at = info.header_offset + start + extra_len
    if data_at + info.compress_size > size:
        return f"its data would end at {data_at + info.compress_size:,}, past the end of the file ({size:,})"
    if not info.is_dir() and info.file_size >= 4 and _looks_like_zip(info, block[start + extra_len:], fd, data_at):
        facts.nested_zips.append(info.filename)
    return None


def _looks_like_zip(info: zipfile.ZipInfo, first: bytes, fd: int, data_at: int) -> bool:
    """The member's content begins as a zip does (by its bytes, whatever its name)."""
    if len(first) < 16:
        first = os.pread(fd, 64, data_at)
    if info.compress_type == zipfile.ZIP_STORED:
        return first[:4] in ZIP_MAGICS
    if info.compress_type == zipfile.ZIP_DEFLATED:
        try:
            return zlib.decompressobj(-15).decompress(first[:info.compress_size], 4) in ZIP_MAGICS
        except zlib.error:
            return False
    return False


def _read_metadata(facts: ZipFacts, zf: zipfile.ZipFile, by_name: dict[str, list[zipfile.ZipInfo]]) -> None:
    """The root's metadata must read; and every array the metadata lists, with its shape and data type."""
    root = facts.root or ""
    prefix = f"{root}/" if root else ""
    tops = [f"{prefix}{part}/" for part in facts.parts] or [prefix]
    docs = [f"{top}{m}" for top in tops for m in METADATA if f"{top}{m}" in by_name]
    for doc in docs:
        try:
            _load_member(zf, by_name[doc][-1])
        except (ValueError, OSError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            facts.root_metadata_problem = f"{doc}: cannot be read: {type(exc).__name__}: {str(exc)[:200]}"
            facts.problems.append(f"the root metadata {facts.root_metadata_problem}")
            break
    for name, same in sorted(by_name.items()):
        leaf = PurePosixPath(name).name
        if leaf not in (".zarray", "zarr.json") or not name.startswith(prefix) or is_junk(name):
            continue
        try:
            meta = _load_member(zf, same[-1])
        except (ValueError, OSError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
            continue
        if not isinstance(meta, dict) or (leaf == "zarr.json" and meta.get("node_type") != "array"):
            continue
        folder = folder_of(name)
        path = folder[len(prefix):] if prefix else folder
        if root and folder == root:
            path = ""
        features = features_of(meta)
        if _copies_differ(same):
            features.append("stale-duplicate-v2" if leaf == ".zarray" else "stale-duplicate")
        facts.arrays.append({"path": path, "shape": meta.get("shape"),
                             "dtype": meta.get("dtype", meta.get("data_type")), "features": features})


def _copies_differ(same: list[zipfile.ZipInfo]) -> bool:
    """Whether members of one name hold different contents: a stale copy (metadata written again after a change),
    not a repeat."""
    return len({(i.CRC, i.file_size) for i in same}) > 1


def _load_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    if info.file_size > METADATA_MAX_BYTES:
        raise ValueError(f"{info.file_size:,} bytes, over {METADATA_MAX_BYTES:,}")
    with zf.open(info) as handle:
        text = handle.read(METADATA_MAX_BYTES + 1).decode("utf-8")
    return bounded_json(text, info.filename)


def _read_comment(facts: ZipFacts, comment: bytes) -> None:
    # RFC-9's comment is null-terminated.
    facts.comment = comment.decode("utf-8", errors="replace") if comment else None
    if not facts.comment:
        return
    try:
        facts.comment_json = bounded_json(facts.comment.rstrip("\0"), "the comment")
    except ValueError as exc:
        facts.comment_json = None
        if "nests deeper" in str(exc):
            facts.comment_problem = str(exc)


