"""Read a fixture with rasterio, whose wheels bundle a GDAL of their own: the
classic raster API on one ZARR:"/vsizip/...":/array subdataset per array."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rasterio  # noqa: E402

from _gdal_paths import store_path, subdataset  # noqa: E402
from _zmprobe import Method, Opened, main_guard, run_reader  # noqa: E402


def versions():
    return {"library_version": rasterio.__version__, "gdal_version": rasterio.__gdal_version__}


class Classic(Method):
    name = "rasterio.open"

    def describe(self, fixture):
        return "rasterio.open(%r).read()" % subdataset(fixture, "<array>")

    def open(self, fixture):
        with rasterio.open('ZARR:"%s"' % store_path(fixture)) as ds:
            subs = list(ds.subdatasets)

        def read(spec):
            with rasterio.open(subdataset(fixture, spec["path"])) as src:
                return src.read()

        def walk():
            return [s.rsplit(":/", 1)[-1] for s in subs] or [""]

        return Opened(self.describe(fixture), read, walk)


if __name__ == "__main__":
    main_guard(lambda: run_reader("rasterio", {"rasterio.open": Classic()}, versions))
