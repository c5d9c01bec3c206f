"""What the two GDAL writer probes share (osgeo.gdal's multidimensional API, rasterio's classic
raster API): which Zarr format a kind asks for, and where the store goes, a folder zipped
afterwards or straight into a zip through GDAL's /vsizip/.

Standard library only, Python 3.9 compatible.
"""

import os
import shutil
import tempfile

from _packing import pack


def gdal_format(kind):
    """GDAL's FORMAT creation option for a fixture kind ending -v2 or -v3."""
    return "ZARR_V3" if kind.endswith("-v3") else "ZARR_V2"


def write_store(kind, target, write):
    """Call write(store_name) with the name GDAL writes the store under, and leave a zip at `target`.

    A kind with "vsizip" in it is written by GDAL itself into /vsizip/TARGET (GDAL writes a zip
    sequentially, every member once); any other is written to a folder and zipped afterwards."""
    if "-vsizip-" in kind:
        path = os.path.abspath(target)
        # GDAL knows a zip by its extension; a name without it (a .partial file) goes in braces.
        write("/vsizip/" + (path if path.lower().endswith(".zip") else "{%s}" % path))
        return {"packing": "written by GDAL into /vsizip/"}
    folder = tempfile.mkdtemp(prefix="zm-gdal-")
    try:
        store = os.path.join(folder, "store.zarr")
        write(store)
        return dict(pack(store, target, "stored"), packing="folder, zipped afterwards")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
