"""Read a fixture through fsspec's ZipFileSystem, with zarr 2 (a mapper) or
zarr 3 (an FsspecStore, or URL chaining)."""

import os

import fsspec
import zarr

from _zarr_compat import V3
from _zmprobe import Call, Method, fsspec_url, main_guard, nested_root, run_reader


def versions():
    return {"library_version": fsspec.__version__, "zarr_version": zarr.__version__}


class UrlChaining(Method):
    """zarr.open on a chained fsspec URL: zarr picks FSStore (2.x) or FsspecStore (3.x)."""

    name = "url-chaining"

    def call(self, fixture):
        return Call("zarr.open", zarr.open, fsspec_url(fixture), mode="r")


class Filesystem(Method):
    """An explicit fsspec filesystem object, handed to zarr as a mapper or a store."""

    name = "filesystem-object"

    def call(self, fixture):
        if fixture["variant"] == "zip":
            fs = Call("fsspec.filesystem", fsspec.filesystem, "zip", fo=fixture["path"])
            mapper = fs.method("get_mapper", nested_root(fixture))
        else:
            fs = Call("fsspec.filesystem", fsspec.filesystem, "file")
            mapper = fs.method("get_mapper", os.path.abspath(fixture["path"]))
        if V3:
            store = Call("zarr.storage.FsspecStore.from_mapper", zarr.storage.FsspecStore.from_mapper, mapper,
                         read_only=True)
        else:
            store = mapper
        return Call("zarr.open", zarr.open, store, mode="r")


if __name__ == "__main__":
    main_guard(lambda: run_reader("fsspec", {m.name: m for m in (UrlChaining(), Filesystem())}, versions))
