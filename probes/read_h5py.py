"""Try a fixture with h5py. h5py reads HDF5, not Zarr: the attempt is made all
the same, so that the matrix shows what a user who tries it would see."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5py  # noqa: E402

from _zmprobe import Method, Opened, main_guard, run_reader  # noqa: E402


def versions():
    return {"library_version": h5py.__version__, "hdf5_version": h5py.version.hdf5_version}


class File(Method):
    name = "h5py.File"

    def describe(self, fixture):
        return "h5py.File(%r, 'r')" % fixture["path"]

    def open(self, fixture):
        handle = h5py.File(fixture["path"], "r")

        def walk():
            found = []
            handle.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
            return found

        return Opened(self.describe(fixture), lambda spec: handle[spec["path"]][()], walk)


if __name__ == "__main__":
    main_guard(lambda: run_reader("h5py", {"h5py.File": File()}, versions))
