"""Turn `nox -l --json` into the cell jobs of the matrix workflow: one job per cell, or groups of cells where
there would be more jobs than a workflow run may have (256).

    nox -l --json | python .github/scripts/plan_jobs.py [--max-jobs 250] [--github-output FILE]

Prints {"include": [{"name": ..., "sessions": "cell(a) cell(b)", "ids": "a b", "docker": true|false}, ...]}, and with
--github-output appends `jobs=<that JSON>` and `count=<n>` to the file GitHub Actions reads step outputs from.
Standard library only: it runs before anything is installed.
"""

import argparse
import json
import sys

MAX_JOBS = 250  # GitHub allows 256 jobs per matrix; the other jobs of the workflow need room too


def cell_sessions(listing):
    """The cell(<id>) sessions nox lists, in its order."""
    return [s["session"] for s in listing if s["session"].startswith("cell(") and s["session"].endswith(")")]


def plan(sessions, max_jobs=MAX_JOBS, docker_cells=()):
    """Sessions grouped into at most `max_jobs` jobs, consecutive ones together, each group's size within one."""
    if max_jobs < 1:
        raise ValueError("max_jobs must be at least 1")
    groups = max(1, min(len(sessions), max_jobs)) if sessions else 0
    jobs = []
    start = 0
    for i in range(groups):
        size = len(sessions) // groups + (1 if i < len(sessions) % groups else 0)
        chunk = sessions[start:start + size]
        start += size
        ids = [s[len("cell("):-1] for s in chunk]
        jobs.append({"name": ids[0] if len(ids) == 1 else "%s..%s" % (ids[0], ids[-1]),
                     "sessions": " ".join(chunk), "ids": " ".join(ids),
                     "docker": any(i in docker_cells for i in ids)})
    return {"include": jobs}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-jobs", type=int, default=MAX_JOBS)
    parser.add_argument("--docker-cells", default="", help="space-separated ids of the cells that run in images")
    parser.add_argument("--github-output")
    args = parser.parse_args(argv)
    listing = json.load(sys.stdin)
    jobs = plan(cell_sessions(listing), args.max_jobs, set(args.docker_cells.split()))
    text = json.dumps(jobs, separators=(",", ":"))
    print(text)
    if args.github_output:
        with open(args.github_output, "a", encoding="utf-8") as out:
            out.write("jobs=%s\ncount=%d\n" % (text, len(jobs["include"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
