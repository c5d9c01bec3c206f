"""The sharded-read benchmark in the report: one chart per access (the whole array, one shard, one inner chunk),
the implementations side by side over each store and cache state, with the median's 95% interval; what a DEFLATED
zip costs each implementation next to a STORED one, in a sentence; and every figure in a table."""

from __future__ import annotations

import html
import math
from typing import Sequence

import plotly.graph_objects as go

from ..records import CellResult, ShardedRecord
from ..sharded import ACCESSES, STORES, Bar, bars, seconds
from ..stats import median_ci
from .tables import table

e = html.escape

STORE_NAMES = {"folder": "folder", "zip-stored": "zip, STORED", "zip-deflated": "zip, DEFLATED"}
ACCESS_NAMES = {"whole": "the whole array", "chunk": "one chunk (a shard)", "sub-chunk": "one sub-chunk (an inner "
                "chunk of a shard)"}


def category(record: ShardedRecord) -> str:
    return f"{STORE_NAMES.get(record.store or '', record.store)}, {record.cache}"


def access_figure(access: str, rows: Sequence[Bar]) -> go.Figure:
    categories = [f"{STORE_NAMES[s]}, {c}" for c in ("warm", "cold") for s in STORES]
    fig = go.Figure()
    for label in dict.fromkeys(b.label for b in rows):
        points = {category(b.record): b.record for b in rows if b.label == label and b.record.median_s is not None}
        if not points:
            continue
        xs = [c for c in categories if c in points]
        cis = [median_ci(points[c].samples_s) for c in xs]
        fig.add_trace(go.Bar(
            x=xs, y=[ci.median for ci in cis], name=label,
            error_y={"type": "data", "symmetric": False, "array": [ci.high - ci.median for ci in cis],
                     "arrayminus": [ci.median - ci.low for ci in cis]},
            customdata=[[seconds(ci.low), seconds(ci.high), len(points[c].samples_s)] for c, ci in zip(xs, cis)],
            hovertemplate="%{x}: median %{y:.4f} s (95% CI %{customdata[0]} to %{customdata[1]}, "
                          "n=%{customdata[2]})<extra>" + e(label) + "</extra>"))
    floors = {}
    for b in rows:
        if b.record.floor_s is not None:
            key = category(b.record)
            floors[key] = min(floors.get(key, b.record.floor_s), b.record.floor_s)
    if floors:
        xs = [c for c in categories if c in floors]
        fig.add_trace(go.Bar(x=xs, y=[floors[c] for c in xs], name="floor: read(2) of as many bytes",
                             marker={"color": "#bbbbbb"},
                             hovertemplate="%{x}: %{y:.4f} s, the best read(2) of as many bytes from the STORED "
                                           "zip<extra>floor</extra>"))
    fig.update_layout(barmode="group", height=380, margin={"l": 60, "r": 20, "t": 40, "b": 60},
                      title={"text": f"{access}: {ACCESS_NAMES[access]}", "font": {"size": 14}},
                      xaxis={"categoryorder": "array", "categoryarray": categories},
                      yaxis={"title": "median seconds (log)", "type": "log"}, legend={"font": {"size": 11}})
    return fig


def no_bars(rows: Sequence[Bar]) -> str:
    """Under a chart, the reads it has no bar for, and why: a failure must not pass for a missing figure."""
    failed = [f"{b.label} on {category(b.record)}: {(b.record.error or {}).get('message', '')[:240]}"
              for b in rows if b.record.median_s is None]
    if not failed:
        return ""
    return '<p class="bad">No bar for ' + "; ".join(e(text) for text in failed) + ".</p>"


def deflate_costs(rows: Sequence[Bar], access: str, cache: str = "warm") -> list[str]:
    """Per implementation: how many times longer a read from the DEFLATED zip took than from the STORED one."""
    out = []
    for label in dict.fromkeys(b.label for b in rows):
        got = {b.record.store: b.record for b in rows if b.label == label and b.record.access == access
               and b.record.cache == cache}
        stored, deflated = got.get("zip-stored"), got.get("zip-deflated")
        if stored is None or deflated is None:
            continue
        if stored.median_s and deflated.median_s:
            out.append(f"{label}: {deflated.median_s / stored.median_s:.1f}× ({seconds(deflated.median_s)} "
                       f"against {seconds(stored.median_s)})")
        elif stored.median_s and deflated.error:
            out.append(f"{label}: cannot read it ({deflated.error.get('message', '')[:120]})")
    return out


def mib(value: int | None) -> str:
    return "" if value is None else f"{value / 2**20:,.1f} MiB"


def row(bar: Bar) -> list[str]:
    r = bar.record
    if r.median_s is None:
        error = r.error or {}
        return [e(bar.label), e(r.access or ""), e(STORE_NAMES.get(r.store or "", r.store or "")), e(r.cache or ""),
                f'<span class="bad">{e(error.get("type", "error"))}: {e(error.get("message", "")[:200])}</span>',
                "", "", "", "", "", ""]
    ci = median_ci(r.samples_s)
    cold = r.cache == "cold" and not r.page_cache.startswith("dropped")
    return [e(bar.label), e(r.access or ""), e(STORE_NAMES.get(r.store or "", r.store or "")),
            e(r.cache or "") + (f' <span class="bad">({e(r.page_cache)})</span>' if cold else ""),
            f"{seconds(ci.median)} [{seconds(ci.low)}, {seconds(ci.high)}]",
            f"{r.nbytes / ci.median / 1e6:,.0f} MB/s" if ci.median else "",
            f"{ci.median / r.floor_s:,.1f}×" if r.floor_s else "",
            seconds(r.cpu_median_s) if r.cpu_median_s is not None else "", mib(r.peak_max_bytes),
            e((r.decoded_by or "").rsplit(".", 1)[-1]), f"{len(r.samples_s)} ({e(r.stop or '')})"]


def sharded_html(results: Sequence[CellResult]) -> str:
    rows = bars(results)
    if not rows:
        return ""
    first = next((b.record for b in rows if b.record.extra.get("shape")), None)
    about = ""
    if first is not None:
        shape, shards, chunks = (first.extra.get(k) or [] for k in ("shape", "shards", "chunks"))
        nbytes = math.prod(shape) * 4 if shape else 0
        about = (f"one <code>int32</code> array of {' × '.join(f'{n:,}' for n in shape)} ({mib(nbytes)}), written by "
                 f"{e(str(first.extra.get('writer', '')))} in shards of {' × '.join(map(str, shards))} with inner "
                 f"chunks of {' × '.join(map(str, chunks))}, uncompressed, and zipped STORED and DEFLATED by "
                 "Python's zipfile. ")
    charts = ""
    for access in ACCESSES:
        of_access = [b for b in rows if b.record.access == access]
        charts += access_figure(access, of_access).to_html(full_html=False, include_plotlyjs=False,
                                                           div_id=f"sharded-{access}") + no_bars(of_access)
    costs = "".join(f"<li>{e(text)}</li>" for text in deflate_costs(rows, "sub-chunk"))
    errors = sorted({f"{b.label}: {(b.record.error or {}).get('message', '')[:200]}" for b in rows
                     if b.record.error and b.record.store is None})
    failed = "".join(f'<li class="bad">{e(text)}</li>' for text in errors)
    headers = ("implementation", "access", "store", "page cache", "median [95% CI]", "throughput", "× floor",
               "CPU (median)", "peak memory", "decoded by", "reads")
    order = {s: i for i, s in enumerate(STORES)}
    listed = sorted(rows, key=lambda b: (ACCESSES.index(b.record.access) if b.record.access in ACCESSES else 9,
                                         b.record.cache or "", order.get(b.record.store or "", 9), b.label))
    return ('<h2 id="sharded">One sharded array, read by each implementation</h2>'
            f"<p>{about}Each implementation opens the array and reads {e(', '.join(ACCESS_NAMES.values()))}, out "
            "of the folder and out of each zip; warm (the page cache as the first read left it) and cold (dropped "
            "before each read). Each figure is the median of its reads (at least 5, fewer where one read outlasts the "
            "budget; the table gives n), with its 95% interval; CPU time "
            "counts every thread, peak memory is the resident high-water mark above the read's start (Node keeps "
            "what it freed for its next allocations, so zarrita.js's counts only what a read took beyond that) "
            "(<code>nox -s bench-sharded</code>). The floor is what the hardware allows: read(2) of as many bytes "
            "as the access returns, from the STORED zip, in each reader's process and cache state (its best "
            "repeat; the gray bar, the lowest of the readers').</p>"
            + (f"<p>An inner chunk out of the DEFLATED zip, against the STORED one (warm), a DEFLATED shard member "
               f"being inflated whole to reach one chunk of it:</p><ul>{costs}</ul>" if costs else "")
            + (f"<ul>{failed}</ul>" if failed else "") + charts
            + "<details><summary>every figure</summary>" + table(headers, [row(b) for b in listed], "bench")
            + "</details>")
