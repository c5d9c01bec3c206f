"""Try a fixture with h5py. h5py reads HDF5, not Zarr: the attempt is made all
the same, so that the matrix shows what a user who tries it would see."""

import h5py

from _zmprobe import Call, Method, Opened, main_guard, run_reader


def versions():
    return {"library_version": h5py.__version__, "hdf5_version": h5py.version.hdf5_version}


class File(Method):
    name = "h5py.File"

    def call(self, fixture):
        return Call("h5py.File", h5py.File, fixture["path"], "r")

    def reader(self, handle, fixture):
        def walk():
            found = []
            handle.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
            return found

        return Opened(lambda spec: handle[spec["path"]][()], walk)


if __name__ == "__main__":
    main_guard(lambda: run_reader("h5py", {"h5py.File": File()}, versions))
