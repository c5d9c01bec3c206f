"""An attempt alone has the machine to itself: it waits for the attempts other runs (processes) are making, and
keeps new ones out until it is done, even while it waits."""

import subprocess
import sys
import threading
import time

from zarrmatrix.alone import Machine

HOLD_SHARED = """
import sys
from pathlib import Path
from zarrmatrix.alone import Machine
with Machine(Path(sys.argv[1])).shared():
    print("attempting", flush=True)
    sys.stdin.read()
"""


def test_an_attempt_alone_waits_for_other_runs_and_keeps_new_attempts_out(tmp_path):
    machine = Machine(tmp_path)
    other_run = subprocess.Popen([sys.executable, "-c", HOLD_SHARED, str(tmp_path)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    try:
        assert other_run.stdout.readline() == "attempting\n"
        seen = []

        def alone():
            with machine.alone():
                seen.append("alone")
                time.sleep(0.2)
                seen.append("alone done")

        def attempt():
            with machine.shared():
                seen.append("attempt")

        waiting = threading.Thread(target=alone)
        waiting.start()
        time.sleep(0.3)
        assert seen == []
        # A new attempt while one waits to be alone: it waits too (the turnstile), or the one alone could starve.
        later = threading.Thread(target=attempt)
        later.start()
        time.sleep(0.3)
        assert seen == []
        other_run.stdin.close()
        assert other_run.wait(timeout=30) == 0
        waiting.join(timeout=30)
        later.join(timeout=30)
        assert seen == ["alone", "alone done", "attempt"]
    finally:
        other_run.kill()
        other_run.wait()


def test_attempts_run_side_by_side(tmp_path):
    machine = Machine(tmp_path)
    with machine.shared():
        done = threading.Event()

        def attempt():
            with machine.shared():
                done.set()

        beside = threading.Thread(target=attempt)
        beside.start()
        assert done.wait(timeout=30)
        beside.join(timeout=30)
