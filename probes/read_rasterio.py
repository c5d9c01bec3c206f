"""Read a fixture with rasterio, whose wheels bundle a GDAL of their own: the
classic raster API on one ZARR:"/vsizip/...":/array subdataset per array."""

import rasterio

from _gdal_paths import store_path, subdataset
from _zmprobe import Call, Method, Opened, main_guard, run_reader


def versions():
    return {"library_version": rasterio.__version__, "gdal_version": rasterio.__gdal_version__}


class Classic(Method):
    name = "rasterio.open"

    def call(self, fixture):
        return Call("rasterio.open", rasterio.open, 'ZARR:"%s"' % store_path(fixture))

    def reader(self, ds, fixture):
        with ds:
            subs = list(ds.subdatasets)

        def read(spec):
            with rasterio.open(subdataset(fixture, spec["path"])) as src:
                return src.read()

        return Opened(read, lambda: [s.rsplit(":/", 1)[-1] for s in subs] or [""])


if __name__ == "__main__":
    main_guard(lambda: run_reader("rasterio", {"rasterio.open": Classic()}, versions))
