"""Read a fixture with GDAL's Zarr driver through osgeo.gdal, over /vsizip/:
the multidimensional API (every array by its full name) and the classic raster
API (one ZARR:"...":/array subdataset per array)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from osgeo import gdal  # noqa: E402

from _gdal_paths import store_path, subdataset  # noqa: E402
from _zmprobe import Method, Opened, main_guard, run_reader  # noqa: E402

gdal.UseExceptions()


def versions():
    return {"library_version": gdal.__version__, "gdal_version": gdal.VersionInfo("RELEASE_NAME")}


class Multidim(Method):
    name = "multidim"

    def describe(self, fixture):
        return "gdal.OpenEx(%r, gdal.OF_MULTIDIM_RASTER).GetRootGroup().OpenMDArrayFromFullname(...)" % (
            store_path(fixture))

    def open(self, fixture):
        ds = gdal.OpenEx(store_path(fixture), gdal.OF_MULTIDIM_RASTER)
        root = ds.GetRootGroup()

        def read(spec):
            array = root.OpenMDArrayFromFullname("/" + spec["path"])
            if array is None:
                raise KeyError("no array /%s" % spec["path"])
            return array.ReadAsArray()

        def walk():
            found = []

            def visit(group, prefix):
                found.extend(prefix + n for n in (group.GetMDArrayNames() or []))
                for name in group.GetGroupNames() or []:
                    visit(group.OpenGroup(name), prefix + name + "/")

            visit(root, "")
            return found

        return Opened(self.describe(fixture), read, walk)


class Classic(Method):
    name = "classic"

    def describe(self, fixture):
        return "gdal.Open(%r).ReadAsArray()" % subdataset(fixture, "<array>")

    def open(self, fixture):
        ds = gdal.Open('ZARR:"%s"' % store_path(fixture))

        def read(spec):
            return gdal.Open(subdataset(fixture, spec["path"])).ReadAsArray()

        def walk():
            subs = ds.GetSubDatasets() or []
            return [name.rsplit(":/", 1)[-1] for name, _ in subs] or [""]

        return Opened(self.describe(fixture), read, walk)


if __name__ == "__main__":
    main_guard(lambda: run_reader("gdal", {m.name: m for m in (Multidim(), Classic())}, versions))
