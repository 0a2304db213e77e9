"""Importance (§3.2, Eq. 1): attention from the last token per pruning layer, with the percentile cut."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app import stats as S
from app.figures.messages import empty_figure
from app.markup import token_label
from app.plotting import LAZY_COLOR, MAX_PANELS, PRUNED_COLOR, SPAN_COLOR, axes, layout, legend_entry

FLOOR = 1e-12  # scores drawn on a log axis: zero shown at this floor


def importance_plot(
    trace, step: int, span: S.Span = None, top_k: int = 5, max_points: int = 2000
) -> go.Figure:
    """For each pruning layer: importance over positions (log scale), the threshold, the top tokens."""
    step = S.clamp_step(trace, step)
    s = trace.steps[step]
    keep = S.keep_fractions(trace)
    layers = sorted(s.scores)
    if not layers:
        return empty_figure("Importance", "No pruning layers in this run (baseline): nothing was scored.")
    shown = layers[:MAX_PANELS]
    fig = make_subplots(rows=len(shown), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    span = S.clamp_span(trace, span, step)
    shapes, notes = [], []  # layout shapes and annotations, set at once (plotly's add_* copy them all)
    for row, layer in enumerate(shown, 1):
        panel = _Panel(fig, trace, s, layer, keep.get(layer, 1.0), row)
        panel.draw(top_k, max_points, shapes, notes)
        if span:
            shapes.append(_span_band(row, span))
    what = "prefill" if step == 0 else f"decode step {step}"
    title = f"Importance at {what}: attention from the last token, per pruning layer"
    if len(shown) < len(layers):
        title += f" (first {len(shown)} of {len(layers)} pruning layers)"
    legend_entry(
        fig, "dashed line: the percentile threshold", line=dict(color=SPAN_COLOR, dash="dash", width=1)
    )
    if span:
        legend_entry(
            fig, "band: focus span", marker=dict(symbol="square", color=SPAN_COLOR, opacity=0.3, size=12)
        )
    layout(fig, title, height=170 + 180 * len(shown), shapes=shapes, annotations=notes)
    fig.update_layout(
        showlegend=True, legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right")
    )
    fig.update_xaxes(title="token position", row=len(shown), col=1)
    return fig


def _span_band(row: int, span: tuple[int, int]) -> dict:
    x, y = axes(row)
    return dict(
        type="rect",
        xref=x,
        yref=f"{y} domain",
        x0=span[0] - 0.5,
        x1=span[1] - 0.5,
        y0=0,
        y1=1,
        fillcolor=SPAN_COLOR,
        opacity=0.18,
        line_width=0,
    )


LABEL_STEP_PX = 13  # a label that would overlap one already placed is raised by this much per level
LABEL_X_GAP = 0.07  # labels closer than this share of the axis (x) …
LABEL_Y_GAP = 0.4  # … and this many decades of score (y) would overlap


def label_levels(x: np.ndarray, y: np.ndarray, levels: int = 3) -> list[int | None]:
    """For labels at x (share of the axis) and y (log10 score), placed in this order (best first): the
    lowest level (0, 1, …) at which none overlaps a label placed before it, None when all `levels` are
    taken (that token is left to its hover): the importance view's labels never overlap."""
    placed: list[tuple[float, float, int]] = []
    out: list[int | None] = []
    for xi, yi in zip(x, y, strict=True):
        near = {lv for px, py, lv in placed if abs(px - xi) < LABEL_X_GAP and abs(py - yi) < LABEL_Y_GAP}
        level = next((lv for lv in range(levels) if lv not in near), None)
        out.append(level)
        if level is not None:
            placed.append((float(xi), float(yi), level))
    return out


def peaks(pos: np.ndarray, sc: np.ndarray, max_points: int) -> np.ndarray:
    """At most ~max_points of `pos`: the highest score of each bin, so the peaks stay visible."""
    if pos.size <= max_points:
        return pos
    width = math.ceil(pos.size / max_points)
    return np.array([c[np.argmax(sc[c])] for c in np.array_split(pos, math.ceil(pos.size / width))])


class _Panel:
    """One pruning layer's subplot row: kept and pruned tokens, the threshold line, the top tokens."""

    def __init__(self, fig, trace, s, layer: int, keep: float, row: int):
        self.fig, self.trace, self.s, self.layer, self.keep, self.row = fig, trace, s, layer, keep, row
        self.sc = s.scores[layer]
        self.x, self.y = axes(row)

    def draw(self, top_k: int, max_points: int, shapes: list, notes: list) -> None:
        entering = np.flatnonzero(~np.isnan(self.sc))
        pos = peaks(entering, self.sc, max_points)
        self._points(pos)
        cut = S.threshold(self.sc, self.keep)
        if not math.isnan(cut):
            self._threshold(max(cut, FLOOR), entering.size, shapes, notes)
        top = pos[np.argsort(-self.sc[pos], kind="stable")][:top_k]
        logs = np.log10(np.maximum(self.sc[top], FLOOR))
        span = max(int(self.s.n), 1)
        for i, level in zip(top, label_levels(top / span, logs), strict=True):
            if level is not None:
                notes.append(self._label(int(i), level))
        self.fig.update_yaxes(
            type="log", exponentformat="power", title=f"layer {self.layer}", row=self.row, col=1
        )

    def _points(self, pos: np.ndarray) -> None:
        survived = self.s.depth[pos] > self.layer + 1
        for mask, name, color in ((survived, "kept", LAZY_COLOR), (~survived, "pruned", PRUNED_COLOR)):
            p = pos[mask]
            self.fig.add_scattergl(
                x=p,
                y=np.maximum(self.sc[p], FLOOR),
                mode="markers",
                marker=dict(size=4, color=color),
                name=name,
                legendgroup=name,
                showlegend=self.row == 1,
                text=[token_label(self.trace.tokens[i], 20) for i in p],
                hovertemplate="pos %{x} %{text}<br>score %{y:.3g}<extra>" + name + "</extra>",
                row=self.row,
                col=1,
            )

    def _threshold(self, line: float, entering: int, shapes: list, notes: list) -> None:
        """The dashed cut and its label (shapes on a log axis take data values, annotations their log10)."""
        x, y = self.x, self.y
        dash = dict(color=SPAN_COLOR, dash="dash", width=1)
        shapes.append(dict(type="line", xref=f"{x} domain", yref=y, x0=0, x1=1, y0=line, y1=line, line=dash))
        notes.append(
            dict(
                text=f"threshold: top {self.keep:.0%} of {entering} entering kept",
                font=dict(size=10),
                xref=f"{x} domain",
                x=1,
                xanchor="right",
                yref=y,
                y=math.log10(line),
                yanchor="bottom",
                showarrow=False,
                bgcolor="rgba(255,255,255,0.7)",
            )
        )

    def _label(self, i: int, level: int = 0) -> dict:
        return dict(
            x=i,
            y=math.log10(max(self.sc[i], FLOOR)),
            xref=self.x,
            yref=self.y,
            text=token_label(self.trace.tokens[i], 12),
            showarrow=False,
            yshift=9 + LABEL_STEP_PX * level,
            font=dict(size=10, color="#333"),
        )
