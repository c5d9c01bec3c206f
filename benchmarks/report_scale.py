"""How the report scales: synthesise N reader cells x F fixtures from real results, then time `zarrmatrix report`
on them in a process of its own (wall time, peak memory), and print the size of every page it wrote; with
--chromium, also how long headless Chromium takes to draw each page.

    python benchmarks/report_scale.py --from reports/results --cells 1000 --fixtures 50 [--chromium]

The synthetic cells are copies of the real reader cells, round-robin, each under an id and a version of its
own, with the real read records of the first F fixtures; the real writer results come along, so that every
fixture has its manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def synthesise(source: Path, target: Path, cells: int, fixtures: int) -> tuple[int, int]:
    results = [json.loads(p.read_text()) for p in sorted(source.glob("*.json")) if not p.name.endswith(
        ".incomplete.json")]
    names = sorted({r["fixture"] for res in results for r in res["records"] if r["kind"] == "fixture"
                    and r.get("manifest")})[:fixtures]
    keep = set(names)
    readers = [res for res in results if "read" in res["cell"]["roles"] and res["status"] == "ok"]
    if not readers or not names:
        raise SystemExit(f"{source}: no reader results or no fixtures to synthesise from")
    target.mkdir(parents=True, exist_ok=True)
    writers = [res for res in results if "write" in res["cell"]["roles"]]
    for res in writers:
        copy = dict(res, records=[r for r in res["records"] if r["kind"] == "fixture" and r["fixture"] in keep])
        copy["cell"] = dict(res["cell"], roles=["write"])
        (target / f"{res['cell']['id']}.json").write_text(json.dumps(copy))
    for i in range(cells - len(writers)):
        template = readers[i % len(readers)]
        cell_id = f"{template['cell']['id']}-s{i:04d}"
        version = f"{template['cell'].get('version') or '0'}.post{i}"
        records = []
        for r in template["records"]:
            if r["kind"] == "read" and r["fixture"] in keep:
                records.append(dict(r, reader=cell_id))
        cell = dict(template["cell"], id=cell_id, version=version, label=f"{template['cell']['library']} {version}",
                    roles=["read"])
        (target / f"{cell_id}.json").write_text(json.dumps(dict(template, cell=cell, records=records)))
    return cells, len(names)


def tree_pss(root: int) -> int:
    """Memory of a process and all its descendants (its worker processes too), from /proc: the proportional set
    size, in which a page that forked processes share counts once, split between them, not once each."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [c for c, p in parents.items() if p == pid and c not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def timed(*args: str) -> tuple[float, int, int, str]:
    """`zarrmatrix ARGS` in a process of its own: wall time, that process's own peak resident memory, and the
    peak memory of its whole process tree (proportional set size, sampled every 50 ms)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "zarrmatrix", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], tree_pss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"zarrmatrix {args[0]} failed:\n{out[-3000:]}")
    return time.perf_counter() - started, usage.ru_maxrss * 1024, peak[0], out


def chromium_draw(url: str, shot: Path) -> float:
    """Seconds from starting headless Chromium on `url` to its screenshot: the browser's own start included."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return float("nan")
    started = time.perf_counter()
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1600,1200", "--virtual-time-budget=20000", url],
                   capture_output=True, timeout=300)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, default=Path("reports/results"))
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--fixtures", type=int, default=50)
    parser.add_argument("--out", type=Path, help="keep the synthetic reports here (default: a temporary folder)")
    parser.add_argument("--chromium", action="store_true", help="time headless Chromium drawing each page")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="zm-scale-"))
    shard = work / "shard"
    cells, fixtures = synthesise(args.source, shard / "results", args.cells, args.fixtures)
    reports = work / "reports"
    for step, argv in (("merged", ("merge", str(shard), "--into", str(reports))),
                       ("rendered", ("report", "--reports", str(reports)))):
        seconds, own, tree, _ = timed(*argv)
        print(f"{cells} cells x {fixtures} fixtures: {step} in {seconds:.1f} s; peak memory {own / 2**20:.0f} MiB "
              f"in the process, {tree / 2**20:.0f} MiB with its workers (PSS, sampled)")
    pages = sorted(p for p in reports.rglob("*.html") if "runs" not in p.parts)
    blank = min(chromium_draw("about:blank", work / "shot.png") for _ in range(3)) if args.chromium else 0.0
    if args.chromium:
        print(f"  headless Chromium starts and shows about:blank in {blank:.1f} s (the best of 3)")
    for page in pages:
        line = f"  {page.relative_to(reports)}: {page.stat().st_size / 2**20:.2f} MiB"
        if args.chromium:
            seconds = chromium_draw(page.as_uri(), work / "shot.png")
            line += f", drawn in {seconds:.1f} s ({seconds - blank:.1f} s past about:blank)"
        print(line)
    if args.out is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
