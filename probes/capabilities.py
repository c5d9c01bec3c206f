"""The facts behind a cell's verdicts: Python, the installed distributions, and
the C libraries under them (netCDF-C and its NCZarr/zip support, HDF5, GDAL
and its Zarr driver with its codecs). Prints one JSON object."""

import json
import os
import platform
import shutil
import sys


def distributions():
    from importlib import metadata

    seen = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = "%s==%s" % (name, dist.version)
    return sorted(seen.values(), key=str.lower)


def guarded(fn):
    try:
        return fn()
    except ImportError:
        return None
    except Exception as exc:  # a capability we cannot read is a fact too
        return {"error": "%s: %s" % (type(exc).__name__, exc)}


def nczarr_can_create(netCDF4, storage):
    """Whether this netCDF-C writes NCZarr to `storage` ("file" or "zip"): tried, not assumed."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="zm-nczarr-")
    target = os.path.join(folder, "probe.zip" if storage == "zip" else "probe")
    try:
        ds = netCDF4.Dataset("file://%s#mode=nczarr,%s" % (target, storage), "w")
        ds.createDimension("x", 2)
        ds.createVariable("v", "i4", ("x",))[:] = [1, 2]
        ds.close()
        return True
    except Exception as exc:
        return "no: %s" % str(exc)[:120]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def netcdf():
    import netCDF4

    facts = {"netcdf4_python": netCDF4.__version__, "netcdf_c": netCDF4.__netcdf4libversion__,
             "hdf5": getattr(netCDF4, "__hdf5libversion__", None),
             "nczarr_file": nczarr_can_create(netCDF4, "file"),
             "nczarr_zip": nczarr_can_create(netCDF4, "zip"),
             "filter_plugins": sorted(
                 name for folder in (os.environ.get("HDF5_PLUGIN_PATH") or "").split(os.pathsep)
                 if folder and os.path.isdir(folder) for name in os.listdir(folder)
                 if name.endswith((".so", ".dylib", ".dll")))}
    for flag in ("__has_nczarr_support__", "__has_zstandard_support__", "__has_blosc_support__",
                 "__has_bzip2_support__", "__has_szip_support__", "__has_quantization_support__"):
        if hasattr(netCDF4, flag):
            facts[flag.strip("_")] = bool(getattr(netCDF4, flag))
    return facts


def gdal_driver(gdal):
    driver = gdal.GetDriverByName("Zarr")
    facts = {"version": gdal.VersionInfo("RELEASE_NAME"), "zarr_driver": driver is not None}
    if driver is not None:
        facts["zarr_compressors"] = driver.GetMetadataItem("COMPRESSORS")
        facts["zarr_blosc_compressors"] = driver.GetMetadataItem("BLOSC_COMPRESSORS")
    return facts


def osgeo_gdal():
    from osgeo import gdal

    return gdal_driver(gdal)


def rasterio_gdal():
    import rasterio

    with rasterio.Env() as env:
        drivers = env.drivers()
    return {"rasterio": rasterio.__version__, "version": rasterio.__gdal_version__,
            "zarr_driver": "Zarr" in drivers or "ZARR" in drivers}


def h5py_facts():
    import h5py

    return {"h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}


def zarr_facts():
    import zarr

    facts = {"zarr": zarr.__version__}
    try:
        import numcodecs

        facts["numcodecs"] = numcodecs.__version__
    except ImportError:
        pass
    return facts


def main():
    facts = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "freeze": distributions(),
        "zarr": guarded(zarr_facts),
        "netcdf": guarded(netcdf),
        "hdf5": guarded(h5py_facts),
        "gdal": guarded(osgeo_gdal),
        "rasterio_gdal": guarded(rasterio_gdal),
    }
    json.dump(facts, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
