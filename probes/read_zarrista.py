"""Read a fixture with zarrs, the Rust implementation, through its Python bindings (zarrista): a zip through
zarrs_zip's read-only `ZipStore` over a `FilesystemStore` of the zip's folder, the unzipped control through the
`FilesystemStore` itself; every array found by traversing the root group, each read whole."""

import os

import numpy as np
import zarrista
from zarrista.store import FilesystemStore, ZipStore

from _zmprobe import Call, Method, Opened, main_guard, nested_root, run_reader, version_of


def versions():
    return {"library_version": version_of("zarrista")}


def store_call(fixture):
    path = os.path.abspath(fixture["path"])
    if fixture["variant"] != "zip":
        return Call("zarrista.store.FilesystemStore", FilesystemStore, path)
    folder = Call("zarrista.store.FilesystemStore", FilesystemStore, os.path.dirname(path))
    root = nested_root(fixture)
    if root:
        return Call("zarrista.store.ZipStore", ZipStore, folder, os.path.basename(path), path=root)
    return Call("zarrista.store.ZipStore", ZipStore, folder, os.path.basename(path))


def node_path(path):
    """zarrs' absolute node path of an array path relative to the root ("" is the root itself)."""
    return "/" + path if path else "/"


class Nodes:
    """The arrays of a store: the root array, or every array below the root group."""

    def __init__(self, store):
        self.store = store

    def walk(self):
        try:
            group = zarrista.Group.open(self.store, "/")
        except Exception:
            zarrista.Array.open(self.store, "/")
            return [""]
        return sorted(node.path.lstrip("/") for node in group.traverse() if isinstance(node, zarrista.Array))

    def read(self, spec):
        array = zarrista.Array.open(self.store, node_path(spec["path"]))
        return np.asarray(array[array.subset_all])


class StoreMethod(Method):
    def call(self, fixture):
        return store_call(fixture)

    def reader(self, store, fixture):
        nodes = Nodes(store)
        return Opened(nodes.read, nodes.walk)


if __name__ == "__main__":
    main_guard(lambda: run_reader("zarrista", {"store": StoreMethod()}, versions))
