"""Who may work in a reports folder at once.

A run that writes fixtures, and `report`, `merge`, `prune-runs` and `check`,
hold an exclusive flock on `<reports>/.zarrmatrix.lock`, with their pid
written inside for the message a second run shows. Runs that only read and
bench hold it shared, so that the cells of one matrix run side by side (nox's
parallel sessions, one per cell), and each holds an exclusive flock per cell
on `<reports>/.zarrmatrix.locks/<cell id>.lock`: two runs never work on the
same cell's results and journal.

The kernel drops a lock when its holder dies, however it dies (kill -9
included): a stale lock file is simply taken over by the next run.
"""

from __future__ import annotations

import fcntl
import os
import stat
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import UserError
from .safefs import check_name

LOCK_NAME = ".zarrmatrix.lock"
CELL_LOCKS = ".zarrmatrix.locks"


def _open_lock_file(path: Path) -> int:
    # Never through a link (an exclusive holder truncates it), never blocking on a FIFO.
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UserError(f"{path}: cannot be the lock file ({exc.strerror}); remove it") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{path}: is not a regular file, so it cannot be the lock file; remove it")
    return fd


class ReportsLock:
    """The reports folder's lock: exclusive by default, `shared=True` for runs that only read and bench."""

    def __init__(self, folder: Path, *, shared: bool = False):
        self.path = folder / LOCK_NAME
        self.shared = shared
        self._fd: int | None = None

    def __enter__(self) -> ReportsLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock_file(self.path)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            # An exclusive holder writes its pid; shared holders (there may be several) leave the file empty.
            who = f"pid {holder}" if holder else "cells being read and benched"
            raise UserError(f"{self.path.parent} is in use by another zarrmatrix run ({who}); wait for it "
                            "to end, or give this run another --reports folder") from None
        os.ftruncate(fd, 0)
        if not self.shared:
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class CellLocks:
    """An exclusive lock per cell id, held together: a second run of any of these cells is refused by name."""

    def __init__(self, folder: Path, cell_ids: Iterable[str]):
        self.folder = folder / CELL_LOCKS
        self.cell_ids = sorted(set(cell_ids))
        self._stack = ExitStack()

    def __enter__(self) -> CellLocks:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.folder.is_symlink() or not self.folder.is_dir():
            raise UserError(f"{self.folder}: is not a folder of this run's own; remove it")
        try:
            for cell_id in self.cell_ids:
                fd = _open_lock_file(self.folder / f"{check_name(cell_id, 'cell id')}.lock")
                self._stack.callback(os.close, fd)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise UserError(f"cell {cell_id} is being run by another zarrmatrix run on {self.folder.parent}; "
                                    "wait for it to end") from None
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()


@contextmanager
def waited_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path`, waited for: what runs side by side must do once, one at a time (the first
    unzips the controls, the others find them done)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
