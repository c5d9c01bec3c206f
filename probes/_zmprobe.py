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
import functools
import hashlib
import json
import os
import sys
import time
import traceback

from _serve import serve


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
    """Appends records to the out file, written through at once so that a probe killed later loses none. Not
    fsynced: the host reads the file and deletes it as soon as the attempt ends."""

    def __init__(self, path):
        self.path = path

    def emit(self, record):
        line = json.dumps(_jsonable(record), sort_keys=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


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
    """SHA-256 of the decoded values in their canonical form (see `canonical_bytes`).

    `expected` holds the manifest's shape and dtype: an array that came back
    as (1, y, x) for (y, x), or as another dtype, is brought to the expected
    form first; what was observed is kept beside the digest.
    """
    import numpy as np

    a = np.asarray(array) if not isinstance(array, np.ma.MaskedArray) else np.ma.getdata(array)
    observed = {"shape": list(a.shape), "dtype": str(a.dtype)}
    dtype = str(a.dtype)
    if expected:
        shape = tuple(expected.get("shape") or a.shape)
        squeezed = tuple(d for d in a.shape if d != 1)
        if a.shape != shape and squeezed == tuple(d for d in shape if d != 1):
            a = a.reshape(shape)
        dtype = expected.get("dtype") or dtype
    return hashlib.sha256(canonical_bytes(a, dtype)).hexdigest(), observed


def canonical_bytes(a, dtype):
    """The bytes a checksum is of, for an array meant to hold `dtype` (the manifest's name of it), in C order:
    numbers little-endian; bool one byte 0/1; "string" the UTF-8 of each value joined by NUL; datetime64 the
    int64 ticks in the unit `dtype` names; complex the (real, imaginary) pairs; every NaN one canonical payload
    (the quiet NaN with the sign bit clear). _zmprobe.mjs has the same form for Node probes."""
    import numpy as np

    if dtype == "string":
        texts = [v.decode("utf-8") if isinstance(v, bytes) else ("" if v is None else str(v))
                 for v in np.asarray(a, dtype=object).ravel(order="C")]
        return "\0".join(texts).encode("utf-8")
    if dtype == "bool":
        return np.ascontiguousarray(np.asarray(a) != 0, dtype=np.uint8).tobytes()
    if dtype.startswith("datetime64"):
        ticks = a.astype(dtype) if a.dtype.kind == "M" else a
        return np.ascontiguousarray(ticks.view("<i8") if ticks.dtype.kind == "M" else ticks, dtype="<i8").tobytes()
    target = np.dtype(dtype) if dtype != str(a.dtype) else a.dtype
    if target.kind in "fc":
        parts = a.astype(target).view("<f%d" % (target.itemsize // 2)) if target.kind == "c" else a.astype(target)
        parts = np.where(np.isnan(parts), parts.dtype.type(np.nan), parts)
        # np.nan's payload can carry the sign of the NaN it came from: clear it, so every NaN is one NaN.
        parts = np.where(np.isnan(parts), np.abs(parts), parts)
        return np.ascontiguousarray(parts, dtype=parts.dtype.newbyteorder("<")).tobytes()
    if a.dtype.kind in "USOT":
        raise TypeError("read as %s, which holds no %s values" % (a.dtype, target))
    return np.ascontiguousarray(a.astype(target), dtype=target.newbyteorder("<")).tobytes()


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
    """How to read what a method opened: one array by its path, every array path there is, and (optionally)
    facts of how an array was read, kept in its entry (zarr 3: the codec pipeline that decoded it)."""

    def __init__(self, read, walk, describe=None):
        self.read = read
        self.walk = walk
        self.describe = describe


def run_reader(library, methods, describe_versions):
    """The main of a reader probe.

    `methods` maps a method name to a Method. A method whose `available` is
    false here is left out of --list-methods. With --serve, the probe is an
    attempt server (see serve): it has imported its library once, and forks a
    child per attempt.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--list-methods", action="store_true")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--request")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.list_methods:
        print(json.dumps([name for name, m in methods.items() if m.available()]))
        return 0
    attempt = functools.partial(read_one, library, methods, describe_versions)
    if args.serve:
        return serve(attempt)
    return attempt(args.request, args.out)


def read_one(library, methods, describe_versions, request_path, out_path):
    """One attempt: open one fixture with one method, and write what was seen.

    A request with "again": {"reads": N, "budget_s": S} then reads the fixture up to N more times in this
    process, each opened anew, for as long as S seconds allow, one "attempt-again" record each: a race between
    a library's own threads shows in repeated reads far more than in one (see the host's confirm.py)."""
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    out = Output(out_path)
    fixture = request["fixture"]
    base = {
        "kind": "attempt",
        "library": library,
        "method": request["method"],
        "variant": fixture["variant"],
        "fixture": fixture["name"],
    }
    base.update(describe_versions())
    method = methods[request["method"]]
    out.emit(read_fixture(method, fixture, request.get("arrays"), base, out))
    again = request.get("again") or {}
    ends = time.perf_counter() + float(again.get("budget_s", 0))
    for _ in range(int(again.get("reads", 0))):
        if time.perf_counter() >= ends:
            break
        out.emit(read_fixture(method, fixture, request.get("arrays"), dict(base, kind="attempt-again")))
    return 0


def read_fixture(method, fixture, wanted, base, out=None):
    """The record of one read of `fixture` by `method`: every array's checksum or error; `out` is told when
    each part's opening begins (a probe killed there has said what it was calling)."""
    record = dict(base, call=None, opened=False, error=None, arrays=[], discovered=wanted is None)
    started = time.perf_counter()
    calls = []
    try:
        # A store whose root holds no metadata (arrays side by side, no root group) is read node by node,
        # each opened as a store of its own: never one node taken for the whole.
        for part in fixture.get("parts") or [""]:
            sub = part_fixture(fixture, part)
            call = method.call(sub)
            calls.append(repr(call))
            record["call"] = "; ".join(calls)
            if out is not None:
                out.emit(dict(record, kind="attempt-begin"))
            opened = method.reader(call(), sub)
            record["opened"] = True
            if wanted is None:
                specs = [{"path": p} for p in opened.walk()]
            else:
                specs = [dict(s, path=below(s["path"], part)) for s in wanted if below(s["path"], part) is not None]
            for spec in specs:
                entry = {"path": "/".join(p for p in (part, spec["path"]) if p)}
                try:
                    digest, observed = checksum(opened.read(spec), spec if "dtype" in spec else None)
                    entry.update(sha256=digest, observed=observed)
                    if opened.describe is not None:
                        entry.update(opened.describe(spec))
                except Exception as exc:  # each array's failure is data, not a crash
                    entry["error"] = error_of(exc)
                record["arrays"].append(entry)
    except Exception as exc:
        record["error"] = error_of(exc)
    record["seconds"] = round(time.perf_counter() - started, 4)
    return record


def part_fixture(fixture, part):
    """The fixture as a store rooted at one of its nodes: in the zip below its root, in the folder below it."""
    if not part:
        return fixture
    if fixture["variant"] == "zip":
        return dict(fixture, root="/".join(p for p in (fixture.get("root"), part) if p), parts=[])
    return dict(fixture, path=os.path.join(fixture["path"], part), parts=[])


def below(path, part):
    """`path` relative to the node `part` ("" for the node itself), or None where it lies elsewhere."""
    if not part:
        return path
    if path == part:
        return ""
    return path[len(part) + 1:] if path.startswith(part + "/") else None


class Method:
    """One documented way to open a store: `call` says how it is opened, `reader` how to read what opened."""

    def available(self):
        return True

    def call(self, fixture):
        raise NotImplementedError

    def reader(self, root, fixture):
        """Zarr's own hierarchy by default: arrays by path below a group, or the root array itself."""
        return Opened(lambda spec: zarr_like_read(root, spec["path"]), lambda: zarr_like_walk(root))


def nested_root(fixture):
    """The folder of the zip that holds the store ("" for the zip's own root): a zip made by
    `zip -r x.zip store.zarr` nests the store under store.zarr/."""
    return fixture.get("root") or ""


def fsspec_url(fixture):
    """fsspec's chained URL; a store nested in the zip is named by its folder: zip://inner::file://..."""
    p = os.path.abspath(fixture["path"])
    if fixture["variant"] != "zip":
        return "file://%s" % p
    return "zip://%s::file://%s" % (nested_root(fixture), p) if nested_root(fixture) else "zip::file://%s" % p


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
