import signal

import pytest

from zarrmatrix.process import ProcessResult
from zarrmatrix.records import best
from zarrmatrix.verdicts import Context, classify, judge

EXPECTED = [{"path": "a", "sha256": "aa"}, {"path": "b", "sha256": "bb"}]
CTX = Context("zarr", "3.1.6", 3)


def ran(code=0, timed_out=False, stderr=""):
    return ProcessResult(("python",), code, "", stderr, 0.1, timed_out)


def attempt(arrays=None, error=None):
    return {"arrays": arrays or [], "error": error}


def test_pass_mismatch_partial_and_error():
    ok = attempt([{"path": "a", "sha256": "aa"}, {"path": "b", "sha256": "bb"}])
    assert judge(ran(), ok, EXPECTED, CTX, 60).verdict == "pass"
    wrong = attempt([{"path": "a", "sha256": "aa"}, {"path": "b", "sha256": "XX"}])
    j = judge(ran(), wrong, EXPECTED, CTX, 60)
    assert j.verdict == "mismatch" and "b" in j.reason
    half = attempt([{"path": "a", "sha256": "aa"}, {"path": "b", "error": {"type": "KeyError", "message": "b"}}])
    assert judge(ran(), half, EXPECTED, CTX, 60).verdict == "partial"
    none = attempt([{"path": "a", "error": {"type": "ValueError", "message": "Unsupported codec: bytes"}}])
    j = judge(ran(), none, EXPECTED, CTX, 60)
    assert j.verdict == "error" and j.reason == "codec 'bytes' not supported"


def test_wrong_data_beats_missing_arrays():
    # Silent corruption must never hide behind "partial".
    mixed = attempt([{"path": "a", "sha256": "XX"}, {"path": "b", "error": {"type": "KeyError", "message": ""}}])
    assert judge(ran(), mixed, EXPECTED, CTX, 60).verdict == "mismatch"


def test_crash_timeout_and_probe_failure():
    assert judge(ran(code=-signal.SIGSEGV), None, EXPECTED, CTX, 60).verdict == "crash"
    assert "SIGSEGV" in judge(ran(code=-signal.SIGSEGV), None, EXPECTED, CTX, 60).reason
    assert judge(ran(code=-9, timed_out=True), None, EXPECTED, CTX, 5).verdict == "timeout"
    j = judge(ran(code=1, stderr="ModuleNotFoundError: No module named 'netCDF4'"), None, EXPECTED, CTX, 60)
    assert j.verdict == "error" and j.reason == "netCDF4 is not installed"


def test_h5py_is_not_applicable():
    err = attempt(error={"type": "OSError", "message": "file signature not found"})
    assert judge(ran(), err, EXPECTED, Context("h5py", None, 2), 60).verdict == "n/a"


def test_reasons():
    zarr2 = Context("zarr", "2.18.7", 3)
    assert classify("zarr.errors.GroupNotFoundError", "nothing found at path ''", zarr2) == "no Zarr v3 support"
    assert classify("zipfile.BadZipFile", "File is not a zip file", CTX) == "not a valid zip file"
    assert classify("RuntimeError", "NetCDF: Attempt to use feature that was not turned on when netCDF was built.",
                    Context("netcdf4", None, 2)) == "netCDF-C built without NCZarr zip support"
    assert classify("KeyError", "'Zarr object is missing the attribute `_ARRAY_DIMENSIONS`'", CTX) == \
        "needs dimension names"
    assert classify("Weird", "something new", CTX) == "Weird: something new"


def test_best_orders_verdicts():
    assert best(["error", "pass", "mismatch"]) == "pass"
    assert best(["error", "mismatch"]) == "mismatch"
    assert best(["n/a", "crash"]) == "crash"
    assert best([]) is None


def test_reasons_for_gdal_and_xarray_on_zarr_v3():
    msg = 'ZARR:"/vsizip//zm/fixtures/zarr-3.1.6__zipstore-v3.zip": No such file or directory'
    assert classify("RuntimeError", msg, Context("gdal", None, 3, "zip", "3.6.2")) == \
        "this GDAL does not read the final Zarr v3 format"
    # GDAL 3.10 reads final v3: finding nothing there is something else.
    assert classify("RuntimeError", msg, Context("rasterio", None, 3, "zip", "3.10.3")).startswith("GDAL found no")
    assert classify("KeyError", "missing the `dimension_names` metadata", CTX) == "needs dimension names"


ZIP = Context("zarr", "3.1.6", 3, "zip")
# Every rule, with a message a real library gave here (the fixture that drew it in the comment).
REAL_MESSAGES = [
    ("ModuleNotFoundError", "No module named 'netCDF4'", CTX, "netCDF4 is not installed"),
    ("OSError", "[Errno -128] NetCDF: Attempt to use feature that was not turned on when netCDF was built.: "
     "'file:///f/x.zip#mode=nczarr,zip'", Context("netcdf4", None, 2, "zip"),
     "netCDF-C built without NCZarr zip support"),
    ("rasterio.errors.RasterioIOError", "Decompressor blosc not handled", Context("rasterio", None, 2),
     "GDAL built without the blosc codec"),
    ("rasterio.errors.RasterioIOError", "Unsupported codec: bytes", Context("rasterio", None, 3),
     "codec 'bytes' not supported"),
    # crc.zip with one chunk byte flipped, zarr 3.1.6 store-object: a corrupt member, not a broken zip.
    ("zipfile.BadZipFile", "Bad CRC-32 for file 'a/c/0'", ZIP, "corrupt zip member"),
    ("zipfile.BadZipFile", "File is not a zip file", ZIP, "not a valid zip file"),
    ("zarr.errors.GroupNotFoundError", "nothing found at path ''", Context("zarr", "2.18.7", 3), "no Zarr v3 support"),
    ("RuntimeError", 'ZARR:"/vsizip//zm/fixtures/a.zip": No such file or directory',
     Context("gdal", None, 3, "zip", "3.6.2"), "this GDAL does not read the final Zarr v3 format"),
    # nocodecs.zip (codecs: []), rasterio 1.4.4 with GDAL 3.10.3.
    ("rasterio.errors.RasterioIOError", 'ZARR:"/vsizip//f/nocodecs.zip":/: No such file or directory',
     Context("rasterio", None, 3, "zip", "3.10.3"),
     "GDAL found no Zarr array it could open there (it says: no such file)"),
    # u1.zip, NCZarr's "<u1" dtype, zarr 3.1.6.
    ("ValueError", "No Zarr data type found that matches {'name': '<u1', 'object_codec_id': None}", ZIP,
     "this zarr rejects the data type '<u1'"),
    # zarr 3.1.6's own ZipStore (zarr.json written twice), read by TensorStore 0.1.86's zip kvstore.
    ("ValueError", "Duplicate filename in ZIP: zarr.json", Context("tensorstore", None, 3, "zip"),
     "the zip has duplicate entries (metadata written twice), which this reader refuses"),
    ("ValueError", "At least one ArrayBytesCodec is required.", ZIP,
     "not valid Zarr v3: the codecs hold no array-to-bytes codec (a spec violation)"),
    # nullfill.zip (GDAL's fill_value: null), zarr 3.1.6.
    ("TypeError", "Invalid type: None. Expected an integer.", ZIP, "this zarr rejects fill_value null"),
    ("KeyError", "'Zarr object is missing the attribute `_ARRAY_DIMENSIONS` and the NCZarr metadata, which are "
     "required for xarray to determine variable dimensions.'", Context("xarray", "2.18.7", 2), "needs dimension names"),
    ("TypeError", "FsspecStore.get() missing 1 required positional argument: 'prototype'",
     Context("xarray", "3.1.6", 2), "API mismatch between this library and zarr 3 stores"),
    ("zarr.errors.GroupNotFoundError", "No group found in store StorePath(LocalStore, 'file:///f/crc.zip') at path ''",
     ZIP, "a path string opens a directory store, not the zip"),
    ("RuntimeError", "`/f/x` not recognized as being in a supported file format.", Context("gdal", None, 2),
     "GDAL did not recognise the store"),
    ("ValueError", "numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, got 88",
     Context("netcdf4", None, 2), "binary built against another numpy ABI"),
    ("RuntimeError", "NetCDF: Filter error: undefined filter encountered", Context("netcdf4", None, 2),
     "netCDF-C lacks a filter (codec) this store uses"),
    ("OSError", "[Errno -51] NetCDF: Unknown file format: 'file:///f/_controls/a#mode=nczarr,file'",
     Context("netcdf4", None, 3, "folder"), "netCDF-C's NCZarr does not read Zarr v3"),
    ("RuntimeError", "Indices of extra dimensions must be specified", Context("gdal", None, 2),
     "the classic raster API reads 2-D slices; this array has more dimensions"),
    # unknowncodec.zip, zarr 3.1.6.
    ("ValueError", "Unknown codec: 'made-up-codec'", ZIP, "codec 'made-up-codec' not available"),
    ("ValueError", "codec not available: 'zstd'", ZIP, "codec not available"),
]


@pytest.mark.parametrize("etype, message, ctx, reason", REAL_MESSAGES)
def test_every_reason_rule_on_a_real_message(etype, message, ctx, reason):
    assert classify(etype, message, ctx) == reason


def test_reasons_that_must_not_fire():
    # A folder read through a path string is a directory store: no caveat there.
    msg = "No group found in store StorePath(LocalStore, 'file:///f/_controls/a') at path ''"
    assert classify("GroupNotFoundError", msg, Context("zarr", "3.1.6", 3, "folder")).startswith("GroupNotFoundError")
    # A file name is no error message: crc.zip is not a CRC error, codecs.zip no missing codec.
    assert classify("OSError", "cannot open /f/codecs-crc.zip", ZIP).startswith("OSError")


def test_a_fallback_from_the_asked_codec_pipeline_is_named():
    from zarrmatrix.attempt import decoded_by

    batched = "zarr.core.codec_pipeline.BatchedCodecPipeline"
    assert decoded_by(None, [{"codec_pipeline": batched}]) is None
    assert decoded_by("zarrs.ZarrsCodecPipeline", [{"codec_pipeline": "zarrs.ZarrsCodecPipeline"}]) == (
        "zarrs.ZarrsCodecPipeline", None)
    used, note = decoded_by("zarrs.ZarrsCodecPipeline", [{"codec_pipeline": batched}, {"path": "b"}])
    assert used == batched and note == f"decoded by {batched}: zarr did not use zarrs.ZarrsCodecPipeline here"
    # The probe's entry keeps the pipeline through the verdict.
    seen = {"arrays": [{"path": "a", "sha256": "aa", "codec_pipeline": batched}], "error": None}
    assert judge(ran(), seen, [{"path": "a", "sha256": "aa"}], CTX, 60).arrays[0]["codec_pipeline"] == batched
