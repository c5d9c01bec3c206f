"""Measuring one operation in a probe: its wall time, CPU time and peak memory; the page cache dropped before it
where the machine lets the probe; and when its repeats are enough. Shared by the benchmark probes."""

import os
import time

import numpy as np


def touch(nbytes):
    """Fault in and free a buffer of the working size, so the timed block that
    follows finds warm pages instead of paying this VM's first-touch cost."""
    buf = np.empty(nbytes, dtype=np.uint8)
    buf.fill(1)
    del buf


def _status_kib(field):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak():
    """Linux: reset the peak resident size (VmHWM), so that the next operation's own peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class Meter:
    """One operation's wall time, CPU time (every thread of the process) and peak memory above its start."""

    def __enter__(self):
        self.peaks = _reset_peak()
        self.rss = _status_kib("VmRSS")
        self.cpu0, self.t0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.cpu0
        peak = _status_kib("VmHWM") if self.peaks else None
        self.peak_bytes = None if peak is None or self.rss is None else max(0, peak - self.rss) * 1024
        return False


def median_ci(samples):
    """The median and its distribution-free 95% confidence interval (order statistics)."""
    x = sorted(samples)
    n = len(x)
    half = 1.96 * n ** 0.5 / 2
    lo, hi = max(0, int(n / 2 - half)), min(n - 1, int(np.ceil(n / 2 + half)) - 1)
    return float(np.median(x)), x[lo], x[hi]


def converged(samples, within):
    median, lo, hi = median_ci(samples)
    return (hi - lo) / 2 <= within * median


def drop_page_cache():
    """Write dirty pages and drop the page cache (root only, and not inside a container): what a disk
    read then costs is the disk's, not memory's. Says what the cache state was."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3")
        return "dropped before each read"
    except OSError as exc:
        return "warm (could not drop it: %s)" % exc.strerror
