"""Attempts that must have the machine to themselves, among the runs that share a work folder.

`nox -s matrix` runs two cells at once, each in a process of its own. An attempt confirmed alone (a timeout
run again at twice the limit, a racy reader's zip read again and again) is only alone if the other runs wait
while it runs: a race between a library's own threads shows in a fifth as many reads beside two busy processes
(zarr 3.4.2 over Python 3.12.1's zipfile: 14 to 36 in 100 reads of the sharded zips alone, 1 to 7 beside two
CPU-bound processes).

Every read attempt holds the work folder's lock shared; an attempt alone holds it exclusively. A second lock
file is the turnstile every taker passes first, so that runs whose attempts keep overlapping cannot starve one
waiting to be alone. flock(2) locks belong to an open file, so each taking opens the files anew: the threads of
one run exclude each other too, and a run that dies lets go with its files.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class Machine:
    """The work folder's two lock files.

        with machine.shared():   # every read attempt
            ...
        with machine.alone():    # waits for the attempts running now, and keeps new ones out
            ..."""

    def __init__(self, work: Path):
        work.mkdir(parents=True, exist_ok=True)
        self.turnstile = work / "attempts.turnstile.lock"
        self.room = work / "attempts.lock"

    @contextmanager
    def shared(self) -> Iterator[None]:
        with _locked(self.turnstile, fcntl.LOCK_EX):
            room = _take(self.room, fcntl.LOCK_SH)
        try:
            yield
        finally:
            os.close(room)

    @contextmanager
    def alone(self) -> Iterator[None]:
        with _locked(self.turnstile, fcntl.LOCK_EX), _locked(self.room, fcntl.LOCK_EX):
            yield


def _take(path: Path, how: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, how)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def _locked(path: Path, how: int) -> Iterator[None]:
    fd = _take(path, how)
    try:
        yield
    finally:
        os.close(fd)
