"""Write a fixture with netCDF-C through netCDF4-python: a folder in NCZarr's "zarr" (pure Zarr v2, with
xarray's _ARRAY_DIMENSIONS) or "nczarr" mode, zipped afterwards (the PyPI wheels cannot write a zip).

Each array gets dimensions of its own, in the group it lives in; netCDF-C writes the data type and fill
value it chooses (uint8, for one, as "<u1"), which is what other readers are then tried on.
"""

import shutil
import tempfile

import netCDF4
import numpy as np

from _packing import pack
from _writer import edge_arrays, run_writer
from _zmprobe import main_guard, version_of


def versions():
    return {"netcdf4_version": version_of("netCDF4"), "netcdf_c_version": netCDF4.__netcdf4libversion__,
            "numpy_version": np.__version__}


def group_of(ds, path):
    group = ds
    for part in path.split("/")[:-1]:
        group = group.groups[part] if part in group.groups else group.createGroup(part)
    return group


def write(kind, target, cell_id, mnist):
    mode = "nczarr" if kind.startswith("nc-nczarr") else "zarr"
    folder = tempfile.mkdtemp(prefix="zm-nc-")
    try:
        store = folder + "/store"
        ds = netCDF4.Dataset("file://%s#mode=%s,file" % (store, mode), "w")
        ds.setncattr("title", "zarrmatrix fixture")
        entries = []
        for array in edge_arrays():
            group, data = group_of(ds, array.name), array.data
            dims = []
            for i, size in enumerate(data.shape):
                dim = "%s_%d" % (array.leaf, i)
                group.createDimension(dim, size)
                dims.append(dim)
            var = group.createVariable(array.leaf, data.dtype, tuple(dims), chunksizes=array.chunks,
                                       fill_value=array.fill_value)
            where, block = array.region()
            var[where] = block
            entries.append(array.entry(dims=dims))
        ds.close()
        pack(store, target, "stored")
        return 2, "netCDF-C %s mode, zipped" % mode, entries, {}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main_guard(lambda: run_writer(write, versions))
