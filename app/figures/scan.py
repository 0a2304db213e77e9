"""The layer scan: where the focus span ranks in the last token's attention at every layer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from app.plotting import (
    LAZY_COLOR,
    MAX_PANELS,
    OK_COLOR,
    SPAN_COLOR,
    layout,
    legend_entry,
    shade_local_layers,
    two_axes,
)


def scan_plot(
    scan, schedule: Sequence = (), title: str = "Layer scan", layer_types=None, window: int | None = None
) -> go.Figure:
    """Where the focus span ranks at every layer (prefill, no pruning): the best and worst percentile
    of its tokens (0% = most attended), the keep fraction, the attention share on the span; on a
    hybrid model (Gemma 3) the sliding-window layers shaded (`layer_types`, `window`)."""
    L = len(scan.best)
    layers = np.arange(L)
    fig = two_axes()
    _span_ranks(fig, scan, layers)
    keep_line = dict(color="#333", dash="dash", width=1)
    fig.add_hline(y=scan.keep_fraction * 100, line=keep_line)  # named in the legend: no label over the data
    for layer, _ in list(schedule)[: MAX_PANELS * 8]:
        fig.add_vline(x=layer + 0.5, line=dict(color="#bbb", width=1))
    legend_entry(fig, f"dashed line: keep {scan.keep_fraction:.0%} (below it: pruned)", line=keep_line)
    if list(schedule):
        legend_entry(fig, "grey line: a pruning layer of this run", line=dict(color="#bbb", width=1))
    shade_local_layers(fig, layer_types, window, axis="x")
    if scan.safe_from is not None:
        fig.add_vrect(x0=scan.safe_from - 0.5, x1=L - 0.5, fillcolor=OK_COLOR, opacity=0.08, line_width=0)
        title += f" · whole span inside keep {scan.keep_fraction:.0%} from layer {scan.safe_from} on"
    else:
        title += f" · the span never stays inside keep {scan.keep_fraction:.0%}"
    layout(fig, title, height=340, legend=dict(orientation="h", y=-0.28))
    fig.update_xaxes(title="layer (grey lines: this run's pruning layers)")
    fig.update_layout(
        yaxis=dict(title="percentile rank (0 = top)", range=[100, 0]),
        yaxis2=dict(title="attention share (%)", rangemode="tozero", showgrid=False),
    )
    return fig


def _span_ranks(fig: go.Figure, scan, layers: np.ndarray) -> None:
    """The band between the span's best and worst token, and the attention share on the span."""
    fig.add_scatter(
        x=layers,
        y=scan.worst * 100,
        name="worst token of the span",
        mode="lines",
        line=dict(color=SPAN_COLOR, width=1),
    )
    fig.add_scatter(
        x=layers,
        y=scan.best * 100,
        name="best token of the span",
        mode="lines",
        fill="tonexty",
        line=dict(color=SPAN_COLOR, width=2),
        fillcolor="rgba(213,94,0,0.15)",
    )
    fig.add_bar(
        x=layers,
        y=scan.mass * 100,
        name="attention on the span (%)",
        marker_color=LAZY_COLOR,
        opacity=0.35,
        yaxis="y2",
    )
