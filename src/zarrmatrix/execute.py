"""Running many tasks on the machine's cores, and stopping them all at once: the attempt servers of the reader
cells, a thread pool with a progress bar, and the stop that a Ctrl-C or a SIGTERM asks for."""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .attempt import AttemptServer
from .cell_run import CellRun
from .libraries import LIBRARIES
from .process import kill_running


class Executor:
    """`jobs` tasks at a time; the attempt servers it started; and `stopping`, set when the run must stop."""

    def __init__(self, jobs: int, console: Console, isolation: str = "fork"):
        self.jobs = max(1, jobs)
        self.console = console
        self.isolation = isolation
        # Set when the run is told to stop: no attempt starts, and what was running is not recorded.
        self.stopping = threading.Event()
        self._servers: list[AttemptServer] = []
        self._lock = threading.Lock()

    def start_server(self, run: CellRun) -> None:
        if self.isolation != "fork" or not LIBRARIES[run.cell.library].runtime.supports_fork_server:
            # Node cannot fork a running interpreter: a Node probe starts afresh for each attempt.
            run.isolation = "process"
            return
        server, how = AttemptServer.start(run.env, run.probe)
        run.server, run.isolation = server, how if server else f"process ({how})"
        if server is not None:
            with self._lock:
                self._servers.append(server)
        else:
            self.console.print(f"[yellow]{escape(run.cell.id)}: one process per attempt[/]: {escape(how)}")

    def close_servers(self) -> None:
        with self._lock:
            servers, self._servers = self._servers, []
        for server in servers:
            server.close()

    def stop(self) -> None:
        """Stop now: no attempt starts, running ones are killed (servers kill their children)."""
        self.stopping.set()
        self.close_servers()
        kill_running()

    def parallel(self, items: Sequence[Any], fn: Callable[[Any], None], description: str) -> None:
        if not items:
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=len(items))

            def step(item: Any) -> None:
                try:
                    fn(item)
                except Exception as exc:  # one task's bug must not lose the other cells' results
                    self.console.print(f"[red]internal error in {description}[/]: "
                                       f"{escape(f'{type(exc).__name__}: {exc}')}")
                    self.console.print_exception()
                finally:
                    progress.advance(task)

            pool = ThreadPoolExecutor(max_workers=self.jobs)
            try:
                pending = {pool.submit(step, item) for item in items}
                while pending:
                    # A short wait, not one long join: a Ctrl-C reaches the main thread at once.
                    _, pending = wait(pending, timeout=0.2)
            except BaseException:
                self.stop()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)


def clean_stale_scratch(folder: Path) -> None:
    """Remove the scratch folders of runs that are no longer alive (a kill -9 leaves its folder behind)."""
    for stale in folder.glob("run-*"):
        try:
            os.kill(int(stale.name.removeprefix("run-")), 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:
            continue  # alive, someone else's
