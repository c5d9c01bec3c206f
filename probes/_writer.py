"""What every writer probe shares: the arrays it writes, and how a fixture lands on disk.

Standard library and numpy only, Python 3.9 compatible. A writer probe is called as
`PROBE.py --request REQ.json --out RECORDS.jsonl`, with the request naming the
fixture kind, the output folder and the writer cell; `run_writer` does the rest
around the probe's own `write(kind, target, cell_id, mnist_dir)`.
"""

import json
import os
import time
import zipfile

import numpy as np

from _zmprobe import error_of, request_and_output

EDGE_ARRAYS = (
    # name, shape, chunks, dtype: shapes that leave partial edge chunks on purpose
    ("ints", (37, 53), (10, 16), "int32"),
    ("floats", (1000,), (300,), "float64"),
    ("nested/temps", (12, 20), (5, 5), "float32"),
    ("nested/sub/u8", (5, 6, 7), (2, 4, 4), "uint8"),
)


def edge_data(name, shape, dtype):
    rng = np.random.default_rng(sum(map(ord, name)))
    if np.dtype(dtype).kind == "f":
        return rng.normal(20.0, 5.0, size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -10**6), min(info.max, 10**6), size=shape, endpoint=True, dtype=dtype)


def edge_arrays():
    return [(name, edge_data(name, shape, dtype), chunks) for name, shape, chunks, dtype in EDGE_ARRAYS]


def zip_facts(path):
    """What the zip itself looks like: readers differ on duplicate member names,
    which a ZipStore leaves behind whenever metadata is written twice."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    methods = sorted({zipfile.compressor_names.get(i.compress_type, str(i.compress_type)) for i in infos})
    return {"members": len(names), "duplicate_members": len(names) - len(set(names)),
            "compression": methods, "bytes": os.path.getsize(path)}


def run_writer(write, versions):
    """Write one fixture and its manifest, under names readers never pick up, renamed when whole:
    a writer killed half-way leaves no fixture that readers would be blamed for failing to read.

    `write` returns (zarr_format, variant, arrays, extra facts); `versions` the library versions to record."""
    request, out = request_and_output()
    kind, cell_id = request["kind"], request["cell_id"]
    name = "%s__%s.%s" % (cell_id, kind, "ozx" if kind.startswith("ozx-") else "zip")
    target = os.path.join(request["out_dir"], name)
    partial = os.path.join(request["out_dir"], ".%s.partial" % name)
    partial_manifest = os.path.join(request["out_dir"], ".%s.manifest.json.partial" % name)
    facts = versions()
    record = dict(facts, kind="fixture", fixture=name, fixture_kind=kind, writer=cell_id)
    started = time.perf_counter()
    try:
        zarr_format, variant, entries, extra = write(kind, partial, cell_id, request.get("mnist_dir"))
        record.update(extra)
        manifest = {"fixture": name, "writer": cell_id, "kind": kind, "zarr_format": zarr_format,
                    "variant": variant, "arrays": entries, "zip": zip_facts(partial),
                    "synthetic": extra.get("mnist_source") == "synthetic", "versions": facts}
        with open(partial_manifest, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1, sort_keys=True)
        os.replace(partial_manifest, target + ".manifest.json")
        os.replace(partial, target)
        record.update(manifest=manifest, error=None)
    except Exception as exc:
        record["error"] = error_of(exc)
        for path in (partial, partial_manifest):
            if os.path.exists(path):
                os.remove(path)
    record["seconds"] = round(time.perf_counter() - started, 4)
    out.emit(record)
    return 0
