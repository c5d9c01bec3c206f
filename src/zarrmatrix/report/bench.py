"""The benchmark part of the report: bar charts with IQR error bars and the raw
limit as a reference, a throughput table, and a conclusion written from the numbers."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go

from .model import BenchRow, ReportModel

e = html.escape
DISK_STORES = ("zip", "directory")
STORE_ORDER = ("zip", "directory", "fsspec-memory", "zarr-memory")
OP_ORDER = ("write", "read", "verify")
COMPRESSOR_COLORS = {"default": "#4575b4", "none": "#91bfdb"}


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1e3:.1f}"


def ci_text(r: BenchRow) -> str:
    if r.ci_half_width is None or r.op == "verify":
        return "—"
    mark = "" if r.converged in (True, None) else " (not converged)"
    return f"±{r.ci_half_width * 100:.1f}%{mark}"


def ratio_text(r: BenchRow) -> str:
    if r.below_limit:
        return "below: see note"
    return f"{r.ratio_to_limit:.2f}" if r.ratio_to_limit else "—"


def in_order(records: Sequence[BenchRow]) -> list[BenchRow]:
    order = {s: i for i, s in enumerate(STORE_ORDER)}
    ops = {s: i for i, s in enumerate(OP_ORDER)}
    return sorted(records, key=lambda r: (r.cell, r.nbytes, order.get(r.store, 9), r.compressor, ops.get(r.op, 9)))


def largest(records: Sequence[BenchRow]) -> list[BenchRow]:
    """The records of the largest size: the one the bars and the headline sentences speak of."""
    top = max((r.nbytes for r in records), default=0)
    return [r for r in records if r.nbytes == top]


def op_figure(records: Sequence[BenchRow], op: str) -> go.Figure:
    rows = [r for r in in_order(largest(records)) if r.op == op]
    fig = go.Figure()
    for compressor in sorted({r.compressor for r in rows}):
        sel = [r for r in rows if r.compressor == compressor]
        fig.add_bar(
            name=f"compressor: {compressor}", x=[[r.cell for r in sel], [r.store for r in sel]],
            y=[r.median_s * 1e3 for r in sel], marker_color=COMPRESSOR_COLORS.get(compressor),
            error_y={"type": "data", "symmetric": False,
                     "array": [((r.ci_high_s or r.median_s) - r.median_s) * 1e3 for r in sel],
                     "arrayminus": [(r.median_s - (r.ci_low_s or r.median_s)) * 1e3 for r in sel]},
            customdata=[[r.n, r.mb_s or 0, r.ratio_to_limit or 0, (r.ci_half_width or 0) * 100,
                         "" if r.converged else " (not converged)"] for r in sel],
            hovertemplate="%{x}<br>median %{y:.1f} ms ±%{customdata[3]:.1f}% (95% CI), n=%{customdata[0]}"
                          "%{customdata[4]}<br>%{customdata[1]:.0f} MB/s, %{customdata[2]:.1f}× the limit"
                          "<extra></extra>",
        )
    limits = {(r.cell, r.store): r.limit_min_s for r in rows if r.limit_min_s is not None}
    if limits:
        keys = list(limits)
        fig.add_scatter(
            name="the limit (its best repeat: a floor)", mode="markers",
            x=[[k[0] for k in keys], [k[1] for k in keys]], y=[limits[k] * 1e3 for k in keys],
            marker={"symbol": "line-ew", "size": 34, "line": {"width": 3, "color": "#d73027"}},
            hovertemplate="%{x}<br>limit %{y:.1f} ms<extra></extra>",
        )
    size = rows[0].nbytes / 2**20 if rows else 0
    fig.update_layout(
        barmode="group", height=430, title=f"{op} time per store at {size:g} MiB (median, 95% CI error bars)",
        yaxis={"title": "milliseconds", "rangemode": "tozero"}, legend={"orientation": "h", "y": -0.25},
        margin={"t": 50, "b": 40, "l": 60, "r": 10}, plot_bgcolor="#fafafa",
    )
    return fig


def sweep_figure(records: Sequence[BenchRow], op: str, cell: str) -> go.Figure:
    """One cell's throughput against size, a line per store and compressor, and the limit's line beside them."""
    fig = go.Figure()
    rows = [r for r in in_order(records) if r.op == op and r.cell == cell]
    for key in sorted({(r.cell, r.store, r.compressor) for r in rows}):
        sel = sorted((r for r in rows if (r.cell, r.store, r.compressor) == key), key=lambda r: r.nbytes)
        name = " ".join(key[1:])
        fig.add_scatter(name=name, mode="lines+markers", x=[r.nbytes / 2**20 for r in sel], y=[r.mb_s for r in sel],
                        hovertemplate="%{x:g} MiB: %{y:.0f} MB/s<extra>" + e(name) + "</extra>")
    for cell, disk in sorted({(r.cell, r.store in DISK_STORES) for r in rows}):
        sel = {r.nbytes: r.limit_min_s for r in rows if r.cell == cell and (r.store in DISK_STORES) == disk
               and r.limit_min_s}
        if sel:
            sizes = sorted(sel)
            fig.add_scatter(name=f"limit ({'disk' if disk else 'memory'})", mode="lines",
                            line={"dash": "dash", "color": "#d73027" if disk else "#fc8d59"},
                            x=[n / 2**20 for n in sizes], y=[n / sel[n] / 1e6 for n in sizes])
    fig.update_layout(height=420, title=f"{cell}: {op} throughput against size (log scale)",
                      xaxis={"title": "array size, MiB", "type": "log"},
                      yaxis={"title": "MB/s", "type": "log"}, margin={"t": 50, "b": 40, "l": 60, "r": 10},
                      plot_bgcolor="#fafafa")
    return fig


@dataclass(frozen=True)
class Scaling:
    """How one store's cost grows: its best throughput, the size from which it is within 80% of that
    (its cost proportional to size), and its fixed cost per chunk at the smallest size."""

    cell: str
    store: str
    compressor: str
    op: str
    best_mb_s: float
    proportional_from: int
    smallest: int
    chunks: int
    per_chunk_s: float

    def sentence(self) -> str:
        plural = "s" if self.chunks != 1 else ""
        return (f"{self.cell} {self.store}/{self.compressor} {self.op}: at its best {self.best_mb_s:.0f} MB/s; "
                f"within 80% of that from {self.proportional_from / 2**20:g} MiB on, where its cost grows with "
                f"size; at {self.smallest / 2**20:g} MiB about {self.per_chunk_s * 1e3:.2f} ms of fixed cost per "
                f"chunk ({self.chunks} chunk{plural}).")


def scaling(records: Sequence[BenchRow]) -> list[Scaling]:
    out = []
    rows = [r for r in records if r.op in ("write", "read") and r.mb_s]
    for key in sorted({(r.cell, r.store, r.compressor, r.op) for r in rows}):
        sel = sorted((r for r in rows if (r.cell, r.store, r.compressor, r.op) == key), key=lambda r: r.nbytes)
        if len(sel) < 2:
            continue
        best = max(r.mb_s for r in sel)
        level = next(r for r in sel if r.mb_s >= 0.8 * best)
        small = sel[0]
        chunks = math.prod(math.ceil(s / c) for s, c in zip(small.shape, small.chunks)) if small.shape else 1
        fixed = max(0.0, small.median_s - small.nbytes / (best * 1e6)) / max(chunks, 1)
        out.append(Scaling(*key, best, level.nbytes, small.nbytes, chunks, fixed))
    return out


def _scaling_table(rows: Sequence[Scaling]) -> str:
    head = ("cell", "store", "compressor", "op", "best MB/s", "proportional from MiB", "fixed ms per chunk")
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in (
        s.cell, s.store, s.compressor, s.op, f"{s.best_mb_s:.0f}", f"{s.proportional_from / 2**20:g}",
        f"{s.per_chunk_s * 1e3:.2f} (at {s.smallest / 2**20:g} MiB)")) + "</tr>" for s in rows)
    sentences = "".join(f"<li>{e(s.sentence())}</li>" for s in rows)
    return ("<h3>How cost grows with size</h3><table class='bench'><thead><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in head) + f"</tr></thead><tbody>{body}</tbody></table>"
            f"<details><summary>the same, as sentences</summary><ul>{sentences}</ul></details>")


def conclusion(records: Sequence[BenchRow]) -> list[str]:
    """Sentences written from the numbers: fastest store per cell and operation, and by how much."""
    lines = []
    top = largest(records)
    for cell in sorted({r.cell for r in top}):
        for op in ("write", "read"):
            sel = [r for r in top if r.cell == cell and r.op == op and r.compressor == "default"]
            if len(sel) < 2:
                continue
            sel.sort(key=lambda r: r.median_s)
            first, second, last = sel[0], sel[1], sel[-1]
            lines.append(
                f"{cell}: at {first.nbytes / 2**20:g} MiB the fastest store to {op} is {first.store} "
                f"({ms(first.median_s)} ms), {second.median_s / first.median_s:.1f}× faster than the next "
                f"({second.store}) and {last.median_s / first.median_s:.1f}× faster than the slowest ({last.store}).")
    timed = [r for r in records if r.op in ("write", "read")]
    unsettled = [r for r in timed if r.converged is False]
    if timed:
        lines.append(f"{len(timed) - len(unsettled)} of {len(timed)} write and read medians are known to within "
                     "their target (95% confidence); the others are marked 'not converged' below.")
    for r in timed:
        if r.below_limit:
            lines.append(f"{r.cell} {r.store}/{r.compressor} {r.op} at {r.nbytes / 2**20:g} MiB: {r.below_limit}.")
    disk = [r for r in top if r.store in DISK_STORES and r.limit_min_s]
    if disk and all(r.page_cache == "warm" for r in disk):
        fastest = min(r.limit_min_s for r in disk)
        nbytes = disk[0].nbytes
        lines.append(
            f"At {nbytes / 2**20:g} MiB the disk limit runs at {nbytes / fastest / 1e9:.1f} GB/s: the page cache "
            "was warm, so these figures measure CPU and memory (encoding, compression, zip bookkeeping), not the "
            "disk (--drop-caches measures the disk where the host allows it).")
    for r in records:
        if r.op == "verify" and not r.verified:
            lines.append(f"WARNING: {r.cell} {r.store}/{r.compressor} read back wrong data in "
                         f"{len(r.verify_failures)} repeats.")
    return lines


def _table(records: Sequence[BenchRow]) -> str:
    head = ("cell", "via", "MiB", "store", "compressor", "op", "median ms", "95% CI", "n", "min ms", "MB/s",
            "CPU ms", "peak MiB", "limit ms", "× limit", "verified")
    rows = []
    for r in in_order(records):
        rows.append((r.cell, r.via, f"{r.nbytes / 2**20:g}", r.store, r.compressor, r.op, ms(r.median_s),
                     ci_text(r), str(r.n), ms(r.min_s), f"{r.mb_s:.0f}" if r.mb_s else "—", ms(r.cpu_median_s),
                     "—" if r.peak_bytes is None else f"{r.peak_bytes / 2**20:.0f}", ms(r.limit_min_s),
                     ratio_text(r), "yes" if r.verified else "NO"))
    thead = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='bench'><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>"


def bench_html(model: ReportModel) -> str:
    records = model.bench
    if not records:
        return ""
    first = largest(records)[0]
    sizes = sorted({r.nbytes for r in records})
    figs = "".join(op_figure(records, op).to_html(full_html=False, include_plotlyjs=False, div_id=f"bench-{op}")
                   for op in ("write", "read"))
    swept = sorted({r.cell for r in records if len({x.nbytes for x in records if x.cell == r.cell}) > 1})
    for i, cell in enumerate(swept):
        for op in ("write", "read"):
            figs += sweep_figure(records, op, cell).to_html(full_html=False, include_plotlyjs=False,
                                                            div_id=f"bench-sweep-{op}-{i}")
    grows = scaling(records)
    figs += _scaling_table(grows) if grows else ""
    text = "".join(f"<li>{e(line)}</li>" for line in conclusion(records))
    return (f"<h2>Store benchmark</h2><p>Random {e(first.dtype)} arrays of "
            f"{e(', '.join(f'{n / 2**20:g}' for n in sizes))} MiB (chunks of at most {e(str(tuple(first.chunks)))}). "
            "Each round writes, reads and verifies every store once on a fresh target, then times the limit: the "
            "rounds interleave, so the VM's drift hits all alike. A store stops when the 95% confidence interval "
            "of its write and read medians is within its target, or when it runs out of repeats or time (then it "
            "is marked 'not converged'). The limit is a floor, its best repeat: a memory copy between buffers "
            "faulted in beforehand, or the raw bytes written to and read from a file in the same folder. Reads "
            "are verified with numpy.array_equal, timed apart. CPU time counts every thread; peak memory is "
            "the operation's rise above where it started.</p>"
            f"<ul>{text}</ul>{figs}{_table(records)}")
