"""The probe protocol: how a probe takes its request and hands back JSON records.

Shipped next to every probe into each environment. Standard library and numpy
only, and Python 3.9 compatible: it runs under whatever Python an image has.

A probe is called as
    python PROBE.py --list-methods
    python PROBE.py --request REQUEST.json --out RECORDS.jsonl
and appends one JSON object per line to RECORDS.jsonl. The host decides the
verdicts; a probe only reports what it saw.
"""

import argparse
import hashlib
import json
import os
import sys
import time
import traceback


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class Output:
    """Appends records to the out file, flushed at once so a crash loses none."""

    def __init__(self, path):
        self.path = path

    def emit(self, record):
        line = json.dumps(_jsonable(record), sort_keys=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def request_and_output():
    """The request a probe was handed, and where its records go."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--request", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.request, encoding="utf-8") as handle:
        return json.load(handle), Output(args.out)


def error_of(exc):
    tail = traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]
    return {
        "type": type(exc).__module__ + "." + type(exc).__qualname__
        if type(exc).__module__ not in ("builtins", "__main__")
        else type(exc).__qualname__,
        "message": str(exc)[:2000],
        "traceback": "".join(tail)[-2000:],
    }


def checksum(array, expected=None):
    """SHA-256 of the decoded bytes in C order and little-endian.

    `expected` holds the manifest's shape and dtype: an array that came back
    as (1, y, x) for (y, x), or as another dtype, is brought to the expected
    form first; what was observed is kept beside the digest.
    """
    import numpy as np

    a = np.asarray(array)
    if isinstance(array, np.ma.MaskedArray):
        a = np.ma.getdata(array)
    observed = {"shape": list(a.shape), "dtype": str(a.dtype)}
    if expected:
        shape = tuple(expected.get("shape") or a.shape)
        squeezed = tuple(d for d in a.shape if d != 1)
        if a.shape != shape and squeezed == tuple(d for d in shape if d != 1):
            a = a.reshape(shape)
        dtype = expected.get("dtype")
        if dtype and str(a.dtype) != dtype:
            a = a.astype(np.dtype(dtype))
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest(), observed


def version_of(distribution):
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8 is not supported anyway
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


class Call:
    """A call and the code that shows it, from one object: the call a record
    names is the call that ran. Arguments that are Calls run first.

        store = Call("zarr.storage.ZipStore", zarr.storage.ZipStore, path, mode="r")
        root = Call("zarr.open", zarr.open, store, mode="r")
        repr(root)   # "zarr.open(zarr.storage.ZipStore('/f.zip', mode='r'), mode='r')"
        root()       # opens it
    """

    def __init__(self, name, fn, *args, **kwargs):
        self.name, self.fn, self.args, self.kwargs = name, fn, args, kwargs

    def __repr__(self):
        parts = [repr(a) for a in self.args] + ["%s=%r" % kv for kv in self.kwargs.items()]
        return "%s(%s)" % (self.name, ", ".join(parts))

    def __call__(self):
        args = [_value(a) for a in self.args]
        kwargs = {k: _value(v) for k, v in self.kwargs.items()}
        return self.fn(*args, **kwargs)

    def method(self, name, *args, **kwargs):
        """The call of method `name` on what this call returns."""
        return MethodCall(self, name, *args, **kwargs)


class MethodCall(Call):
    def __init__(self, target, name, *args, **kwargs):
        Call.__init__(self, "%r.%s" % (target, name), None, *args, **kwargs)
        self.target, self.method_name = target, name

    def __call__(self):
        self.fn = getattr(self.target(), self.method_name)
        return Call.__call__(self)


class Code:
    """A value shown by the name the code gives it (gdal.OF_MULTIDIM_RASTER, not 2)."""

    def __init__(self, text, value):
        self.text, self.value = text, value

    def __repr__(self):
        return self.text

    def __call__(self):
        return self.value


def _value(argument):
    """What an argument of a Call stands for: a Call's result, a Code's value, or the argument itself."""
    return argument() if isinstance(argument, (Call, Code)) else argument


class Opened:
    """How to read what a method opened: one array by its path, and every array path there is."""

    def __init__(self, read, walk):
        self.read = read
        self.walk = walk


def run_reader(library, methods, describe_versions):
    """The main of a reader probe.

    `methods` maps a method name to a function (fixture, arrays) -> Opened.
    A method whose `available` is false here is left out of --list-methods.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--list-methods", action="store_true")
    parser.add_argument("--request")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.list_methods:
        print(json.dumps([name for name, m in methods.items() if m.available()]))
        return 0
    with open(args.request, encoding="utf-8") as handle:
        request = json.load(handle)
    out = Output(args.out)
    fixture = request["fixture"]
    wanted = request.get("arrays")
    method = methods[request["method"]]
    record = {
        "kind": "attempt",
        "library": library,
        "method": request["method"],
        "variant": fixture["variant"],
        "fixture": fixture["name"],
        "call": None,
        "opened": False,
        "error": None,
        "arrays": [],
        "discovered": wanted is None,
    }
    record.update(describe_versions())
    started = time.perf_counter()
    try:
        call = method.call(fixture)
        record["call"] = repr(call)
        out.emit(dict(record, kind="attempt-begin"))
        opened = method.reader(call(), fixture)
        record["opened"] = True
        if wanted is None:
            wanted = [{"path": p} for p in opened.walk()]
        for spec in wanted:
            entry = {"path": spec["path"]}
            try:
                digest, observed = checksum(opened.read(spec), spec if "dtype" in spec else None)
                entry.update(sha256=digest, observed=observed)
            except Exception as exc:  # each array's failure is data, not a crash
                entry["error"] = error_of(exc)
            record["arrays"].append(entry)
    except Exception as exc:
        record["error"] = error_of(exc)
    record["seconds"] = round(time.perf_counter() - started, 4)
    out.emit(record)
    return 0


class Method:
    """One documented way to open a store: `call` says how it is opened, `reader` how to read what opened."""

    def available(self):
        return True

    def call(self, fixture):
        raise NotImplementedError

    def reader(self, root, fixture):
        """Zarr's own hierarchy by default: arrays by path below a group, or the root array itself."""
        return Opened(lambda spec: zarr_like_read(root, spec["path"]), lambda: zarr_like_walk(root))


def zarr_like_walk(root):
    """Every array path below a zarr 2 or zarr 3 group (or the root array itself)."""
    if not hasattr(root, "groups"):
        return [""]
    found = []

    def visit(group, prefix):
        for name, _ in sorted(group.arrays()):
            found.append(prefix + name)
        for name, sub in sorted(group.groups()):
            visit(sub, prefix + name + "/")

    visit(root, "")
    return found


def zarr_like_read(root, path):
    node = root if path == "" else root[path]
    return node[...]


def major(version):
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def main_guard(fn):
    try:
        sys.exit(fn())
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(3)
