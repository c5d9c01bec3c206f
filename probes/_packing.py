"""How people pack a Zarr folder into a zip: the ways the writer probe packs its fixtures.

Standard library only, Python 3.9 compatible. Each way changes one thing, so a
reader that fails on it fails on that thing.
"""

import contextlib
import json
import os
import random
import zipfile

# The folder `zip -r store.zarr.zip store.zarr` puts the store under.
NESTED_ROOT = "store.zarr"
RFC9_COMMENT = {"ome": {"version": "0.5"}}


def files_of(folder):
    """Every file below `folder`, as zip member names, sorted."""
    found = []
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            found.append(os.path.relpath(os.path.join(base, name), folder).replace(os.sep, "/"))
    return found


def rfc9_order(names):
    """The root zarr.json first, the other zarr.json files breadth-first, then everything else."""
    meta = sorted((n for n in names if n.rsplit("/", 1)[-1] == "zarr.json"), key=lambda n: (n.count("/"), n))
    return meta + [n for n in names if n not in meta]


@contextlib.contextmanager
def zip64_everywhere():
    """zipfile writes ZIP64 records only past 4 GiB or 65,535 members; RFC-9 asks for them in every zip.
    With its limits at zero for the write, zipfile gives every member a ZIP64 extra field and the
    archive a ZIP64 end record, as it would for a large store."""
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0
    try:
        yield
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved


def pack(folder, target, how):
    """Zip `folder` into `target` the way `how` names; returns what was done, for the manifest."""
    names = files_of(folder)
    compression = zipfile.ZIP_DEFLATED if how in ("deflated", "against-rfc9") else zipfile.ZIP_STORED
    comment = None
    prefix = NESTED_ROOT + "/" if how == "nested" else ""
    if how == "shuffled":
        random.Random(7).shuffle(names)
    elif how == "rfc9":
        names = rfc9_order(names)
        comment = json.dumps(RFC9_COMMENT)
    elif how == "against-rfc9":
        # Chunks first, metadata last, DEFLATED, no comment, no ZIP64: every recommendation broken but the name.
        meta = [n for n in names if n.rsplit("/", 1)[-1] == "zarr.json"]
        names = [n for n in names if n not in meta] + meta[::-1]
    guard = zip64_everywhere() if how in ("zip64", "rfc9") else contextlib.nullcontext()
    with guard, zipfile.ZipFile(target, "w", compression=compression) as zf:
        if how == "dirs":
            # Every folder on the way to every file, as `zip -r` records them.
            folders = sorted({n.rsplit("/", i)[0] + "/" for n in names for i in range(1, n.count("/") + 1)})
            for entry in folders:
                zf.writestr(zipfile.ZipInfo(entry), b"")
        for name in names:
            zf.write(os.path.join(folder, name), prefix + name)
        if how == "macos":
            # What the Finder's "Compress" adds: AppleDouble files and a .DS_Store.
            zf.writestr(".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(32))
            for name in names[:8]:
                head, _, tail = name.rpartition("/")
                zf.writestr("__MACOSX/%s._%s" % (head + "/" if head else "", tail), b"\x00\x05\x16\x07" + bytes(28))
        if comment is not None:
            zf.comment = comment.encode("utf-8")
    return {"packed": how, "root": NESTED_ROOT if prefix else ""}
