"""Read a fixture with GDAL's Zarr driver through osgeo.gdal, over /vsizip/:
the multidimensional API (every array by its full name) and the classic raster
API (one ZARR:"...":/array subdataset per array)."""

from osgeo import gdal

from _gdal_paths import store_path, subdataset
from _zmprobe import Call, Code, Method, Opened, main_guard, run_reader

gdal.UseExceptions()


def versions():
    return {"library_version": gdal.__version__, "gdal_version": gdal.VersionInfo("RELEASE_NAME")}


class Multidim(Method):
    name = "multidim"

    def call(self, fixture):
        opened = Call("gdal.OpenEx", gdal.OpenEx, store_path(fixture),
                      Code("gdal.OF_MULTIDIM_RASTER", gdal.OF_MULTIDIM_RASTER))
        return opened.method("GetRootGroup")

    def reader(self, root, fixture):
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

        return Opened(read, walk)


class Classic(Method):
    name = "classic"

    def call(self, fixture):
        return Call("gdal.Open", gdal.Open, 'ZARR:"%s"' % store_path(fixture))

    def reader(self, ds, fixture):
        def read(spec):
            return Call("gdal.Open", gdal.Open, subdataset(fixture, spec["path"])).method("ReadAsArray")()

        def walk():
            subs = ds.GetSubDatasets() or []
            return [name.rsplit(":/", 1)[-1] for name, _ in subs] or [""]

        return Opened(read, walk)


if __name__ == "__main__":
    main_guard(lambda: run_reader("gdal", {m.name: m for m in (Multidim(), Classic())}, versions))
