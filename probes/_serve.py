"""The attempt server of a Python probe (`PROBE.py --serve`): the library imported once, a clean child forked
per attempt. Standard library only, and Python 3.9 compatible, like _zmprobe.py.

    in:  {"id": 1, "request": PATH, "out": PATH, "stderr": PATH, "timeout": 60}
    out: {"ready": true, "threads": 1, "pid": 123}        once, first
         {"id": 1, "returncode": 0, "signal": null, "timed_out": false, "seconds": 0.06}

The parent never opens a fixture, so each child starts from the same clean state: the library and the modules
earlier children imported on first use, and nothing else (see `Imports`).
"""

import importlib
import json
import os
import select
import signal
import sys
import time
import traceback

# The longest the server sleeps between looks at its children's deadlines and its own parent.
TICK_S = 0.25
# How long the trial import of the modules children imported may take before they are given up.
TRIAL_TIMEOUT_S = 30
# A child's list of imported modules goes through a pipe it writes before it exits; a longer one is dropped
# rather than let the child block on a full pipe.
PIPE_BYTES = 60000


def thread_count():
    """Threads of this process, native ones included (a library's C threads count too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _die_with_parent():
    """Linux: SIGKILL this process when the process that forked it dies, whatever kills that one."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _as_forked(wake_fds):
    """A child's own start: the server's wake-up on SIGCHLD is not its business (a library that waits for a
    subprocess of its own needs SIGCHLD as it was)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in wake_fds:
        os.close(fd)
    os.setpgid(0, 0)
    _die_with_parent()


def _child(attempt, job, wake_fds, imports_fd):
    """In a forked child: run one attempt, its stdout and stderr into the job's file, then say which modules
    it imported and leave."""
    code = 3
    before = set(sys.modules)
    try:
        _as_forked(wake_fds)
        fd = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        code = attempt(job["request"], job["out"]) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 3
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            told = json.dumps(sorted(set(sys.modules) - before)).encode()
            if len(told) < PIPE_BYTES:
                os.write(imports_fd, told)
        except BaseException:
            pass
        finally:
            os._exit(code)


class Imports:
    """The modules children imported on first use, imported once in the server instead, so that the next
    children start with them (zarr 2 imports fsspec and asyncio on its first open: 30 ms in every child).

    Only modules, never an object a child made. A module is taken into the server only where a trial child
    could import it and was left with no thread but its own (the server forks only while it has none); one
    that fails the trial is never tried again."""

    def __init__(self):
        self.pending = set()
        self.tried = set()

    def heard(self, fd):
        """Read what a finished child said it imported (its pipe holds all of it: the child has exited)."""
        data = b""
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                data += chunk
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
        try:
            names = json.loads(data.decode("utf-8")) if data else []
        except ValueError:
            return
        # Private aliases (__main__, __mp_main__) are no modules to import by name.
        self.pending.update(n for n in names if isinstance(n, str) and not n.startswith("__"))
        self.pending -= self.tried

    def take(self, wake_fds):
        """Import the pending modules here, if a trial child imports them all and stays single-threaded."""
        if not self.pending:
            return
        names = sorted(self.pending, key=lambda n: (n.count("."), n))
        self.tried |= self.pending
        self.pending = set()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _as_forked(wake_fds)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                _import_all(names)
                code = 0 if thread_count() == 1 else 1
            finally:
                os._exit(code)
        deadline = time.monotonic() + TRIAL_TIMEOUT_S
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                _kill(pid)
                os.waitpid(pid, 0)
                return
            time.sleep(0.005)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            _import_all(names)


def _import_all(names):
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:  # a module that only imports in its package's own context is left to the children
            continue


def _kill(pid):
    for kill_fn, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill_fn(target, signal.SIGKILL)
        except OSError:
            pass


def serve(attempt):
    """Read jobs as JSON lines on stdin, fork a clean child per job, answer on stdout.

    It forks only while it has no thread but its own: a fork of a process with threads can copy a held lock and
    hang. It kills a child at its timeout, kills every child and leaves when stdin closes or its own parent dies,
    and its children die with it (PR_SET_PDEATHSIG). A child that ends wakes it at once (SIGCHLD through a
    wake-up pipe), so an attempt's answer does not wait for the next tick."""
    parent = os.getppid()
    threads = thread_count()
    answer = sys.stdout
    answer.write(json.dumps({"ready": threads == 1, "threads": threads, "pid": os.getpid()}) + "\n")
    answer.flush()
    if threads != 1:
        return 0
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    wake_fds = (wake_r, wake_w)
    imports = Imports()
    children = {}
    buffered = b""
    open_input = True

    def reply(message):
        answer.write(json.dumps(message) + "\n")
        answer.flush()

    # One loop, no thread (a thread would make the next fork unsafe): wait for a job on stdin or a child's end,
    # at most a tick; fork the jobs; kill the children past their deadline; reap the finished ones, answering
    # for each.
    while open_input or children:
        now = time.monotonic()
        deadlines = [c["deadline"] for c in children.values() if not c["timed_out"]]
        wait = max(0.0, min([TICK_S] + [d - now for d in deadlines]))
        readable, _, _ = select.select([0, wake_r] if open_input else [wake_r], [], [], wait)
        if wake_r in readable:
            try:
                while os.read(wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        if 0 in readable:
            chunk = os.read(0, 65536)
            if not chunk:
                open_input = False
                for pid in list(children):
                    _kill(pid)
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                if not line.strip():
                    continue
                job = json.loads(line.decode("utf-8"))
                imports.take(wake_fds)
                # A library may start threads lazily (on first use in a child it cannot, but a finaliser or a
                # signal handler in the parent could): checked before every fork.
                if thread_count() != 1:
                    reply({"id": job["id"], "refused": "the server has started threads; it cannot fork safely"})
                    continue
                told_r, told_w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(told_r)
                    _child(attempt, job, wake_fds, told_w)
                os.close(told_w)
                os.set_blocking(told_r, False)
                # A process group of its own, so that a kill reaches whatever the child started too.
                try:
                    os.setpgid(pid, pid)
                except OSError:
                    pass
                now = time.monotonic()
                children[pid] = {"id": job["id"], "started": now, "deadline": now + float(job["timeout"]),
                                 "timed_out": False, "told": told_r}
        # Orphaned (the runner was killed -9): no one will read the answers, so nothing is left running.
        if os.getppid() != parent:
            for pid in list(children):
                _kill(pid)
            open_input = False
        now = time.monotonic()
        for pid, child in children.items():
            if not child["timed_out"] and now > child["deadline"]:
                child["timed_out"] = True
                _kill(pid)
        # Reap without blocking: a child that finished is answered for at once, one still running is left.
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            child = children.pop(pid, None)
            if child is None:
                continue
            imports.heard(child["told"])
            signalled = os.WIFSIGNALED(status)
            reply({"id": child["id"], "returncode": -os.WTERMSIG(status) if signalled else os.WEXITSTATUS(status),
                   "timed_out": child["timed_out"], "seconds": round(time.monotonic() - child["started"], 4)})
    return 0
