"""Where the Zarr store is among a zip's member names: its root folder and format, and, where the root folder
holds no metadata of its own, the nodes side by side below it; junk and unsafe names; RFC-9's order of the
zarr.json files. Names only: no byte of the zip is read here."""

from __future__ import annotations

from pathlib import PurePosixPath

METADATA = ("zarr.json", ".zgroup", ".zarray")
JUNK_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")


def is_junk(name: str) -> bool:
    return name.startswith("__MACOSX/") or PurePosixPath(name).name in JUNK_NAMES


def unsafe_name(name: str) -> str | None:
    """Why a member name would land outside the folder it is unzipped into, or None."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if "\\" in name:
        return "a backslash (a Windows separator)"
    if ".." in name.split("/"):
        return "a '..' component"
    if "\0" in name:
        return "a NUL byte"
    return None


def folder_of(name: str) -> str:
    parent = str(PurePosixPath(name).parent)
    return "" if parent == "." else parent


def _ancestors(folder: str) -> list[str]:
    """Every folder above `folder`, the zip's own root ("") included."""
    if not folder:
        return []
    parts = folder.split("/")
    return [""] + ["/".join(parts[:i]) for i in range(1, len(parts))]


def _common_parent(folders: list[str]) -> str:
    split = [f.split("/") if f else [] for f in folders]
    common = []
    for level in zip(*split):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    # A folder that is itself one of the nodes cannot be their parent.
    while common and "/".join(common) in folders:
        common.pop()
    return "/".join(common)


def find_store(names: list[str]) -> tuple[str | None, int | None, list[str]]:
    """(root, format, parts): the folder of the zip that holds the Zarr root ("" for the zip's own root),
    its format, and, where the root folder holds no metadata of its own (arrays at the root with no root
    group, or several stores side by side), every top node below it, so that no reader is asked for part
    of the store only."""
    formats: dict[str, int] = {}
    for name in names:
        if is_junk(name) or PurePosixPath(name).name not in METADATA:
            continue
        fmt = 3 if name.endswith("zarr.json") else 2
        folder = folder_of(name)
        formats[folder] = min(formats.get(folder, fmt), fmt)
    if not formats:
        return None, None, []
    tops = sorted(f for f in formats if not any(a in formats for a in _ancestors(f)))
    if len(tops) == 1:
        return tops[0], formats[tops[0]], []
    root = _common_parent(tops)
    parts = [t[len(root) + 1:] if root else t for t in tops]
    return root, min(formats[t] for t in tops), parts


def metadata_first(order: list[str], root: str) -> bool:
    """RFC-9's order: the root zarr.json first, the other zarr.json files right after it, breadth-first."""
    meta = [n for n in order if PurePosixPath(n).name == "zarr.json"]
    if not meta or order[: len(meta)] != meta:
        return False
    root_meta = f"{root}/zarr.json" if root else "zarr.json"
    depths = [n.count("/") for n in meta]
    return meta[0] == root_meta and depths == sorted(depths)
