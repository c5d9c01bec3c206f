"""How GDAL names a Zarr store in a zip and one of its arrays; shared by the
osgeo.gdal and rasterio probes, which reach the same driver."""

import os


def store_path(fixture):
    p = os.path.abspath(fixture["path"])
    return "/vsizip/" + p if fixture["variant"] == "zip" else p


def subdataset(fixture, array_path):
    return 'ZARR:"%s":/%s' % (store_path(fixture), array_path)
