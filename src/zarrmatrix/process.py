"""Run a subprocess with a wall-clock timeout that kills its whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence


@dataclass(frozen=True)
class ProcessResult:
    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool

    @property
    def signal(self) -> int | None:
        """The signal that killed the process, if one did (POSIX: a negative return code)."""
        if self.returncode is not None and self.returncode < 0:
            return -self.returncode
        return None

    @property
    def signal_name(self) -> str | None:
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"

    def tail(self, limit: int = 2000) -> str:
        return (self.stderr or self.stdout)[-limit:]


# The process groups running now, so that a stopping run can end them at once.
_running: set[int] = set()
_running_lock = threading.Lock()


def kill_running() -> None:
    """Kill every process group that run_process is waiting for: their callers return at once."""
    with _running_lock:
        groups = list(_running)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_process(argv: Sequence[str], *, stderr: Path, env: Mapping[str, str] | None = None,
                  cwd: str | Path | None = None) -> subprocess.Popen:
    """Start `argv` with pipes on stdin and stdout, in a session of its own (a Ctrl-C in the terminal
    reaches the runner, which decides what ends), its stderr to a file."""
    with open(stderr, "wb") as err:
        return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)


def run_process(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> ProcessResult:
    """Run `argv` (never a shell string) and kill its process group on timeout.

    The probe may start children of its own (netCDF-C and GDAL do not, but a
    library's helper could): killing the group leaves none behind.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
    timed_out = False
    with _running_lock:
        _running.add(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        stdout, stderr = proc.communicate()
    finally:
        with _running_lock:
            _running.discard(proc.pid)
    return ProcessResult(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        seconds=time.perf_counter() - started,
        timed_out=timed_out,
    )
