"""Files named or read from data that zarrmatrix did not write: results from shards, downloads and the history
branch, a user's zips, caches.

A name that comes from data (a cell id, a fixture, a run) is a name, never a path: it matches the id grammar
whole, so it cannot hold a separator, start with a dot or end in a newline. An input is read only when it is a
regular file once links are resolved, so a FIFO cannot hang a command and a device cannot fill memory. A file
made from data is written beside its target and linked into place, so it never follows a link that is already
there and never replaces what is there.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from pathlib import Path

from .errors import UserError

# The id grammar, for code (fullmatch) and for JSON Schema: `(?![\s\S])` is "end of string" in both Python's
# re and ECMA-262, where `$` also matches before a final newline.
NAME_GRAMMAR = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
SCHEMA_END = r"(?![\s\S])"
NAME_SCHEMA_PATTERN = rf"^{NAME_GRAMMAR}{SCHEMA_END}"
_NAME = re.compile(NAME_GRAMMAR)
NAME_MAX = 200


class UnsafeInput(UserError):
    """A name or a file that zarrmatrix will not use; the message names it and says why (exit 2)."""


def check_name(name: object, what: str) -> str:
    """`name`, when it is one (letters, digits, . _ + -, not starting with a dot); else UnsafeInput."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > NAME_MAX:
        raise UnsafeInput(f"{what} {name!r} is not a name (letters, digits, . _ + -, starting with a letter or "
                          f"digit, at most {NAME_MAX} characters)")
    return name


def describe_mode(mode: int) -> str:
    for test, text in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return text
    return "not a regular file"


def not_regular(path: Path) -> str | None:
    """Why `path` is not a regular file once its links are resolved (None when it is one)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a link to nothing" if os.path.islink(path) else "no such file"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    return None if stat.S_ISREG(mode) else f"is {describe_mode(mode)}, not a regular file"


def open_regular(path: Path, *, follow: bool = True) -> int:
    """A read-only descriptor of `path`, refused (UnsafeInput) unless it is a regular file. Opened without
    blocking, so that a FIFO is refused instead of waited on; `follow=False` refuses a link too."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise UnsafeInput(f"{path}: is a symbolic link; refused") from None
        raise UnsafeInput(f"{path}: {not_regular(path) or exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafeInput(f"{path}: is {describe_mode(mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd


def read_regular(path: Path, *, limit: int, follow: bool = True) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; UnsafeInput otherwise."""
    fd = open_regular(path, follow=follow)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeInput(f"{path}: larger than {limit:,} bytes; refused")
    return data


def read_text(path: Path, *, limit: int, follow: bool = True) -> str:
    try:
        return read_regular(path, limit=limit, follow=follow).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeInput(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def inside(folder: Path, name: str) -> Path:
    """`folder / name` for a name from data, after checking it is one."""
    return folder / check_name(name, "file name")


def not_own_folder(folder: Path) -> str | None:
    """Why zarrmatrix may not write into `folder` (a link, whatever it points at, or not a folder), so that
    nothing written into it lands elsewhere; None where it may (a folder, or nothing yet)."""
    if folder.is_symlink():
        return "is a symbolic link"
    if folder.exists() and not folder.is_dir():
        return "is not a folder"
    return None


def own_folder(folder: Path) -> Path:
    """`folder`, made where missing; refused where `not_own_folder` says why."""
    if why := not_own_folder(folder):
        raise UnsafeInput(f"{folder}: {why}; "
                          "zarrmatrix writes only into folders of its own: remove it, or choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def copy_new(source: Path, target: Path, *, follow: bool = False) -> None:
    """Copy a regular file (not through a link, unless `follow`) to a new `target`: through a temporary file
    beside it, linked into place, so a half-copied file is never seen and nothing already at `target` (a
    file, or a link that points anywhere) is written or replaced: FileExistsError then."""
    fd = open_regular(source, follow=follow)
    try:
        tmp_fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except BaseException:
        os.close(fd)
        raise
    try:
        with os.fdopen(fd, "rb") as src, os.fdopen(tmp_fd, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.link(tmp, target)
    finally:
        os.unlink(tmp)


def umask() -> int:
    """The process's umask, read without changing it for longer than a call."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
