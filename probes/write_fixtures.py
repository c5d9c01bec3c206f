"""Write one fixture (a Zarr store in a zip file) and its manifest.

Called as `write_fixtures.py --request REQ.json --out RECORDS.jsonl`, where the
request names the fixture kind, the output folder and the writer cell. The
manifest holds per array its shape, dtype and the SHA-256 of its decoded bytes,
which is what every reader is checked against.
"""

import os
import shutil
import tempfile

import numpy as np
import zarr

from _features import FeatureArray, fill_value, numpy_dtype, pack_feature
from _packing import pack
from _writer import EdgeArray, edge_arrays, run_writer
from _zarr_compat import V3, dir_store, zip_store
from _zmprobe import checksum, main_guard, version_of


def open_root(store, zarr_format):
    if not V3:
        if zarr_format != 2:
            raise NotImplementedError("zarr %s writes Zarr format 2 only" % zarr.__version__)
        return zarr.group(store=store, overwrite=True)
    return zarr.open_group(store, mode="w", zarr_format=zarr_format)


def add_array(root, array, raw=False):
    kwargs = {}
    if raw:
        kwargs["compressors" if V3 else "compressor"] = None
    if array.fill_value is not None:
        kwargs["fill_value"] = array.fill_value
    data = array.data
    if not V3:
        arr = root.create_dataset(array.name, shape=data.shape, chunks=array.chunks, dtype=data.dtype, **kwargs)
    else:
        arr = root.create_array(array.name, shape=data.shape, chunks=array.chunks, dtype=data.dtype, **kwargs)
    where, block = array.region()
    arr[where] = block
    arr.attrs["description"] = "zarrmatrix fixture array %s" % array.name
    return arr


def codec_of(arr):
    for attr in ("compressors", "compressor"):
        value = getattr(arr, attr, None)
        if value is not None:
            return str(value)[:300]
    return None


def write_arrays(root, arrays, raw=False):
    return [array.entry(codec=codec_of(add_array(root, array, raw))) for array in arrays]


def write_zipstore(target, zarr_format, arrays, attrs, raw=False):
    store = zip_store(target, "w")()
    root = open_root(store, zarr_format)
    root.attrs.update(attrs)
    entries = write_arrays(root, arrays, raw)
    store.close()
    return entries


def write_dirzip(target, zarr_format, how, arrays, attrs):
    """A directory store, zipped afterwards the way `how` names (see _packing)."""
    folder = tempfile.mkdtemp(prefix="zm-dirzip-")
    try:
        root = open_root(dir_store(folder, False)(), zarr_format)
        root.attrs.update(attrs)
        entries = write_arrays(root, arrays)
        return entries, pack(folder, target, how)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_ome(target, how):
    """An OME-Zarr 0.5 image written by ome-zarr (two resolution levels), packed as .ozx."""
    import ome_zarr
    from ome_zarr.writer import write_image

    folder = tempfile.mkdtemp(prefix="zm-ome-")
    try:
        data = (np.arange(2 * 64 * 64, dtype="uint16") % 4099).reshape(2, 64, 64)
        root = zarr.open_group(folder, mode="w", zarr_format=3)
        write_image(image=data, group=root, axes="cyx", scale_factors=(2,),
                    storage_options={"chunks": (1, 32, 32)})
        entries = []
        for path in ("s0", "s1"):
            # s0 is the data written; s1 is the level ome-zarr computed, as it wrote it.
            level = data if path == "s0" else zarr.open_array(os.path.join(folder, path), mode="r")[...]
            digest, _ = checksum(level)
            entries.append({"path": path, "shape": list(level.shape), "dtype": str(level.dtype), "sha256": digest,
                            "dims": ["c", "y", "x"]})
        return entries, dict(pack(folder, target, how), ome_zarr_version=ome_zarr.__version__)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_ngff(target):
    """The OME-Zarr image of write_ome, written as .ozx by ngff-zarr itself (its own zip, RFC-9's comment):
    levels scale0/image (the data) and scale1/image (as ngff-zarr computed it)."""
    import ngff_zarr

    folder = tempfile.mkdtemp(prefix="zm-ngff-")
    try:
        data = (np.arange(2 * 64 * 64, dtype="uint16") % 4099).reshape(2, 64, 64)
        image = ngff_zarr.to_ngff_image(data, dims=["c", "y", "x"])
        # Bin shrinking in dask: the default (itkwasm) reserves more address space than a probe may have.
        multiscales = ngff_zarr.to_multiscales(image, scale_factors=[2], chunks=(1, 32, 32),
                                               method=ngff_zarr.Methods.DASK_BIN_SHRINK)
        # ngff-zarr knows a zip by its name: it writes image.ozx, which becomes the fixture.
        written = os.path.join(folder, "image.ozx")
        ngff_zarr.to_ngff_zarr(written, multiscales, version="0.5")
        shutil.move(written, target)
        entries = []
        for dataset, level in zip(multiscales.metadata.datasets, multiscales.images):
            values = data if dataset.path.startswith("scale0") else np.asarray(level.data)
            digest, _ = checksum(values)
            entries.append({"path": dataset.path, "shape": list(values.shape), "dtype": str(values.dtype),
                            "sha256": digest, "dims": ["c", "y", "x"]})
        return entries, {"ngff_zarr_version": version_of("ngff-zarr"), "packed": "by ngff-zarr", "root": ""}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_xarray(target, zarr_format):
    import xarray as xr

    rng = np.random.default_rng(7)
    ny, nx = 15, 20
    ds = xr.Dataset(
        {
            "temp": (("y", "x"), rng.normal(12.0, 3.0, size=(ny, nx)).astype("float32"), {"units": "degC"}),
            "precip": (("y", "x"), rng.integers(0, 500, size=(ny, nx), dtype="int16"), {"units": "mm"}),
        },
        coords={"y": np.linspace(40.0, 54.0, ny), "x": np.arange(nx, dtype="int64")},
        attrs={"title": "zarrmatrix xarray fixture", "institution": "zarrmatrix"},
    )
    encoding = {name: {"chunks": (4, 6)} for name in ("temp", "precip")}
    store = zip_store(target, "w")()
    kwargs = {"mode": "w", "encoding": encoding}
    if V3:
        kwargs["zarr_format"] = zarr_format
    elif zarr_format != 2:
        raise NotImplementedError("xarray on zarr %s writes Zarr format 2 only" % zarr.__version__)
    ds.to_zarr(store, **kwargs)
    store.close()
    entries = []
    for name in ("temp", "precip", "x", "y"):
        data = ds[name].values
        digest, _ = checksum(data)
        entries.append({"path": name, "shape": list(data.shape), "dtype": str(data.dtype), "sha256": digest,
                        "dims": list(ds[name].dims)})
    return entries, {"xarray_version": xr.__version__}


def write_mnist(target, zarr_format, mnist):
    from _mnist import load_or_synthesize

    images, labels, source = load_or_synthesize(mnist)
    arrays = [EdgeArray("images", images, (1000, 28, 28)), EdgeArray("labels", labels, (10000,))]
    title = "MNIST %s set" % ("training" if mnist["split"] == "train" else "test")
    attrs = {"title": title, "source": source, "synthetic": source == "synthetic"}
    return write_zipstore(target, zarr_format, arrays, attrs), {"mnist_source": source}


def write(kind, target, cell_id, mnist):
    zarr_format = 3 if kind.endswith("-v3") else 2
    attrs = {"title": "zarrmatrix fixture", "writer": cell_id, "kind": kind}
    extra = {}
    if kind.startswith("zipstore-raw-"):
        # No codec at all: a reader that lacks the default codecs can still show what it does with a zip.
        entries = write_zipstore(target, zarr_format, edge_arrays(), attrs, raw=True)
        variant = "ZipStore, uncompressed"
    elif kind.startswith("zipstore-"):
        entries = write_zipstore(target, zarr_format, edge_arrays(), attrs)
        variant = "ZipStore"
    elif kind.startswith("dirzip-"):
        stored = kind.startswith("dirzip-stored")
        entries, extra = write_dirzip(target, zarr_format, "stored" if stored else "deflated", edge_arrays(), attrs)
        variant = "dir+zip STORED" if stored else "dir+zip DEFLATED"
    elif kind.startswith("pack-"):
        how = kind[len("pack-"):].rsplit("-", 1)[0]
        entries, extra = write_dirzip(target, zarr_format, how, edge_arrays(), attrs)
        variant = PACKINGS[how]
    elif kind == "ozx-ngff-zarr-v3":
        entries, extra = write_ngff(target)
        variant = "OME-Zarr .ozx written by ngff-zarr"
    elif kind.startswith("ozx-"):
        how = kind[len("ozx-"):].rsplit("-", 1)[0]
        entries, extra = write_ome(target, how)
        variant = "OME-Zarr .ozx, " + ("RFC-9 packing" if how == "rfc9" else "against RFC-9")
    elif kind.startswith("xarray-"):
        entries, extra = write_xarray(target, zarr_format)
        variant = "xarray to_zarr ZipStore"
    elif kind.startswith("mnist-"):
        entries, extra = write_mnist(target, zarr_format, mnist)
        variant = "MNIST ZipStore"
    else:
        raise ValueError("unknown fixture kind %r" % kind)
    return zarr_format, variant, entries, extra


PACKINGS = {
    "nested": "dir+zip nested under a folder",
    "dirs": "dir+zip with directory entries",
    "macos": "dir+zip with macOS junk",
    "zip64": "dir+zip ZIP64",
    "shuffled": "dir+zip members shuffled",
}


def feature_options(spec):
    """The options of zarr's array creation that express a feature: no compression unless the feature is a
    codec, so that a reader without a codec fails only on the codec's own feature."""
    codec, v3_format = spec.get("codec"), spec["format"] == 3
    options = {"fill_value": fill_value(spec)}
    if spec["dtype"].startswith("datetime64") and spec.get("fill_value") == "NaT":
        options["fill_value"] = np.datetime64("NaT", "s")
    if not V3:
        import numcodecs

        options.update(compressor=numcodecs.Zstd() if codec == "zstd" else None)
        if spec["dtype"] == "string":
            options["object_codec"] = numcodecs.VLenUTF8()
        if spec.get("chunk_key") == "slash":
            options["dimension_separator"] = "/"
        if codec not in (None, "zstd"):
            raise NotImplementedError("zarr %s has no codec %r in Zarr format 2" % (zarr.__version__, codec))
        return options
    import zarr.codecs as zc

    compressors = {None: None, "zstd": [zc.ZstdCodec()] if v3_format else None, "gzip": [zc.GzipCodec()],
                   "blosc-bitshuffle": [zc.BloscCodec(cname="zstd", shuffle="bitshuffle")],
                   "crc32c": [zc.Crc32cCodec()], "transpose": None}
    options["compressors"] = compressors[codec]
    if codec == "zstd" and not v3_format:
        import numcodecs

        options["compressors"] = numcodecs.Zstd()
    if codec == "transpose":
        options["filters"] = [zc.TransposeCodec(order=(1, 0))]
    if spec.get("endian") == "big" and v3_format:
        options["serializer"] = zc.BytesCodec(endian="big")
    if spec.get("shard"):
        options["shards"], options["chunks"] = tuple(spec["chunks"]), tuple(spec["shard"]["chunks"])
        if spec["shard"].get("index_location") == "start":
            # zarr's create_array has no index_location option: the codec pipeline is given whole.
            options.pop("shards")
            options["chunks"] = tuple(spec["chunks"])
            options["serializer"] = zc.ShardingCodec(chunk_shape=tuple(spec["shard"]["chunks"]),
                                                     index_location="start")
    if spec.get("chunk_key") == "slash":
        options["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
    elif spec.get("chunk_key") == "v2":
        options["chunk_key_encoding"] = {"name": "v2", "separator": "."}
    return options


def write_feature(spec, target):
    """One catalogue feature as zarr writes it: a folder zipped STORED, or (a stale duplicate) a ZipStore in
    which the array was resized."""
    feature, zarr_format = FeatureArray(spec), spec["format"]
    options = feature_options(spec)
    chunks = options.pop("chunks", feature.chunks)
    attrs = {"feature": spec["id"]}
    attrs.update({k: float(v) for k, v in (spec.get("attributes") or {}).items()})
    folder = tempfile.mkdtemp(prefix="zm-feature-")
    try:
        stale = spec.get("edit") == "stale-duplicate"
        store = zip_store(target, "w")() if stale else dir_store(folder, False)()
        root = open_root(store, zarr_format)
        first = tuple(spec.get("old_shape") or feature.shape)
        # zarr 3 takes `str` for its variable-length string type; zarr 2 an object array with its codec.
        dtype = str if V3 and spec["dtype"] == "string" else numpy_dtype(spec)
        kwargs = dict(shape=first, chunks=chunks, dtype=dtype, **options)
        arr = root.create_array("data", **kwargs) if V3 else root.create_dataset("data", **kwargs)
        arr.attrs.update(attrs)
        where, block = feature.region()
        if stale:
            arr[:first[0]] = block[:first[0]]
            arr.resize(feature.shape)
            arr[first[0]:] = block[first[0]:]
            store.close()
            extra = {}
        else:
            arr[where] = block
            extra = pack_feature(spec, folder, target)
        return "zarr %s, %s" % (zarr.__version__, "ZipStore, resized" if stale else "zipped"), \
            [feature.entry(codec=codec_of(arr))], extra
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def versions():
    return {"zarr_version": version_of("zarr"), "xarray_version": version_of("xarray"),
            "numcodecs_version": version_of("numcodecs"), "numpy_version": np.__version__}


if __name__ == "__main__":
    main_guard(lambda: run_writer(write, versions, write_feature))
