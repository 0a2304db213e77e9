"""Strategies or sweep points against one baseline: the paper's Table 1 as a trade-off chart."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from app.plotting import LAZY_COLOR, layout


def tradeoff_plot(rows: Sequence[dict], title: str) -> go.Figure:
    """Strategies or sweep points: TTFT speedup (x) vs teacher-forced mean KL (y); filled markers
    keep the answer (the baseline's text, or the known answer), open ones lose it."""
    fig = go.Figure()
    kept = [r for r in rows if r["kept"]]
    lost = [r for r in rows if not r["kept"]]
    for group, name, symbol in ((kept, "answer kept", "circle"), (lost, "answer changed", "circle-open")):
        if group:
            fig.add_scatter(
                x=[r["ttft_speedup"] for r in group],
                y=[max(r["mean_kl"], 1e-6) for r in group],
                mode="markers+text",
                name=name,
                text=[html.escape(r["label"]) for r in group],
                textposition="top center",
                marker=dict(size=12, symbol=symbol, color=LAZY_COLOR, line=dict(width=2)),
                hovertemplate="%{text}<br>TTFT %{x:.2f}×<br>mean KL %{y:.3g} nats<extra></extra>",
            )
    layout(fig, title, height=340, legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="TTFT speedup vs the baseline (×)")
    fig.update_yaxes(title="teacher-forced mean KL (nats, log)", type="log")
    return fig
