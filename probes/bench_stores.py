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

import numpy as np
import zarr

from _measure import Meter, converged, drop_page_cache, touch
from _zarr_compat import V3, dir_store, memory_store, zip_store
from _zmprobe import error_of, main_guard, request_and_output, version_of

DISK_STORES = ("zip", "directory")


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


class Limit:
    """The least work any store must do to move the bytes, measured as a floor.

    Memory stores: numpy.copyto between two buffers faulted in beforehand. Disk
    stores: write(2) of the raw bytes to a file in the same folder, closed with no
    fsync (no store fsyncs), and readinto a faulted-in buffer, the page cache as the
    stores find it. The best of the repeats is the floor."""

    def __init__(self, cls, data, folder):
        self.cls, self.data = cls, data
        self.dst = np.empty_like(data)
        self.dst.fill(0)
        self.path = os.path.join(folder, "limit.bin")
        self.how = ("write(2) of the raw bytes to a file in the same folder, no fsync; readinto a faulted-in "
                    "buffer; page cache as the stores find it" if cls == "disk" else
                    "numpy.copyto between buffers faulted in beforehand")

    def write(self):
        if self.cls == "disk":
            with open(self.path, "wb") as handle:
                handle.write(memoryview(self.data).cast("B"))
        else:
            np.copyto(self.dst, self.data)

    def read(self):
        if self.cls == "disk":
            with open(self.path, "rb") as handle:
                handle.readinto(memoryview(self.dst).cast("B"))
        else:
            np.copyto(self.dst, self.data)


class Unit:
    """One store with one compressor: its samples, and whether it is measured enough."""

    def __init__(self, kind, compressor, io):
        self.kind, self.compressor, self.io = kind, compressor, io
        self.samples = {op: [] for op in ("write", "read", "verify")}
        self.cpu = {op: [] for op in ("write", "read", "verify")}
        self.peak = {op: [] for op in ("write", "read", "verify")}
        self.failures, self.stored, self.spent, self.stop, self.error = [], None, 0.0, None, None
        self.cache = "warm" if kind in DISK_STORES else "n/a (memory)"

    def repeat(self, data, corrupt, record, drop_caches=False):
        target = self.io.s.fresh(self.kind)
        touch(data.nbytes)
        with Meter() as write:
            store = self.io.s.open(self.kind, target, write=True)
            self.io.write(store, data)
            self.io.s.close(store)
        if corrupt:
            corrupt_one_chunk(self.kind, target)
        self.stored = self.io.s.size(self.kind, target)
        if drop_caches and self.kind in DISK_STORES:
            self.cache = drop_page_cache()
        touch(data.nbytes)
        with Meter() as read:
            store = self.io.s.open(self.kind, target, write=False)
            back = self.io.read(store)
            self.io.s.close(store)
        with Meter() as verify:
            ok = back.shape == data.shape and bool(np.array_equal(back, data))
        if not ok and record:
            bad = np.argwhere(back != data) if back.shape == data.shape else []
            self.failures.append({"repeat": len(self.samples["write"]),
                                  "first_bad_index": [int(x) for x in bad[0]] if len(bad) else None,
                                  "bad_elements": int(len(bad))})
        del back
        self.io.s.discard(self.kind, target)
        self.spent += write.wall + read.wall + verify.wall
        if record:
            for op, meter in (("write", write), ("read", read), ("verify", verify)):
                self.samples[op].append(meter.wall)
                self.cpu[op].append(meter.cpu)
                self.peak[op].append(meter.peak_bytes)

    def settle(self, req):
        """Stop once the medians of write and read are known to within the target, or the budget is spent."""
        n = len(self.samples["write"])
        if n >= req["repeats"] and all(converged(self.samples[op], req["within"]) for op in ("write", "read")):
            self.stop = "converged"
        elif n >= req["max_repeats"]:
            self.stop = "max repeats"
        elif self.spent >= req["budget_s"] and n >= 3:
            self.stop = "time budget"


def main():
    req, out = request_and_output()
    req.setdefault("max_repeats", 50)
    req.setdefault("budget_s", 60.0)
    req.setdefault("within", 0.05)
    folder = tempfile.mkdtemp(prefix="zm-bench-", dir=req.get("work_dir"))
    try:
        rng = np.random.default_rng(0)
        info = np.iinfo(req["dtype"])
        data = rng.integers(info.min, info.max, size=tuple(req["shape"]), dtype=req["dtype"], endpoint=True)
        stores = Stores(folder)
        io_class = XarrayIO if req["library"] == "xarray" else ZarrIO
        units = [Unit(kind, compressor, io_class(stores, req["chunks"], compressor))
                 for kind in req["stores"] for compressor in req["compressors"]]
        limits = {cls: Limit(cls, data, folder) for cls in
                  {"disk" if u.kind in DISK_STORES else "memory" for u in units}}
        limit_samples = {cls: {"write": [], "read": []} for cls in limits}
        # Rounds interleave every store and the limits (A B C D limit, A B C D limit, ...), so that the
        # VM's drift hits them all alike. The first round warms up and is not recorded.
        rounds = 0
        while any(u.stop is None for u in units):
            for unit in [u for u in units if u.stop is None]:
                try:
                    unit.repeat(data, req.get("corrupt") == unit.kind, record=rounds > 0,
                                drop_caches=req.get("drop_caches", False))
                except Exception as exc:
                    unit.error, unit.stop = error_of(exc), "error"
            for cls, limit in limits.items():
                for op in ("write", "read"):
                    touch(data.nbytes)
                    with Meter() as meter:
                        getattr(limit, op)()
                    if rounds:
                        limit_samples[cls][op].append(meter.wall)
            if rounds:
                for unit in [u for u in units if u.stop is None]:
                    unit.settle(req)
            rounds += 1
        for unit in units:
            cls = "disk" if unit.kind in DISK_STORES else "memory"
            base = {"kind": "bench", "store": unit.kind, "compressor": unit.compressor, "nbytes": int(data.nbytes),
                    "shape": list(data.shape), "chunks": list(req["chunks"]), "dtype": str(data.dtype),
                    "via": io_class.label, "zarr_version": version_of("zarr"),
                    "xarray_version": version_of("xarray"), "min_repeats": req["repeats"],
                    "limit_kind": limits[cls].how, "page_cache": unit.cache,
                    "verify_with": "numpy.array_equal", "stop": unit.stop, "within": req["within"]}
            if unit.error is not None:
                out.emit(dict(base, op="error", error=unit.error))
                continue
            for op in ("write", "read", "verify"):
                out.emit(dict(base, op=op, samples_s=unit.samples[op], cpu_s=unit.cpu[op], peak_bytes=unit.peak[op],
                              limit_samples_s=limit_samples[cls].get(op), stored_bytes=unit.stored,
                              verify_failures=unit.failures if op == "verify" else []))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    main_guard(main)
