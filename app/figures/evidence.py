"""The evidence tracker: how much of the focus span each layer saw at every step, and its revivals."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from app import stats as S
from app.figures.messages import empty_figure
from app.markup import token_label
from app.plotting import (
    LAZY_COLOR,
    REVIVED_COLOR,
    SPAN_COLOR,
    STATE_COLORS,
    bin_columns,
    binned,
    layout,
    step_bins,
)

MAX_MARKERS = 2000  # revivals marked at most


def revival_markers(trace, rev: list, name: str, color: str, size: int, hover: str) -> go.Scatter:
    """Stars at the (step, layer) of each revival (step, layer, position) in `rev`; `hover` shows the
    token as %{text}."""
    return go.Scatter(
        x=[r[0] for r in rev],
        y=[r[1] for r in rev],
        mode="markers",
        name=name,
        marker=dict(symbol="star", size=size, color=color, line=dict(color="#000", width=0.5)),
        text=[token_label(trace.tokens[r[2]]) for r in rev],
        hovertemplate=hover,
    )


def evidence_plot(trace, span: S.Span, divergence: int | None = None) -> go.Figure:
    """Steps x layers: how much of the focus span each layer saw, with its revivals marked."""
    if span is None:
        return empty_figure("Evidence tracker", "No span to follow in this trace.")
    grid = S.evidence_grid(trace, span)
    width, steps = step_bins(trace, trace.num_layers)
    fig = go.Figure(
        go.Heatmap(
            z=bin_columns(grid, width, 1.0, np.min),
            x=steps,
            y=np.arange(trace.num_layers),
            zmin=0,
            zmax=1,
            colorscale=[[0, STATE_COLORS[S.NOT_SELECTED]], [1, LAZY_COLOR]],
            colorbar=dict(title="share of the span selected", tickformat=".0%", thickness=12),
            hovertemplate="step %{x}<br>layer %{y}<br>%{z:.0%} of the span selected<extra></extra>",
        )
    )
    rev = S.evidence_revivals(trace, span)[:MAX_MARKERS]
    if rev:
        hover = "revived %{text}<br>step %{x}, layer %{y}<extra></extra>"
        fig.add_trace(revival_markers(trace, rev, "revived (Aux Cache)", REVIVED_COLOR, 10, hover))
    if divergence is not None:
        fig.add_vline(x=divergence, line=dict(color=SPAN_COLOR, dash="dash"))
    a, b = span
    words = html.escape("".join(trace.tokens[a:b])[:60])
    title = binned(f"Evidence: tokens {a}-{b - 1} “{words}” across steps", width, "steps")
    layout(fig, title, height=340, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="layer")
    return fig
