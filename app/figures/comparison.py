"""The comparison with the baseline: time per step, and teacher-forced fidelity per step."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import plotly.graph_objects as go

from app.markup import lazy_name
from app.plotting import (
    BASE_COLOR,
    LAZY_COLOR,
    REVIVED_COLOR,
    SPAN_COLOR,
    layout,
    legend_entry,
    log_axis,
    two_axes,
)


def step_times_plot(c, revived: Sequence[int] = ()) -> go.Figure:
    """Where the time goes: the seconds of every step of both runs (prefill = step 0, log scale), and
    the token-layers each decode step revived from the Aux Cache (the work the prefill deferred)."""
    fig = two_axes()
    label = html.escape(lazy_name(c.config.get("label")), quote=False)[:80]
    for name, secs, color in (
        ("baseline", c.baseline_step_s, BASE_COLOR),
        (label, c.lazy_step_s, LAZY_COLOR),
    ):
        fig.add_scatter(
            x=list(range(len(secs))),
            y=list(secs),
            name=f"{name}: seconds per step",
            mode="lines+markers",
            line=dict(color=color),
        )
    if any(revived):
        fig.add_bar(
            x=list(range(len(revived))),
            y=list(revived),
            name="token-layers revived",
            marker_color=REVIVED_COLOR,
            opacity=0.5,
            yaxis="y2",
        )
    title = (
        f"Time per step · TTFT {speedup(c.ttft_speedup)} · "
        f"whole generation ({c.timed_steps} steps each) {speedup(c.generation_speedup)}"
    )
    if math.isfinite(c.decode_step_ratio):
        carries = " it carries the revived work (bars)" if any(revived[1:]) else ""
        title += (
            f"<br><sup>a decode step costs {c.decode_step_ratio:.2f}× the baseline's (median);{carries}</sup>"
        )
    layout(fig, title, height=300, legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_layout(
        yaxis=log_axis([*c.baseline_step_s, *c.lazy_step_s], "seconds (log)"),
        yaxis2=dict(title="revived", rangemode="tozero", showgrid=False),
    )
    return fig


def speedup(ratio: float | None) -> str:
    """ "2.00× faster", "0.50× (2.00× slower)", or "n/a"."""
    if ratio is None or not math.isfinite(ratio):
        return "n/a"
    return f"{ratio:.2f}× faster" if ratio >= 1 else f"{ratio:.2f}× ({1 / ratio:.2f}× slower)"


def fidelity_plot(kl: Sequence[float], top1: Sequence[bool], divergence: int | None) -> go.Figure:
    """Teacher-forced fidelity per step: KL(baseline || pruned) and top-1 agreement on the same context."""
    steps = list(range(len(kl)))
    fig = two_axes()
    fig.add_bar(x=steps, y=list(kl), name="KL (nats)", marker_color=LAZY_COLOR)
    fig.add_scatter(
        x=steps,
        y=[1 if a else 0 for a in top1],
        name="top-1 agrees (● yes, × no)",
        mode="markers",
        yaxis="y2",
        marker=dict(symbol=["circle" if a else "x" for a in top1], size=8, color=REVIVED_COLOR),
    )
    if divergence is not None:
        fig.add_vline(x=divergence, line=dict(color=SPAN_COLOR, dash="dash"))
        legend_entry(
            fig, f"dashed line: the texts diverge (step {divergence})", dict(color=SPAN_COLOR, dash="dash")
        )
    where = f"texts diverge at step {divergence}" if divergence is not None else "identical texts"
    title = f"Teacher-forced fidelity per step · {where} · click a step to open it"
    # hovermode "x": a click anywhere in a step's column opens that step
    layout(fig, title, height=300, legend=dict(orientation="h", y=-0.3), hovermode="x")
    fig.update_layout(
        yaxis=dict(title="KL (nats)", rangemode="tozero"),
        yaxis2=dict(title="top-1", range=[-0.2, 1.2], tickvals=[0, 1], ticktext=["no", "yes"]),
    )
    fig.update_xaxes(title="step (0 = prefill)")
    return fig
