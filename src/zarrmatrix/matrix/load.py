"""matrix.yaml read once: YAML without aliases, the shipped schema, finite numbers, and every error with the
file, the key path and the line; then each entry expanded into cells (expand.py)."""

from __future__ import annotations

import difflib
import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent

from ..libraries import LIBRARIES, fixture_kinds
from ..safefs import UnsafeInput, read_regular
from ..versions import Resolver
from .config import SECTIONS, Overrides, merged, schema_defaults, typed
from .expand import expand
from .model import Cell, Matrix, MatrixError

MATRIX_MAX_BYTES = 16 << 20


def schema() -> dict[str, Any]:
    """The shipped schema, its enums of libraries and fixture kinds taken from the library table."""
    data = json.loads(resources.files("zarrmatrix.schemas").joinpath("matrix.schema.json").read_text())
    cell = data["$defs"]["cell"]["properties"]
    cell["library"]["enum"] = list(LIBRARIES)
    data["$defs"]["writes"]["items"]["enum"] = list(fixture_kinds())
    return data


def _line_of(root: Any, path: Iterable[Any]) -> int | None:
    """The 1-based line of the deepest node of `path` that the YAML tree knows."""
    node, line = root, getattr(getattr(root, "lc", None), "line", None)
    for key in path:
        try:
            if isinstance(node, CommentedMap):
                line = node.lc.key(key)[0]
            elif isinstance(node, CommentedSeq):
                line = node.lc.item(key)[0]
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return None if line is None else line + 1


def _key_path(path: Iterable[Any]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _describe(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """A message a person can act on, and the path of the offending key."""
    path = list(error.absolute_path)
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "versions" in path:
        return path, (f"{dict(error.instance)!r} is not a versions rule; write a list of exact versions, "
                      '{latest: N} (N from 1 to 50), or {from: "2.13", every: minor}')
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        if extra and allowed:
            bad = extra[0]
            close = difflib.get_close_matches(bad, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return path + [bad], f"unknown key '{bad}'{hint}; expected one of: {', '.join(allowed)}"
    if error.validator == "enum":
        choices = ", ".join(repr(c) for c in error.validator_value)
        return path, f"{error.instance!r} is not allowed; expected one of: {choices}"
    if error.validator == "required":
        return path, f"{error.message}"
    if error.validator == "pattern":
        return path, f"{error.instance!r} does not match the expected form {error.validator_value!r}"
    return path, error.message


def _no_aliases(path: Path, yaml: YAML, text: str) -> None:
    """Refuse YAML aliases before anything expands them: a few hundred bytes of nested
    aliases (a "billion laughs") would otherwise take gigabytes. A matrix never needs one."""
    try:
        for event in yaml.parse(text):
            if isinstance(event, AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else None
                raise MatrixError(path, "", line, f"YAML alias '*{event.anchor}': aliases are not allowed in a "
                                                  "matrix file; write the value out")
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MatrixError(path, "", line, f"not valid YAML: {exc.problem}") from exc


def _finite(path: Path, root: Any) -> None:
    """Every number finite: YAML's .nan and .inf pass a JSON schema's bounds, and nothing here means them."""
    def walk(node: Any, at: list[Any]) -> None:
        if isinstance(node, float) and not math.isfinite(node):
            raise MatrixError(path, _key_path(at), _line_of(root, at), f"{node!r} is not a finite number")
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            walk(value, at + [key])

    walk(root, [])


def load_matrix(path: str | Path, *, locked: bool | None = None, refresh: bool = False,
                overrides: Overrides | None = None) -> Matrix:
    """The matrix file, validated and expanded into cells. `versions` rules, and the Pythons each release
    supports, come from the lock file beside it where it holds them, else from the index; only from the lock
    file when `locked` (or $ZARRMATRIX_LOCKED); only from the index when `locked` is False (see Resolver)."""
    path = Path(path)
    if locked is None and os.environ.get("ZARRMATRIX_LOCKED", "") not in ("", "0"):
        locked = True
    data = schema()
    root = read_yaml(path, MATRIX_MAX_BYTES, "the matrix file", data, "expected a mapping with 'cells'")
    return _build(path, root, Resolver(path, locked=locked, refresh=refresh), data, overrides or Overrides())


def read_yaml(path: Path, limit: int, what: str, schema_data: dict[str, Any], empty: str) -> Any:
    """A YAML file read once: regular, at most `limit` bytes, UTF-8, no aliases, no duplicate keys, finite
    numbers, valid against `schema_data`; every error a MatrixError naming the file, the key and the line."""
    try:
        data = read_regular(path, limit=limit)
        text = data.decode("utf-8")
    except UnsafeInput as exc:
        raise MatrixError(path, "", None, f"cannot read {what}: {str(exc).removeprefix(f'{path}: ')}") from None
    except OSError as exc:
        raise MatrixError(path, "", None, f"cannot read {what}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MatrixError(path, "", line, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8") from exc
    yaml = YAML(typ="rt")
    _no_aliases(path, yaml, text)
    try:
        root = yaml.load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MatrixError(path, "", line, f"duplicate key: {exc.problem}") from exc
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MatrixError(path, "", line, f"not valid YAML: {exc.problem}") from exc
    if root is None:
        raise MatrixError(path, "", None, f"the file is empty; {empty}")
    _finite(path, root)
    validator = jsonschema.Draft202012Validator(schema_data)
    errors = sorted(validator.iter_errors(root), key=lambda e: (len(e.absolute_path), str(e.path)))
    if errors:
        key_path, message = _describe(errors[0])
        raise MatrixError(path, _key_path(key_path), _line_of(root, key_path), message)
    return root


def _build(path: Path, root: CommentedMap, resolver: Resolver, data: dict[str, Any], overrides: Overrides
           ) -> Matrix:
    def fail(key_path: list[Any], message: str) -> MatrixError:
        return MatrixError(path, _key_path(key_path), _line_of(root, key_path), message)

    defaults = {**schema_defaults(data, "defaults"), **(root.get("defaults") or {})}
    cells: list[Cell] = []
    seen: dict[str, list[Any]] = {}
    for index, entry in enumerate(root["cells"]):
        for cell in expand(entry, ["cells", index], defaults, fail, resolver):
            if cell.id in seen:
                raise fail(["cells", index], f"cell id '{cell.id}' is used twice")
            seen[cell.id] = ["cells", index]
            cells.append(cell)

    sections = {name: typed(name, merged(data, root, name, overrides, fail)) for name in SECTIONS}
    return Matrix(path=path, cells=tuple(cells), **sections, resolutions=tuple(resolver.resolutions),
                  pythons=resolver.pythons)


