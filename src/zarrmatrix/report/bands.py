"""The band benchmark in the report: GDAL's read time against the band count, one line per cell and API on
log-log axes, and the growth of each in a sentence."""

from __future__ import annotations

import html
from typing import Sequence

import plotly.graph_objects as go

from ..bands import Curve, curves
from ..records import CellResult

e = html.escape


def bands_figure(lines: Sequence[Curve]) -> go.Figure:
    fig = go.Figure()
    for curve in lines:
        if not curve.points:
            continue
        binding = curve.call.split("(", 1)[0] or curve.cell
        fig.add_trace(go.Scatter(
            x=[n for n, _ in curve.points], y=[t for _, t in curve.points], mode="lines+markers",
            name=f"GDAL {curve.gdal_version} {curve.api}, {binding} ({curve.cell})",
            line={"dash": "solid" if curve.api == "classic" else "dot"},
            hovertemplate="%{x:,} bands: %{y:.3f} s<extra>" + e(curve.cell) + "</extra>"))
    fig.update_layout(height=420, margin={"l": 60, "r": 20, "t": 30, "b": 50}, legend={"font": {"size": 11}},
                      xaxis={"title": "bands (images of 28 x 28)", "type": "log"},
                      yaxis={"title": "read whole, median seconds", "type": "log"})
    return fig


def bands_html(results: Sequence[CellResult]) -> str:
    lines = curves(results)
    if not lines:
        return ""
    figure = bands_figure(lines).to_html(full_html=False, include_plotlyjs=False, div_id="bands-figure")
    sentences = "".join(f"<li>{e(curve.sentence())}</li>" for curve in lines)
    return ('<h2 id="bands">GDAL against the band count</h2>'
            "<p>An uncompressed Zarr v2 array of N &times; 28 &times; 28 <code>uint8</code> (chunks of 1,000 images, "
            "as the MNIST fixture has), read whole, median of 3 (<code>nox -s bench-bands</code>): through rasterio, "
            "and through osgeo.gdal where an image has it. GDAL's classic raster API makes each image a band; its "
            "multidimensional API reads the array as one. The growth is the slope of log(time) against log(N): 1 is "
            "linear, 2 quadratic. A count whose read passes 20 s ends the sweep.</p>"
            f"<ul>{sentences}</ul>{figure}")
