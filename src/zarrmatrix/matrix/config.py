"""Configuration in one place: each section of matrix.yaml (defaults, bench, sharded, docker, fixtures, limits) is the
schema's defaults, the file's values on top, and the command line's on top of those, merged and validated in one
step against the same schema, then typed. A wrong value is named where it came from: the file, its line and key,
or the flag."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jsonschema

from ..errors import UserError
from .model import BenchConfig, DockerConfig, FixtureConfig, Limits, ShardedConfig

SECTIONS = {"bench": BenchConfig, "docker": DockerConfig, "fixtures": FixtureConfig, "limits": Limits,
            "sharded": ShardedConfig}


@dataclass
class Overrides:
    """What the command line sets, per section and key, and the flag that set it (for its messages)."""

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    flags: dict[tuple[str, str], str] = field(default_factory=dict)

    def set(self, section: str, key: str, value: Any, flag: str) -> None:
        self.values.setdefault(section, {})[key] = value
        self.flags[(section, key)] = flag


def schema_defaults(schema: dict[str, Any], section: str) -> dict[str, Any]:
    properties = schema["properties"][section]["properties"]
    return {key: node["default"] for key, node in properties.items() if "default" in node}


def merged(schema: dict[str, Any], root: dict[str, Any], section: str, overrides: Overrides,
           fail: Callable[[list[Any], str], UserError]) -> dict[str, Any]:
    """The section as the run will use it, validated whole: a wrong value is named by its flag, or by its
    file, line and key."""
    given = dict(root.get(section) or {})
    values = {**schema_defaults(schema, section), **given, **overrides.values.get(section, {})}
    if section == "bench" and "shape" in overrides.values.get("bench", {}):
        # A shape on the command line replaces the file's sweep; chunks no larger than it, unless given too.
        if "sizes" not in overrides.values["bench"]:
            values["sizes"] = []
        if "chunks" not in overrides.values["bench"]:
            values["chunks"] = [min(c, s) for c, s in zip(values["chunks"], values["shape"])]
    # The section's own schema, with the definitions its $refs point at.
    validator = jsonschema.Draft202012Validator({**schema["properties"][section], "$defs": schema["$defs"]})
    for error in sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path)):
        key = str(error.absolute_path[0]) if error.absolute_path else ""
        flag = overrides.flags.get((section, key))
        message = (f"{error.instance!r}: expected {error.schema['description']}"
                   if error.validator == "pattern" and "description" in error.schema else error.message)
        if flag:
            raise UserError(f"{flag} {values[key]!r}: {message}")
        raise fail([section, *error.absolute_path], message)
    _check_together(section, values, overrides, fail)
    return values


def _check_together(section: str, values: dict[str, Any], overrides: Overrides,
                    fail: Callable[[list[Any], str], UserError]) -> None:
    """What a schema cannot say: keys that must agree with each other, and files that must exist."""
    def wrong(key: str, message: str) -> UserError:
        flag = overrides.flags.get((section, key))
        return UserError(f"{flag}: {message}") if flag else fail([section, key], message)

    if section == "bench" and len(values["chunks"]) != len(values["shape"]):
        raise wrong("chunks", f"has {len(values['chunks'])} dimensions, shape has {len(values['shape'])}")
    if section in ("bench", "sharded") and values["max_repeats"] < values["repeats"]:
        raise wrong("max_repeats", f"is {values['max_repeats']}, below repeats ({values['repeats']})")
    if section == "sharded":
        if any(s % c for s, c in zip(values["shards"], values["chunks"])):
            raise wrong("chunks", f"{values['chunks']} does not divide the shard shape {values['shards']}")
        if any(s > n for n, s in zip(values["shape"], values["shards"])):
            raise wrong("shards", f"{values['shards']} is larger than the shape {values['shape']}")
    if section == "docker" and ("docker", "ca_bundle") in overrides.flags and values["ca_bundle"] \
            and not Path(values["ca_bundle"]).is_file():
        raise wrong("ca_bundle", f"{values['ca_bundle']}: no such file")


def typed(section: str, values: dict[str, Any]) -> Any:
    """The section's dataclass, lists as tuples."""
    return SECTIONS[section](**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
