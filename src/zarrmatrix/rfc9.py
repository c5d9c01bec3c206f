"""RFC-9's verdict on a zip (zipped OME-Zarr, .ozx), in the categories of the OME-Zarr zip test kit: errors make
it no .ozx (root not Zarr v3, damage, a zip inside, multi-part, a misleading sort), warnings a poor one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .zipfacts import ZipFacts

RFC9_COMMENT = {"ome": {"version": "0.5"}}


@dataclass
class Rfc9:
    """RFC-9's recommendations for a zipped OME-Zarr: errors make it no .ozx, warnings a poor one."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "invalid" if self.errors else ("valid, with warnings" if self.warnings else "valid")


def _declares_json_first(value: Any) -> bool:
    """The comment says its zarr.json files come first (a `jsonFirst: true` anywhere in it)."""
    if isinstance(value, dict):
        return value.get("jsonFirst") is True or any(_declares_json_first(v) for v in value.values())
    if isinstance(value, list):
        return any(_declares_json_first(v) for v in value)
    return False


def rfc9_verdict(facts: ZipFacts, path: Path) -> Rfc9:
    verdict = Rfc9()
    if facts.root != "" or facts.zarr_format != 3 or facts.parts:
        where = ("no Zarr metadata" if facts.root is None else
                 f"the store is nested under {facts.root}/" if facts.root else
                 "no root zarr.json (the nodes sit side by side)" if facts.parts else "Zarr format 2 metadata")
        verdict.errors.append(f"root not Zarr v3: {where}")
    if facts.root_metadata_problem:
        verdict.errors.append(f"unreadable root metadata: {facts.root_metadata_problem}")
    if facts.nested_zips:
        verdict.errors.append(f"a zip inside the zip: {', '.join(facts.nested_zips[:3])}")
    if facts.multipart:
        verdict.errors.append("multi-part (split) archive")
    for problem in facts.problems:
        verdict.errors.append(f"damaged or unsafe: {problem}")
    declared = isinstance(facts.comment_json, dict) and isinstance(facts.comment_json.get("ome"), dict) \
        and facts.comment_json["ome"].get("version")
    if not declared:
        verdict.warnings.append(f"missing comment: expected the JSON {json.dumps(RFC9_COMMENT)}"
                                + (f" ({facts.comment_problem})" if facts.comment_problem else ""))
    sorted_ok = facts.metadata_first_local and facts.metadata_first_central
    if declared and _declares_json_first(facts.comment_json) and not sorted_ok:
        verdict.errors.append("misleading sort: the comment declares jsonFirst, but the zarr.json files do not "
                              "come first, breadth-first, in the local headers and the central directory")
    if not (facts.zip64_end_record and facts.zip64_members == facts.members):
        verdict.warnings.append(f"not ZIP64 (end record: {'yes' if facts.zip64_end_record else 'no'}, "
                                f"{facts.zip64_members} of {facts.members} members)")
    if not sorted_ok:
        verdict.warnings.append("unsorted: the root zarr.json first and the other zarr.json files breadth-first, "
                                "in the local headers and the central directory")
    deflated = {k: v for k, v in facts.compression.items() if k != "store"}
    if deflated:
        verdict.warnings.append("DEFLATE-compressed: " + ", ".join(f"{v} members {k}" for k, v in deflated.items())
                                + " (RFC-9 asks for STORED)")
    if path.suffix.lower() != ".ozx":
        verdict.warnings.append(f"not named .ozx ({path.name})")
    return verdict
