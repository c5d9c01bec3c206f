"""The fixtures folder: zip files with their manifests, and their unzipped controls."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .lock import waited_lock
from .records import FixtureRecord, Manifest
from .safefs import UnsafeInput, read_text
from .zip_layout import find_store
from .zipfacts import inspect_zip

if TYPE_CHECKING:
    from .attempt import Attempt
    from .verdicts import Judgement

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_MAX_BYTES = 64 << 20
CONTROLS = "_controls"
# Names the zip a control was extracted from, so that it is extracted once, not in every cell session.
EXTRACTED = ".extracted-from"
# Held while controls are checked and unzipped, in the controls folder.
EXTRACT_LOCK = ".zarrmatrix-extract.lock"


@dataclass(frozen=True)
class Fixture:
    name: str
    zip_path: Path
    manifest: Manifest | None
    control_path: Path | None
    control_error: str | None

    @property
    def arrays(self) -> list[dict[str, Any]] | None:
        return None if self.manifest is None else self.manifest.arrays

    @cached_property
    def sha256(self) -> str:
        """The zip's own checksum: what a journal's attempts on it depend on."""
        digest = hashlib.sha256()
        with open(self.zip_path, "rb") as handle:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
        return digest.hexdigest()

    @cached_property
    def _found(self) -> tuple[str | None, int | None, list[str]]:
        return store_layout(self.zip_path)

    @property
    def zarr_format(self) -> int | None:
        if self.manifest is not None and self.manifest.zarr_format:
            return self.manifest.zarr_format
        return self._found[1]

    @property
    def root(self) -> str:
        """The folder of the zip that holds the Zarr root: "" where the zip's own root does, or
        none is found; "store.zarr" for a zip made by `zip -r x.zip store.zarr`."""
        return self._found[0] or ""

    @property
    def parts(self) -> list[str]:
        """Where the root folder holds no metadata of its own (arrays at the root with no root group): the
        nodes below it, which every reader reads each as a store of its own, so none reads part of the zip."""
        return self._found[2]


def store_layout(zip_path: Path) -> tuple[str | None, int | None, list[str]]:
    """Where a zip's Zarr root is, its format, and its top nodes where the root holds no metadata;
    (None, None, []) for a zip with none, or a broken one."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            return find_store(zf.namelist())
    except Exception:  # a broken zip has no root to find
        return None, None, []


def zarr_root(zip_path: Path) -> tuple[str | None, int | None]:
    """Where a zip's Zarr root is and its format (see store_layout)."""
    return store_layout(zip_path)[:2]


def manifest_path(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + MANIFEST_SUFFIX)


@dataclass(frozen=True)
class ExtractionLimits:
    """Bounds on what a control may take: a zip that declares more is not unzipped.
    zipfile stops each member at its declared size, so the declared sizes bound what is written."""

    max_bytes: int = 4 * 2**30
    max_ratio: float = 1000.0


def over_limits(zf: zipfile.ZipFile, limits: ExtractionLimits) -> str | None:
    """Why the zip must not be unzipped (a zip bomb, or simply too large), or None."""
    infos = zf.infolist()
    declared = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if declared > limits.max_bytes:
        return (f"the zip declares {declared:,} bytes uncompressed, over the limit of {limits.max_bytes:,} "
                "(limits.unzipped in matrix.yaml)")
    if declared > 2**20 and declared > limits.max_ratio * max(packed, 1):
        return (f"the zip expands {declared / max(packed, 1):,.0f}:1 ({packed:,} bytes to {declared:,}), over the "
                f"limit of {limits.max_ratio:,.0f}:1 (limits.compression_ratio in matrix.yaml): a zip bomb")
    return None


def control_name(zip_path: Path) -> str:
    """The control's folder name: never ending in .zip, or zarr 2 would open the folder as a ZipStore;
    and apart for a.zip and a.ozx."""
    if zip_path.suffix.lower() == ".zip":
        return zip_path.stem
    return zip_path.name.replace(".", "_")


def extract_control(zip_path: Path, controls: Path, limits: ExtractionLimits = ExtractionLimits()
                    ) -> tuple[Path | None, str | None]:
    """Unzip a fixture into its control folder: (folder, None), or (None, why not).

    zipfile refuses members that would land outside the folder, so a hostile
    zip brought to `check` cannot write elsewhere; `limits` keep it from filling the disk."""
    target = controls / control_name(zip_path)
    # Beside the control, not in it: the control must hold exactly what the zip holds.
    stamp = controls / f"{target.name}{EXTRACTED}"
    signature = f"{zip_path.stat().st_size} {zip_path.stat().st_mtime_ns}"
    if stamp.exists() and stamp.read_text() == signature:
        return target, None
    if target.exists():
        shutil.rmtree(target)
    stamp.unlink(missing_ok=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            refused = over_limits(zf, limits)
            if refused:
                return None, refused
            zf.extractall(target)
        # Written last: a control cut short by a crash is extracted again next time.
        stamp.write_text(signature)
    except Exception as exc:  # BadZipFile, zlib.error, EOFError...: a broken zip is data, not our bug
        shutil.rmtree(target, ignore_errors=True)
        return None, f"{type(exc).__name__}: {exc}"
    return target, None


def read_manifest(path: Path, *, follow: bool = True) -> Manifest:
    """A fixture's manifest, refused unless it is a regular file (not a link, with `follow=False`) holding a
    manifest: an object whose arrays are objects."""
    try:
        data = json.loads(read_text(path, limit=MANIFEST_MAX_BYTES, follow=follow))
        manifest = Manifest.from_json(data)
        if not isinstance(manifest.arrays, list) or not all(isinstance(a, dict) for a in manifest.arrays):
            raise ValueError("'arrays' is not a list of objects")
        return manifest
    except UnsafeInput as exc:
        raise UserError(f"{exc} (a fixture's manifest)") from exc
    except (OSError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise UserError(f"{path}: not a valid manifest ({type(exc).__name__}: {str(exc)[:200]}); delete it, or "
                        "write the fixture again with `zarrmatrix run --phase write`") from exc


def fixture_files(folder: Path) -> list[Path]:
    """The fixtures of a folder: every file but manifests and hidden ones (a writer's half-written
    files, a check's bookkeeping), whatever its extension: a zip is known by its content."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(MANIFEST_SUFFIX))


def discover(folder: Path, limits: ExtractionLimits = ExtractionLimits()) -> list[Fixture]:
    """Every fixture in `folder`, sorted by name, each with its control extracted."""
    fixtures = []
    controls = folder / CONTROLS
    if not folder.is_dir():
        return fixtures
    # Cells read side by side (nox -j): the first to come unzips each control, the others wait and find it.
    with waited_lock(controls / EXTRACT_LOCK):
        for zip_path in fixture_files(folder):
            mpath = manifest_path(zip_path)
            manifest = read_manifest(mpath) if mpath.exists() else None
            control, error = extract_control(zip_path, controls, limits)
            fixtures.append(Fixture(zip_path.name, zip_path, manifest, control, error))
    return fixtures


def remove_written_by(folder: Path, cell_id: str) -> None:
    """Forget a writer's old fixtures (and anything a killed writer left half-written) before it writes anew."""
    for path in [*folder.glob(f"{cell_id}__*"), *folder.glob(f".{cell_id}__*")]:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def writer_records(attempt: Attempt, folder: Path, cell_id: str, kind: str, ended: Judgement) -> list[FixtureRecord]:
    """What a writer's attempt wrote into `folder`: a record per fixture (`features-v*` kinds write one per
    catalogue feature), each with the facts of its zip; where the writer died or reported nothing, a record of
    the kind asked for with `ended` (the process's verdict), and its half-written files gone."""
    records = [FixtureRecord.from_json(r) for r in attempt.records if r.get("kind") == "fixture"]
    for record in records:
        written = folder / record.fixture
        if record.written and written.is_file():
            facts = inspect_zip(written)
            record.extra.update(zip_facts=facts.to_json(), zip_summary=facts.summary())
    result = attempt.result
    if not records or result.timed_out or result.signal is not None or result.returncode:
        suffix = "ozx" if kind.startswith("ozx-") else "zip"
        records.append(FixtureRecord(fixture=f"{cell_id}__{kind}.{suffix}", fixture_kind=kind, writer=cell_id,
                                     error={"type": ended.error_type or ended.verdict.value, "message": ended.reason}))
        # A writer killed half-way cannot clean up after itself.
        for leftover in folder.glob(f".{cell_id}__*.{kind}.partial"):
            leftover.unlink()
    return records
