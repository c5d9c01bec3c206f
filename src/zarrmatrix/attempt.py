"""One attempt: a probe run once in an environment with a request, its records
read back, and (for a read) the verdict and the command that repeats it.

Below the runner: the runner, `check` and `reproduce` all make their attempts here.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from .backends.base import Environment
from .fixtures import Fixture
from .process import ProcessResult
from .records import ReadRecord, Verdict
from .verdicts import Context, Judgement, judge

LIST_TIMEOUT_S = 120
# How long past an attempt's timeout the host waits for its server's answer before it gives the server up.
SERVER_GRACE_S = 15
# The name of the attempt a cell makes when its probe cannot even import its library.
IMPORT = "import"
# The kind of a probe's record of a read made again in the same process (a request's "again").
AGAIN = "attempt-again"


@dataclass(frozen=True)
class Attempt:
    result: ProcessResult
    records: list[dict[str, Any]]

    @property
    def final(self) -> dict[str, Any] | None:
        """The probe's last word on what it was asked: its last record that is neither an `*-begin` marker nor
        one of the reads a request asked for `again`."""
        finals = [r for r in self.records if not str(r.get("kind", "")).endswith("-begin") and r.get("kind") != AGAIN]
        return finals[-1] if finals else None

    @property
    def again(self) -> list[dict[str, Any]]:
        """The records of the reads made again in the same process, in order."""
        return [r for r in self.records if r.get("kind") == AGAIN]

    @property
    def begun(self) -> dict[str, Any]:
        return next((r for r in self.records if r.get("kind") == "attempt-begin"), {})


@dataclass(frozen=True)
class Again:
    """Reads a probe makes again in the same process after its first: up to `reads`, within `budget_s`."""

    reads: int
    budget_s: float


class ServerGone(Exception):
    """The attempt server ended (or was closed) before it answered."""


class AttemptServer:
    """A cell's probe, started once with --serve: it has imported its library and forks a
    clean child per attempt, so an attempt costs a fork instead of an interpreter and its imports.

        server = AttemptServer.start(env, "read_zarr.py")   # None where the probe cannot serve
        result = server.attempt(request_path, out_path, stderr_path, timeout=60)
        server.close()                                      # kills its children too

    A child's signal is the attempt's crash, its timeout is enforced by the server, and the server
    answers each job on its own line, so attempts of one cell run side by side."""

    def __init__(self, env: Environment, probe: str, proc: subprocess.Popen, stderr: Path):
        self.env, self.probe, self.proc, self.stderr = env, probe, proc, stderr
        self._lock = threading.Lock()
        self._next = 0
        self._waiting: dict[int, tuple[threading.Event, dict[str, Any]]] = {}
        self._closed = False
        self.closing = False
        self.ready: dict[str, Any] = {}
        self._reader = threading.Thread(target=self._read, name=f"server-{env.cell.id}", daemon=True)

    @classmethod
    def start(cls, env: Environment, probe: str, timeout: float = LIST_TIMEOUT_S) -> tuple[AttemptServer | None, str]:
        """A ready server, or None and why not (the probe could not import, or started threads at import)."""
        env.mounts.work.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"server-{env.cell.id}-", suffix=".stderr", dir=env.mounts.work)
        os.close(fd)
        stderr = Path(name)
        try:
            proc = env.start_probe(probe, ["--serve"], stderr)
        except OSError as exc:
            return None, f"the attempt server could not start: {exc}"
        server = cls(env, probe, proc, stderr)
        first = server._first_line(timeout)
        if first is None or not first.get("ready"):
            server.close()
            if first is None:
                tail = stderr.read_text(errors="replace")[-300:].strip()
                return None, f"the attempt server did not start: {tail or 'no answer'}"
            return None, f"the probe has {first.get('threads')} threads after its imports: forking it is unsafe"
        server.ready = first
        server._reader.start()
        return server, "fork"

    def _first_line(self, timeout: float) -> dict[str, Any] | None:
        """The server's ready line; what a library printed at import comes before it and is passed over."""
        box: list[dict[str, Any]] = []

        def read() -> None:
            for line in self.proc.stdout:
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(message, dict) and "ready" in message:
                    box.append(message)
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        return box[0] if box else None

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                answer = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(answer, dict):
                continue
            with self._lock:
                waiting = self._waiting.pop(answer.get("id"), None)
            if waiting is not None:
                waiting[1].update(answer)
                waiting[0].set()
        with self._lock:
            self._closed = True
            for event, _ in self._waiting.values():
                event.set()
            self._waiting.clear()

    def attempt(self, args: dict[str, str], host_stderr: Path, timeout: float) -> ProcessResult:
        """Run one attempt in a forked child. `args` holds the request, out and stderr paths, in the
        environment's terms; raises ServerGone if the server ended first."""
        event, answer = threading.Event(), {}
        with self._lock:
            if self._closed:
                raise ServerGone(f"the attempt server of {self.env.cell.id} has ended")
            self._next += 1
            job = dict(args, id=self._next, timeout=timeout)
            self._waiting[job["id"]] = (event, answer)
            try:
                self.proc.stdin.write((json.dumps(job) + "\n").encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as exc:
                self._waiting.pop(job["id"], None)
                raise ServerGone(f"the attempt server of {self.env.cell.id} has ended: {exc}") from exc
        # The server kills the child at its timeout; past that with a margin, the server itself is stuck.
        if not event.wait(timeout + SERVER_GRACE_S) or "seconds" not in answer:
            raise ServerGone(answer.get("refused") or f"the attempt server of {self.env.cell.id} did not answer")
        stderr = host_stderr.read_text(errors="replace") if host_stderr.exists() else ""
        return ProcessResult((self.probe, "--serve", f"job {job['id']}"), answer["returncode"], "", stderr,
                             float(answer["seconds"]), bool(answer["timed_out"]))

    def close(self) -> None:
        """End the server: it kills its children and leaves when its stdin closes; kill it if it does not."""
        with self._lock:
            self._closed = True
            self.closing = True
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(SERVER_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.unlink(missing_ok=True)


def run_attempt(env: Environment, probe: str, request: dict[str, Any], timeout: float,
                server: AttemptServer | None = None) -> Attempt:
    """Run `probe` with `request` in a scratch folder of its own, and read back its records: in a
    child of the cell's attempt server where there is one, else in a fresh process."""
    scratch = env.mounts.work
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{env.cell.id}-", dir=scratch))
    # A container's user is not the host's: it must be able to write its records here.
    folder.chmod(0o777)
    try:
        (folder / "request.json").write_text(json.dumps(request))
        paths = {"request": env.env_path(folder / "request.json"), "out": env.env_path(folder / "records.jsonl")}
        result = None
        if server is not None:
            try:
                result = server.attempt(dict(paths, stderr=env.env_path(folder / "stderr.txt")),
                                        folder / "stderr.txt", timeout)
            except ServerGone:
                if server.closing:  # closed on purpose (the run is stopping): no attempt in its place
                    raise
                result = None
        if result is None:
            result = env.run_probe(probe, ["--request", paths["request"], "--out", paths["out"]], timeout=timeout)
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
                 failed_listing: ProcessResult | None = None, server: AttemptServer | None = None,
                 timeout: float | None = None) -> ReadRecord:
    """Open `fixture` (its zip, or its unzipped control) with one `method` of the cell's probe, within `timeout`
    (the cell's own by default).

    `method` None means the probe could not even list its methods: its import
    failure is the verdict (the listing's run, or a new one)."""
    return read_attempts(env, probe, fixture, variant, method, expected=expected, repro=repro,
                         failed_listing=failed_listing, server=server, timeout=timeout)[0]


def read_attempts(env: Environment, probe: str, fixture: Fixture, variant: str, method: str | None, *,
                  expected: Sequence[dict[str, Any]] | None, repro: str,
                  failed_listing: ProcessResult | None = None, server: AttemptServer | None = None,
                  timeout: float | None = None, again: Again | None = None) -> list[ReadRecord]:
    """`read_attempt`, then, with `again`, the reads the probe made again in the same process: one record each
    (a probe without them gives none), and one for a read that the process's end cut short."""
    cell = env.cell
    timeout = timeout or cell.timeout_s
    ctx = Context(cell.library, None, fixture.zarr_format, variant)

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
        return [record(judge(result, None, expected, ctx, timeout), call=f"import {cell.library}",
                       seconds=result.seconds)]
    # A store nested under a folder of the zip (`zip -r`) is opened there: in the zip by each library's
    # documented inner path, in the control as the folder it unzips to.
    root = fixture.root
    path = fixture.zip_path if variant == "zip" else fixture.control_path
    if path is not None and variant == "folder" and root:
        path = path / root
    if path is None:
        return [record(Judgement(Verdict.ERROR, f"the zip could not be unzipped for the control: "
                                                f"{fixture.control_error}"),
                       call="zipfile.ZipFile.extractall", seconds=0.0)]
    request = {"fixture": {"path": env.env_path(path), "variant": variant, "name": fixture.name,
                           "zarr_format": fixture.zarr_format, "root": root if variant == "zip" else "",
                           "parts": fixture.parts},
               "method": method,
               "arrays": None if expected is None else
               [{k: a[k] for k in ("path", "shape", "dtype") if k in a} for a in expected]}
    if again is not None:
        request["again"] = {"reads": again.reads, "budget_s": again.budget_s}
    attempt = run_attempt(env, probe, request, timeout, server)
    final = attempt.final
    seen = final or attempt.begun
    ctx = Context(cell.library, seen.get("zarr_version"), fixture.zarr_format, variant, seen.get("gdal_version"))
    # Asked for reads again, a process that ended badly did so in its last read: the ones it reported stand.
    cut_short = again is not None and final is not None and (attempt.result.timed_out or
                                                              attempt.result.returncode != 0)
    result = replace(attempt.result, returncode=0, timed_out=False) if cut_short else attempt.result

    def judged(said: dict[str, Any] | None, process: ProcessResult, seconds: float) -> ReadRecord:
        judgement = judge(process, said, expected, ctx, timeout)
        pipeline = decoded_by(seen.get("codec_pipeline_asked"), judgement.arrays)
        if pipeline and pipeline[1]:
            judgement = replace(judgement, reason=f"{judgement.reason}; {pipeline[1]}")
        if root and variant == "zip" and judgement.verdict in (Verdict.PASS, Verdict.UNVERIFIED):
            judgement = replace(judgement,
                                reason=f"{judgement.reason}, opened at {root}/ (the store is nested in the zip)")
        if fixture.parts and judgement.verdict in (Verdict.PASS, Verdict.UNVERIFIED):
            judgement = replace(judgement, reason=f"{judgement.reason}; no root group: each of "
                                                  f"{', '.join(fixture.parts)} opened as a store of its own")
        read = record(judgement, call=(said or seen).get("call") or method, seconds=seconds, seen=seen)
        read.codec_pipeline = pipeline[0] if pipeline else None
        return read

    seconds = [float(r.get("seconds") or 0) for r in attempt.again]
    # The process's time, less the reads made again: the first read's, with the process's start as always.
    reads = [judged(final, result, max(attempt.result.seconds - sum(seconds), 0.0)),
             *(judged(r, result, s) for r, s in zip(attempt.again, seconds))]
    if cut_short:
        reads.append(judged(None, attempt.result, attempt.result.seconds))
    return reads


def decoded_by(asked: str | None, arrays: Sequence[dict[str, Any]]) -> tuple[str, str | None] | None:
    """Where a cell asked zarr for another codec pipeline (zarrs'): the pipelines that decoded the arrays, and
    a note where zarr fell back to another, so that zarrs is not credited with what zarr-python decoded."""
    used = sorted({a["codec_pipeline"] for a in arrays if a.get("codec_pipeline")})
    if not asked or not used:
        return None
    fell_back = [u for u in used if u.rsplit(".", 1)[-1] != asked.rsplit(".", 1)[-1]]
    note = f"decoded by {', '.join(fell_back)}: zarr did not use {asked} here" if fell_back else None
    return ", ".join(used), note
