"""The Python attempt server (probes/_serve.py): clean children, the modules they import on first use taken into
the server when that is safe, and a child's own SIGCHLD."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A probe whose attempt says what its child found (which modules were there already, SIGCHLD's handler and the
# wake-up fd) and then imports the modules its request names.
PROBE = '''
import json, signal, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
from _serve import serve


def attempt(request_path, out_path):
    request = json.load(open(request_path))
    seen = {name: name in sys.modules for name in request["watch"]}
    found = {"seen": seen, "sigchld_default": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
             "wakeup_fd": signal.set_wakeup_fd(-1)}
    for name in request["imports"]:
        __import__(name)
    with open(out_path, "w") as out:
        json.dump(found, out)
    return 0


sys.exit(serve(attempt))
'''

THREADER = '''
import threading, time
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
'''


class Server:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        (tmp / "probe.py").write_text(PROBE)
        (tmp / "mods").mkdir()
        (tmp / "mods" / "zm_threader.py").write_text(THREADER)
        (tmp / "mods" / "zm_plain.py").write_text("VALUE = 1\n")
        self.proc = subprocess.Popen([sys.executable, str(tmp / "probe.py"), str(ROOT / "probes"), str(tmp / "mods")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = json.loads(self.proc.stdout.readline())
        self.jobs = 0

    def attempt(self, watch: list[str], imports: list[str]) -> dict:
        self.jobs += 1
        request, out = self.tmp / f"request{self.jobs}.json", self.tmp / f"out{self.jobs}.json"
        request.write_text(json.dumps({"watch": watch, "imports": imports}))
        job = {"id": self.jobs, "request": str(request), "out": str(out), "stderr": str(self.tmp / "stderr.txt"),
               "timeout": 60}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert answer["id"] == self.jobs and answer["returncode"] == 0, (answer, (self.tmp / "stderr.txt").read_text())
        return json.loads(out.read_text())

    def close(self) -> int:
        self.proc.stdin.close()
        return self.proc.wait(30)


def test_a_module_one_child_imported_is_there_for_the_next(tmp_path):
    server = Server(tmp_path)
    try:
        assert server.ready["ready"] is True
        watch = ["colorsys", "zm_plain"]
        first = server.attempt(watch, ["colorsys", "zm_plain"])
        assert first["seen"] == {"colorsys": False, "zm_plain": False}
        second = server.attempt(watch, [])
        assert second["seen"] == {"colorsys": True, "zm_plain": True}
    finally:
        assert server.close() == 0


def test_a_module_that_starts_a_thread_stays_out_of_the_server(tmp_path):
    server = Server(tmp_path)
    try:
        first = server.attempt(["zm_threader", "colorsys"], ["zm_threader", "colorsys"])
        assert first["seen"] == {"zm_threader": False, "colorsys": False}
        # The trial import started a thread: none of that batch was taken in, and the server still forks.
        for _ in range(2):
            again = server.attempt(["zm_threader", "colorsys"], [])
            assert again["seen"] == {"zm_threader": False, "colorsys": False}
        # A later batch without it is taken in.
        server.attempt(["zm_plain"], ["zm_plain"])
        assert server.attempt(["zm_plain", "zm_threader"], [])["seen"] == {"zm_plain": True, "zm_threader": False}
    finally:
        assert server.close() == 0


def test_a_child_has_sigchld_as_it_was_and_no_wakeup_fd(tmp_path):
    server = Server(tmp_path)
    try:
        found = server.attempt([], [])
        assert found["sigchld_default"] is True
        assert found["wakeup_fd"] == -1
    finally:
        assert server.close() == 0
