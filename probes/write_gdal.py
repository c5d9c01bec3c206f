"""Write a fixture with GDAL's Zarr driver through osgeo.gdal's multidimensional API (the GDAL of a
Debian image): Zarr v2 or v3 (FORMAT=ZARR_V3), into a folder zipped afterwards or straight into
/vsizip/. Every reference array is written at its own path, in groups of its own, with dimensions
of its own; the sparse array's fill value is its nodata value, and only its written region is written.
"""

import numpy as np
from osgeo import gdal

from _features import FeatureArray, fill_value, pack_feature
from _gdal_writer import gdal_format, write_store
from _writer import edge_arrays, run_writer
from _zmprobe import main_guard

gdal.UseExceptions()

GDAL_TYPES = {"int32": gdal.GDT_Int32, "float64": gdal.GDT_Float64, "float32": gdal.GDT_Float32,
              "uint8": gdal.GDT_Byte, "int16": gdal.GDT_Int16}


def versions():
    return {"gdal_version": gdal.VersionInfo("RELEASE_NAME"), "numpy_version": np.__version__}


def group_of(root, path):
    group = root
    for part in path.split("/")[:-1]:
        group = group.OpenGroup(part) if part in (group.GetGroupNames() or []) else group.CreateGroup(part)
    return group


def write_array(root, array):
    group, data = group_of(root, array.name), array.data
    dims = [group.CreateDimension("%s_%d" % (array.leaf, i), None, None, size) for i, size in enumerate(data.shape)]
    md = group.CreateMDArray(array.leaf, dims, gdal.ExtendedDataType.Create(GDAL_TYPES[str(data.dtype)]),
                             ["BLOCKSIZE=" + ",".join(map(str, array.chunks))])
    if array.fill_value is not None:
        md.SetNoDataValueDouble(float(array.fill_value))
    where, block = array.region()
    md.WriteArray(np.ascontiguousarray(block), array_start_idx=[s.start for s in where])


def write(kind, target, cell_id, mnist):
    fmt = gdal_format(kind)
    arrays = edge_arrays()

    def write_all(store):
        ds = gdal.GetDriverByName("Zarr").CreateMultiDimensional(store, [], ["FORMAT=" + fmt])
        root = ds.GetRootGroup()
        for array in arrays:
            write_array(root, array)
        del root
        del ds  # GDAL writes the metadata when the dataset is closed

    facts = write_store(kind, target, write_all)
    variant = "GDAL %s multidim %s, %s" % (gdal.VersionInfo("RELEASE_NAME"), fmt, facts["packing"])
    return 3 if fmt == "ZARR_V3" else 2, variant, [a.entry() for a in arrays], facts


# Array creation options that express a feature's codec (GDAL's Zarr driver, multidimensional API).
FEATURE_COMPRESS = {None: ["COMPRESS=NONE"], "zstd": ["COMPRESS=ZSTD"], "gzip": ["COMPRESS=GZIP"],
                    "blosc-bitshuffle": ["COMPRESS=BLOSC", "BLOSC_CNAME=zstd", "BLOSC_SHUFFLE=BIT"]}


def feature_type(spec, data):
    """GDAL's data type for a feature's values; a string feature is GDAL's string type."""
    if spec["dtype"] == "string":
        return gdal.ExtendedDataType.CreateString()
    from osgeo import gdal_array

    return gdal.ExtendedDataType.Create(gdal_array.NumericTypeCodeToGDALTypeCode(data.dtype))


def write_feature(spec, target):
    """One catalogue feature as one array "data" of the root group, into a folder zipped afterwards; the
    metadata written must show the feature, since GDAL warns of and ignores an option it does not know."""
    import os
    import shutil
    import tempfile

    if spec.get("edit") == "stale-duplicate" or spec.get("endian") == "big" or spec.get("shard") or \
            spec.get("codec") in ("crc32c", "transpose"):
        raise NotImplementedError("GDAL's Zarr driver has no option for this in its multidimensional API")
    feature = FeatureArray(spec)
    options = ["BLOCKSIZE=" + ",".join(map(str, spec["chunks"]))] * bool(spec["chunks"]) + \
        FEATURE_COMPRESS[spec.get("codec")]
    if spec.get("chunk_key") == "slash":
        options.append("DIM_SEPARATOR=/")
    elif spec.get("chunk_key") == "v2":
        options.append("CHUNK_KEY_ENCODING=V2")
    work = tempfile.mkdtemp(prefix="zm-gdal-feature-")
    store = os.path.join(work, "store.zarr")
    fmt = "ZARR_V3" if spec["format"] == 3 else "ZARR_V2"
    try:
        write_feature_store(store, fmt, spec, feature, options)
        extra = pack_feature(spec, store, target)
        return ("GDAL %s multidim %s, zipped" % (gdal.VersionInfo("RELEASE_NAME"), fmt),
                [feature.entry(codec=" ".join(FEATURE_COMPRESS[spec.get("codec")]))], extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_feature_store(store, fmt, spec, feature, options):
    """The store, closed when this returns: GDAL writes metadata when the dataset goes, and must not do it
    later into a folder already removed."""
    ds = root = md = dims = attr = None
    try:
        ds = gdal.GetDriverByName("Zarr").CreateMultiDimensional(store, [], ["FORMAT=" + fmt])
        root = ds.GetRootGroup()
        dims = [root.CreateDimension("dim_%d" % i, None, None, size) for i, size in enumerate(feature.shape)]
        md = root.CreateMDArray("data", dims, feature_type(spec, feature.data), options)
        if md is None:
            raise RuntimeError(gdal.GetLastErrorMsg() or "GDAL did not create the array")
        fill = fill_value(spec)
        if isinstance(fill, (int, float)) and not isinstance(fill, bool):
            md.SetNoDataValueDouble(float(fill))
        for key, value in (spec.get("attributes") or {}).items():
            attr = md.CreateAttribute(key, [], gdal.ExtendedDataType.Create(gdal.GDT_Float64))
            attr.WriteDouble(float(value))
        where, block = feature.region()
        if block.size:
            md.WriteArray(np.require(block, requirements="C"), array_start_idx=[s.start for s in where])
    finally:
        # Also on an error: a traceback would keep the dataset alive past the removal of its folder.
        md = root = ds = dims = attr = None  # noqa: F841


if __name__ == "__main__":
    main_guard(lambda: run_writer(write, versions, write_feature))
