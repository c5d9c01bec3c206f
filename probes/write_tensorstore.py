"""Write a fixture with TensorStore: Zarr v2, Zarr v3, sharded v3, and v3 straight into a zip
through TensorStore's own zip kvstore.

TensorStore writes arrays, not groups: the group metadata the Zarr specs define (.zgroup,
or a zarr.json with node_type group) is written through the same kvstore, so that readers
that open the root group find the arrays below it.
"""

import json
import os
import shutil
import tempfile

import numpy as np
import tensorstore as ts

from _features import (
    FeatureArray,
    metadata_key,
    pack_feature,
    v3_metadata,
)
from _packing import pack
from _writer import edge_arrays, run_writer
from _zmprobe import main_guard, version_of

# TensorStore's names for what each Zarr format calls a data type.
V2_DTYPES = {"int32": "<i4", "float64": "<f8", "float32": "<f4", "uint8": "|u1", "int16": "<i2"}


def versions():
    return {"tensorstore_version": version_of("tensorstore"), "numpy_version": np.__version__}


def array_spec(kvstore, array, kind):
    # The array's folder below the kvstore's own path (a zip kvstore has none).
    where = dict(kvstore, path=kvstore.get("path", "") + array.name + "/")
    data, chunks = array.data, array.chunks
    if kind.startswith("ts-zarr2"):
        metadata = {"shape": list(data.shape), "chunks": list(chunks), "dtype": V2_DTYPES[str(data.dtype)]}
        if array.fill_value is not None:
            metadata["fill_value"] = array.fill_value
        return {"driver": "zarr", "kvstore": where, "metadata": metadata, "create": True, "delete_existing": True}
    metadata = {"shape": list(data.shape), "data_type": str(data.dtype),
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}}}
    if kind.startswith("ts-sharded"):
        # One shard holds the whole array (rounded up to whole chunks); the chunks inside it are the requested ones.
        shard = [-(-n // c) * c for n, c in zip(data.shape, chunks)]
        metadata["chunk_grid"]["configuration"]["chunk_shape"] = shard
        metadata["codecs"] = [{"name": "sharding_indexed", "configuration": {"chunk_shape": list(chunks)}}]
    if array.fill_value is not None:
        metadata["fill_value"] = array.fill_value
    return {"driver": "zarr3", "kvstore": where, "metadata": metadata, "create": True, "delete_existing": True}


def group_keys(paths, zarr_format):
    """The group metadata keys of the root and of every folder on the way to an array."""
    folders = {""}
    for path in paths:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    name = ".zgroup" if zarr_format == 2 else "zarr.json"
    return sorted((folder + "/" if folder else "") + name for folder in folders)


def write(kind, target, cell_id, mnist):
    zarr_format = 2 if kind.endswith("-v2") else 3
    folder = tempfile.mkdtemp(prefix="zm-ts-")
    try:
        if kind.startswith("ts-zipkv"):
            kvstore = {"driver": "zip", "base": {"driver": "file", "path": os.path.abspath(target)}}
        else:
            kvstore = {"driver": "file", "path": folder + "/"}
        store = ts.KvStore.open(kvstore).result()
        entries = []
        arrays = edge_arrays()
        for key in group_keys([array.name for array in arrays], zarr_format):
            group = {"zarr_format": 2} if zarr_format == 2 else {"zarr_format": 3, "node_type": "group"}
            store.write(key, json.dumps(group).encode()).result()
        for array in arrays:
            where, block = array.region()
            ts.open(array_spec(kvstore, array, kind)).result()[where].write(block).result()
            entries.append(array.entry(codec=kind))
        del store
        if not kind.startswith("ts-zipkv"):
            pack(folder, target, "stored")
        variant = {"ts-zarr2": "TensorStore zarr, zipped", "ts-zarr3": "TensorStore zarr3, zipped",
                   "ts-sharded": "TensorStore zarr3 sharded, zipped",
                   "ts-zipkv": "TensorStore zarr3 into its zip kvstore"}[kind.rsplit("-", 1)[0]]
        return zarr_format, variant, entries, {}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Feature dtypes as Zarr v2 names them: what the zarr driver is asked for, whether it can or not.
FEATURE_V2_DTYPES = {"uint64": "<u8", "uint16": "<u2", "bool": "|b1", "complex64": "<c8", "int32": "<i4",
                     "float64": "<f8", "int16": "<i2", "datetime64[s]": "<M8[s]", "string": "|O"}
def feature_metadata(spec, shape):
    """The array metadata of a feature as the Zarr specs spell it: the driver says whether it can write it."""
    fill = spec.get("fill_value")
    if spec["format"] == 2:
        dtype = FEATURE_V2_DTYPES[spec["dtype"]]
        if spec.get("endian") == "big":
            dtype = dtype.replace("<", ">")
        metadata = {"shape": list(shape), "chunks": list(spec["chunks"]), "dtype": dtype, "fill_value": fill,
                    "compressor": {"id": "zstd", "level": 3} if spec.get("codec") == "zstd" else None}
        if spec.get("chunk_key") == "slash":
            metadata["dimension_separator"] = "/"
        if spec["dtype"] == "string":
            metadata["filters"] = [{"id": "vlen-utf8"}]
        return "zarr", metadata
    return "zarr3", v3_metadata(spec, shape)


def write_feature(spec, target):
    """One catalogue feature through TensorStore's zarr or zarr3 driver, into a folder zipped afterwards."""
    feature, zarr_format = FeatureArray(spec), spec["format"]
    folder = tempfile.mkdtemp(prefix="zm-ts-feature-")
    try:
        kvstore = {"driver": "file", "path": folder + "/"}
        store = ts.KvStore.open(kvstore).result()
        group = {"zarr_format": 2} if zarr_format == 2 else {"zarr_format": 3, "node_type": "group",
                                                              "attributes": {"feature": spec["id"]}}
        store.write(".zgroup" if zarr_format == 2 else "zarr.json", json.dumps(group).encode()).result()
        old_shape = spec.get("old_shape")
        driver, metadata = feature_metadata(spec, old_shape or feature.shape)
        array = ts.open({"driver": driver, "kvstore": dict(kvstore, path=folder + "/data/"), "metadata": metadata,
                         "create": True, "delete_existing": True}).result()
        where, block = feature.region()
        stale = None
        if old_shape:
            array[:old_shape[0]].write(block[:old_shape[0]]).result()
            key = "data/" + metadata_key(zarr_format)
            stale = (key, store.read(key).result().value)
            array = array.resize(exclusive_max=list(feature.shape)).result()
            array[old_shape[0]:].write(block[old_shape[0]:]).result()
        else:
            array[where].write(block).result()
        del array, store
        extra = pack_feature(spec, folder, target, stale)
        return "TensorStore %s, zipped" % driver, [feature.entry(codec=json.dumps(metadata.get("codecs")
                                                                               or metadata.get("compressor")))], extra
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main_guard(lambda: run_writer(write, versions, write_feature))
