import signal

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
    gdal = Context("gdal", None, 3)
    msg = 'ZARR:"/vsizip//zm/fixtures/zarr-3.1.6__zipstore-v3.zip": No such file or directory'
    assert classify("RuntimeError", msg, gdal) == "this GDAL does not read the final Zarr v3 format"
    assert classify("RuntimeError", msg, Context("gdal", None, 2)).startswith("RuntimeError")
    assert classify("KeyError", "missing the `dimension_names` metadata", CTX) == "needs dimension names"
