"""One run per reports folder at a time.

A run holds an exclusive flock on `<reports>/.zarrmatrix.lock`, with its pid
written inside for the message a second run shows. The kernel drops the lock
when its holder dies, however it dies (kill -9 included): a stale lock file
is simply taken over by the next run.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from .errors import UserError

LOCK_NAME = ".zarrmatrix.lock"


class ReportsLock:
    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> ReportsLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Never through a link (the lock file is truncated), never blocking on a FIFO.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise UserError(f"{self.path}: cannot be the lock file ({exc.strerror}); remove it") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UserError(f"{self.path}: is not a regular file, so it cannot be the lock file; remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"{self.path.parent} is in use by another zarrmatrix run (pid {holder}); wait for it "
                            "to end, or give this run another --reports folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
