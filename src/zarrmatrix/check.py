"""`zarrmatrix check PATH.zip ...`: every reader cell against zip files a user brings.

`check` owns only the folder it writes into: one it made, or one that holds its
marker. It copies the inputs before it replaces anything, never moves or deletes
one, keeps inputs with the same name apart, and gives every argument a verdict
or a reason why not. Without a manifest, the runner takes the newest zarr
reader that reads a zip whole as the reference (see Runner.read_phase).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from .cell_run import Layout
from .check_features import feature_report, known_for, matrix_model
from .consoles import stdout_console
from .errors import UserError
from .lock import ReportsLock
from .matrix import Matrix
from .report import build_report
from .report.model import build_model
from .report.terminal import print_check_table
from .results import load_results, write_text
from .runner import Runner
from .safefs import NAME_MAX, copy_new, inside, not_regular
from .triage import TRIAGE_FILE, load_triage
from .zipfacts import inspect_zip

MARKER = ".zarrmatrix-check"
# A file with another name is checked when its content is a zip; one with these names even when it is
# damaged, so that each reader says what it does with it.
EXTENSIONS = (".zip", ".ozx")


@dataclass(frozen=True)
class Input:
    """One argument: where it is, the fixture name it is checked under, or why it is not checked."""

    path: Path
    name: str | None
    problem: str | None = None


def claim(out: Path) -> None:
    """Make `out` the check's own folder, or refuse: a folder that holds anything
    `check` did not make is the user's, and nothing in it is touched."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder")
    if out.is_dir() and not (out / MARKER).exists() and any(out.iterdir()):
        raise UserError(f"--out {out}: holds files that zarrmatrix check did not make; it clears only a folder "
                        "it made: choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / MARKER, "This folder is written by `zarrmatrix check`, which replaces its contents.\n")


def fixture_name(path: Path) -> str:
    """The name a user's file is checked under: its own, with whatever the id grammar does not allow
    (spaces, brackets, a leading dot) made a dash, since the name becomes a file and a cell of the report."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", path.name).lstrip(".-_+") or "input"
    return name[:NAME_MAX]


def sort_inputs(paths: list[Path]) -> list[Input]:
    """Each argument with the fixture name it gets (unique), or the reason it is not checked. Only regular
    files (after their links are resolved) are opened: a FIFO would hang the check, a device fill memory."""
    taken: set[str] = set()
    inputs = []
    for path in paths:
        why = not_regular(path)
        if why == "is a directory, not a regular file":
            inputs.append(Input(path, None, "is a directory (check takes zip files; zip the store first)"))
        elif why:
            inputs.append(Input(path, None, why))
        elif not zipfile.is_zipfile(path) and path.suffix.lower() not in EXTENSIONS:
            inputs.append(Input(path, None, "skipped: not a zip file (by its content), nor named "
                                            f"{' or '.join(EXTENSIONS)}"))
        else:
            name = fixture_name(path)
            suffix = Path(name).suffix
            stem, n = name[: len(name) - len(suffix)], 2
            while name.lower() in taken:
                name, n = f"{stem}-{n}{suffix.lower()}", n + 1
            taken.add(name.lower())
            inputs.append(Input(path, name, None if zipfile.is_zipfile(path) else
                                "not a readable zip: checked all the same, so each reader says what it does with it"))
    return inputs


def stage(inputs: list[Input], out: Path) -> Path:
    """Copy the inputs into a new folder below `out`, before anything old is replaced:
    an input that lives in the previous check's fixtures is read while it still exists."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        for item in inputs:
            if item.name is not None:
                copy_new(item.path, inside(staging, item.name), follow=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def replace_folder(target: Path, new: Path) -> None:
    """Put `new` in the place of `target` (a folder `check` made), then drop the old one."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=".old-", dir=target.parent))
        target.rename(old / "x")
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_check(zips: list[Path], matrix: Matrix, layout: Layout, console: Console, *, backend: str | None,
              jobs: int, json_out: Path | None, isolation: str = "fork", matrix_results: Path | None = None) -> int:
    """`matrix_results`: the matrix's own results, whose feature fixtures say who fails each feature of a zip."""
    inputs = sort_inputs(zips)
    for item in inputs:
        if item.problem:
            console.print(f"[yellow]{escape(str(item.path))}[/]: {escape(item.problem)}")
    checked = [i for i in inputs if i.name is not None]
    if not checked:
        raise UserError("no zip file to check among the arguments")
    claim(layout.reports)
    # Held from the first file replaced to the last one written (the runner inside does not take it again):
    # a second check into the same folder refuses.
    with ReportsLock(layout.reports):
        return _check_in(checked, inputs, matrix, layout, console, backend=backend, jobs=jobs, json_out=json_out,
                         isolation=isolation, matrix_results=matrix_results)


def _check_in(checked: list[Input], inputs: list[Input], matrix: Matrix, layout: Layout, console: Console, *,
              backend: str | None, jobs: int, json_out: Path | None, isolation: str,
              matrix_results: Path | None = None) -> int:
    staging = stage(checked, layout.reports)
    # Inspected before anything is replaced: a zip that cannot be inspected leaves the last check as it was.
    facts = {i.name: inspect_zip(staging / i.name) for i in checked}
    for fact in facts.values():
        fact.path = fact.path.replace(str(staging), str(layout.fixtures))
    replace_folder(layout.fixtures, staging)
    empty = Path(tempfile.mkdtemp(prefix=".results-", dir=layout.reports))
    replace_folder(layout.results, empty)
    write_text(layout.reports / "sources.json",
               json.dumps({i.name: str(i.path.resolve()) for i in checked}, indent=1))

    for item in checked:
        console.print(f"{escape(str(item.path))}: {escape(facts[item.name].summary())}")
        if facts[item.name].nested:
            console.print(f"  the store is nested under [bold]{escape(facts[item.name].root)}/[/] in the zip: each "
                          "reader opens it there, by its documented inner path, where it has one")
        if facts[item.name].parts:
            console.print(f"  no root group: {escape(', '.join(facts[item.name].parts))} sit side by side, and each "
                          "reader opens every one of them")
        for problem in facts[item.name].problems:
            console.print(f"  [yellow]problem[/]: {escape(problem)}")
    readers = [c for c in matrix.cells if "read" in c.roles]
    runner = Runner(matrix, layout, backend_choice=backend, jobs=jobs, console=console, isolation=isolation,
                    fresh=True, lock=False)
    runner.run(readers, phases=["read"])
    merged = load_results(layout.results)
    model = build_model(merged.results, merged.problems, merged.incomplete)
    triage = load_triage(matrix.path.parent / TRIAGE_FILE)
    reference = matrix_model(matrix_results) if matrix_results is not None else None
    print_check_table(model, stdout_console(), known_for(model, facts, triage, reference))
    for item in checked:
        for line in feature_report(facts[item.name], reference, triage):
            stdout_console().print(Text(line))
    if json_out:
        source = {i.name: str(i.path) for i in checked}
        verdicts = [dict(s.to_json(), source=source.get(s.fixture), zip=facts[s.fixture].to_json())
                    for s in model.summaries() if s.fixture in facts]
        verdicts += [{"source": str(i.path), "fixture": None, "verdict": None, "reason": i.problem}
                     for i in inputs if i.name is None]
        write_text(json_out, json.dumps(verdicts, indent=1))
        console.print(f"wrote {escape(str(json_out))}")
    for path in build_report(layout.reports, console=console, triage=triage):
        console.print(f"wrote {escape(str(path))}")
    return 1 if runner.unsaved else 0
