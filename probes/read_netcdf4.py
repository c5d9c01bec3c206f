"""Read a fixture with netCDF4-python through netCDF-C's NCZarr, in its "zarr"
(pure Zarr) and "nczarr" URL modes, over a zip ("zip") or a folder ("file")."""

import os

import netCDF4

from _zmprobe import Call, Method, Opened, main_guard, run_reader


def versions():
    return {"library_version": netCDF4.__version__, "netcdf_c_version": netCDF4.__netcdf4libversion__,
            "hdf5_version": getattr(netCDF4, "__hdf5libversion__", None)}


class NCZarrUrl(Method):
    def __init__(self, mode):
        self.mode = mode
        self.name = "%s-url" % mode

    def call(self, fixture):
        storage = "zip" if fixture["variant"] == "zip" else "file"
        url = "file://%s#mode=%s,%s" % (os.path.abspath(fixture["path"]), self.mode, storage)
        return Call("netCDF4.Dataset", netCDF4.Dataset, url, "r")

    def reader(self, ds, fixture):
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

        return Opened(lambda spec: node(spec["path"])[...], walk)


if __name__ == "__main__":
    methods = (NCZarrUrl("zarr"), NCZarrUrl("nczarr"))
    main_guard(lambda: run_reader("netcdf4", {m.name: m for m in methods}, versions))
