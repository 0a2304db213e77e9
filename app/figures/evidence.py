"""The evidence tracker: how much of the focus span each layer saw at every step, and its revivals."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from app import stats as S
from app.figures.messages import empty_figure
from app.markup import run_name, token_label
from app.plotting import (
    LAZY_COLOR,
    MAX_PANELS,
    REVIVED_COLOR,
    SPAN_COLOR,
    STATE_COLORS,
    binned,
    layout,
    legend_entry,
    steps_heatmap,
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
        showlegend=True,
    )


def evidence_plot(trace, span: S.Span, divergence: int | None = None) -> go.Figure:
    """Steps x layers: how much of the focus span each layer saw, with its revivals marked."""
    if span is None:
        return empty_figure("Evidence tracker", "No span to follow in this trace.")
    grid = S.evidence_grid(trace, span)
    heat, width = steps_heatmap(
        trace,
        grid,
        1.0,
        np.min,
        zmin=0,
        zmax=1,
        colorscale=[[0, STATE_COLORS[S.NOT_SELECTED]], [1, LAZY_COLOR]],
        colorbar=dict(title="share of the span selected", tickformat=".0%", thickness=12),
        hovertemplate="step %{x}<br>layer %{y}<br>%{z:.0%} of the span selected<extra></extra>",
    )
    fig = go.Figure(heat)
    rev = S.evidence_revivals(trace, span)[:MAX_MARKERS]
    if rev:
        hover = "revived %{text}<br>step %{x}, layer %{y}<extra></extra>"
        fig.add_trace(
            revival_markers(trace, rev, "a span token revived (Aux Cache)", REVIVED_COLOR, 10, hover)
        )
    if divergence is not None:
        dash = dict(color=SPAN_COLOR, dash="dash")
        fig.add_vline(x=divergence, line=dash)
        legend_entry(fig, f"dashed line: the texts diverge (step {divergence})", line=dash)
    fig.update_layout(showlegend=True)
    a, b = span
    words = html.escape("".join(trace.tokens[a:b])[:60])
    title = binned(f"Evidence: tokens {a}-{b - 1} “{words}” across steps", width, "steps")
    layout(fig, title, height=340, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="layer")
    return fig


def colour_top(z: np.ndarray) -> float:
    """The top of the colour scale: the largest value outside the most attended row (the attention
    sink, often ten times the others, would wash every other row out); that row saturates."""
    if z.shape[0] < 2:
        return float(z.max()) or 1.0
    rest = float(np.delete(z, int(z.max(axis=1).argmax()), axis=0).max())
    return rest if rest > 0 else float(z.max()) or 1.0


def split_plot(trace, split: S.Split | None, why: str = "The texts agree: no split to explain.") -> go.Figure:
    """Layers x the baseline's most attended prompt tokens at the divergence step: its attention (head
    mean, share of the step's context) on each, crosses where the pruned run did not select the token
    at that layer at that step, and the share of the baseline's attention the pruned run left out.
    why: the message without a split (markup.no_split)."""
    if split is None or not split.tokens:
        return empty_figure("Baseline's attention at the split", why)
    L = trace.num_layers
    names = [f"{tok.position}: {token_label(trace.tokens[tok.position], 16)}" for tok in split.tokens]
    z = np.stack([tok.attention for tok in split.tokens])  # (k, L)
    ranks = np.stack([tok.rank for tok in split.tokens])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=np.arange(L),
            y=names,
            customdata=ranks,
            colorscale=[[0, "#ffffff"], [1, SPAN_COLOR]],
            zmin=0,
            zmax=colour_top(z),
            colorbar=dict(title="baseline<br>attention", tickformat=".0%", thickness=12, x=1.09),
            hovertemplate=(
                "%{y}<br>layer %{x}: %{z:.1%} of the last token's attention<br>rank %{customdata} of "
                f"{split.context} (1 = most attended)<extra></extra>"
            ),
            name="baseline attention",
        )
    )
    off = [(layer, names[i]) for i, tok in enumerate(split.tokens) for layer in np.flatnonzero(~tok.selected)]
    fig.add_trace(
        go.Scatter(
            x=[o[0] for o in off] or [None],
            y=[o[1] for o in off] or [None],
            mode="markers",
            name=f"not selected by {html.escape(run_name(trace), quote=False)} at step {split.step}",
            marker=dict(symbol="x-thin", size=9, line=dict(color="#000", width=1.5)),
            hovertemplate="%{y}<br>layer %{x}: not selected by LazyLLM<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=np.arange(L),
            y=split.missed,
            yaxis="y2",
            mode="lines",
            name=f"share of the baseline's attention on tokens {html.escape(run_name(trace), quote=False)} "
            "did not select (right axis)",
            line=dict(color=LAZY_COLOR, dash="dash"),
            hovertemplate="layer %{x}: %{y:.0%} of the baseline's attention left out<extra></extra>",
        )
    )
    grey = dict(color="#999", width=1)
    for layer, _ in list(trace.schedule)[: MAX_PANELS * 8]:
        fig.add_vline(x=int(layer) + 0.5, line=grey)
    if trace.schedule:
        legend_entry(fig, "grey line: a pruning layer of this run", line=grey)
    title = f"Step {split.step}: the prompt tokens the baseline attended to most, layer by layer"
    layout(fig, title, height=160 + 28 * len(names), legend=dict(orientation="h", y=-0.3), showlegend=True)
    fig.update_layout(
        yaxis=dict(autorange="reversed", domain=[0, 1]),
        yaxis2=dict(overlaying="y", side="right", range=[0, 1], tickformat=".0%", showgrid=False),
        margin=dict(l=150, r=110, t=48, b=40),
    )
    fig.update_xaxes(title="layer", range=[-0.5, L - 0.5])
    return fig
