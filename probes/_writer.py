"""What every writer probe shares: the arrays it writes, and how a fixture lands on disk.

Standard library and numpy only, Python 3.9 compatible. A writer probe is called as
`PROBE.py --request REQ.json --out RECORDS.jsonl`, with the request naming the
fixture kind, the output folder and the writer cell; `run_writer` does the rest
around the probe's own `write(kind, target, cell_id, mnist)`.
"""

import json
import os
import time
import zipfile

import numpy as np

from _zmprobe import checksum, error_of, request_and_output

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_arrays.json")
# The value ranges of integer data, as _zmprobe.mjs has them too.
INT_RANGES = {"int32": (-10**6, 10**6), "int16": (-10**4, 10**4), "uint8": (0, 255)}


def xorshift32(name, count):
    """The reference values' stream: xorshift32 seeded by the array's name, the same in Python and Node."""
    state = ((sum(map(ord, name)) * 2654435761 + 1) & 0xFFFFFFFF) or 1
    out = []
    for _ in range(count):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        out.append(state)
    return out


def edge_data(name, shape, dtype):
    values = xorshift32(name, int(np.prod(shape)))
    if dtype.startswith("float"):
        # The same operations, in the same order, as the Node writer: the same doubles, the same float32s.
        data = np.asarray(values, dtype=np.float64) / 4294967296.0 * 40.0 - 10.0
    else:
        lo, hi = INT_RANGES[dtype]
        data = np.asarray(values, dtype=np.int64) % (hi - lo + 1) + lo
    return data.astype(dtype).reshape(shape)


class EdgeArray:
    """One reference array every writer writes the same way: its data, chunks, fill value,
    and the region written (None: all of it)."""

    def __init__(self, name, data, chunks, fill_value=None, written=None):
        self.name, self.data, self.chunks = name, data, tuple(chunks)
        self.fill_value, self.written = fill_value, written

    @property
    def leaf(self):
        return self.name.rsplit("/", 1)[-1]

    def region(self):
        """The region a writer writes, and the data it writes there."""
        where = self.written or tuple(slice(0, n) for n in self.data.shape)
        return where, self.data[where]

    def entry(self, path=None, **extra):
        """The manifest's entry: checksums of the data handed to the writer, never of a read-back."""
        digest, _ = checksum(self.data)
        entry = {"path": self.name if path is None else path, "shape": list(self.data.shape),
                 "dtype": str(self.data.dtype), "chunks": list(self.chunks), "sha256": digest}
        if self.fill_value is not None:
            entry["fill_value"] = self.fill_value
        entry.update(extra)
        return entry


def edge_arrays():
    with open(REFERENCE, encoding="utf-8") as handle:
        table = json.load(handle)["arrays"]
    arrays = []
    for spec in table:
        data = edge_data(spec["name"], tuple(spec["shape"]), spec["dtype"])
        written = None
        if "written" in spec:
            written = tuple(slice(a, b) for a, b in spec["written"])
            block = data[written]
            data = np.full(data.shape, spec["fill_value"], dtype=data.dtype)
            data[written] = block
        arrays.append(EdgeArray(spec["name"], data, spec["chunks"], spec.get("fill_value"), written))
    return arrays


def zip_facts(path):
    """What the zip itself looks like: readers differ on duplicate member names,
    which a ZipStore leaves behind whenever metadata is written twice."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    methods = sorted({zipfile.compressor_names.get(i.compress_type, str(i.compress_type)) for i in infos})
    return {"members": len(names), "duplicate_members": len(names) - len(set(names)),
            "compression": methods, "bytes": os.path.getsize(path)}


def run_writer(write, versions, write_feature=None):
    """Write one fixture and its manifest, under names readers never pick up, renamed when whole:
    a writer killed half-way leaves no fixture that readers would be blamed for failing to read.

    `write` returns (zarr_format, variant, arrays, extra facts); `versions` the library versions to record.
    The kinds `features-v2` and `features-v3` write one fixture per catalogue feature of that format, each
    through `write_feature(spec, target)`, which returns (variant, arrays, extra facts) and raises where the
    library cannot express the feature: that is recorded as the writer's failure, fixture by fixture."""
    request, out = request_and_output()
    kind, cell_id = request["kind"], request["cell_id"]
    facts = versions()
    if not kind.startswith("features-"):
        write_one(request, out, kind, facts, lambda partial: write(kind, partial, cell_id, request.get("mnist")))
        return 0
    from _features import catalogue

    zarr_format = int(kind.rsplit("-v", 1)[1])
    for spec in catalogue():
        if spec["format"] == zarr_format:
            write_one(request, out, "feature-" + spec["id"], facts,
                      lambda partial, spec=spec: (zarr_format,) + tuple(write_feature(spec, partial)),
                      feature=spec["id"])
    return 0


def write_one(request, out, kind, facts, write, feature=None):
    """One fixture: `write(partial)` writes it and returns (zarr_format, variant, arrays, extra facts)."""
    cell_id = request["cell_id"]
    name = "%s__%s.%s" % (cell_id, kind, "ozx" if kind.startswith("ozx-") else "zip")
    target = os.path.join(request["out_dir"], name)
    # The kind asked for ends the names, so the host can clean up after a writer killed half-way.
    partial = os.path.join(request["out_dir"], ".%s.%s.partial" % (name, request["kind"]))
    partial_manifest = os.path.join(request["out_dir"], ".%s.manifest.json.%s.partial" % (name, request["kind"]))
    record = dict(facts, kind="fixture", fixture=name, fixture_kind=kind, writer=cell_id)
    started = time.perf_counter()
    try:
        zarr_format, variant, entries, extra = write(partial)
        record.update(extra)
        manifest = {"fixture": name, "writer": cell_id, "kind": kind, "zarr_format": zarr_format,
                    "variant": variant, "arrays": entries, "zip": zip_facts(partial),
                    "synthetic": extra.get("mnist_source") == "synthetic", "versions": facts}
        if feature is not None:
            manifest["feature"] = feature
            if extra.get("hand_edit"):
                manifest["hand_edit"] = extra["hand_edit"]
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
    if feature is not None:
        record["feature"] = feature
    record["seconds"] = round(time.perf_counter() - started, 4)
    out.emit(record)
