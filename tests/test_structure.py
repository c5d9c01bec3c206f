"""The layout's promises: no import cycle in the package, one library table that
the schemas and the probes agree with."""

import ast
import json
from pathlib import Path

from zarrmatrix.libraries import LIBRARIES, fixture_kinds
from zarrmatrix.records import CellStatus, Verdict

from .conftest import PROBES, ROOT

PACKAGE = ROOT / "src" / "zarrmatrix"
SCHEMAS = PACKAGE / "schemas"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path) -> set[str]:
    """The package modules `path` imports, at the top or inside a function (a lazy import is still an edge)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names]
            found.update(n for n in names + [target] if n.startswith("zarrmatrix"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("zarrmatrix"))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    # `from .x import name` names a module only where x.name is one; otherwise the edge is to x.
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert len(graph) > 20 and graph["zarrmatrix.runner"] >= {"zarrmatrix.attempt", "zarrmatrix.records"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_schemas_take_the_library_table_and_hold_no_copy_of_it():
    from zarrmatrix.matrix import schema as matrix_schema
    from zarrmatrix.results import schema as results_schema

    for name in ("matrix.schema.json", "results.schema.json"):
        text = (SCHEMAS / name).read_text()
        assert '"tensorstore"' not in text and '"zipstore-v2"' not in text and '"mismatch"' not in text, name
    matrix = matrix_schema()
    assert matrix["$defs"]["cell"]["properties"]["library"]["enum"] == list(LIBRARIES)
    assert matrix["$defs"]["writes"]["items"]["enum"] == list(fixture_kinds())
    results = results_schema()
    assert results["$defs"]["read"]["properties"]["library"]["enum"] == list(LIBRARIES)
    assert results["$defs"]["verdict"]["enum"] == [v.value for v in Verdict]
    assert results["properties"]["status"]["enum"] == [s.value for s in CellStatus]


def test_the_size_form_is_the_schemas():
    from zarrmatrix.matrix import SIZE
    from zarrmatrix.safefs import SCHEMA_END

    schema = json.loads((SCHEMAS / "matrix.schema.json").read_text())
    assert schema["$defs"]["size"]["pattern"] == f"^{SIZE.pattern}{SCHEMA_END}"


def test_every_library_has_its_probe():
    for library in LIBRARIES.values():
        assert (PROBES / library.probe).is_file(), library.name
        assert (PROBES / library.writer_probe).is_file(), library.name


def test_no_module_is_over_400_lines_and_no_runtime_switch_lives_outside_the_runtimes():
    import re

    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 400, f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines"
        if path.name not in ("runtimes.py", "libraries.py"):
            assert not re.search(r"runtime\s*[!=]=", text), path.relative_to(ROOT)


def test_listing_the_sessions_asks_no_index(tmp_path):
    """`nox -l` builds the session list from matrix.yaml and the committed lock: an index that counts its requests
    is never asked."""
    import os
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked = []

    class Counting(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = f"http://127.0.0.1:{server.server_port}"
    try:
        done = subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "ZARRMATRIX_PYPI_JSON": index, "ZARRMATRIX_NPM_REGISTRY": index,
                                   "ZARRMATRIX_INDEX_CACHE": str(tmp_path / "no-cache")})
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr[-2000:]
    from zarrmatrix.matrix import load_matrix

    for cell in load_matrix(ROOT / "matrix.yaml", locked=True).cells:
        assert f"cell({cell.id})" in done.stdout
    assert asked == []


def test_the_readme_is_short_starts_with_the_two_commands_and_its_links_resolve():
    import re

    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    blocks = re.findall(r"```bash\n(.*?)\n```", text, re.S)
    assert blocks[:2] == ["python -m pip install nox uv && nox -s matrix",
                          "python -m pip install nox uv && nox -s lint tests"]
    assert "nox -s lint tests" in (ROOT / ".ci" / "run").read_text()
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (ROOT / link).exists(), link
    for doc in (ROOT / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / link).exists(), (doc.name, link)
