"""How GDAL names a Zarr store in a zip and one of its arrays; shared by the
osgeo.gdal and rasterio probes, which reach the same driver."""

import os


def store_path(fixture):
    """GDAL's name for the store: /vsizip/ZIP, or /vsizip/ZIP/inner for a store nested in the zip."""
    p = os.path.abspath(fixture["path"])
    if fixture["variant"] != "zip":
        return p
    inner = fixture.get("root") or ""
    # GDAL knows a zip by its extension; any other name (.ozx) goes in braces, GDAL's documented way.
    archive = p if p.lower().endswith(".zip") else "{%s}" % p
    return "/vsizip/" + archive + ("/" + inner if inner else "")


def subdataset(fixture, array_path):
    """One array's classic-API name. The store itself where the array has no path of its own (a store
    whose root is an array, or a group holding one): GDAL rejects ZARR:"...":/ for those."""
    if not array_path:
        return 'ZARR:"%s"' % store_path(fixture)
    return 'ZARR:"%s":/%s' % (store_path(fixture), array_path)
