"""The report model in the terminal: who can open each zip, and the benchmark table.

Every text that came from a file or a probe is shown as plain text, never read as rich markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..zipfacts import ZipFacts
from .bench import ci_text, conclusion, in_order, ms, ratio_text, scaling
from .html import COLORS
from .model import ReportModel


def print_check_table(model: ReportModel, console: Console, known: dict[tuple[str, str], str] | None = None
                      ) -> None:
    """One table per fixture; `known` adds an upstream issue (triage.yaml) beside a square's verdict."""
    known = known or {}
    for fixture in model.fixtures:
        table = Table(title=Text(f"who can open {fixture.name}?"))
        for col in ("reader", "cell", "verdict", "control", "reason", *(["known"] if known else [])):
            table.add_column(col)
        for reader in model.readers:
            s = model.cells.get((reader.id, fixture.name))
            if s is None:
                continue
            verdict = Text(s.verdict, style=f"bold {COLORS.get(s.verdict, 'white')}")
            table.add_row(Text(reader.label), Text(reader.id), verdict, Text(s.control_verdict or "—"),
                          Text(s.reason[:90]), *([Text(known.get((reader.id, fixture.name), ""))] if known else []))
        console.print(table)


def print_bench_table(model: ReportModel, console: Console) -> None:
    records = model.bench
    if not records:
        console.print("no benchmark records: run `nox -s bench` (or zarrmatrix run --phase bench)")
        return
    table = Table(title="store benchmark: median of n repeats, its 95% confidence interval")
    for col in ("cell", "MiB", "store", "compressor", "op", "median ms", "95% CI", "n", "MB/s", "CPU ms",
                "limit ms", "× limit", "verified"):
        table.add_column(col, justify="left" if col in ("cell", "store", "compressor", "op") else "right")
    for r in in_order(records):
        ci = ci_text(r)
        table.add_row(Text(r.cell), f"{r.nbytes / 2**20:g}", Text(r.store), Text(r.compressor), Text(r.op),
                      ms(r.median_s), Text(ci, style="yellow" if "not converged" in ci else ""), str(r.n),
                      f"{r.mb_s:.0f}" if r.mb_s else "—", ms(r.cpu_median_s), ms(r.limit_min_s), ratio_text(r),
                      "yes" if r.verified else Text("NO", style="red"))
    console.print(table)
    for line in conclusion(records) + [s.sentence() for s in scaling(records)]:
        console.print(Text(line))


def print_zip_facts(all_facts: list[ZipFacts], console: Console) -> None:
    for facts in all_facts:
        table = Table(title=Text(f"{facts.path}: {facts.summary()}"), show_header=False)
        table.add_column("fact")
        table.add_column("value")
        if facts.is_zip:
            rows = [
                ("members", f"{facts.members} ({', '.join(f'{v} {k}' for k, v in sorted(facts.compression.items()))})"),
                ("Zarr root", "none found" if facts.root is None else
                 f"{facts.root or '(the zip root)'}, Zarr format {facts.zarr_format}"),
                ("duplicates", "; ".join(f"{d['name']} ×{d['count']}"
                                         f"{'' if d['last_is_latest_written'] else ' (last entry is NOT the latest)'}"
                                         for d in facts.duplicates) or "none"),
                ("ZIP64", f"end record: {'yes' if facts.zip64_end_record else 'no'}, "
                          f"{facts.zip64_members} of {facts.members} members"),
                ("metadata first", f"local headers: {'yes' if facts.metadata_first_local else 'no'}, central "
                                   f"directory: {'yes' if facts.metadata_first_central else 'no'}"),
                ("comment", facts.comment if facts.comment is not None else "none"),
                ("directory entries", str(facts.directory_entries)),
                ("junk", ", ".join(facts.junk) or "none"),
                ("arrays", ", ".join(f"{a['path'] or '(root)'} {a['shape']}" for a in facts.arrays[:20])
                 + (f" and {len(facts.arrays) - 20} more" if len(facts.arrays) > 20 else "") or "none listed"),
            ]
            if facts.parts:
                rows.append(("no root group", "nodes side by side: " + ", ".join(facts.parts)))
            for name, value in rows:
                table.add_row(name, Text(value))
        for problem in facts.problems:
            table.add_row(Text("problem", style="bold red"), Text(problem))
        for error in facts.rfc9.errors:
            table.add_row(Text("RFC-9 error", style="bold red"), Text(error))
        for warning in facts.rfc9.warnings:
            table.add_row(Text("RFC-9 warning", style="yellow"), Text(warning))
        console.print(table)
