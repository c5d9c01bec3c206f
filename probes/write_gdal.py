"""Write a fixture with GDAL's Zarr driver through osgeo.gdal's multidimensional API (the GDAL of a
Debian image): Zarr v2 or v3 (FORMAT=ZARR_V3), into a folder zipped afterwards or straight into
/vsizip/. Every reference array is written at its own path, in groups of its own, with dimensions
of its own; the sparse array's fill value is its nodata value, and only its written region is written.
"""

import numpy as np
from osgeo import gdal

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


if __name__ == "__main__":
    main_guard(lambda: run_writer(write, versions))
