"""Read a fixture with zarr-python itself, 2.x or 3.x, through its documented calls. Where the zarrs package
is installed (a zarr 3 cell that pins it), zarr is configured to decode with zarrs' codec pipeline, and each
array's entry names the pipeline that decoded it: zarr falls back to its own on stores zarrs cannot use."""

import zarr

from _zarr_compat import V3, fixture_store
from _zmprobe import (
    Call,
    Method,
    Opened,
    main_guard,
    nested_root,
    run_reader,
    version_of,
    zarr_like_read,
    zarr_like_walk,
)

ZARRS_PIPELINE = "zarrs.ZarrsCodecPipeline"


def asked_pipeline():
    """The codec pipeline this cell asks zarr for: zarrs' where it is installed (zarr 3), else zarr's default."""
    if not V3 or version_of("zarrs") is None:
        return None
    zarr.config.set({"codec_pipeline.path": ZARRS_PIPELINE})
    return ZARRS_PIPELINE


ASKED = asked_pipeline()


def versions():
    facts = {"library_version": zarr.__version__, "zarr_version": zarr.__version__,
             "numcodecs_version": version_of("numcodecs")}
    if ASKED:
        facts.update(zarrs_version=version_of("zarrs"), codec_pipeline_asked=ASKED)
    return facts


def decoded_by(root, spec):
    """The codec pipeline zarr used for an array (zarr 3)."""
    node = root if spec["path"] == "" else root[spec["path"]]
    pipeline = getattr(getattr(node, "_async_array", None), "codec_pipeline", None)
    return {} if pipeline is None else {"codec_pipeline": type(pipeline).__module__ + "." + type(pipeline).__name__}


class ZarrMethod(Method):
    def reader(self, root, fixture):
        describe = (lambda spec: decoded_by(root, spec)) if V3 else None
        return Opened(lambda spec: zarr_like_read(root, spec["path"]), lambda: zarr_like_walk(root), describe)


def inner(fixture):
    """zarr's documented way to open a store below the root of a zip: path=."""
    return {"path": nested_root(fixture)} if nested_root(fixture) else {}


class StoreObject(ZarrMethod):
    """zarr's own ZipStore for a zip, its directory store for the unzipped control."""

    name = "store-object"

    def call(self, fixture):
        return Call("zarr.open", zarr.open, fixture_store(fixture), mode="r", **inner(fixture))


class PathString(ZarrMethod):
    """A plain path string: zarr 2 picks a ZipStore for '.zip' itself."""

    name = "path-string"

    def call(self, fixture):
        return Call("zarr.open", zarr.open, fixture["path"], mode="r", **inner(fixture))


if __name__ == "__main__":
    main_guard(lambda: run_reader("zarr", {m.name: m for m in (StoreObject(), PathString())}, versions))
