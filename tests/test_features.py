"""The feature catalogue's oracle: the canonical form of every dtype, the same in Python (_zmprobe.py) and Node
(_zmprobe.mjs); the intended data of every feature, the same in both; and the verdict's shape and dtype check."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zarrmatrix.features import catalogue, feature_of_kind
from zarrmatrix.process import ProcessResult
from zarrmatrix.verdicts import Context, dtype_form, judge

PROBES = Path(__file__).resolve().parents[1] / "probes"
sys.path.insert(0, str(PROBES))

from _features import FeatureArray  # noqa: E402
from _zmprobe import canonical_bytes, checksum  # noqa: E402

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: the Node half of the oracle is untested")

# dtype -> (a numpy array as a reader might return it, the same values as Node has them (a JS expression),
#           the canonical bytes both must give)
CASES = {
    "int32": (np.array([1, -2], dtype=">i4"), "new Int32Array([1, -2])", bytes.fromhex("01000000feffffff")),
    "uint64": (np.array([2**64 - 1], dtype="<u8"), "new BigUint64Array([2n ** 64n - 1n])", b"\xff" * 8),
    "bool": (np.array([True, False, True]), "[true, false, true]", b"\x01\x00\x01"),
    "string": (np.array(["a", "", "\u00e4\U0001F600"], dtype=object), '["a", "", "\\u00e4\\u{1F600}"]',
               "a\0\0\u00e4\U0001F600".encode("utf-8")),
    "datetime64[s]": (np.array(["1970-01-01T00:00:01", "NaT"], dtype="M8[ms]"),
                      "new BigInt64Array([1n, -(2n ** 63n)])",
                      (1).to_bytes(8, "little") + (-(2**63)).to_bytes(8, "little", signed=True)),
    "complex64": (np.array([1 + 2j, complex(float("nan"), -0.5)], dtype="c8"),
                  "new Float32Array([1, 2, -NaN, -0.5])",
                  np.array([1, 2, np.nan, -0.5], dtype="<f4").tobytes()),
    "float64": (np.array([1.5, -np.nan, np.inf]), "new Float64Array([1.5, NaN, Infinity])",
                bytes.fromhex("000000000000f83f000000000000f87f000000000000f07f")),
    "float16": (np.array([1.5, -2.0, np.nan], dtype="f2"), "new Float64Array([1.5, -2, NaN])",
                bytes.fromhex("003e00c0007e")),
}


@pytest.mark.parametrize("dtype", sorted(CASES))
def test_canonical_form_in_python(dtype):
    array, _, expected = CASES[dtype]
    assert canonical_bytes(array, dtype) == expected
    assert checksum(array, {"dtype": dtype})[0] == hashlib.sha256(expected).hexdigest()


def test_a_nan_with_a_payload_or_a_sign_is_the_canonical_nan():
    odd = np.array([0x7FF8000000000001, 0xFFF8000000000000], dtype="<u8").view("<f8")
    assert canonical_bytes(odd, "float64") == bytes.fromhex("000000000000f87f") * 2


def _node_digests(cases):
    lines = [f"out[{json.dumps(dtype)}] = canonicalBytes({js}, {json.dumps(dtype)}).toString('hex');"
             for dtype, js in cases.items()]
    script = (f"import {{ canonicalBytes }} from {json.dumps((PROBES / '_zmprobe.mjs').as_uri())};\n"
              "const out = {};\n" + "\n".join(lines) + "\nconsole.log(JSON.stringify(out));\n")
    done = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_node
def test_canonical_form_in_node_is_the_same():
    got = _node_digests({dtype: js for dtype, (_, js, _) in CASES.items()})
    assert got == {dtype: expected.hex() for dtype, (_, _, expected) in CASES.items()}


@needs_node
def test_every_feature_has_the_same_intended_data_in_python_and_node():
    script = (f"import {{ featureArrays, checksum }} from {json.dumps((PROBES / '_zmprobe.mjs').as_uri())};\n"
              "const out = {};\n"
              "for (const f of featureArrays()) out[f.spec.id] = checksum({ data: f.data, shape: f.spec.shape, "
              "stride: null }, f.spec.dtype)[0];\nconsole.log(JSON.stringify(out));\n")
    done = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    node = json.loads(done.stdout)
    python = {f.id: FeatureArray(f.spec).entry()["sha256"] for f in catalogue(PROBES).values()}
    assert node == python and len(python) >= 25


def test_the_catalogue_covers_what_users_hit():
    features = catalogue(PROBES)
    assert len(features) >= 25
    dtypes = {f.dtype for f in features.values()}
    assert {"string", "bool", "complex128", "datetime64[s]", "float16", "int64", "uint64"} <= dtypes
    assert {f.id for f in features.values() if f.edit == "stale-duplicate"} == {"stale-duplicate",
                                                                                 "stale-duplicate-v2"}
    assert {f.spec["shard"]["index_location"] for f in features.values() if f.spec.get("shard")} == {"start", "end"}
    assert feature_of_kind("feature-bool") == "bool" and feature_of_kind("zipstore-v3") is None


def test_never_written_chunks_hold_the_fill_value():
    nan_fill = FeatureArray(catalogue(PROBES)["nan-fill"].spec)
    where, block = nan_fill.region()
    outside = np.ones(nan_fill.shape, dtype=bool)
    outside[where] = False
    assert np.isnan(nan_fill.data[outside]).all() and block.shape == (5, 8)


def _ran():
    return ProcessResult(("python",), 0, "", "", 0.1, False)


def test_a_stale_shape_or_another_dtype_is_a_mismatch():
    spec = {"path": "data", "shape": [20], "dtype": "int32", "sha256": "new"}
    ctx = Context("rasterio", None, 3)
    stale = {"arrays": [{"path": "data", "sha256": "old", "observed": {"shape": [10], "dtype": "int32"}}],
             "error": None}
    judged = judge(_ran(), stale, [spec], ctx, 60)
    assert judged.verdict == "mismatch" and "shape (10) where (20) was written" in judged.reason
    # Bytes that match do not hide a dtype that does not: bool read as uint8 holds the same 0/1 bytes.
    as_bytes = {"arrays": [{"path": "data", "sha256": "same", "observed": {"shape": [20], "dtype": "uint8"}}],
                "error": None}
    judged = judge(_ran(), as_bytes, [dict(spec, dtype="bool", sha256="same")], ctx, 60)
    assert judged.verdict == "mismatch" and "read as uint8, written as bool" in judged.reason
    # Byte order and a (1, n) for an (n,) are the same values.
    same = {"arrays": [{"path": "data", "sha256": "new", "observed": {"shape": [1, 20], "dtype": ">i4"}}],
            "error": None}
    assert judge(_ran(), same, [spec], ctx, 60).verdict == "pass"


@pytest.mark.parametrize("name, form", [(">i4", ("int", 4)), ("<u1", ("uint", 1)), ("StringDType()", ("string", 0)),
                                        ("v2:object", ("string", 0)), ("<M8[ns]", ("datetime", 8)),
                                        ("complex64", ("complex", 8)), ("|b1", ("bool", 1)), ("float16", ("float", 2))])
def test_dtype_forms(name, form):
    assert dtype_form(name) == form


def test_triage_matches_reader_feature_and_version(tmp_path):
    from zarrmatrix.triage import load_triage

    path = tmp_path / "triage.yaml"
    path.write_text("schema_version: 1\nknown:\n"
                    "  - reader: GDAL\n    feature: 'sharding-*'\n    versions: '<3.13'\n"
                    "    url: https://github.com/OSGeo/gdal/issues/13529\n    note: no sharding before 3.13\n")
    triage = load_triage(path)
    found = triage.find("rasterio", "sharding-start", "x__feature-sharding-start.zip", "3.12.2")
    assert found is not None and found.label == "OSGeo/gdal#13529"
    assert triage.find("rasterio", "sharding-start", "x.zip", "3.13.0") is None
    assert triage.find("zarr", "sharding-start", "x.zip", "3.12.2") is None
    assert triage.find("gdal", "zstd", "x.zip", "3.12.2") is None


@pytest.mark.parametrize("entry, key, line, message", [
    ("  - reader: GDAl\n    feature: x\n    url: https://x\n    note: n\n", "known[0].reader", 3, "unknown reader"),
    ("  - reader: GDAL\n    feature: x\n    versions: 'three'\n    url: https://x\n    note: n\n",
     "known[0].versions", 5, "not a version range"),
    ("  - reader: GDAL\n    url: https://x\n    note: n\n", "known[0]", 3, "is not valid"),
    ("  - reader: GDAL\n    feature: x\n    url: http://x\n    note: n\n", "known[0].url", 5, "does not match"),
])
def test_a_bad_triage_file_names_the_file_the_key_and_the_line(tmp_path, entry, key, line, message):
    from zarrmatrix.matrix.model import MatrixError
    from zarrmatrix.triage import load_triage

    path = tmp_path / "triage.yaml"
    path.write_text("schema_version: 1\nknown:\n" + entry)
    with pytest.raises(MatrixError) as raised:
        load_triage(path)
    error = raised.value
    assert (error.path, error.key_path, error.line) == (path, key, line) and message in error.message


def test_features_are_found_in_metadata():
    from zarrmatrix.features import features_of

    v3 = {"zarr_format": 3, "node_type": "array", "shape": [4, 0], "data_type": "bool", "fill_value": False,
          "chunk_key_encoding": {"name": "v2", "configuration": {"separator": "."}},
          "codecs": [{"name": "sharding_indexed", "configuration": {
              "chunk_shape": [2, 2], "index_location": "start",
              "codecs": [{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "zstd"}]}}],
          "attributes": {"missing": "NaN"}}
    assert features_of(v3) == ["bool", "big-endian", "zstd", "sharding-start", "chunk-key-v2", "zero-length",
                               "nan-attribute"]
    v2 = {"zarr_format": 2, "shape": [3], "chunks": [2], "dtype": ">i4", "fill_value": None,
          "compressor": {"id": "zstd", "level": 0}, "dimension_separator": "/", "filters": None, "order": "C"}
    assert features_of(v2) == ["big-endian-v2", "zstd-null-fill-v2", "dimension-separator-slash-v2"]
    assert features_of({"zarr_format": 3, "shape": [2], "data_type": "int32", "fill_value": 0,
                        "codecs": [{"name": "bytes"}]}) == ["bytes-no-endian"]
