"""Strategies or sweep points against one baseline: the paper's Table 1 as a trade-off chart."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from app.plotting import LAZY_COLOR, layout, log_axis

GROUPS = (  # (kept, legend entry, marker symbol): every mark the chart draws has its entry
    (True, "filled: answer kept (right, or the baseline's text)", "circle"),
    (False, "open: answer changed (wrong, or another text)", "circle-open"),
)
KL_FLOOR = 1e-6  # a mean KL of 0 (the same distributions) drawn at this floor of the log axis


def tradeoff_plot(rows: Sequence[dict], title: str) -> go.Figure:
    """Strategies or sweep points: TTFT speedup (x) vs teacher-forced mean KL (y); filled markers
    keep the answer (the baseline's text, or the known answer), open ones lose it. Each point is named
    after its run; hovering it shows what the run generated (`text`) and its compute. Drawn again as
    each row arrives (a table job posts the rows so far), so it fills in point by point."""
    fig = go.Figure()
    for kept, name, symbol in GROUPS:
        group = [r for r in rows if bool(r["kept"]) == kept]
        if group:
            fig.add_scatter(
                x=[r["ttft_speedup"] for r in group],
                y=[max(r["mean_kl"], KL_FLOOR) for r in group],
                mode="markers+text",
                name=name,
                text=[html.escape(r["label"]) for r in group],
                customdata=[[_hover_text(r), f"{r['compute_fraction']:.0%}"] for r in group],
                textposition="top center",
                cliponaxis=False,  # a name over a point at the top edge stays whole
                marker=dict(size=12, symbol=symbol, color=LAZY_COLOR, line=dict(width=2)),
                hovertemplate="%{text}<br>TTFT %{x:.2f}×<br>mean KL %{y:.3g} nats<br>"
                "prompt compute %{customdata[1]} (whole generation)<br>“%{customdata[0]}”<extra></extra>",
            )
    layout(fig, title, height=340, legend=dict(orientation="h", y=-0.3), showlegend=True)
    fig.update_xaxes(title="TTFT speedup vs the baseline (×)")
    fig.update_yaxes(
        log_axis([max(r["mean_kl"], KL_FLOOR) for r in rows], "teacher-forced mean KL (nats, log)")
    )
    return fig


def _hover_text(row: dict, limit: int = 80) -> str:
    """The run's generated text, on one line, cut and escaped for a hover label."""
    text = " ".join(str(row.get("text", "")).split())
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")
