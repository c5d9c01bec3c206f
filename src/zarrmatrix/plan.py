"""What a run attempts, and what its attempts mean together; pure, the runner and the executor run them.

The read tasks: each reader cell × fixture × method × variant (the zip and its unzipped control) that its journal
has not finished. For a zip nobody described (a user's zip brought to `check`): which reader's reading the others
are judged against, and what a match against it proves. And each zip attempt's control verdict."""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from .attempt import IMPORT
from .fixtures import Fixture
from .libraries import LIBRARIES
from .matrix import Cell
from .records import Manifest, ReadRecord, Record, Verdict


class Reader(Protocol):
    """What choosing a reference needs of a reader cell's run: the cell, and the methods its probe lists."""

    cell: Cell
    methods: list[str]


DISAGREE = "readers disagree"


def reference_candidates(readers: Sequence[Reader]) -> list[tuple[Reader, str]]:
    """(reader, method) in the order a reference is sought: methods that read arrays by name before those
    that stack bands (GDAL's classic API); within each, libraries in table order (zarr first), newest first."""
    order = {name: i for i, name in enumerate(LIBRARIES)}
    pairs = [(run, method) for run in readers if not LIBRARIES[run.cell.library].not_by_design
             for method in run.methods]
    # Sorted in three stable passes, the last deciding first.
    pairs.sort(key=lambda pair: pair[0].cell.version_key, reverse=True)
    pairs.sort(key=lambda pair: order.get(pair[0].cell.library, 99))
    pairs.sort(key=lambda pair: pair[1] in LIBRARIES[pair[0].cell.library].stacked_methods)
    return pairs


def reference_arrays(read: list[dict[str, Any]], listed: list[dict[str, Any]], *,
                     stacked: bool) -> list[dict[str, Any]] | None:
    """The manifest's arrays from a reference reading, or None where the reading covers only part of what
    the metadata lists. A stacked (classic API) reading names what it read by its own view: where it read one
    raster for one listed array, the array keeps the metadata's name; arrays it could not name have no
    checksum, so that what others read of them is `unverified`, never judged against a stacked view."""
    def entry(path: str, got: dict[str, Any] | None, meta: dict[str, Any] | None) -> dict[str, Any]:
        observed = (got or {}).get("observed") or {}
        return {"path": path, "sha256": (got or {}).get("sha256"),
                "shape": observed.get("shape") if got else (meta or {}).get("shape"),
                "dtype": observed.get("dtype") if got else None}

    by_path = {a["path"]: a for a in read}
    listed_paths = [a["path"] for a in listed]
    if not stacked:
        if any(path not in by_path for path in listed_paths):
            return None
        return [entry(a["path"], a, None) for a in read]
    if len(read) == 1 and len(listed) == 1:
        # The raster's bytes in C order are the array's; its shape is the metadata's, not the bands' view.
        return [dict(entry(listed[0]["path"], read[0], listed[0]), shape=listed[0].get("shape"))]
    if listed and not set(listed_paths) <= set(by_path):
        return [entry(a["path"], by_path.get(a["path"]), a) for a in listed]
    return [entry(a["path"], a, None) for a in read]


def judge_against_reference(manifest: Manifest, reads: list[ReadRecord]) -> None:
    """Where a reader's reading is the reference (no writer described the zip), a match proves
    little: the reference reader passes only where another cell read the same data, else it is
    `unverified`; and a reader that read other data is told apart from corruption: readers disagree."""
    reference_cell = (manifest.reference or "").split(" ", 1)[0]
    confirmed = any(r.verdict is Verdict.PASS and r.reader != reference_cell for r in reads)
    wanted = {a["path"]: a.get("sha256") for a in manifest.arrays}
    for record in reads:
        if record.reader == reference_cell and record.verdict is Verdict.PASS and not confirmed:
            record.verdict = Verdict.UNVERIFIED
            record.reason = "read every array, but this reader is the reference and no other reader read the same data"
        elif record.verdict is Verdict.MISMATCH and not record.reason.startswith(DISAGREE):
            differ = "; ".join(f"{a['path']}: {str(a.get('sha256'))[:12]} here, {str(wanted.get(a['path']))[:12]} "
                               f"in the reference" for a in record.arrays if a.get("status") == "wrong")
            record.reason = f"{DISAGREE} with the reference ({manifest.reference}): {differ}"


def read_tasks(readers: Sequence[Reader], fixtures: Sequence[Fixture], done: dict[str, set[tuple[str, str, str]]],
               took: dict[tuple[str, str, str, str], float] | None = None
               ) -> list[tuple[Reader, Fixture, str, str | None]]:
    """(reader, fixture, variant, method) for every attempt not already `done` (by cell id: fixture, variant,
    method), longest first by what each `took` last time (cell, fixture, variant, method: seconds), so that the
    slow reads start at once and the quick ones fill the cores around them; unknown ones keep their order, after.
    A reader whose probe listed no method makes one attempt per zip, whose verdict is its import. A feature
    fixture is read by the library's feature method alone, where it has one (Library.feature_method), and on
    its zip only: its control is read where the zip fails (feature_controls)."""
    tasks = []
    for run in readers:
        finished = done.get(run.cell.id, set())
        wanted = [("zip", None)] if not run.methods else [
            (variant, method) for method in run.methods for variant in ("zip", "folder")]
        one = LIBRARIES[run.cell.library].feature_method
        for fixture in fixtures:
            feature = is_feature(fixture)
            tasks.extend((run, fixture, variant, method) for variant, method in wanted
                         if (fixture.name, variant, method or IMPORT) not in finished
                         and not (feature and (variant == "folder" or one in run.methods and method != one)))
    took = took or {}
    return sorted(tasks, key=lambda t: -took.get((t[0].cell.id, t[1].name, t[2], t[3] or IMPORT), 0.0))


def is_feature(fixture: Fixture) -> bool:
    return fixture.manifest is not None and fixture.manifest.feature is not None


def feature_controls(readers: Sequence[Reader], fixtures: Sequence[Fixture],
                     done: dict[str, set[tuple[str, str, str]]]) -> list[tuple[Reader, Fixture, str, str | None]]:
    """The controls of the feature fixtures whose zip a reader failed: a feature is a question of Zarr, so where
    the zip is what fails, its unzipped folder says whether the reader reads the feature. `readers` hold their
    records of this run (and of their journals); `done` what the journals already finished."""
    by_name = {f.name: f for f in fixtures if is_feature(f)}
    tasks = []
    for run in readers:
        finished = done.get(run.cell.id, set())
        for record in run.records:
            fixture = by_name.get(getattr(record, "fixture", ""))
            if (fixture is None or record.KIND != "read" or record.variant != "zip"
                    or record.verdict in (Verdict.PASS, Verdict.UNVERIFIED) or record.method == IMPORT
                    or (fixture.name, "folder", record.method) in finished):
                continue
            tasks.append((run, fixture, "folder", record.method))
    return tasks


def durations(records: Sequence[Record]) -> dict[tuple[str, str, str, str], float]:
    """What each read attempt took: (cell, fixture, variant, method) -> seconds."""
    return {(r.reader, r.fixture, r.variant, r.method): r.seconds for r in records if isinstance(r, ReadRecord)}


def link_controls(records: list[Record]) -> None:
    """Give each zip attempt the verdict of the same method on the unzipped control."""
    reads = [r for r in records if isinstance(r, ReadRecord)]
    controls = {(r.reader, r.fixture, r.method): r.verdict for r in reads if r.variant == "folder"}
    for record in reads:
        if record.variant == "zip":
            record.control_verdict = controls.get((record.reader, record.fixture, record.method))
