"""Write a fixture with GDAL's Zarr driver through rasterio's classic raster API, in the GDAL
that rasterio's wheel bundles: Zarr v2 or v3 (FORMAT=ZARR_V3), into a folder zipped afterwards
or straight into /vsizip/.

The classic API writes one array per dataset, of rank 2 (one band) or 3 (bands first), at the
root of the store: each further array is appended (APPEND_SUBDATASET=YES), a nested array is
written under its leaf name, and a rank-1 array cannot be written at all (the manifest says so).
The sparse array's fill value is its nodata value, and only its written region is written.
"""

import warnings

import numpy as np
import rasterio
from rasterio.windows import Window

from _features import FeatureArray, fill_value, pack_feature
from _gdal_writer import gdal_format, write_store
from _writer import edge_arrays, run_writer
from _zmprobe import main_guard, version_of


def versions():
    return {"rasterio_version": version_of("rasterio"), "gdal_version": rasterio.__gdal_version__,
            "numpy_version": np.__version__}


def write_array(store, array, fmt, append, chunks):
    data = array.data
    bands = data.shape[0] if data.ndim == 3 else 1
    height, width = data.shape[-2:]
    where, block = array.region()
    window = Window(where[-1].start, where[-2].start, block.shape[-1], block.shape[-2])
    options = dict(FORMAT=fmt, ARRAY_NAME=array.leaf, BLOCKSIZE=",".join(map(str, chunks)),
                   APPEND_SUBDATASET="YES" if append else "NO")
    if array.fill_value is not None:
        options["nodata"] = array.fill_value
    with warnings.catch_warnings():
        # A Zarr store has no georeferencing; rasterio warns about it on every open.
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(store, "w", driver="Zarr", width=width, height=height, count=bands,
                           dtype=str(data.dtype), **options) as dst:
            if data.ndim == 3:
                dst.write(block, window=window)
            else:
                dst.write(block, 1, window=window)


def chunks_for(array, kind):
    """The reference chunks, but one band per chunk for a rank-3 array written into /vsizip/: the classic API
    writes band by band, and a chunk that spans bands would be written twice, which a zip cannot take
    (GDAL: "already exists in ZIP file")."""
    if array.data.ndim == 3 and "-vsizip-" in kind:
        return (1,) + array.chunks[1:]
    return array.chunks


def write(kind, target, cell_id, mnist):
    fmt = gdal_format(kind)
    every = edge_arrays()
    arrays = [a for a in every if a.data.ndim in (2, 3)]
    skipped = {a.name: "the classic raster API writes rank 2 and 3 only" for a in every if a.data.ndim not in (2, 3)}

    chunks = {a.name: chunks_for(a, kind) for a in arrays}

    def write_all(store):
        for i, array in enumerate(arrays):
            write_array(store, array, fmt, i > 0, chunks[array.name])

    facts = write_store(kind, target, write_all)
    entries = [a.entry(path=a.leaf, reference=a.name, chunks=list(chunks[a.name])) for a in arrays]
    variant = "GDAL %s (rasterio) %s, %s" % (rasterio.__gdal_version__, fmt, facts["packing"])
    return 3 if fmt == "ZARR_V3" else 2, variant, entries, dict(facts, skipped_arrays=skipped)


# The creation options that express a feature's codec through the classic API (GDAL's Zarr driver).
FEATURE_COMPRESS = {None: {"COMPRESS": "NONE"}, "zstd": {"COMPRESS": "ZSTD"}, "gzip": {"COMPRESS": "GZIP"},
                    "blosc-bitshuffle": {"COMPRESS": "BLOSC", "BLOSC_CNAME": "zstd", "BLOSC_SHUFFLE": "BIT"}}


def feature_options(spec):
    """GDAL creation options for a feature; KeyError or NotImplementedError where the driver has none."""
    if spec.get("edit") == "stale-duplicate":
        raise NotImplementedError("rasterio's classic API cannot resize a raster in place")
    if spec.get("endian") == "big" or spec.get("attributes") or spec.get("shard") or spec.get("codec") in (
            "crc32c", "transpose"):
        raise NotImplementedError("GDAL's Zarr driver has no creation option for this through the classic API")
    options = dict(FORMAT="ZARR_V3" if spec["format"] == 3 else "ZARR_V2", ARRAY_NAME="data",
                   BLOCKSIZE=",".join(map(str, spec["chunks"])), **FEATURE_COMPRESS[spec.get("codec")])
    if spec.get("chunk_key") == "slash":
        options["DIM_SEPARATOR"] = "/"
    elif spec.get("chunk_key") == "v2":
        options["CHUNK_KEY_ENCODING"] = "V2"
    if fill_value(spec) is not None and not isinstance(fill_value(spec), complex):
        options["nodata"] = fill_value(spec)
    return options


def write_feature(spec, target):
    """One catalogue feature as a one-band raster (rank 2 only), into a folder zipped afterwards; the metadata
    written must show the feature, since GDAL warns of and ignores an option it does not know."""
    import os
    import shutil
    import tempfile

    feature = FeatureArray(spec)
    options = feature_options(spec)
    if feature.data.ndim != 2 or 0 in feature.shape:
        raise NotImplementedError("the classic raster API writes non-empty rank-2 and rank-3 arrays only")
    work = tempfile.mkdtemp(prefix="zm-rio-feature-")
    folder = os.path.join(work, "store.zarr")
    try:
        where, block = feature.region()
        height, width = feature.shape
        window = Window(where[1].start, where[0].start, block.shape[1], block.shape[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(folder, "w", driver="Zarr", width=width, height=height, count=1,
                               dtype=str(feature.data.dtype), **options) as dst:
                dst.write(block, 1, window=window)
        extra = pack_feature(spec, folder, target)
        return ("GDAL %s (rasterio) %s, zipped" % (rasterio.__gdal_version__, options["FORMAT"]),
                [feature.entry(codec=options.get("COMPRESS"))], extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main_guard(lambda: run_writer(write, versions, write_feature))
