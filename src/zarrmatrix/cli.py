"""`zarrmatrix ...`: what users and noxfile.py both call."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.markup import escape

from .cli_args import build_parser
from .consoles import message_console
from .errors import UserError
from .features import probes_dir as _probes_dir
from .libraries import LIBRARIES
from .matrix import Matrix, Overrides, load_matrix


def overrides_from(args: argparse.Namespace) -> Overrides:
    """What the command line sets in matrix.yaml's sections; load_matrix merges and validates it with the file."""
    out = Overrides()
    if getattr(args, "base_image", None):
        for item in args.base_image:
            public, sep, local = item.partition("=")
            if not sep or not public or not local:
                raise UserError(f"--base-image {item!r}: expected PUBLIC=LOCAL, "
                                "e.g. debian:bookworm-slim=zarrmatrix/debian:bookworm")
            out.values.setdefault("docker", {}).setdefault("base_images", {})[public] = local
        out.flags[("docker", "base_images")] = "--base-image"
    flags = (("ca_bundle", "docker", "ca_bundle", "--ca-bundle", str), ("mnist_dir", "fixtures", "mnist_dir",
             "--mnist-dir", str), ("bench_shape", "bench", "shape", "--bench-shape", list),
             ("bench_chunks", "bench", "chunks", "--bench-chunks", list), ("bench_sizes", "bench", "sizes",
             "--bench-sizes", list), ("bench_max_repeats", "bench", "max_repeats", "--bench-max-repeats", int),
             ("bench_budget", "bench", "budget_s", "--bench-budget", float),
             ("sharded_shape", "sharded", "shape", "--sharded-shape", list),
             ("sharded_shards", "sharded", "shards", "--sharded-shards", list),
             ("sharded_chunks", "sharded", "chunks", "--sharded-chunks", list),
             ("sharded_budget", "sharded", "budget_s", "--sharded-budget", float))
    for attr, section, key, flag, kind in flags:
        value = getattr(args, attr, None)
        if value is not None:
            out.set(section, key, kind(value), flag)
    if getattr(args, "drop_caches", False):
        out.set("bench", "drop_caches", True, "--drop-caches")
    return out


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as a Ctrl-C is: stop at once, keep what finished."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


WITHOUT_MATRIX = ("report", "bench-table", "inspect", "compare", "merge", "prune-runs", "releases")


def _load(args: argparse.Namespace, console: Console) -> Matrix:
    """The matrix, its versions rules resolved (fresh from the index for `lock`), each resolution printed."""
    upgrade = args.command == "lock" and args.upgrade
    locked = False if upgrade else None if args.command == "lock" else args.locked
    matrix = load_matrix(args.matrix, locked=locked, refresh=upgrade, overrides=overrides_from(args))
    for resolution in matrix.resolutions:
        console.print(f"versions: {escape(resolution.describe())}")
    return matrix


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(__doc__).parse_args(argv)
    console = message_console()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    # A shell that starts a command in the background (`cmd &`, non-interactive) sets SIGINT to ignored, and
    # Python then leaves it so: an explicit `kill -INT` must still stop a run.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # The report commands read results alone: they work without a matrix file.
        matrix = None if args.command in WITHOUT_MATRIX else _load(args, console)
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
    from .cell_run import Layout

    # Absolute paths: probes run with the scratch folder as their working directory.
    return Layout(reports=(reports or args.reports).resolve(), work=args.work.resolve(),
                  probes=(args.probes_dir or _probes_dir()).resolve(),
                  fixtures_dir=None if fixtures is None else fixtures.resolve())


def _run(args, matrix: Matrix, console: Console) -> int:
    from .runner import Runner

    cells = matrix.select(args.cells)
    runner = Runner(matrix, _layout(args), backend_choice=args.backend, jobs=args.jobs, console=console,
                    isolation=args.isolation, fresh=args.fresh)
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
    from .triage import TRIAGE_FILE, load_triage

    began = time.time()
    # A report built while a run or a merge writes the results would keep a half-made run in the history.
    with ReportsLock(args.reports):
        # Beside the matrix file; a report made without one takes the triage file of the working folder.
        folder = matrix.path.parent if matrix is not None else Path(".")
        written = build_report(args.reports, console=console, triage=load_triage(folder / TRIAGE_FILE))
    for path in written:
        console.print(f"wrote {escape(str(path))}")
    if args.wall_since is not None:
        from .results import load_results
        from .walltime import split_lines, wall_time

        now = time.time()
        split = wall_time(load_results(args.reports / "results", light=True).results, args.wall_since, now)
        if split is not None:
            for line in split_lines(split, report_s=now - began):
                console.print(escape(line), highlight=False)
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
                     backend=args.backend, jobs=args.jobs, json_out=args.json, isolation=args.isolation,
                     matrix_results=args.reports / "results")


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
