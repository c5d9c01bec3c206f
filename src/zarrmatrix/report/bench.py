"""The benchmark part of the report: bar charts with IQR error bars and the raw
limit as a reference, a throughput table, and a conclusion written from the numbers."""

from __future__ import annotations

import html
from typing import Sequence

import plotly.graph_objects as go

from .model import BenchRow, ReportModel

e = html.escape
STORE_ORDER = ("zip", "directory", "fsspec-memory", "zarr-memory")
OP_ORDER = ("write", "read", "verify")
COMPRESSOR_COLORS = {"default": "#4575b4", "none": "#91bfdb"}


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1e3:.1f}"


def in_order(records: Sequence[BenchRow]) -> list[BenchRow]:
    order = {s: i for i, s in enumerate(STORE_ORDER)}
    ops = {s: i for i, s in enumerate(OP_ORDER)}
    return sorted(records, key=lambda r: (r.cell, order.get(r.store, 9), r.compressor, ops.get(r.op, 9)))


def op_figure(records: Sequence[BenchRow], op: str) -> go.Figure:
    rows = [r for r in in_order(records) if r.op == op]
    fig = go.Figure()
    for compressor in sorted({r.compressor for r in rows}):
        sel = [r for r in rows if r.compressor == compressor]
        fig.add_bar(
            name=f"compressor: {compressor}", x=[[r.cell for r in sel], [r.store for r in sel]],
            y=[r.median_s * 1e3 for r in sel], marker_color=COMPRESSOR_COLORS.get(compressor),
            error_y={"type": "data", "symmetric": False,
                     "array": [(r.q3_s - r.median_s) * 1e3 for r in sel],
                     "arrayminus": [(r.median_s - r.q1_s) * 1e3 for r in sel]},
            customdata=[[r.n, r.mb_s or 0, r.ratio_to_limit or 0, r.iqr_s * 1e3] for r in sel],
            hovertemplate="%{x}<br>median %{y:.1f} ms, IQR %{customdata[3]:.1f} ms, n=%{customdata[0]}"
                          "<br>%{customdata[1]:.0f} MB/s, %{customdata[2]:.1f}× the limit<extra></extra>",
        )
    limits = {}
    for r in rows:
        if r.limit_median_s is not None:
            limits[(r.cell, r.store)] = (r.limit_median_s, r.limit_kind)
    if limits:
        keys = list(limits)
        fig.add_scatter(
            name="raw limit (numpy save/load, or memory copy)", mode="markers",
            x=[[k[0] for k in keys], [k[1] for k in keys]], y=[limits[k][0] * 1e3 for k in keys],
            marker={"symbol": "line-ew", "size": 34, "line": {"width": 3, "color": "#d73027"}},
            hovertemplate="%{x}<br>raw limit %{y:.1f} ms<extra></extra>",
        )
    fig.update_layout(
        barmode="group", height=430, title=f"{op} time per store (median, IQR error bars)",
        yaxis={"title": "milliseconds", "rangemode": "tozero"}, legend={"orientation": "h", "y": -0.25},
        margin={"t": 50, "b": 40, "l": 60, "r": 10}, plot_bgcolor="#fafafa",
    )
    return fig


def conclusion(records: Sequence[BenchRow]) -> list[str]:
    """Sentences written from the numbers: fastest store per cell and operation, and by how much."""
    lines = []
    for cell in sorted({r.cell for r in records}):
        for op in ("write", "read"):
            sel = [r for r in records if r.cell == cell and r.op == op and r.compressor == "default"]
            if len(sel) < 2:
                continue
            sel.sort(key=lambda r: r.median_s)
            first, second, last = sel[0], sel[1], sel[-1]
            lines.append(
                f"{cell}: the fastest store to {op} is {first.store} ({ms(first.median_s)} ms), "
                f"{second.median_s / first.median_s:.1f}× faster than the next ({second.store}) and "
                f"{last.median_s / first.median_s:.1f}× faster than the slowest ({last.store}).")
    disk = [r for r in records if r.store in ("zip", "directory") and r.limit_median_s]
    if disk:
        fastest = min(r.limit_median_s for r in disk)
        nbytes = disk[0].nbytes
        gb_s = nbytes / fastest / 1e9
        lines.append(
            f"At {nbytes / 2**20:.0f} MiB the raw disk limit (numpy save/load to the same folder) runs at "
            f"{gb_s:.1f} GB/s: it is served by the page cache, so these figures measure CPU and memory "
            "(encoding, compression, zip bookkeeping), not the disk.")
    wrong = [r for r in records if r.op == "verify" and not r.verified]
    for r in wrong:
        lines.append(f"WARNING: {r.cell} {r.store}/{r.compressor} read back wrong data in "
                     f"{len(r.verify_failures)} repeats.")
    return lines


def _table(records: Sequence[BenchRow]) -> str:
    head = ("cell", "via", "store", "compressor", "op", "median ms", "IQR ms", "min ms", "MB/s", "limit ms",
            "× limit", "n", "verified")
    rows = []
    for r in in_order(records):
        rows.append((r.cell, r.via, r.store, r.compressor, r.op, ms(r.median_s),
                     ms(r.iqr_s), ms(r.min_s), f"{r.mb_s:.0f}" if r.mb_s else "—",
                     ms(r.limit_median_s),
                     f"{r.ratio_to_limit:.2f}" if r.ratio_to_limit else "—", str(r.n),
                     "yes" if r.verified else "NO"))
    thead = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='bench'><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>"


def bench_html(model: ReportModel) -> str:
    records = model.bench
    if not records:
        return ""
    first = records[0]
    figs = "".join(op_figure(records, op).to_html(full_html=False, include_plotlyjs=False, div_id=f"bench-{op}")
                   for op in ("write", "read"))
    text = "".join(f"<li>{e(line)}</li>" for line in conclusion(records))
    return (f"<h2>Store benchmark</h2><p>{first.nbytes / 2**20:.1f} MiB of random {e(first.dtype)} in "
            f"chunks of {e(str(tuple(first.chunks)))}; after a warm-up, {first.n} timed repeats, each on a "
            "fresh target. Reads are verified with numpy.array_equal, timed apart from the read. The page cache "
            "was warm: disk reads follow their writes and no cache was dropped. A buffer of the working size is "
            "touched before each timed block, so that this VM's first-touch cost stays out of the figures.</p>"
            f"<ul>{text}</ul>{figs}{_table(records)}")
