"""zarr-python 2 and 3 side by side: the store classes a probe names, as Calls.

zarr 2 has zarr.ZipStore and zarr.DirectoryStore; zarr 3 has zarr.storage.ZipStore
and zarr.storage.LocalStore, which knows whether it is read-only from the start.
Standard library and zarr only, Python 3.9 compatible.
"""

import zarr

from _zmprobe import Call, major

ZARR_MAJOR = major(zarr.__version__)
V3 = ZARR_MAJOR >= 3


def zip_store(path, mode):
    if V3:
        return Call("zarr.storage.ZipStore", zarr.storage.ZipStore, path, mode=mode)
    return Call("zarr.ZipStore", zarr.ZipStore, path, mode=mode)


def dir_store(path, read_only):
    if V3:
        return Call("zarr.storage.LocalStore", zarr.storage.LocalStore, path, read_only=read_only)
    return Call("zarr.DirectoryStore", zarr.DirectoryStore, path)


def memory_store():
    if V3:
        return Call("zarr.storage.MemoryStore", zarr.storage.MemoryStore)
    return Call("zarr.MemoryStore", zarr.MemoryStore)


def fixture_store(fixture):
    """The store a fixture opens read-only with: its zip, or the folder of its unzipped control."""
    if fixture["variant"] == "zip":
        return zip_store(fixture["path"], "r")
    return dir_store(fixture["path"], True)
