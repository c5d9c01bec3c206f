"""`zarrmatrix ...`: what users and noxfile.py both call."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.markup import escape

from .consoles import message_console
from .errors import UserError
from .libraries import LIBRARIES
from .matrix import SIZE, Matrix, load_matrix


def _probes_dir() -> Path:
    """probes/ ships inside the wheel; in a source checkout it sits at the top."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "probes", here.parents[1] / "probes"):
        if (candidate / "_zmprobe.py").exists():
            return candidate
    raise UserError("cannot find the probes folder next to the zarrmatrix package: reinstall it")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", default="matrix.yaml", type=Path, help="the matrix file (default ./matrix.yaml)")
    parser.add_argument("--locked", action="store_true", default=None,
                        help="take versions rules' resolutions from the lock file only (matrix.lock.json; "
                             "default: $ZARRMATRIX_LOCKED)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("auto", "venv", "docker"), default=None,
                        help="where cells run (default: each cell's setting in matrix.yaml, itself 'auto')")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="attempts run at once (default: the number of cores, at most 4)")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="output folder (default reports/)")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("ZARRMATRIX_WORK", ".zarrmatrix")),
                        help="environments and scratch (default .zarrmatrix/ or $ZARRMATRIX_WORK)")
    parser.add_argument("--base-image", action="append", default=[], metavar="PUBLIC=LOCAL",
                        help="build on LOCAL where a Dockerfile names PUBLIC (repeatable; offline hosts)")
    parser.add_argument("--ca-bundle", type=Path, default=None,
                        help="a CA bundle for image builds behind a TLS-intercepting proxy "
                             "(default: docker.ca_bundle, else $PIP_CERT or $SSL_CERT_FILE)")
    parser.add_argument("--isolation", choices=("fork", "process"), default="fork",
                        help="fork: each cell imports its library once and forks a child per read attempt "
                             "(default); process: a fresh interpreter per attempt")
    parser.add_argument("--fresh", action="store_true",
                        help="ignore the journals of earlier runs that were cut short, and run every attempt")
    parser.add_argument("--probes-dir", type=Path, default=None, help=argparse.SUPPRESS)


def _factor(text: str) -> float:
    """--factor: a finite ratio above 1 (nan and inf would turn the timing gate off)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number above 1 (1.1 means 10% slower or "
                                         "faster)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zarrmatrix", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check matrix.yaml; exit 0 if valid, 2 if not")
    _common(p)

    p = sub.add_parser("list", help="print the cells")
    _common(p)
    p.add_argument("--json", action="store_true", help="one JSON object per cell")

    p = sub.add_parser("run", help="run cells: write fixtures, read them all, benchmark stores")
    _common(p)
    _run_options(p)
    p.add_argument("--cells", nargs="+", metavar="ID", help="only these cells (default: all)")
    p.add_argument("--phase", nargs="+", choices=("write", "read", "bench"), default=["write", "read", "bench"])
    p.add_argument("--mnist-dir", help="a folder with the MNIST IDX files (default: cache, then mirrors)")
    p.add_argument("--bench-shape", type=int, nargs="+", metavar="N",
                   help="benchmark array shape instead of matrix.yaml's (the real size: 8192 8192)")
    p.add_argument("--bench-chunks", type=int, nargs="+", metavar="N", help="benchmark chunk shape (e.g. 1024 1024)")
    p.add_argument("--bench-sizes", nargs="+", metavar="SIZE",
                   help="a size sweep instead of matrix.yaml's (the real one: 4m 16m 64m 256m 1g)")
    p.add_argument("--bench-max-repeats", type=int, metavar="N", help="at most this many repeats of a store "
                   "whose median is not yet known to within bench.within (default: matrix.yaml's)")
    p.add_argument("--bench-budget", type=float, metavar="SECONDS", help="seconds a store may take, per size")
    p.add_argument("--drop-caches", action="store_true",
                   help="drop the page cache before each disk read of the benchmark (root, venv backend)")

    p = sub.add_parser("bench-runner", help="the read phase with each isolation (process, fork): wall time, "
                                            "median attempt, and whether the verdicts agree")
    _common(p)
    _run_options(p)
    p.add_argument("--cells", nargs="+", metavar="ID", help="only these cells (default: every reader)")

    p = sub.add_parser("inspect", help="what a zip is, with no library under test: members, duplicates, "
                                       "ZIP64, order, comment, nested root, damage, and an RFC-9 (.ozx) "
                                       "verdict; exit 0 when every file is valid, 1 when one is not")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file, as a list")

    p = sub.add_parser("report", help="merge the results and render reports/index.html")
    _common(p)
    p.add_argument("--reports", type=Path, default=Path("reports"))

    p = sub.add_parser("lock", help="freeze every versions rule and the Pythons each release supports into the "
                                    "lock file beside the matrix (matrix.lock.json), which later runs use")
    _common(p)
    p.add_argument("--upgrade", action="store_true",
                   help="resolve everything against the index anew, and print what moved")

    p = sub.add_parser("releases", help="what each zarr-python, GDAL and netCDF-C release changed against the "
                                        "version before it, in the results (Markdown)")
    p.add_argument("--reports", type=Path, default=Path("reports"))

    p = sub.add_parser("prune-runs", help="keep only the newest N runs of the history (reports/runs/)")
    p.add_argument("--keep", type=int, required=True, metavar="N", help="how many runs to keep (at least 1)")
    p.add_argument("--reports", type=Path, default=Path("reports"))

    p = sub.add_parser("merge", help="merge the results (and fixtures) of shards into one reports folder")
    p.add_argument("sources", nargs="+", type=Path, metavar="DIR", help="a shard's reports folder, or its results/")
    p.add_argument("--into", type=Path, required=True, metavar="REPORTS", help="the merged reports folder")

    p = sub.add_parser("compare", help="what changed between two runs: verdicts that got worse or better, cells "
                                       "that came or went, benchmarks that changed (asv's rule)")
    p.add_argument("old", type=Path, help="the earlier run: a reports folder, or its results/")
    p.add_argument("new", type=Path, help="the later run")
    p.add_argument("--json", action="store_true", help="JSON for scripts instead of Markdown")
    p.add_argument("--factor", type=_factor, default=1.1, help="the ratio a timing must pass (default 1.1)")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when a verdict got worse or a benchmark got slower")

    p = sub.add_parser("bench-table", help="print the benchmark table of the results")
    _common(p)
    p.add_argument("--reports", type=Path, default=Path("reports"))

    p = sub.add_parser("check", help="which reader cells can open MY zip files?")
    _common(p)
    _run_options(p)
    p.add_argument("zips", nargs="+", type=Path, metavar="PATH.zip")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the verdicts as a JSON list")
    p.add_argument("--out", type=Path, default=Path("reports/check"), help="report folder (default reports/check)")

    p = sub.add_parser("reproduce", help="run one attempt again and print what it saw")
    _common(p)
    _run_options(p)
    p.add_argument("cell")
    p.add_argument("fixture", help="the fixture's file name")
    p.add_argument("method")
    p.add_argument("--variant", choices=("zip", "folder"), default="zip")
    p.add_argument("--fixtures", type=Path, default=None, help="the fixtures folder (default reports/fixtures)")
    return parser


def _with_docker_options(matrix: Matrix, args: argparse.Namespace) -> Matrix:
    """The matrix's docker settings, with what the command line says on top."""
    if not hasattr(args, "base_image"):
        return matrix
    mapping = dict(matrix.docker.base_images)
    for item in args.base_image:
        public, sep, local = item.partition("=")
        if not sep or not public or not local:
            raise UserError(f"--base-image {item!r}: expected PUBLIC=LOCAL, "
                            "e.g. debian:bookworm-slim=zarrmatrix/debian:bookworm")
        mapping[public] = local
    if args.ca_bundle is not None and not args.ca_bundle.is_file():
        raise UserError(f"--ca-bundle {args.ca_bundle}: no such file")
    ca = str(args.ca_bundle) if args.ca_bundle else matrix.docker.ca_bundle
    return replace(matrix, docker=replace(matrix.docker, base_images=mapping, ca_bundle=ca))


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as a Ctrl-C is: stop at once, keep what finished."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


WITHOUT_MATRIX = ("report", "bench-table", "inspect", "compare", "merge", "prune-runs", "releases")


def _load(args: argparse.Namespace, console: Console) -> Matrix:
    """The matrix, its versions rules resolved (fresh from the index for `lock`), each resolution printed."""
    upgrade = args.command == "lock" and args.upgrade
    locked = False if upgrade else None if args.command == "lock" else args.locked
    matrix = load_matrix(args.matrix, locked=locked, refresh=upgrade)
    for resolution in matrix.resolutions:
        console.print(f"versions: {escape(resolution.describe())}")
    return matrix


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = message_console()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    # A shell that starts a command in the background (`cmd &`, non-interactive) sets SIGINT to ignored, and
    # Python then leaves it so: an explicit `kill -INT` must still stop a run.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # The report commands read results alone: they work without a matrix file.
        matrix = None if args.command in WITHOUT_MATRIX else _with_docker_options(_load(args, console), args)
        return COMMANDS[args.command](args, matrix, console)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # Whoever read stdout stopped reading (`zarrmatrix list --json | head -1`): end quietly, as a writer
        # killed by SIGPIPE would; stdout goes to /dev/null so that the flush at exit cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"{'terminated' if terminated else 'interrupted'}: the attempts that finished are kept in each "
              "cell's journal (reports/results/<cell>.journal.jsonl); run the same command again to resume",
              file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _validate(args, matrix: Matrix, console: Console) -> int:
    print(f"{matrix.path}: valid, {len(matrix.cells)} cells")
    return 0


def _list(args, matrix: Matrix, console: Console) -> int:
    if args.json:
        print(json.dumps([c.to_json() for c in matrix.cells], indent=1))
        return 0
    for cell in matrix.cells:
        roles = ",".join(sorted(cell.roles))
        where = (f"image {cell.image.dockerfile}:{cell.image.base}" if cell.image
                 else LIBRARIES[cell.library].runtime.where(cell.python, cell.python_missing))
        print(f"{cell.id:32} {roles:16} {where:40} {' '.join(cell.requirements)}")
    return 0


def _layout(args, reports: Path | None = None, fixtures: Path | None = None):
    from .runner import Layout

    # Absolute paths: probes run with the scratch folder as their working directory.
    return Layout(reports=(reports or args.reports).resolve(), work=args.work.resolve(),
                  probes=(args.probes_dir or _probes_dir()).resolve(),
                  fixtures_dir=None if fixtures is None else fixtures.resolve())


def _with_bench_options(matrix: Matrix, args: argparse.Namespace) -> Matrix:
    shape = tuple(args.bench_shape or matrix.bench.shape)
    chunks = tuple(args.bench_chunks or (matrix.bench.chunks if not args.bench_shape else
                                         [min(c, s) for c, s in zip(matrix.bench.chunks, shape)]))
    if len(shape) != len(chunks) or min(shape + chunks) < 1:
        raise UserError(f"--bench-shape {shape} and --bench-chunks {chunks} must have the same, "
                        "positive, dimensions")
    sizes = () if args.bench_shape else tuple(args.bench_sizes or matrix.bench.sizes)
    for size in sizes:
        if not SIZE.fullmatch(size):
            raise UserError(f"--bench-sizes {size!r}: expected bytes, or with k, m or g (e.g. 4m, 1g)")
    max_repeats = args.bench_max_repeats or matrix.bench.max_repeats
    budget = args.bench_budget or matrix.bench.budget_s
    if max_repeats < matrix.bench.repeats or budget <= 0:
        raise UserError(f"--bench-max-repeats {max_repeats} must be at least bench.repeats "
                        f"({matrix.bench.repeats}), and --bench-budget {budget:g} positive")
    return replace(matrix, bench=replace(matrix.bench, shape=shape, chunks=chunks, sizes=sizes,
                                         max_repeats=max_repeats, budget_s=budget,
                                         drop_caches=args.drop_caches or matrix.bench.drop_caches))


def _run(args, matrix: Matrix, console: Console) -> int:
    from .runner import Runner

    matrix = _with_bench_options(matrix, args)
    cells = matrix.select(args.cells)
    runner = Runner(matrix, _layout(args), backend_choice=args.backend, jobs=args.jobs, console=console,
                    isolation=args.isolation, fresh=args.fresh,
                    mnist_dir=args.mnist_dir)
    runs = runner.run(cells, phases=args.phase)
    for run in runs:
        reads = [r for r in run.records if r.KIND == "read"]
        passed = sum(r.verdict == "pass" for r in reads)
        note = f" ({run.status_reason.splitlines()[0][:120]})" if run.status_reason else ""
        console.print(f"{escape(run.cell.id)}: {run.backend}, {run.status}{escape(note)}; "
                      f"{passed}/{len(reads)} read attempts passed")
    console.print(f"results: {escape(str(runner.layout.results))}/")
    return 1 if runner.unsaved else 0


def _report(args, matrix: Matrix, console: Console) -> int:
    from .lock import ReportsLock
    from .report import build_report

    # A report built while a run or a merge writes the results would keep a half-made run in the history.
    with ReportsLock(args.reports):
        written = build_report(args.reports, console=console)
    for path in written:
        console.print(f"wrote {escape(str(path))}")
    return 0


def _bench_table(args, matrix: Matrix, console: Console) -> int:
    from .consoles import stdout_console
    from .report.model import build_model
    from .report.terminal import print_bench_table
    from .results import load_results

    merged = load_results(args.reports / "results")
    print_bench_table(build_model(merged.results, merged.problems), console=stdout_console())
    return 0


def _bench_runner(args, matrix: Matrix, console: Console) -> int:
    from .bench_runner import bench_runner
    from .consoles import stdout_console
    from .runner import Runner

    def make_runner(layout, isolation):
        return Runner(matrix, layout, backend_choice=args.backend, jobs=args.jobs, console=console,
                      isolation=isolation, fresh=True)

    cells = [c for c in matrix.select(args.cells) if "read" in c.roles]
    return bench_runner(make_runner, _layout(args), cells, console, stdout_console())


def _inspect(args, matrix: Matrix, console: Console) -> int:
    from .consoles import stdout_console
    from .report.terminal import print_zip_facts
    from .zipfacts import inspect_zip

    facts = [inspect_zip(path) for path in args.files]
    if args.json:
        print(json.dumps([f.to_json() for f in facts], indent=1))
    else:
        print_zip_facts(facts, stdout_console())
    # 0: every file is a valid zip of a Zarr store; 1: one is not, or cannot be read (2 is for usage).
    return 0 if all(f.valid for f in facts) else 1


def _check(args, matrix: Matrix, console: Console) -> int:
    from .check import run_check

    return run_check(args.zips, matrix, _layout(args, reports=args.out, fixtures=args.out / "fixtures"), console,
                     backend=args.backend, jobs=args.jobs, json_out=args.json, isolation=args.isolation)


def _reproduce(args, matrix: Matrix, console: Console) -> int:
    from .reproduce import reproduce

    return reproduce(matrix, _layout(args, fixtures=args.fixtures), console, cell_id=args.cell,
                     fixture_name=args.fixture, method=args.method, variant=args.variant, backend=args.backend)


def _lock(args, matrix: Matrix, console: Console) -> int:
    from .versions import ResolveError, lock_changes, lock_path, read_lock, write_lock

    path = lock_path(matrix.path)
    try:
        before = read_lock(path) if path.exists() else {"resolved": {}, "pythons": {}}
    except ResolveError:
        before = {"resolved": {}, "pythons": {}}
    write_lock(matrix.path, list(matrix.resolutions), matrix.pythons)
    moved = lock_changes(before, read_lock(path))
    for line in moved:
        console.print(f"moved: {escape(line)}")
    said = f"{len(matrix.resolutions)} versions rules" if matrix.resolutions else "no versions rules"
    releases = sum(len(v) for v in matrix.pythons.values())
    console.print(f"{escape(str(path))}: {said}, the Pythons of {releases} releases"
                  + ("" if moved else ", nothing moved") + "; later runs use it (`--locked`: only it)")
    return 0


def _releases(args, matrix: None, console: Console) -> int:
    from .report.model import build_model
    from .report.releases import release_changes, releases_markdown
    from .results import load_results

    merged = load_results(args.reports / "results", light=True)
    for problem in merged.problems:
        console.print(f"[yellow]{escape(problem)}[/]")
    print(releases_markdown(release_changes(build_model(merged.results))), end="")
    return 0


def _prune_runs(args, matrix: None, console: Console) -> int:
    from .lock import ReportsLock
    from .report.history import prune_runs

    if args.keep < 1:
        raise UserError(f"--keep {args.keep}: keep at least one run")
    with ReportsLock(args.reports):
        dropped = prune_runs(args.reports, args.keep)
    console.print(f"{escape(str(args.reports / 'runs'))}: removed {len(dropped)} runs older than the newest "
                  f"{args.keep}" + (f" ({escape(', '.join(p.name for p in dropped))})" if dropped else ""))
    return 0


def _merge(args, matrix: None, console: Console) -> int:
    from .merge import merge

    summary = merge(args.sources, args.into)
    console.print(f"merged {len(summary.results)} cell results and {len(summary.fixtures)} fixtures from "
                  f"{len(args.sources)} folders into {escape(str(args.into))}"
                  + (f" ({summary.already_there} results were there already)" if summary.already_there else ""))
    return 0


def _compare(args, matrix: None, console: Console) -> int:
    from .compare import compare_results, to_markdown
    from .results import load_results, results_folder

    runs = []
    for folder in (args.old, args.new):
        if not results_folder(folder).is_dir():
            raise UserError(f"{folder}: no such folder of results")
        merged = load_results(results_folder(folder))
        for problem in merged.problems:
            console.print(f"[yellow]{escape(problem)}[/]")
        if not merged.results:
            raise UserError(f"{folder}: no valid result files in {results_folder(folder)}")
        runs.append(merged.results)
    comparison = compare_results(*runs, factor=args.factor)
    if not comparison.common_cells:
        console.print(f"[yellow]{escape(str(args.old))} and {escape(str(args.new))} have no cell in common: "
                      "nothing was compared[/]")
    if args.json:
        print(json.dumps(comparison.to_json(), indent=1))
    else:
        print(to_markdown(comparison, str(args.old), str(args.new)), end="")
    return 1 if args.fail_on_regression and comparison.regressed else 0


COMMANDS = {
    "lock": _lock,
    "compare": _compare,
    "merge": _merge,
    "prune-runs": _prune_runs,
    "releases": _releases,
    "validate": _validate,
    "list": _list,
    "run": _run,
    "report": _report,
    "bench-table": _bench_table,
    "bench-runner": _bench_runner,
    "check": _check,
    "inspect": _inspect,
    "reproduce": _reproduce,
}
