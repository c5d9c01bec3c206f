"""From what a probe saw to one verdict, with a short classified reason.

Probes report observations (arrays read, their checksums, exceptions); the
verdict is decided here, against the writer's manifest, in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .libraries import LIBRARIES
from .process import ProcessResult
from .records import Verdict


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    error_type: str | None = None
    error_message: str | None = None
    arrays: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What a reason may depend on besides the error itself."""

    library: str
    zarr_version: str | None
    fixture_format: int | None
    variant: str | None = None
    gdal_version: str | None = None


def _zarr_major(version: str | None) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except (TypeError, ValueError):
        return None


_Rule = tuple[Callable[[str, str, Context], bool], Callable[[str, str, Context], str]]


def _matches(pattern: str) -> Callable[[str, str, Context], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    return lambda etype, msg, ctx: bool(rx.search(f"{etype}: {msg}"))


def _group(pattern: str, template: str) -> Callable[[str, str, Context], str]:
    rx = re.compile(pattern, re.IGNORECASE)

    def reason(etype: str, msg: str, ctx: Context) -> str:
        found = rx.search(f"{etype}: {msg}")
        return template.format(*found.groups()) if found else template
    return reason


def _const(text: str) -> Callable[[str, str, Context], str]:
    return lambda etype, msg, ctx: text


def _v3_on_zarr2(etype: str, msg: str, ctx: Context) -> bool:
    return ctx.fixture_format == 3 and _zarr_major(ctx.zarr_version) == 2


def _gdal_minor(version: str | None) -> tuple[int, int] | None:
    found = re.match(r"\s*(\d+)\.(\d+)", str(version or ""))
    return (int(found.group(1)), int(found.group(2))) if found else None


def _gdal_found_nothing(msg: str, ctx: Context) -> bool:
    lib = LIBRARIES.get(ctx.library)
    return lib is not None and lib.implementation == "GDAL" and bool(
        re.search(r"No such file or directory|does not exist", msg))


def _v3_on_old_gdal(etype: str, msg: str, ctx: Context) -> bool:
    # GDAL before 3.8 knows only a draft of v3: it looks for v2 metadata and finds "no such file".
    version = _gdal_minor(ctx.gdal_version)
    return ctx.fixture_format == 3 and version is not None and version < (3, 8) and _gdal_found_nothing(msg, ctx)


def _path_string_on_zip(etype: str, msg: str, ctx: Context) -> bool:
    # zarr 3 opens a path string as a directory: on a zip that is a caveat of the call, not of the zip.
    return ctx.variant == "zip" and "No group found in store StorePath(LocalStore" in msg


NOT_A_ZIP = "not a valid zip file"
PATH_STRING_CAVEAT = "a path string opens a directory store, not the zip"
CORRUPT_MEMBER = "corrupt zip member"
# Reasons that say the file is damaged, not that the library reads only part of it.
CORRUPT_ZIP = (NOT_A_ZIP, CORRUPT_MEMBER)

# Ordered: the first rule that matches names the reason.
RULES: list[_Rule] = [
    (_matches(r"No module named '([\w.]+)'"), _group(r"No module named '([\w.]+)'", "{0} is not installed")),
    (_matches(r"not turned on when netCDF was built"), _const("netCDF-C built without NCZarr zip support")),
    (_matches(r"Decompressor (\w+) not handled"), _group(r"Decompressor (\w+) not handled",
                                                          "GDAL built without the {0} codec")),
    (_matches(r"Unsupported codec: ?([\w.]+)"), _group(r"Unsupported codec: ?([\w.]+)",
                                                       "codec '{0}' not supported")),
    # Before "not a zip": zipfile raises a bad CRC as BadZipFile too. Tight, so a file named crc.zip is no CRC error.
    (_matches(r"Bad CRC-32|CRC check failed|Error -3 while decompressing|invalid (stored block|distance|code)"),
     _const(CORRUPT_MEMBER)),
    (_matches(r"BadZipFile|not a zip file|Bad magic number for (central directory|file header)"),
     _const(NOT_A_ZIP)),
    (_v3_on_zarr2, _const("no Zarr v3 support")),
    (_v3_on_old_gdal, _const("this GDAL does not read the final Zarr v3 format")),
    (lambda etype, msg, ctx: _gdal_found_nothing(msg, ctx),
     _const("GDAL found no Zarr array it could open there (it says: no such file)")),
    # netCDF-C writes uint8 as "<u1", a byte order on a one-byte type, which zarr 3.1 to 3.3 reject and 3.0 and
    # 3.4 read (the same family as zarr-developers/zarr-python#3622, ">u1").
    (_matches(r"No Zarr data type found that matches \{'name': '([^']+)'"),
     _group(r"No Zarr data type found that matches \{'name': '([^']+)'", "this zarr rejects the data type '{0}'")),
    # GDAL 3.10 writes v3 arrays without a `codecs` member where nothing compresses them.
    (_matches(r"missing field `codecs`|KeyError: 'codecs'"),
     _const("the array metadata has no codecs member, which this reader requires")),
    # The v3 spec lets a codec without configuration be named by a bare string (zarrs writes crc32c so).
    (_matches(r"Expected dict, got <class 'str'>"),
     _const("a codec named by a bare string (the v3 spec allows it), which this reader does not parse")),
    # VirtualiZarr maps chunks to byte ranges of the zip, which a compressed member has not.
    (_matches(r"members of .* are compressed"),
     _const("maps STORED zip members only; this zip's members are compressed (DEFLATE)")),
    # zarrs (zarrista) names what it refuses plainly.
    (_matches(r"data type (\S+) is not supported"),
     _group(r"data type (\S+) is not supported", "this zarr rejects the data type '{0}'")),
    (_matches(r"invalid fill value metadata for data type [^:]*: null"), _const("this zarr rejects fill_value null")),
    (_matches(r"purl\.org/zarr/spec/protocol/core/3\.0"),
     _const("a draft of Zarr v3 (zarr_format is the draft's URL), which this reader does not read")),
    (_matches(r"unknown field `(\w+)`"), _group(r"unknown field `(\w+)`", "refuses the metadata member '{0}'")),
    (_matches(r"did not match any variant of untagged enum NodeMetadata"),
     _const("zarrs cannot parse the node's metadata")),
    # A bare NaN or Infinity in metadata is not JSON (zarr-python writes attributes so).
    (_matches(r"expected value at line \d+ column \d+|DATA_LOSS: .*Invalid JSON"),
     _const("the metadata is not valid JSON (a bare NaN or Infinity, say)")),
    # zarr-python writes a ZipStore's metadata again whenever it changes, leaving duplicate members
    # (zarr-developers/zarr-python#3580, pydata/xarray#10827); TensorStore 0.1.86's zip kvstore refuses them.
    (_matches(r"Duplicate filename in ZIP"),
     _const("the zip has duplicate entries (metadata written twice), which this reader refuses")),
    # zarr-python 3.3 and later refuse a bytes codec without `endian` on a multi-byte type, which 3.0 to 3.2 read.
    (_matches(r"The `endian` configuration needs to be specified|endianness must be specified"),
     _const("a bytes codec without endian, which this zarr refuses for multi-byte types")),
    # TensorStore names what it refuses at the end of a long chain: keep that part, without its spec dump.
    (_matches(r'Error opening "zarr3?" driver: Error reading "[^"]*"(?: in local file "[^"]*")?: '),
     _group(r'Error opening "(zarr3?)" driver: Error reading "[^"]*"(?: in local file "[^"]*")?: (.{1,160}?)'
            r'(?: \[tensorstore_spec|$)', "TensorStore's {0} driver: {1}")),
    (_matches(r"At least one ArrayBytesCodec is required|missing array to bytes codec"),
     _const("not valid Zarr v3: the codecs hold no array-to-bytes codec (a spec violation)")),
    # GDAL (an array without nodata) and zarrita.js (its default) write `fill_value: null` in v3, which zarr 3.1
    # and later reject; the v3 spec has no null fill value for numbers (zarr-developers/zarr-specs#328).
    (_matches(r"Invalid type: None\. Expected"), _const("this zarr rejects fill_value null")),
    (_matches(r"_ARRAY_DIMENSIONS|dimension[_ ]names"), _const("needs dimension names")),
    (_matches(r"missing 1 required positional argument: 'prototype'"),
     _const("API mismatch between this library and zarr 3 stores")),
    (_path_string_on_zip, _const(PATH_STRING_CAVEAT)),
    (_matches(r"not recogni[sz]ed as (being in )?a supported (file )?format"),
     _const("GDAL did not recognise the store")),
    (_matches(r"numpy.dtype size changed|compiled using NumPy 1.x cannot be run in\s+NumPy 2"),
     _const("binary built against another numpy ABI")),
    (_matches(r"NetCDF: Filter error"), _const("netCDF-C lacks a filter (codec) this store uses")),
    (lambda etype, msg, ctx: ctx.fixture_format == 3 and "NetCDF: Unknown file format" in msg,
     _const("netCDF-C's NCZarr does not read Zarr v3")),
    (_matches(r"Indices of extra dimensions must be specified"),
     _const("the classic raster API reads 2-D slices; this array has more dimensions")),
    (_matches(r"Unknown codec: ?'?([\w.-]+)"), _group(r"Unknown codec: ?'?([\w.-]+)", "codec '{0}' not available")),
    (_matches(r"(codec|compressor|filter)\b[^.]*\b(not (available|found|registered|installed)|unknown)"
              r"|(unknown|no such|missing|unregistered) (codec|compressor|filter)"),
     _const("codec not available")),
]


def classify(error_type: str, message: str, ctx: Context) -> str:
    for applies, reason in RULES:
        if applies(error_type, message, ctx):
            return reason(error_type, message, ctx)
    short = error_type.rsplit(".", 1)[-1]
    first = message.strip().splitlines()[0][:100] if message.strip() else ""
    return f"{short}: {first}" if first else short


def judge(result: ProcessResult, record: dict[str, Any] | None,
          expected: Sequence[dict[str, Any]] | None, ctx: Context, timeout: float) -> Judgement:
    if result.timed_out:
        return Judgement(Verdict.TIMEOUT, f"killed after the {timeout:g} s limit")
    if result.signal is not None:
        return Judgement(Verdict.CRASH, f"the probe died from {result.signal_name}",
                         error_type=result.signal_name, error_message=result.tail())
    if record is None:
        tail = result.tail()
        lines = tail.strip().splitlines()
        reason = classify("ProbeFailure", lines[-1] if lines else "", ctx)
        if reason.startswith("ProbeFailure"):
            reason = f"the probe exited {result.returncode} before reporting: {reason.split(': ', 1)[-1]}"
        return Judgement(Verdict.ERROR, reason, error_type="ProbeFailure", error_message=tail)
    error = record.get("error")
    if error:
        etype, msg = error.get("type", "Exception"), error.get("message", "")
        library = LIBRARIES.get(ctx.library)
        if library is not None and library.not_by_design:
            return Judgement(Verdict.NA, library.not_by_design, error_type=etype, error_message=msg)
        return Judgement(Verdict.ERROR, classify(etype, msg, ctx), error_type=etype, error_message=msg)
    return _compare(record.get("arrays") or [], expected, ctx)


_NUMPY_CODE = re.compile(r"^[<>|=]?([iufcbMmUSOTV])(\d*)")
_KINDS = {"i": "int", "u": "uint", "f": "float", "c": "complex", "b": "bool", "M": "datetime", "m": "timedelta",
          "U": "string", "S": "string", "O": "string", "T": "string"}


def dtype_form(name: str | None) -> tuple[str, int] | None:
    """What a dtype's values are, whatever names it (numpy's `>i4`, `int32`, `StringDType()`, zarrita's
    `v2:object`): (kind, bytes per value; 0 where the kind has no fixed size). None: a name not understood.
    Byte order and datetime units are not part of it: values are compared after conversion."""
    text = str(name or "").strip().removeprefix("v2:").lower()
    if not text:
        return None
    if text in ("bool", "b1", "|b1"):
        return ("bool", 1)
    if text.startswith(("str", "object", "unicode", "vlen")):
        return ("string", 0)
    if text.startswith(("datetime64", "numpy.datetime64")):
        return ("datetime", 8)
    found = re.match(r"^(u?int|float|complex)(\d+)$", text)
    if found:
        bits = int(found.group(2))
        return (found.group(1), bits // 8)
    code = _NUMPY_CODE.match(str(name).removeprefix("v2:"))
    if code and code.group(1) in _KINDS:
        kind = _KINDS[code.group(1)]
        return (kind, 0 if kind == "string" else (8 if kind == "datetime" else int(code.group(2) or 0)))
    return None


def form_differs(spec: dict[str, Any], observed: dict[str, Any] | None) -> str | None:
    """How what a reader returned differs in shape or dtype from what was written (None: it does not).
    Axes of length 1 do not count: a reader may add or drop them."""
    if not observed:
        return None
    shape, seen = spec.get("shape"), observed.get("shape")
    if shape is not None and seen is not None and [d for d in seen if d != 1] != [d for d in shape if d != 1]:
        return f"shape ({', '.join(map(str, seen))}) where ({', '.join(map(str, shape))}) was written"
    written, read = dtype_form(spec.get("dtype")), dtype_form(observed.get("dtype"))
    if written and read and written != read:
        return f"read as {observed['dtype']}, written as {spec['dtype']}"
    return None


def _compare(seen: list[dict[str, Any]], expected: Sequence[dict[str, Any]] | None,
             ctx: Context) -> Judgement:
    by_path = {a["path"]: a for a in seen}
    wanted = expected if expected is not None else [{"path": a["path"], "sha256": a.get("sha256")} for a in seen]
    rows, ok, wrong, missing = [], [], [], []
    for spec in wanted:
        got = by_path.get(spec["path"])
        row = {"path": spec["path"]}
        if got is not None and got.get("codec_pipeline"):
            row["codec_pipeline"] = got["codec_pipeline"]
        # Without a reference, `spec` is what was read: it has no shape or dtype to differ from.
        differs = form_differs(spec, got.get("observed")) if got is not None else None
        if got is None or got.get("error"):
            row["status"] = "missing"
            if got is not None:
                row["error"] = got["error"]
            missing.append(row)
        elif differs or (spec.get("sha256") and got.get("sha256") != spec["sha256"]):
            row.update(status="wrong", observed=got.get("observed"), sha256=got.get("sha256"))
            if differs:
                row["differs"] = differs
            wrong.append(row)
        else:
            row.update(status="ok", observed=got.get("observed"), sha256=got.get("sha256"))
            ok.append(row)
        rows.append(row)
    total = len(rows)
    if not total:
        return Judgement(Verdict.ERROR, "the store opened, but held no arrays", arrays=rows)
    if wrong:
        names = ", ".join(r["path"] + (f" ({r['differs']})" if r.get("differs") else "") for r in wrong[:4])
        return Judgement(Verdict.MISMATCH, f"{len(wrong)} of {total} arrays differ from the writer's: {names}",
                         arrays=rows)
    if not missing and expected is None:
        return Judgement(Verdict.UNVERIFIED, f"read {total} arrays; nothing independent to compare them with",
                         arrays=rows)
    unchecked = [spec["path"] for spec in wanted if not spec.get("sha256")]
    if not missing and unchecked and expected is not None:
        return Judgement(Verdict.UNVERIFIED, f"read {total} arrays; the reference has no checksum for "
                                             f"{len(unchecked)} of them ({', '.join(unchecked[:4])})", arrays=rows)
    if not missing:
        return Judgement(Verdict.PASS, f"all {total} arrays match", arrays=rows)
    first = missing[0].get("error") or {"type": "KeyError", "message": "not found"}
    why = classify(first.get("type", "Exception"), first.get("message", ""), ctx)
    # A damaged zip is a broken file, not a library that reads part of a store: say error.
    if ok and why not in CORRUPT_ZIP:
        return Judgement(Verdict.PARTIAL, f"{len(ok)} of {total} arrays read right; {why}", arrays=rows,
                         error_type=first.get("type"), error_message=first.get("message"))
    return Judgement(Verdict.ERROR, why, error_type=first.get("type"), error_message=first.get("message"),
                     arrays=rows)
