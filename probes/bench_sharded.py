"""Time one sharded array read by one implementation out of a folder and out of zips, STORED and DEFLATED.

Called as `bench_sharded.py --request REQ.json --out RECORDS.jsonl`.

With `"write": true` (a zarr 3 environment) it writes the array with zarr-python into the request's folder,
sharded, its inner chunks uncompressed, then packs that folder into one zip of STORED members and one of DEFLATED
members, and emits one `sharded-fixture` record.

Otherwise it reads with the implementation the request names (zarr, tensorstore or zarrista): for each store,
access (a region: the whole array, one shard, one inner chunk) and page-cache state (warm; cold, the cache dropped
before each read where the machine lets the probe), it opens the array and reads the region, `repeats` times and
then until the median is known to within `within` (95% CI) or the budget is spent. Each read is checked against
the values the writer wrote, computed here from the same formula. One `sharded` record of raw samples per unit,
with the floor of its access and cache state measured in the same process (read(2) of as many bytes from the
STORED zip). Statistics are the host's job.
"""

import os
import shutil
import threading
import time
import zipfile

import numpy as np

from _measure import Meter, converged, drop_page_cache
from _zmprobe import error_of, main_guard, request_and_output, version_of

PACKINGS = (("zip-stored", zipfile.ZIP_STORED), ("zip-deflated", zipfile.ZIP_DEFLATED))


def values(region):
    """The array's values over a region ([[start, stop], ...]): smooth, with a byte of noise, so DEFLATE has
    something to do and a misplaced chunk shows."""
    (r0, r1), (c0, c1) = region
    rows = np.arange(r0, r1, dtype=np.int32)[:, None]
    cols = np.arange(c0, c1, dtype=np.int32)[None, :]
    return (rows * 7 + cols * 3 + ((rows * 31) ^ (cols * 17)) % 256).astype(np.int32)


def write(request, out):
    import zarr

    folder = request["folder"]
    shape, shards, chunks = (tuple(request[k]) for k in ("shape", "shards", "chunks"))
    shutil.rmtree(os.path.join(folder, "array.zarr"), ignore_errors=True)
    array = zarr.create_array(os.path.join(folder, "array.zarr"), shape=shape, shards=shards, chunks=chunks,
                              dtype="int32", compressors=None, fill_value=0, dimension_names=["y", "x"])
    # One shard's rows at a time: the whole array need not fit in the probe's memory twice.
    for start in range(0, shape[0], shards[0]):
        stop = min(shape[0], start + shards[0])
        array[start:stop, :] = values([[start, stop], [0, shape[1]]])
    root = os.path.join(folder, "array.zarr")
    sizes = {}
    for store, compression in PACKINGS:
        path = os.path.join(folder, "array-%s.zip" % store)
        with zipfile.ZipFile(path, "w", compression, allowZip64=True) as archive:
            for base, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(base, name)
                    archive.write(full, os.path.relpath(full, root))
        sizes[store] = os.path.getsize(path)
    sizes["folder"] = sum(os.path.getsize(os.path.join(b, f)) for b, _, fs in os.walk(root) for f in fs)
    out.emit({"kind": "sharded-fixture", "writer": "zarr-python", "zarr_version": zarr.__version__,
              "shape": list(shape), "shards": list(shards), "chunks": list(chunks), "dtype": "int32",
              "stored_bytes": sizes})


class Zarr:
    """zarr-python, with the codec pipeline its cell asks for (zarrs' where the zarrs package is installed)."""

    def __init__(self):
        import zarr
        from read_zarr import ASKED

        self.zarr, self.asked = zarr, ASKED
        self.facts = {"implementation": "zarr-python", "library_version": zarr.__version__,
                      "codec_pipeline_asked": ASKED, "zarrs_version": version_of("zarrs") if ASKED else None}

    def open(self, store, path):
        kind = self.zarr.storage.LocalStore(path, read_only=True) if store == "folder" else \
            self.zarr.storage.ZipStore(path, mode="r")
        return self.zarr.open_array(kind, mode="r")

    def read(self, array, region):
        return array[tuple(slice(a, b) for a, b in region)]

    def decoded_by(self, array):
        pipeline = type(array._async_array.codec_pipeline)
        return pipeline.__module__ + "." + pipeline.__name__

    def close(self, array):
        store = array.store
        if hasattr(store, "close"):
            store.close()


class TensorStore:
    """TensorStore's zarr3 driver over its zip kvstore, or its file kvstore for the folder."""

    def __init__(self):
        import tensorstore

        self.ts = tensorstore
        self.facts = {"implementation": "TensorStore", "library_version": version_of("tensorstore")}

    def open(self, store, path):
        kvstore = {"driver": "file", "path": path + "/"} if store == "folder" else \
            {"driver": "zip", "base": {"driver": "file", "path": path}}
        return self.ts.open({"driver": "zarr3", "kvstore": kvstore}, read=True).result()

    def read(self, array, region):
        return array[tuple(slice(a, b) for a, b in region)].read().result()

    def decoded_by(self, array):
        return None

    def close(self, array):
        pass


class Zarrs:
    """zarrs through zarrista: zarrs_zip's ZipStore over the zip's folder, or a FilesystemStore."""

    def __init__(self):
        import zarrista
        from zarrista.store import FilesystemStore, ZipStore

        self.zarrista, self.filesystem, self.zip = zarrista, FilesystemStore, ZipStore
        self.facts = {"implementation": "zarrs", "library_version": version_of("zarrista")}

    def open(self, store, path):
        kind = self.filesystem(path) if store == "folder" else \
            self.zip(self.filesystem(os.path.dirname(path)), os.path.basename(path))
        return self.zarrista.Array.open(kind, "/")

    def read(self, array, region):
        return np.asarray(array.retrieve_array_subset(tuple(slice(a, b) for a, b in region)))

    def decoded_by(self, array):
        return None

    def close(self, array):
        pass


IMPLEMENTATIONS = {"zarr": Zarr, "tensorstore": TensorStore, "zarrista": Zarrs}


def repeat(once, warm_up, request, add, samples):
    """Time `once` (after one untimed call where the cache is to be warm) until the median of `samples` is known
    to within the request's target, or its repeats or budget are spent; returns why it stopped."""
    started = time.perf_counter()
    if warm_up:
        once()
    while True:
        add(once())
        spent, n = time.perf_counter() - started, len(samples)
        if n >= request["repeats"] and converged(samples, request["within"]):
            return "converged"
        if n >= request["max_repeats"]:
            return "max repeats"
        # A read slower than the budget stops sooner: the figure's n says how many it had.
        if spent >= request["budget_s"] and (n >= 3 or spent >= 3 * request["budget_s"]):
            return "time budget"


def floor(path, nbytes, cache, request):
    """The least any reader must spend on an access: read(2) of as many bytes as it returns, from the STORED zip
    (the raw bytes on the same disk), into a buffer faulted in beforehand; the page cache as the readers find it."""
    buffer = np.zeros(nbytes, dtype=np.uint8)
    view = memoryview(buffer)
    samples = []

    def once():
        if cache == "cold":
            drop_page_cache()
        with Meter() as meter, open(path, "rb") as handle:
            handle.readinto(view)
        return meter

    repeat(once, cache != "cold", request, lambda meter: samples.append(meter.wall), samples)
    return samples


class Unit:
    """One store, access and cache state: its samples and why they stopped."""

    def __init__(self, store, path, access, region, cache):
        self.store, self.path, self.access, self.region, self.cache = store, path, access, region, cache
        self.samples, self.cpu, self.peak = [], [], []
        self.decoded_by, self.error, self.stop, self.page_cache = None, None, None, "warm"
        self.expected = values(region)
        self.floor = []

    def once(self, impl, drop):
        if drop:
            self.page_cache = drop_page_cache()
        with Meter() as meter:
            array = impl.open(self.store, self.path)
            got = impl.read(array, self.region)
        self.decoded_by = impl.decoded_by(array)
        impl.close(array)
        if got.shape != self.expected.shape or not np.array_equal(got, self.expected):
            raise ValueError("read back shape %s where %s was asked, or other values" % (
                got.shape, self.expected.shape))
        return meter

    def run(self, impl, request):
        cold = self.cache == "cold"

        def add(meter):
            self.samples.append(meter.wall)
            self.cpu.append(meter.cpu)
            self.peak.append(meter.peak_bytes)

        try:
            self.stop = repeat(lambda: self.once(impl, cold), not cold, request, add, self.samples)
        except Exception as exc:
            self.error, self.stop = error_of(exc), "error"

    @property
    def nbytes(self):
        return int(np.prod([b - a for a, b in self.region])) * 4

    def record(self, facts):
        return dict(facts, kind="sharded", store=self.store, access=self.access, region=self.region, cache=self.cache,
                    page_cache=self.page_cache if self.cache == "cold" else "warm", nbytes=self.nbytes,
                    samples_s=self.samples, cpu_s=self.cpu, peak_bytes=self.peak, decoded_by=self.decoded_by,
                    floor_samples_s=self.floor, error=self.error, stop=self.stop)


def give_up(unit, facts, out, seconds):
    """A read that outlasts its unit's deadline (a library that hangs): its record says so, and the probe ends
    itself, since a call stuck in native code cannot be interrupted; the host runs the units left anew."""
    unit.error = {"type": "Timeout", "message": "one read did not finish in %g s (the unit's deadline); the "
                  "probe stopped itself" % seconds, "traceback": ""}
    unit.stop = "error"
    out.emit(unit.record(facts))
    os._exit(4)


def read(request, out):
    try:
        impl = IMPLEMENTATIONS[request["library"]]()
    except Exception as exc:
        out.emit({"kind": "sharded", "implementation": request["library"], "store": None, "access": None,
                  "cache": None, "samples_s": [], "error": error_of(exc), "stop": "error"})
        return
    skip = {tuple(key) for key in request.get("skip", [])}
    floors = {}
    for cache in request["caches"]:
        for store, path in request["stores"].items():
            for access, region in request["accesses"].items():
                if (cache, store, access) in skip:
                    continue
                unit = Unit(store, path, access, region, cache)
                if (access, cache) not in floors and "zip-stored" in request["stores"]:
                    floors[access, cache] = floor(request["stores"]["zip-stored"], unit.nbytes, cache, request)
                unit.floor = floors.get((access, cache), [])
                # A unit that crashes the probe is named by the last of these without its record.
                out.emit(dict(impl.facts, kind="sharded-begin", cache=cache, store=store, access=access))
                watchdog = threading.Timer(request["unit_timeout_s"], give_up,
                                           (unit, impl.facts, out, request["unit_timeout_s"]))
                watchdog.daemon = True
                watchdog.start()
                unit.run(impl, request)
                watchdog.cancel()
                out.emit(unit.record(impl.facts))


def main():
    request, out = request_and_output()
    if request.get("write"):
        # The host made the folder, writable by a container's user too; run by hand, the probe makes it.
        os.makedirs(request["folder"], exist_ok=True)
        write(request, out)
    else:
        read(request, out)
    return 0


if __name__ == "__main__":
    main_guard(main)
