"""The feature catalogue (probes/features.json) as the host sees it: what each feature fixture isolates, in the
order and groups the Features view shows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import UserError

CATALOGUE = "features.json"
# A writer's fixture kind for one feature: "feature-<id>".
KIND_PREFIX = "feature-"


def probes_dir() -> Path:
    """probes/ ships inside the wheel; in a source checkout it sits at the top."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "probes", here.parents[1] / "probes"):
        if (candidate / "_zmprobe.py").exists():
            return candidate
    raise UserError("cannot find the probes folder next to the zarrmatrix package: reinstall it")


@dataclass(frozen=True)
class Feature:
    id: str
    group: str
    title: str
    zarr_format: int
    dtype: str
    spec: dict[str, Any]

    @property
    def edit(self) -> str | None:
        """The hand edit some writers need to express the feature."""
        return self.spec.get("edit")


@lru_cache(maxsize=4)
def catalogue(probes: Path | None = None) -> dict[str, Feature]:
    """Every feature by id, in catalogue order."""
    path = (probes or probes_dir()) / CATALOGUE
    table = json.loads(path.read_text(encoding="utf-8"))["features"]
    return {f["id"]: Feature(f["id"], f["group"], f["title"], int(f["format"]), f["dtype"], f) for f in table}


def feature_of_kind(kind: str | None) -> str | None:
    """The feature id a fixture kind writes ("feature-bool" -> "bool"), or None for other kinds."""
    return kind[len(KIND_PREFIX):] if kind and kind.startswith(KIND_PREFIX) else None


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, str):
        return value in ("NaN", "Infinity", "-Infinity")
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


def _v2_features(meta: dict[str, Any]) -> list[str]:
    dtype, fill = str(meta.get("dtype")), meta.get("fill_value")
    filters = [f.get("id") for f in meta.get("filters") or [] if isinstance(f, dict)]
    found = []
    by_code = {"b": "bool-v2", "c": "complex64-v2", "M": "datetime64-v2"}
    code = dtype.lstrip("<>|=")[:1]
    if code in by_code:
        found.append(by_code[code])
    if dtype == "|O" and "vlen-utf8" in filters:
        found.append("strings-v2")
    if dtype.lstrip("<>|=") in ("u8", "i8"):
        found.append("uint64-extremes-v2")
    if dtype.lstrip("<>|=") == "u2":
        found.append("uint16-v2")
    if dtype.startswith(">") and not dtype.endswith("1"):
        found.append("big-endian-v2")
    if fill == "NaN":
        found.append("nan-fill-v2")
    if fill is None and (meta.get("compressor") or {}).get("id") == "zstd":
        found.append("zstd-null-fill-v2")
    if meta.get("dimension_separator") == "/":
        found.append("dimension-separator-slash-v2")
    return found


def _codecs_of(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Every codec of a v3 array, those inside a sharding codec too; a codec without configuration may be
    written by its name alone (zarrs writes crc32c so)."""
    out = []
    for codec in meta.get("codecs") or []:
        codec = {"name": codec} if isinstance(codec, str) else codec
        if isinstance(codec, dict):
            out.append(codec)
            out.extend(_codecs_of(codec.get("configuration") or {}))
    return out


def _v3_features(meta: dict[str, Any]) -> list[str]:
    dtype, fill = str(meta.get("data_type")), meta.get("fill_value")
    by_type = {"string": "strings", "bool": "bool", "complex64": "complex128", "complex128": "complex128",
               "float16": "float16", "int64": "int64-extremes", "uint64": "int64-extremes", "int8": "int8",
               "numpy.datetime64": "datetime64"}
    found = [by_type[dtype]] if dtype in by_type else []
    if fill == "NaN":
        found.append("nan-fill")
    if fill in ("Infinity", "-Infinity"):
        found.append("infinity-fill")
    codecs = _codecs_of(meta)
    names = {c.get("name") for c in codecs}
    for name in ("zstd", "crc32c", "transpose"):
        if name in names:
            found.append(name)
    if any(c.get("name") == "blosc" and (c.get("configuration") or {}).get("shuffle") == "bitshuffle" for c in codecs):
        found.append("blosc-bitshuffle")
    for codec in codecs:
        config = codec.get("configuration") or {}
        if codec.get("name") == "sharding_indexed":
            found.append("sharding-start" if config.get("index_location") == "start" else "sharding-end")
        if codec.get("name") == "bytes":
            if config.get("endian") == "big":
                found.append("big-endian")
            elif "endian" not in config and dtype not in ("int8", "uint8", "bool"):
                found.append("bytes-no-endian")
    if (meta.get("chunk_key_encoding") or {}).get("name") == "v2":
        found.append("chunk-key-v2")
    shape = meta.get("shape")
    if shape == []:
        found.append("zero-d")
    elif isinstance(shape, list) and 0 in shape:
        found.append("zero-length")
    if _non_finite(meta.get("attributes")):
        found.append("nan-attribute")
    return found


def features_of(meta: dict[str, Any]) -> list[str]:
    """The catalogue features an array's metadata (.zarray or zarr.json) uses, in catalogue order."""
    found = set(_v2_features(meta) if "dtype" in meta else _v3_features(meta))
    return [f for f in catalogue() if f in found]
