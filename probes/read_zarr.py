"""Read a fixture with zarr-python itself, 2.x or 3.x, through its documented calls."""

import zarr

from _zarr_compat import fixture_store
from _zmprobe import Call, Method, main_guard, nested_root, run_reader, version_of


def versions():
    return {"library_version": zarr.__version__, "zarr_version": zarr.__version__,
            "numcodecs_version": version_of("numcodecs")}


def inner(fixture):
    """zarr's documented way to open a store below the root of a zip: path=."""
    return {"path": nested_root(fixture)} if nested_root(fixture) else {}


class StoreObject(Method):
    """zarr's own ZipStore for a zip, its directory store for the unzipped control."""

    name = "store-object"

    def call(self, fixture):
        return Call("zarr.open", zarr.open, fixture_store(fixture), mode="r", **inner(fixture))


class PathString(Method):
    """A plain path string: zarr 2 picks a ZipStore for '.zip' itself."""

    name = "path-string"

    def call(self, fixture):
        return Call("zarr.open", zarr.open, fixture["path"], mode="r", **inner(fixture))


if __name__ == "__main__":
    main_guard(lambda: run_reader("zarr", {m.name: m for m in (StoreObject(), PathString())}, versions))
