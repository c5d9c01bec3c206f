"""Write a fixture with zarrs, the Rust implementation, through its Python bindings (zarrista): Zarr v3 only
(`Array.from_metadata` takes v3 metadata), into a folder through its `FilesystemStore`, zipped afterwards (its
`ZipStore` is read-only). The reference arrays get the bytes codec and zstd; each feature its own metadata, which
zarrs accepts or refuses; groups are written as the spec spells them."""

import json
import os
import shutil
import tempfile

import numpy as np
import zarrista
from zarrista.store import FilesystemStore

from _features import FeatureArray, pack_feature, v3_metadata
from _packing import pack
from _writer import edge_arrays, run_writer
from _zmprobe import main_guard, version_of


def versions():
    return {"zarrista_version": version_of("zarrista"), "numpy_version": np.__version__}


def write_groups(folder, paths, attrs):
    """The group zarr.json of the root (with `attrs`) and of every folder on the way to an array."""
    folders = {""}
    for path in paths:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    for group in sorted(folders):
        os.makedirs(os.path.join(folder, group), exist_ok=True)
        meta = {"zarr_format": 3, "node_type": "group", "attributes": attrs if not group else {}}
        with open(os.path.join(folder, group, "zarr.json"), "w", encoding="utf-8") as handle:
            json.dump(meta, handle)


def data_input(block):
    """What zarrista writes: a numpy array (through DLPack); where DLPack has no such type, the C-order
    little-endian bytes (complex, datetime64 as int64 ticks), which zarrista takes as a plain buffer; for
    strings, the UTF-8 of each value with their byte offsets (zarrista.ArrayBytes)."""
    if block.dtype.kind in "cM":
        return np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("<")).tobytes()
    if block.dtype != object:
        return np.require(block, requirements="C")
    encoded = [str(value).encode("utf-8") for value in block.ravel(order="C")]
    offsets = [0]
    for value in encoded:
        offsets.append(offsets[-1] + len(value))
    return zarrista.ArrayBytes(b"".join(encoded), offsets=offsets)


def create(store, path, metadata):
    """The array at `path`, its metadata written by zarrs."""
    array = zarrista.Array.from_metadata(dict(metadata, zarr_format=3, node_type="array"), store, "/" + path)
    array.store_metadata()
    return array


def write(kind, target, cell_id, mnist):
    if kind != "zarrs-v3":
        raise ValueError("unknown fixture kind %r" % kind)
    folder = tempfile.mkdtemp(prefix="zm-zarrs-")
    try:
        store = FilesystemStore(folder)
        arrays = edge_arrays()
        write_groups(folder, [a.name for a in arrays], {"title": "zarrmatrix fixture", "writer": cell_id})
        entries = []
        for array in arrays:
            fill = array.fill_value if array.fill_value is not None else 0
            metadata = {"shape": list(array.data.shape), "data_type": str(array.data.dtype), "fill_value": fill,
                        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(array.chunks)}},
                        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                                   {"name": "zstd", "configuration": {"level": 3, "checksum": False}}]}
            where, block = array.region()
            create(store, array.name, metadata).store_array_subset(where, np.ascontiguousarray(block))
            entries.append(array.entry(codec="bytes, zstd"))
        del store
        return 3, "zarrs %s (zarrista), zipped" % version_of("zarrista"), entries, pack(folder, target, "stored")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_feature(spec, target):
    """One catalogue feature: its v3 metadata handed to zarrs whole, its data written through it."""
    if spec["format"] != 3:
        raise NotImplementedError("zarrista writes Zarr v3 only: Array.from_metadata takes v3 metadata")
    feature = FeatureArray(spec)
    folder = tempfile.mkdtemp(prefix="zm-zarrs-feature-")
    try:
        store = FilesystemStore(folder)
        write_groups(folder, ["data"], {"feature": spec["id"]})
        metadata = v3_metadata(spec, spec.get("old_shape") or feature.shape)
        metadata.setdefault("chunk_key_encoding", {"name": "default", "configuration": {"separator": "/"}})
        array = create(store, "data", metadata)
        where, block = feature.region()
        stale = None
        if spec.get("old_shape"):
            old = spec["old_shape"][0]
            array.store_array_subset((slice(0, old),), data_input(block[:old]))
            with open(os.path.join(folder, "data", "zarr.json"), "rb") as handle:
                stale = ("data/zarr.json", handle.read())
            array = create(store, "data", dict(metadata, shape=list(feature.shape)))
            array.store_array_subset((slice(old, feature.shape[0]),), data_input(block[old:]))
        elif block.size:
            array.store_array_subset(where, data_input(block))
        del array, store
        extra = pack_feature(spec, folder, target, stale)
        return "zarrs %s (zarrista), zipped" % version_of("zarrista"), [feature.entry(codec=json.dumps(
            metadata["codecs"]))], extra
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main_guard(lambda: run_writer(write, versions, write_feature))
