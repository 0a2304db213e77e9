"""The Aux Cache: revivals per step and layer, cache sizes, and computations against the baseline."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app import stats as S
from app.figures.evidence import MAX_MARKERS, revival_markers
from app.markup import run_name
from app.plotting import (
    BASE_COLOR,
    LAZY_COLOR,
    REVIVED_COLOR,
    SPAN_COLOR,
    binned,
    layout,
    steps_heatmap,
)


def revivals_heatmap(trace, span: S.Span = None) -> go.Figure:
    """Revived tokens per decode step and layer (LazyLLM §3.3: pruned tokens coming back).

    With a focus span, the revivals of its tokens are marked with stars.
    """
    grid = S.revivals_grid(trace)
    heat, width = steps_heatmap(
        trace,
        grid,
        0,
        np.sum,
        colorscale=[[0, "#ffffff"], [0.0001, "#fbe3b0"], [1, REVIVED_COLOR]],
        colorbar=dict(title="tokens revived", thickness=12),
        hovertemplate="step %{x}<br>layer %{y}<br>%{z} tokens revived (each counted once, at the layer "
        "it re-entered from the Aux Cache of the layer below)<extra></extra>",
    )
    fig = go.Figure(heat)
    rev = S.evidence_revivals(trace, span)[:MAX_MARKERS] if span else []
    if rev:
        hover = "focus span token %{text} revived<br>step %{x}, layer %{y}<extra></extra>"
        fig.add_trace(revival_markers(trace, rev, "a focus span token revived", SPAN_COLOR, 9, hover))
    title = f"Revivals from the Aux Cache: {int(grid.sum())}"
    layout(fig, binned(title, width, "steps"), 320, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="layer")
    return fig


def cache_sizes_plot(trace) -> go.Figure:
    """KV cache and Aux Cache length per layer after each step: two heatmaps (in tokens), one above the
    other on the same steps (they fit a phone's width as well as a desktop's), each with its colour bar
    beside it."""
    kv, aux = S.cache_lengths(trace)  # (L, steps) each
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.14,
        subplot_titles=("KV cache (tokens)", "Aux Cache (tokens)"),
    )
    for row, z, scale in ((1, kv, "Blues"), (2, aux, "Oranges")):
        low, high = fig.get_subplot(row, 1).yaxis.domain
        bar = dict(x=1.02, xanchor="left", y=(low + high) / 2, len=high - low, thickness=10, title="tokens")
        hover = "after step %{x}<br>layer %{y}<br>%{z} tokens<extra></extra>"
        heat, width = steps_heatmap(
            trace, z, 0, rows=2 * trace.num_layers, colorscale=scale, colorbar=bar, hovertemplate=hover
        )
        fig.add_trace(heat, row=row, col=1)
    layout(fig, binned("", width, "steps"), height=460)
    fig.update_layout(margin=dict(t=40))
    fig.update_annotations(font_size=12)  # both headings alike at every width (explorer.js: 12 on a phone)
    fig.update_xaxes(automargin=True)
    fig.update_xaxes(title="step", row=2)
    fig.update_yaxes(title="layer", automargin=True)
    return fig


def cumulative_compute_plot(trace) -> go.Figure:
    """Cumulative prompt-token computations vs the baseline, as in the paper's Figs. 3 and 7."""
    cum = S.cumulative_compute_share(trace)
    steps = list(range(trace.num_steps))
    fig = go.Figure()
    fig.add_scatter(
        x=steps,
        y=[1.0] * len(steps),
        name="baseline (all at prefill)",
        line=dict(color=BASE_COLOR, dash="dash"),
    )
    fig.add_scatter(
        x=steps,
        y=cum,
        name=html.escape(run_name(trace), quote=False)[:60],
        mode="lines+markers",
        line=dict(color=LAZY_COLOR),
    )
    title = f"Prompt-token computations, whole generation so far: {cum[-1]:.0%} of the baseline"
    layout(fig, title, height=300, legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="share of the baseline's", tickformat=".0%", rangemode="tozero")
    return fig
