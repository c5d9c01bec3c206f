"""Time GDAL reading an N x 28 x 28 uint8 Zarr v2 array whole, against N.

Called as `bench_bands.py --request REQ.json --out RECORDS.jsonl`. GDAL's
classic raster API sees each index of the first dimension as a band; the
multidimensional API reads the array as one. For each API the request names
and each band count it writes the array (uncompressed, chunks of 1,000 bands,
as the MNIST fixture has), opens it and reads it whole, `repeats` times, and
emits one record of raw samples per count. A count whose read passes the
budget ends the API's sweep. Statistics are the host's job.

The library under test is rasterio (its wheels bundle GDAL) or osgeo.gdal.
"""

import json
import os
import shutil
import tempfile
import time

import numpy as np

from _zmprobe import error_of, main_guard, request_and_output

CHUNK = 1000


def write_array(folder, count):
    """The array by hand (the Zarr v2 spec's three files and one file per chunk): no Zarr library needed."""
    root = os.path.join(folder, "bands-%d.zarr" % count)
    os.makedirs(os.path.join(root, "images"))
    with open(os.path.join(root, ".zgroup"), "w") as handle:
        json.dump({"zarr_format": 2}, handle)
    with open(os.path.join(root, "images", ".zarray"), "w") as handle:
        json.dump({"zarr_format": 2, "shape": [count, 28, 28], "chunks": [CHUNK, 28, 28], "dtype": "|u1",
                   "compressor": None, "fill_value": 0, "filters": None, "order": "C"}, handle)
    with open(os.path.join(root, "images", ".zattrs"), "w") as handle:
        json.dump({"_ARRAY_DIMENSIONS": ["image", "y", "x"]}, handle)
    data = (np.arange(count * 28 * 28, dtype=np.int64) % 251).astype(np.uint8).reshape(count, 28, 28)
    for index in range(0, count, CHUNK):
        chunk = np.zeros((CHUNK, 28, 28), dtype=np.uint8)
        part = data[index:index + CHUNK]
        chunk[:len(part)] = part
        with open(os.path.join(root, "images", "%d.0.0" % (index // CHUNK)), "wb") as handle:
            handle.write(chunk.tobytes())
    return root, data


def readers():
    """{api: (description, read(root) -> array)} for the library this environment has."""
    try:
        import rasterio
    except ImportError:
        rasterio = None
    if rasterio is not None:
        def classic_rasterio(root):
            with rasterio.open('ZARR:"%s":/images' % root) as src:
                return src.read()

        return {"classic": ("rasterio.open(...).read()", classic_rasterio)}, rasterio.__gdal_version__
    from osgeo import gdal

    gdal.UseExceptions()

    def classic(root):
        return gdal.Open('ZARR:"%s":/images' % root).ReadAsArray()

    def multidim(root):
        group = gdal.OpenEx(root, gdal.OF_MULTIDIM_RASTER).GetRootGroup()
        return group.OpenMDArrayFromFullname("/images").ReadAsArray()

    return ({"classic": ("gdal.Open(...).ReadAsArray()", classic),
             "multidim": ("gdal.OpenEx(..., OF_MULTIDIM_RASTER) ... ReadAsArray()", multidim)},
            gdal.VersionInfo("RELEASE_NAME"))


def main():
    request, out = request_and_output()
    folder = tempfile.mkdtemp(prefix="zm-bands-", dir=request["work_dir"])
    try:
        apis, gdal_version = readers()
        for api in request["apis"]:
            if api not in apis:
                continue
            how, read = apis[api]
            for count in request["counts"]:
                root, data = write_array(folder, count)
                record = {"kind": "bands", "api": api, "call": how, "bands": count, "gdal_version": gdal_version,
                          "samples_s": [], "error": None}
                try:
                    for _ in range(request["repeats"]):
                        started = time.perf_counter()
                        got = read(root)
                        record["samples_s"].append(time.perf_counter() - started)
                        if got.shape != data.shape or not np.array_equal(got, data):
                            raise ValueError("read back shape %s, not the %s written, or other values"
                                             % (got.shape, data.shape))
                except Exception as exc:
                    record["error"] = error_of(exc)
                out.emit(record)
                shutil.rmtree(root, ignore_errors=True)
                if record["error"] or min(record["samples_s"]) > request["budget_s"]:
                    break
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    main_guard(main)
