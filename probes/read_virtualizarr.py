"""Read a fixture with VirtualiZarr: its own parser maps the store to a ManifestStore of byte ranges (for a zip,
`ZippedZarrParser` reads the zip's central directory itself; for the unzipped control, `ZarrParser`), and the
arrays are read through that manifest with zarr, each range fetched by obstore from the file."""

import os

import zarr
from obspec_utils.registry import ObjectStoreRegistry
from obstore.store import LocalStore
from virtualizarr.parsers import ZarrParser, ZippedZarrParser

from _zmprobe import Call, Code, Method, main_guard, nested_root, run_reader, version_of


def versions():
    return {"library_version": version_of("virtualizarr"), "zarr_version": zarr.__version__,
            "obstore_version": version_of("obstore")}


class ManifestMethod(Method):
    """The parser's ManifestStore, opened as a zarr group (VirtualiZarr stores are zarr 3 stores)."""

    def call(self, fixture):
        url = "file://" + os.path.abspath(fixture["path"])
        reg = Code('obspec_utils.registry.ObjectStoreRegistry({"file://": obstore.store.LocalStore()})',
                   ObjectStoreRegistry({"file://": LocalStore()}))
        if fixture["variant"] == "zip":
            root = nested_root(fixture)
            parser = Call("virtualizarr.parsers.ZippedZarrParser", ZippedZarrParser,
                          **({"group": root} if root else {}))
        else:
            parser = Call("virtualizarr.parsers.ZarrParser", ZarrParser)
        return Call("zarr.open", zarr.open, parser.method("__call__", url, reg), mode="r")


if __name__ == "__main__":
    main_guard(lambda: run_reader("virtualizarr", {"manifest-store": ManifestMethod()}, versions))
