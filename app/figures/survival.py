"""Token survival: which (layer, token) cells a step selected, computed or revived (LazyLLM Fig. 4)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app import stats as S
from app.markup import token_label
from app.plotting import (
    BASE_COLOR,
    LAZY_COLOR,
    MAX_COLS,
    MAX_PANELS,
    REVIVED_COLOR,
    SPAN_COLOR,
    STATE_COLORS,
    bin_columns,
    bin_width,
    binned,
    layout,
    legend_entry,
    shade_local_layers,
)


def _state_colorscale() -> list:
    """A discrete colour scale over the state codes 0..3 (z from -0.5 to 3.5)."""
    scale = []
    for i, c in enumerate(STATE_COLORS):
        scale += [[i / 4, c], [(i + 1) / 4, c]]
    return scale


def _column_labels(trace, starts: np.ndarray, width: int, n: int) -> list[str]:
    """One category label per column: "position token", or "first-last" positions of a bin."""
    if width == 1:
        return [f"{i} {token_label(trace.tokens[i], 16)}" for i in starts]
    return [f"{a}-{min(a + width, n) - 1}" for a in starts]


def _states_heatmap(z, labels, scores, L: int, width: int) -> go.Heatmap:
    what = "token" if width == 1 else "tokens"
    return go.Heatmap(
        z=z,
        x=labels,
        y=np.arange(L),
        customdata=scores.astype(np.float32),
        zmin=-0.5,
        zmax=3.5,
        colorscale=_state_colorscale(),
        ygap=1 if L <= 40 else 0,
        hovertemplate=what + " %{x}<br>layer %{y}<br>score %{customdata:.3g} (-1: not scored)<extra></extra>",
        colorbar=dict(tickvals=[0, 1, 2, 3], ticktext=list(S.STATE_NAMES), len=0.9, thickness=12),
    )


def _outline_span(fig: go.Figure, span: tuple[int, int], width: int) -> None:
    a, b = span[0] // width, (span[1] - 1) // width + 1
    fig.add_vrect(x0=a - 0.5, x1=b - 0.5, line=dict(color=SPAN_COLOR, width=2), layer="above")
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="markers",
        name="focus span (outlined)",
        marker=dict(symbol="square-open", color=SPAN_COLOR, size=12),
    )


def survival_heatmap(trace, step: int, span: S.Span = None, max_cols: int = MAX_COLS) -> go.Figure:
    """Layer x token heatmap of one step, each cell coloured by its state (LazyLLM Fig. 4).

    Columns are categories labelled "position token" (one label per column keeps the payload small);
    the axis shows token positions, as every other view does.
    """
    step = S.clamp_step(trace, step)
    states = S.survival_states(trace, step)
    L, n = states.shape
    width = bin_width(n, L, max_cols)
    z = bin_columns(states, width, S.NOT_SELECTED)
    scores = bin_columns(np.nan_to_num(S.layer_scores(trace, step), nan=-1.0), width, -1.0)  # -1: not scored
    starts = np.arange(0, n, width)
    labels = _column_labels(trace, starts, width, n)
    fig = go.Figure(_states_heatmap(z, labels, scores, L, width))
    span = S.clamp_span(trace, span, step)
    if span:
        _outline_span(fig, span, width)
    if step > 0:
        dot = dict(color="#444", width=1, dash="dot")
        fig.add_vline(x=trace.prompt_len / width - 0.5, line=dot)
        legend_entry(fig, "dotted line: prompt | generated tokens", line=dot)
    shade_local_layers(fig, trace.layer_types, trace.sliding_window, axis="y")
    what = "prefill (step 0)" if step == 0 else f"decode step {step}"
    title = binned(f"Token survival at {what}", width)
    layout(fig, title, height=380, legend=dict(orientation="h", y=-0.22))
    ticks = list(range(0, len(labels), max(1, len(labels) // 12)))
    fig.update_xaxes(
        title="token position",
        showgrid=False,
        type="category",
        tickmode="array",
        tickangle=0,
        tickvals=[labels[i] for i in ticks],
        ticktext=[str(int(starts[i])) for i in ticks],
    )
    fig.update_yaxes(title="layer", autorange=True, showgrid=False)
    return fig


def selected_per_layer(trace, step: int) -> go.Figure:
    """Tokens selected at each layer, this step, against the baseline (every token at every layer)."""
    step = S.clamp_step(trace, step)
    n = trace.steps[step].n
    layers = list(range(trace.num_layers))
    fig = go.Figure()
    fig.add_scatter(x=layers, y=[n] * len(layers), name="baseline", line=dict(color=BASE_COLOR, dash="dash"))
    fig.add_scatter(
        x=layers,
        y=S.selected_counts(trace, step),
        name="selected (attended)",
        line=dict(color=LAZY_COLOR, shape="hv", width=4),
    )
    fig.add_scatter(
        x=layers,
        y=S.computed_counts(trace, step),
        name="computed this step",
        line=dict(color=REVIVED_COLOR, shape="hv", width=2, dash="dot"),
    )
    for layer, _keep in trace.schedule[: MAX_PANELS * 8]:
        fig.add_vline(x=layer + 0.5, line=dict(color="#bbb", width=1))
    title = "Tokens per layer (grey lines: pruning after that layer)"
    layout(fig, title, height=300, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="layer")
    fig.update_yaxes(title="tokens", rangemode="tozero")
    return fig
