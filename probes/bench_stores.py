"""Time the write and read of one array through each store, next to the raw limit.

Called as `bench_stores.py --request REQ.json --out RECORDS.jsonl`. For each
(store, compressor) it emits one record of raw samples per operation (write,
read, verify) and the raw limit measured in the same process: numpy
save/load to the same folder for disk stores, a plain memory copy for memory
stores. Statistics are the host's job; this probe only measures.
"""

import os
import shutil
import tempfile
import time

import numpy as np
import zarr

from _zarr_compat import V3, dir_store, memory_store, zip_store
from _zmprobe import error_of, main_guard, request_and_output, version_of

DISK_STORES = ("zip", "directory")


def touch(nbytes):
    """Fault in and free a buffer of the working size, so the timed block that
    follows finds warm pages instead of paying this VM's first-touch cost."""
    buf = np.empty(nbytes, dtype=np.uint8)
    buf.fill(1)
    del buf


class Stores:
    """Fresh targets of each kind, for zarr 2 or zarr 3."""

    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    def fresh(self, kind):
        self.count += 1
        name = "%s-%d" % (kind, self.count)
        if kind == "zip":
            return os.path.join(self.folder, name + ".zip")
        if kind == "directory":
            return os.path.join(self.folder, name)
        if kind == "fsspec-memory":
            import fsspec

            # fsspec's memory filesystem is one dict shared by every instance: clear it.
            memfs = fsspec.filesystem("memory")
            memfs.store.clear()
            memfs.pseudo_dirs.clear()
            memfs.pseudo_dirs.append("")
            return "memory://" + name
        if kind == "zarr-memory":
            return memory_store()()
        raise ValueError(kind)

    def open(self, kind, target, write):
        if kind == "zip":
            mode = "w" if write else "r"
            return zip_store(target, mode)()
        if kind == "directory":
            return dir_store(target, not write)()
        if kind == "fsspec-memory":
            if V3:
                return zarr.storage.FsspecStore.from_url(target, read_only=not write)
            return zarr.storage.FSStore(target)
        return target

    def close(self, store):
        if hasattr(store, "close"):
            store.close()

    def size(self, kind, target):
        if kind == "zip":
            return os.path.getsize(target)
        if kind == "directory":
            return sum(os.path.getsize(os.path.join(b, f)) for b, _, fs in os.walk(target) for f in fs)
        return None

    def discard(self, kind, target):
        if kind == "zip" and os.path.exists(target):
            os.remove(target)
        elif kind == "directory":
            shutil.rmtree(target, ignore_errors=True)


class ZarrIO:
    label = "zarr"

    def __init__(self, stores, chunks, compressor):
        self.s, self.chunks, self.compressor = stores, tuple(chunks), compressor

    def write(self, store, data):
        kwargs = {}
        if self.compressor == "none":
            kwargs["compressors" if V3 else "compressor"] = None
        if V3:
            arr = zarr.create_array(store, shape=data.shape, chunks=self.chunks, dtype=data.dtype, **kwargs)
        else:
            arr = zarr.open_array(store, mode="w", shape=data.shape, chunks=self.chunks, dtype=data.dtype, **kwargs)
        arr[...] = data
        return arr

    def read(self, store):
        return zarr.open_array(store, mode="r")[...]


class XarrayIO(ZarrIO):
    label = "xarray"

    def write(self, store, data):
        import xarray as xr

        ds = xr.Dataset({"data": (tuple("d%d" % i for i in range(data.ndim)), data)})
        encoding = {"data": {"chunks": self.chunks}}
        if self.compressor == "none":
            encoding["data"]["compressors" if V3 else "compressor"] = None
        ds.to_zarr(store, mode="w", encoding=encoding, consolidated=False)

    def read(self, store):
        import xarray as xr

        return xr.open_zarr(store, consolidated=False)["data"].values


def corrupt_one_chunk(kind, target):
    """Flip a byte in one chunk of a directory store: the test of the verifier."""
    if kind != "directory":
        return
    for base, _, files in sorted(os.walk(target)):
        for name in sorted(files):
            if name not in ("zarr.json", ".zarray", ".zattrs", ".zgroup"):
                path = os.path.join(base, name)
                with open(path, "r+b") as handle:
                    first = handle.read(1)
                    handle.seek(0)
                    handle.write(bytes([first[0] ^ 0xFF]))
                return


def limits(kind, data, folder, repeats):
    """Raw write and read of the same bytes: numpy save/load on the same disk, or a memory copy."""
    writes, reads = [], []
    for i in range(repeats + 1):
        touch(data.nbytes)
        if kind in DISK_STORES:
            path = os.path.join(folder, "limit-%d.npy" % i)
            t0 = time.perf_counter()
            np.save(path, data)
            t1 = time.perf_counter()
            touch(data.nbytes)
            t2 = time.perf_counter()
            back = np.load(path)
            t3 = time.perf_counter()
            os.remove(path)
        else:
            t0 = time.perf_counter()
            copy = data.copy()
            t1 = time.perf_counter()
            touch(data.nbytes)
            t2 = time.perf_counter()
            back = copy.copy()
            t3 = time.perf_counter()
            del copy
        del back
        if i:  # the first round is the warm-up
            writes.append(t1 - t0)
            reads.append(t3 - t2)
    return writes, reads


def bench_one(io, kind, data, folder, repeats, corrupt):
    samples = {"write": [], "read": [], "verify": []}
    failures = []
    stored = None
    for i in range(repeats + 1):
        target = io.s.fresh(kind)
        touch(data.nbytes)
        t0 = time.perf_counter()
        store = io.s.open(kind, target, write=True)
        io.write(store, data)
        io.s.close(store)
        t1 = time.perf_counter()
        if corrupt:
            corrupt_one_chunk(kind, target)
        stored = io.s.size(kind, target)
        touch(data.nbytes)
        t2 = time.perf_counter()
        store = io.s.open(kind, target, write=False)
        back = io.read(store)
        io.s.close(store)
        t3 = time.perf_counter()
        ok = back.shape == data.shape and bool(np.array_equal(back, data))
        t4 = time.perf_counter()
        if not ok:
            bad = np.argwhere(back != data) if back.shape == data.shape else []
            failures.append({"repeat": i, "first_bad_index": [int(x) for x in bad[0]] if len(bad) else None,
                             "bad_elements": int(len(bad))})
        del back
        io.s.discard(kind, target)
        if i:
            samples["write"].append(t1 - t0)
            samples["read"].append(t3 - t2)
            samples["verify"].append(t4 - t3)
    return samples, failures, stored


def main():
    req, out = request_and_output()
    folder = tempfile.mkdtemp(prefix="zm-bench-", dir=req.get("work_dir"))
    try:
        rng = np.random.default_rng(0)
        info = np.iinfo(req["dtype"])
        data = rng.integers(info.min, info.max, size=tuple(req["shape"]), dtype=req["dtype"], endpoint=True)
        stores = Stores(folder)
        io_class = XarrayIO if req["library"] == "xarray" else ZarrIO
        cached = {}
        for kind in req["stores"]:
            if kind not in cached:
                cached[kind] = limits(kind, data, folder, req["repeats"])
            limit_write, limit_read = cached[kind]
            for compressor in req["compressors"]:
                base = {"kind": "bench", "store": kind, "compressor": compressor, "nbytes": int(data.nbytes),
                        "shape": list(data.shape), "chunks": list(req["chunks"]), "dtype": str(data.dtype),
                        "via": io_class.label, "zarr_version": version_of("zarr"),
                        "xarray_version": version_of("xarray"), "repeats": req["repeats"],
                        "limit_kind": "numpy save/load" if kind in DISK_STORES else "memory copy",
                        "page_cache": "warm" if kind in DISK_STORES else "n/a (memory)",
                        "verify_with": "numpy.array_equal"}
                try:
                    samples, failures, stored = bench_one(io_class(stores, req["chunks"], compressor), kind, data,
                                                          folder, req["repeats"], req.get("corrupt") == kind)
                except Exception as exc:
                    out.emit(dict(base, op="error", error=error_of(exc)))
                    continue
                limit = {"write": limit_write, "read": limit_read, "verify": None}
                for op in ("write", "read", "verify"):
                    out.emit(dict(base, op=op, samples_s=samples[op], limit_samples_s=limit[op],
                                  stored_bytes=stored, verify_failures=failures if op == "verify" else []))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    main_guard(main)
