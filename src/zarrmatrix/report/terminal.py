"""The report model in the terminal: who can open each zip, and the benchmark table.

Every text that came from a file or a probe is shown as plain text, never read as rich markup.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .bench import conclusion, in_order, ms
from .html import COLORS
from .model import ReportModel


def stdout_console() -> Console:
    """Tables for stdout: wide enough for cell ids when piped into a file or a CI log."""
    return Console() if sys.stdout.isatty() else Console(width=180)


def print_check_table(model: ReportModel, console: Console) -> None:
    for fixture in model.fixtures:
        table = Table(title=Text(f"who can open {fixture.name}?"))
        for col in ("reader", "cell", "verdict", "control", "reason"):
            table.add_column(col)
        for reader in model.readers:
            s = model.cells.get((reader.id, fixture.name))
            if s is None:
                continue
            verdict = Text(s.verdict, style=f"bold {COLORS.get(s.verdict, 'white')}")
            table.add_row(Text(reader.label), Text(reader.id), verdict, Text(s.control_verdict or "—"),
                          Text(s.reason[:90]))
        console.print(table)


def print_bench_table(model: ReportModel, console: Console) -> None:
    records = model.bench
    if not records:
        console.print("no benchmark records: run `nox -s bench` (or zarrmatrix run --phase bench)")
        return
    table = Table(title=f"store benchmark, {records[0].nbytes / 2**20:.1f} MiB, median of n repeats")
    for col in ("cell", "store", "compressor", "op", "median ms", "IQR ms", "MB/s", "limit ms", "× limit", "n",
                "verified"):
        table.add_column(col, justify="left" if col in ("cell", "store", "compressor", "op") else "right")
    for r in in_order(records):
        table.add_row(Text(r.cell), Text(r.store), Text(r.compressor), Text(r.op), ms(r.median_s), ms(r.iqr_s),
                      f"{r.mb_s:.0f}" if r.mb_s else "—", ms(r.limit_median_s),
                      f"{r.ratio_to_limit:.2f}" if r.ratio_to_limit else "—", str(r.n),
                      "yes" if r.verified else Text("NO", style="red"))
    console.print(table)
    for line in conclusion(records):
        console.print(Text(line))
