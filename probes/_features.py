"""The feature catalogue (features.json): one small array per Zarr feature, its intended data, and the hand
edits some writers need to express a feature.

Standard library and numpy only, Python 3.9 compatible. _zmprobe.mjs makes the same data for Node writers.
"""

import json
import os

import numpy as np

from _writer import xorshift32
from _zmprobe import checksum

CATALOGUE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "features.json")
# Value ranges of integer features; "extremes" puts the type's own limits at the ends.
INT_RANGES = {"int8": (-100, 100), "uint8": (0, 255), "int16": (-10**4, 10**4), "uint16": (0, 60000),
              "int32": (-10**6, 10**6), "int64": (-10**6, 10**6), "uint64": (0, 10**6)}
# Characters of the string features: ASCII, Latin-1, the BMP and beyond it, so that UTF-8 is tested whole.
ALPHABET = ["a", "b", "c", "x", "y", "z", "A", "Z", "0", "9", " ", "\u00e9", "\u00df", "\u20ac", "\U0001F600",
            "\u4e2d"]
SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def catalogue():
    with open(CATALOGUE, encoding="utf-8") as handle:
        return json.load(handle)["features"]


def by_id(feature_id):
    for spec in catalogue():
        if spec["id"] == feature_id:
            return spec
    raise KeyError("no feature %r in features.json" % feature_id)


def numpy_dtype(spec):
    if spec["dtype"] == "string":
        return np.dtype(object)
    dtype = np.dtype(spec["dtype"])
    return dtype.newbyteorder(">") if spec.get("endian") == "big" else dtype


def fill_value(spec):
    """The fill value as Python has it (NaN for "NaN"), or None."""
    value = spec.get("fill_value")
    if isinstance(value, str) and value in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[value]
    if isinstance(value, list):
        return complex(value[0], value[1])
    return value


def _floats(values):
    return np.asarray(values, dtype=np.float64) / 4294967296.0 * 40.0 - 10.0


def values_of(spec):
    """Every value of the feature's array, as if all of it were written (C order, the intended dtype)."""
    shape, dtype = tuple(spec["shape"]), spec["dtype"]
    count = int(np.prod(shape)) if shape else 1
    seed = spec["id"]
    if dtype == "string":
        stream = xorshift32(seed, count)
        texts = ["".join(ALPHABET[(v >> (3 + 4 * k)) & 15] for k in range(v % 7)) for v in stream]
        return np.asarray(texts, dtype=object).reshape(shape)
    if dtype.startswith("complex"):
        stream = _floats(xorshift32(seed, 2 * count))
        return (stream[0::2] + 1j * stream[1::2]).astype(dtype).reshape(shape)
    stream = xorshift32(seed, count)
    if dtype == "bool":
        return (np.asarray(stream, dtype=np.int64) & 1).astype(bool).reshape(shape)
    if dtype.startswith("datetime64"):
        return (np.asarray(stream, dtype=np.int64) % 2000000000).view(dtype).reshape(shape)
    if dtype == "float16":
        return ((np.asarray(stream, dtype=np.int64) % 4096 - 2048) / 16.0).astype(dtype).reshape(shape)
    if dtype.startswith("float"):
        data = _floats(stream)
        if spec.get("values") == "specials":
            index = np.arange(count)
            data[index % 7 == 3] = np.nan
            data[index % 11 == 5] = np.inf
            data[index % 13 == 6] = -np.inf
        return data.astype(dtype).reshape(shape)
    lo, hi = INT_RANGES[dtype]
    data = np.asarray([v % (hi - lo + 1) + lo for v in stream], dtype=object)
    if spec.get("values") == "extremes" and count >= 4:
        info = np.iinfo(dtype)
        data[0], data[1], data[-2], data[-1] = int(info.min), int(info.max), int(info.min) + 1, int(info.max) - 1
    return np.asarray(data.tolist(), dtype=dtype).reshape(shape)


class FeatureArray:
    """A feature's array: its intended data (the fill value where nothing is written) and the region written."""

    def __init__(self, spec):
        self.spec = spec
        self.id = spec["id"]
        self.shape, self.chunks = tuple(spec["shape"]), tuple(spec["chunks"])
        self.fill_value = fill_value(spec)
        full = values_of(spec)
        written = spec.get("written")
        self.written = tuple(slice(a, b) for a, b in written) if written else None
        if self.written is not None:
            data = np.full(self.shape, self.fill_value, dtype=full.dtype)
            data[self.written] = full[self.written]
            full = data
        self.data = full

    def region(self):
        where = self.written or tuple(slice(0, n) for n in self.shape)
        return where, self.data[where]

    def entry(self, path="data", **extra):
        """The manifest's entry: the checksum of the intended data in its canonical form."""
        digest, _ = checksum(self.data, {"dtype": self.spec["dtype"]})
        entry = {"path": path, "shape": list(self.shape), "dtype": self.spec["dtype"], "chunks": list(self.chunks),
                 "sha256": digest, "feature": self.id}
        if self.spec.get("fill_value") is not None:
            entry["fill_value"] = self.spec["fill_value"]
        entry.update(extra)
        return entry


def drop_bytes_endian(folder):
    """The `bytes-no-endian` hand edit: every bytes codec below `folder` loses its `endian`, as some writers
    leave it (zarr 3.1 reads that, 3.4 refuses it)."""
    edited = []
    for base, _, files in os.walk(folder):
        if "zarr.json" not in files:
            continue
        path = os.path.join(base, "zarr.json")
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle)
        for codec in meta.get("codecs") or []:
            if codec.get("name") == "bytes" and "endian" in (codec.get("configuration") or {}):
                del codec["configuration"]["endian"]
                edited.append(os.path.relpath(path, folder))
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2)
    if not edited:
        raise ValueError("no bytes codec with an endian to drop")
    return "dropped `endian` from the bytes codec of " + ", ".join(sorted(edited))


def metadata_key(zarr_format):
    return ".zarray" if zarr_format == 2 else "zarr.json"


def pack_feature(spec, folder, target, stale=None):
    """Finish a feature a writer wrote into `folder`, as every folder-writing writer does: check that the
    metadata shows the feature (check_expressed), make the hand edit it needs, and zip the folder STORED into
    `target`, as `dirzip-stored` does. `stale` is (member name, bytes): an older copy of a metadata member,
    zipped ahead of the current one, as a zip rewritten in place leaves it. Returns the facts for the record."""
    import warnings
    import zipfile

    from _packing import files_of

    check_expressed(spec, folder)
    extra = {}
    if spec.get("edit") == "bytes-no-endian":
        extra["hand_edit"] = drop_bytes_endian(folder)
    if stale is not None:
        extra["hand_edit"] = ("the metadata %s of the array before its resize, zipped as a member of its own ahead "
                              "of the current one" % stale[0])
    with warnings.catch_warnings(), zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name, which is the point
        if stale is not None:
            zf.writestr(stale[0], stale[1])
        for name in files_of(folder):
            zf.write(os.path.join(folder, name), name)
    extra.update(packed="stored", root="")
    return extra


def _codecs(meta):
    for codec in meta.get("codecs") or []:
        # A codec with no configuration may be written by its name alone.
        codec = {"name": codec} if isinstance(codec, str) else codec
        yield codec
        for inner in _codecs(codec.get("configuration") or {}):
            yield inner


def check_expressed(spec, folder):
    """Raise where the array written below `folder` (data/.zarray or data/zarr.json) does not show the feature
    in its metadata: a library that ignores an option it does not know has not written the feature."""
    zarr_format = spec["format"]
    path = os.path.join(folder, "data", metadata_key(zarr_format))
    with open(path, encoding="utf-8") as handle:
        meta = json.load(handle)
    wanted = []
    if zarr_format == 2:
        if spec.get("chunk_key") == "slash":
            wanted.append(("dimension_separator", meta.get("dimension_separator"), "/"))
        if spec.get("codec") == "zstd":
            wanted.append(("compressor", (meta.get("compressor") or {}).get("id"), "zstd"))
        if spec.get("endian") == "big":
            wanted.append(("dtype byte order", str(meta.get("dtype"))[:1], ">"))
    else:
        names = [c.get("name") for c in _codecs(meta)]
        if spec.get("chunk_key"):
            wanted.append(("chunk_key_encoding", (meta.get("chunk_key_encoding") or {}).get("name"), "v2"))
        if spec.get("codec"):
            name = {"blosc-bitshuffle": "blosc"}.get(spec["codec"], spec["codec"])
            wanted.append(("codecs", name if name in names else names, name))
        if spec.get("shard"):
            sharding = [c for c in _codecs(meta) if c.get("name") == "sharding_indexed"]
            location = (sharding[0].get("configuration") or {}).get("index_location", "end") if sharding else None
            wanted.append(("sharding index_location", location, spec["shard"]["index_location"]))
    if isinstance(spec.get("fill_value"), str) and spec["fill_value"] in SPECIAL_FLOATS:
        fill = meta.get("fill_value")
        wanted.append(("fill_value", fill, spec["fill_value"]))
    for key, seen, expected in wanted:
        if seen != expected:
            raise ValueError("the metadata written has %s %r, not %r: the library did not express the feature"
                             % (key, seen, expected))


V3_CODECS = {"zstd": {"name": "zstd", "configuration": {"level": 3, "checksum": False}},
             "gzip": {"name": "gzip", "configuration": {"level": 5}},
             "blosc-bitshuffle": {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 5,
                                                                    "shuffle": "bitshuffle", "typesize": 4,
                                                                    "blocksize": 0}},
             "crc32c": {"name": "crc32c"}}


def v3_metadata(spec, shape):
    """A v3 feature's array metadata as the spec spells it (for writers that take metadata whole: TensorStore,
    zarrs), the library then saying whether it can write it. The extension data types go by the names
    zarr-python gives them (zarr-extensions)."""
    codecs = [{"name": "bytes", "configuration": {"endian": spec.get("endian", "little")}}]
    if spec["dtype"] == "string":
        codecs = [{"name": "vlen-utf8"}]
    elif spec.get("codec") == "transpose":
        codecs.insert(0, {"name": "transpose", "configuration": {"order": [1, 0]}})
    elif spec.get("codec"):
        codecs.append(V3_CODECS[spec["codec"]])
    if spec.get("shard"):
        codecs = [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": spec["shard"]["chunks"], "codecs": codecs,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
            "index_location": spec["shard"]["index_location"]}}]
    data_type = spec["dtype"]
    if data_type.startswith("datetime64"):
        data_type = {"name": "numpy.datetime64", "configuration": {"unit": data_type[11:-1], "scale_factor": 1}}
    metadata = {"shape": list(shape), "data_type": data_type, "fill_value": spec.get("fill_value"),
                "codecs": codecs,
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(spec["chunks"])}}}
    if spec.get("chunk_key") == "v2":
        metadata["chunk_key_encoding"] = {"name": "v2", "configuration": {"separator": "."}}
    if spec.get("attributes"):
        metadata["attributes"] = {k: float(v) for k, v in spec["attributes"].items()}
    return metadata
