"""Read a fixture with zarr-python itself, 2.x or 3.x, through its documented calls."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zarr  # noqa: E402

from _zmprobe import Method, Opened, main_guard, major, run_reader, version_of  # noqa: E402
from _zmprobe import zarr_like_read, zarr_like_walk  # noqa: E402

ZARR_MAJOR = major(zarr.__version__)


def versions():
    return {"library_version": zarr.__version__, "zarr_version": zarr.__version__,
            "numcodecs_version": version_of("numcodecs")}


def opened(call, root):
    return Opened(call, lambda spec: zarr_like_read(root, spec["path"]), lambda: zarr_like_walk(root))


class StoreObject(Method):
    """zarr's own ZipStore for a zip, its directory store for the unzipped control."""

    name = "store-object"

    def describe(self, fixture):
        p = fixture["path"]
        if fixture["variant"] == "zip":
            cls = "zarr.ZipStore" if ZARR_MAJOR < 3 else "zarr.storage.ZipStore"
            return "zarr.open(%s(%r, mode='r'), mode='r')" % (cls, p)
        if ZARR_MAJOR < 3:
            return "zarr.open(zarr.DirectoryStore(%r), mode='r')" % p
        return "zarr.open(zarr.storage.LocalStore(%r, read_only=True), mode='r')" % p

    def open(self, fixture):
        p = fixture["path"]
        if fixture["variant"] == "zip":
            store = zarr.ZipStore(p, mode="r") if ZARR_MAJOR < 3 else zarr.storage.ZipStore(p, mode="r")
        elif ZARR_MAJOR < 3:
            store = zarr.DirectoryStore(p)
        else:
            store = zarr.storage.LocalStore(p, read_only=True)
        return opened(self.describe(fixture), zarr.open(store, mode="r"))


class PathString(Method):
    """A plain path string: zarr 2 picks a ZipStore for '.zip' itself."""

    name = "path-string"

    def describe(self, fixture):
        return "zarr.open(%r, mode='r')" % fixture["path"]

    def open(self, fixture):
        return opened(self.describe(fixture), zarr.open(fixture["path"], mode="r"))


if __name__ == "__main__":
    main_guard(lambda: run_reader("zarr", {m.name: m for m in (StoreObject(), PathString())}, versions))
