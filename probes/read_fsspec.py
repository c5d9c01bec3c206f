"""Read a fixture through fsspec's ZipFileSystem, with zarr 2 (a mapper) or
zarr 3 (an FsspecStore, or URL chaining)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fsspec  # noqa: E402
import zarr  # noqa: E402

from _zmprobe import Method, Opened, main_guard, major, run_reader  # noqa: E402
from _zmprobe import zarr_like_read, zarr_like_walk  # noqa: E402

ZARR_MAJOR = major(zarr.__version__)


def versions():
    return {"library_version": fsspec.__version__, "zarr_version": zarr.__version__}


def url(fixture):
    p = os.path.abspath(fixture["path"])
    return ("zip::file://%s" if fixture["variant"] == "zip" else "file://%s") % p


def opened(call, root):
    return Opened(call, lambda spec: zarr_like_read(root, spec["path"]), lambda: zarr_like_walk(root))


class UrlChaining(Method):
    """zarr.open on a chained fsspec URL: zarr picks FSStore (2.x) or FsspecStore (3.x)."""

    name = "url-chaining"

    def describe(self, fixture):
        return "zarr.open(%r, mode='r')" % url(fixture)

    def open(self, fixture):
        return opened(self.describe(fixture), zarr.open(url(fixture), mode="r"))


class Filesystem(Method):
    """An explicit fsspec filesystem object, handed to zarr as a mapper or a store."""

    name = "filesystem-object"

    def fs_code(self, fixture):
        if fixture["variant"] == "zip":
            return "fsspec.filesystem('zip', fo=%r)" % fixture["path"]
        return "fsspec.filesystem('file')"

    def root_path(self, fixture):
        return "" if fixture["variant"] == "zip" else os.path.abspath(fixture["path"])

    def describe(self, fixture):
        fs, root = self.fs_code(fixture), self.root_path(fixture)
        if ZARR_MAJOR < 3:
            return "zarr.open(%s.get_mapper(%r), mode='r')" % (fs, root)
        return "zarr.open(zarr.storage.FsspecStore.from_mapper(%s.get_mapper(%r), read_only=True), mode='r')" % (
            fs, root)

    def open(self, fixture):
        if fixture["variant"] == "zip":
            fs = fsspec.filesystem("zip", fo=fixture["path"])
        else:
            fs = fsspec.filesystem("file")
        mapper = fs.get_mapper(self.root_path(fixture))
        if ZARR_MAJOR < 3:
            store = mapper
        else:
            store = zarr.storage.FsspecStore.from_mapper(mapper, read_only=True)
        return opened(self.describe(fixture), zarr.open(store, mode="r"))


if __name__ == "__main__":
    main_guard(lambda: run_reader("fsspec", {m.name: m for m in (UrlChaining(), Filesystem())}, versions))
