"""Read a fixture with netCDF4-python through netCDF-C's NCZarr, in its "zarr"
(pure Zarr) and "nczarr" URL modes, over a zip ("zip") or a folder ("file")."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netCDF4  # noqa: E402

from _zmprobe import Method, Opened, main_guard, run_reader  # noqa: E402


def versions():
    return {"library_version": netCDF4.__version__, "netcdf_c_version": netCDF4.__netcdf4libversion__,
            "hdf5_version": getattr(netCDF4, "__hdf5libversion__", None)}


class NCZarrUrl(Method):
    def __init__(self, mode):
        self.mode = mode
        self.name = "%s-url" % mode

    def url(self, fixture):
        storage = "zip" if fixture["variant"] == "zip" else "file"
        return "file://%s#mode=%s,%s" % (os.path.abspath(fixture["path"]), self.mode, storage)

    def describe(self, fixture):
        return "netCDF4.Dataset(%r, 'r')" % self.url(fixture)

    def open(self, fixture):
        ds = netCDF4.Dataset(self.url(fixture), "r")
        ds.set_auto_maskandscale(False)

        def node(path):
            parts = path.split("/")
            group = ds
            for part in parts[:-1]:
                group = group.groups[part]
            return group.variables[parts[-1]]

        def walk():
            found = []

            def visit(group, prefix):
                found.extend(prefix + name for name in sorted(group.variables))
                for name in sorted(group.groups):
                    visit(group.groups[name], prefix + name + "/")

            visit(ds, "")
            return found

        return Opened(self.describe(fixture), lambda spec: node(spec["path"])[...], walk)


if __name__ == "__main__":
    methods = (NCZarrUrl("zarr"), NCZarrUrl("nczarr"))
    main_guard(lambda: run_reader("netcdf4", {m.name: m for m in methods}, versions))
