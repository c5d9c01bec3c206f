"""One attempt: a probe run once in an environment with a request, its records
read back, and (for a read) the verdict and the command that repeats it.

Below the runner: the runner, `check` and `reproduce` all make their attempts here.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .backends.base import Environment
from .fixtures import Fixture
from .process import ProcessResult
from .records import ReadRecord, Verdict
from .verdicts import Context, Judgement, judge

LIST_TIMEOUT_S = 120
# The name of the attempt a cell makes when its probe cannot even import its library.
IMPORT = "import"


@dataclass(frozen=True)
class Attempt:
    result: ProcessResult
    records: list[dict[str, Any]]

    @property
    def final(self) -> dict[str, Any] | None:
        """The probe's last word: its last record that is not an `*-begin` marker."""
        finals = [r for r in self.records if not str(r.get("kind", "")).endswith("-begin")]
        return finals[-1] if finals else None

    @property
    def begun(self) -> dict[str, Any]:
        return next((r for r in self.records if r.get("kind") == "attempt-begin"), {})


def run_attempt(env: Environment, probe: str, request: dict[str, Any], timeout: float) -> Attempt:
    """Run `probe` with `request` in a scratch folder of its own, and read back its records."""
    scratch = env.mounts.work
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{env.cell.id}-", dir=scratch))
    # A container's user is not the host's: it must be able to write its records here.
    folder.chmod(0o777)
    try:
        (folder / "request.json").write_text(json.dumps(request))
        args = ["--request", env.env_path(folder / "request.json"), "--out", env.env_path(folder / "records.jsonl")]
        result = env.run_probe(probe, args, timeout=timeout)
        records = []
        out = folder / "records.jsonl"
        if out.exists():
            for line in out.read_text(errors="replace").splitlines():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return Attempt(result, records)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def list_methods(env: Environment, probe: str) -> tuple[list[str], ProcessResult]:
    """The methods a reader probe offers here; none, with the failed run, where it cannot import its library."""
    result = env.run_probe(probe, ["--list-methods"], timeout=LIST_TIMEOUT_S)
    try:
        return list(json.loads(result.stdout.strip().splitlines()[-1])), result
    except (json.JSONDecodeError, IndexError):
        return [], result


@dataclass(frozen=True)
class ReproCommand:
    """What it takes to run one attempt again: `zarrmatrix reproduce ...` in the same kind of environment."""

    matrix: Path
    backend: str
    base_images: dict[str, str]
    fixtures_dir: Path | None

    def for_attempt(self, cell_id: str, fixture: str, method: str, variant: str) -> str:
        argv = ["zarrmatrix", "reproduce", "--matrix", str(self.matrix), "--backend", self.backend, cell_id,
                fixture, method, "--variant", variant]
        if self.backend == "docker":
            for public, local in sorted(self.base_images.items()):
                argv += ["--base-image", f"{public}={local}"]
        if self.fixtures_dir is not None:
            argv += ["--fixtures", str(self.fixtures_dir)]
        return shlex.join(argv)


def read_attempt(env: Environment, probe: str, fixture: Fixture, variant: str, method: str | None, *,
                 expected: Sequence[dict[str, Any]] | None, repro: str,
                 failed_listing: ProcessResult | None = None) -> ReadRecord:
    """Open `fixture` (its zip, or its unzipped control) with one `method` of the cell's probe.

    `method` None means the probe could not even list its methods: its import
    failure is the verdict (the listing's run, or a new one)."""
    cell = env.cell
    timeout = cell.timeout_s
    ctx = Context(cell.library, None, fixture.zarr_format)

    def record(judgement: Judgement, *, call: str, seconds: float, seen: dict[str, Any] | None = None
               ) -> ReadRecord:
        seen = seen or {}
        message = judgement.error_message
        return ReadRecord(
            reader=cell.id, library=cell.library, library_version=seen.get("library_version") or cell.version,
            zarr_version=seen.get("zarr_version"), fixture=fixture.name, variant=variant,
            method=method or IMPORT, fixture_format=fixture.zarr_format, verdict=judgement.verdict,
            reason=judgement.reason, call=call, repro=repro, seconds=round(seconds, 3),
            arrays=judgement.arrays, error_type=judgement.error_type,
            error_message=message[:2000] if message else None)

    if method is None:
        result = failed_listing or env.run_probe(probe, ["--list-methods"], timeout=timeout)
        return record(judge(result, None, expected, ctx, timeout), call=f"import {cell.library}",
                      seconds=result.seconds)
    path = fixture.zip_path if variant == "zip" else fixture.control_path
    if path is None:
        return record(Judgement(Verdict.ERROR, f"the zip could not be unzipped for the control: "
                                               f"{fixture.control_error}"),
                      call="zipfile.ZipFile.extractall", seconds=0.0)
    request = {"fixture": {"path": env.env_path(path), "variant": variant, "name": fixture.name,
                           "zarr_format": fixture.zarr_format},
               "method": method,
               "arrays": None if expected is None else
               [{k: a[k] for k in ("path", "shape", "dtype") if k in a} for a in expected]}
    attempt = run_attempt(env, probe, request, timeout)
    final = attempt.final
    seen = final or attempt.begun
    ctx = Context(cell.library, seen.get("zarr_version"), fixture.zarr_format)
    return record(judge(attempt.result, final, expected, ctx, timeout), call=seen.get("call") or method,
                  seconds=attempt.result.seconds, seen=seen)
