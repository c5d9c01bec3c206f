"""Read a fixture with TensorStore: a zip through its `zip` kvstore, the unzipped control
through `file`; each array by the zarr (v2) or zarr3 driver its metadata names."""

import json
import os

import tensorstore as ts

from _zmprobe import Call, Method, Opened, main_guard, nested_root, run_reader, version_of


def versions():
    return {"library_version": version_of("tensorstore")}


def kvstore(fixture):
    """TensorStore's kvstore for the store: the zip's entries, or the folder; a nested store by its path."""
    path = os.path.abspath(fixture["path"])
    if fixture["variant"] == "zip":
        root = nested_root(fixture)
        spec = {"driver": "zip", "base": {"driver": "file", "path": path}}
        return dict(spec, path=root + "/") if root else spec
    return {"driver": "file", "path": path + "/"}


class Arrays:
    """The arrays below a kvstore, found from their metadata keys, each opened with its own driver."""

    def __init__(self, store, spec):
        self.store, self.spec = store, spec

    def walk(self):
        found = []
        for key in sorted(k.decode() for k in self.store.list().result()):
            folder, _, name = key.rpartition("/")
            if name == ".zarray":
                found.append(folder)
            elif name == "zarr.json" and json.loads(self.store.read(key).result().value).get("node_type") == "array":
                found.append(folder)
        return found

    def read(self, spec):
        path = spec["path"]
        prefix = path + "/" if path else ""
        v2 = self.store.read(prefix + ".zarray").result().state == "value"
        kv = dict(self.spec, path=self.spec.get("path", "") + prefix)
        return ts.open({"driver": "zarr" if v2 else "zarr3", "kvstore": kv}, read=True).result().read().result()


class KvStoreMethod(Method):
    name = "kvstore"

    def call(self, fixture):
        return Call("tensorstore.KvStore.open", ts.KvStore.open, kvstore(fixture)).method("result")

    def reader(self, store, fixture):
        arrays = Arrays(store, kvstore(fixture))
        return Opened(arrays.read, arrays.walk)


if __name__ == "__main__":
    main_guard(lambda: run_reader("tensorstore", {"kvstore": KvStoreMethod()}, versions))
