"""Pure `Trace -> go.Figure` (or HTML / table rows) functions: what the app draws.

Nothing here touches a model or Gradio. Every function takes a `lazyllm.trace.Trace` (and plain
arguments) and returns a figure, a string or rows, so each can be tested on a synthetic trace and
one failing view cannot break the others (the UI wraps each call, see `safe_figure`).

Token axis: beyond `MAX_COLS` tokens the survival heatmap groups neighbouring tokens into bins and
shows each bin's most notable state, so a 8k-token prompt still sends a small payload.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# States of a (layer, token) cell at one step, ordered by how notable they are (max = most notable).
NOT_SELECTED, KV_REUSED, COMPUTED, REVIVED = 0, 1, 2, 3
STATE_NAMES = ("not selected", "KV reused", "computed", "revived from Aux Cache")
# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
STATE_COLORS = ("#e9e9e9", "#56B4E9", "#0072B2", "#E69F00")
BASE_COLOR, LAZY_COLOR, SPAN_COLOR = "#999999", "#0072B2", "#D55E00"
MAX_COLS = 1200
FONT = dict(family="Inter, system-ui, sans-serif", size=12)

Span = tuple[int, int] | None  # [start, end) token positions


def _layout(fig: go.Figure, title: str, height: int = 320, **kw) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.01, font=dict(size=14)),
        height=height,
        margin=dict(l=56, r=16, t=44, b=40),
        template="plotly_white",
        font=FONT,
        **kw,
    )
    return fig


def error_figure(title: str, message: str) -> go.Figure:
    """A figure that says what went wrong, shown in place of a view whose function failed."""
    fig = go.Figure()
    fig.add_annotation(text=html.escape(message)[:300], showarrow=False, font=dict(color="#b00020"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, f"{title}: could not draw", height=200)


def empty_figure(title: str, message: str = "Run a prompt or load a trace to see this view.") -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=200)


def token_label(text: str, limit: int = 24, escape: bool = True) -> str:
    """A token's text made visible: spaces as '·', newlines as '⏎', shortened, HTML-escaped for plotly."""
    shown = text.replace(" ", "·").replace("\n", "⏎").replace("\t", "⇥")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return (html.escape(shown) if escape else shown) or "∅"


def clamp_step(trace, step) -> int:
    return int(min(max(int(step or 0), 0), trace.num_steps - 1))


def clamp_span(trace, span: Span, step: int) -> Span:
    if span is None:
        return None
    n = trace.prompt_len + step
    a, b = max(0, int(span[0])), min(n, int(span[1]))
    return (a, b) if b > a else None


# --- token survival -----------------------------------------------------------------------------


def survival_states(trace, step: int) -> np.ndarray:
    """int8 [L, n]: the state of every (layer, token) cell at `step` (codes NOT_SELECTED..REVIVED)."""
    s = trace.steps[step]
    layers = np.arange(trace.num_layers)[:, None]
    states = np.where(s.depth[None, :] > layers, KV_REUSED, NOT_SELECTED).astype(np.int8)  # (L, n)
    for layer, pos in s.computed.items():
        states[layer, pos] = COMPUTED
    for layer, pos in s.revived.items():
        states[layer, pos] = REVIVED
    return states


def layer_scores(trace, step: int) -> np.ndarray:
    """float [L, n]: for each layer, the score from the latest pruning layer at or before it (NaN before)."""
    s = trace.steps[step]
    out = np.full((trace.num_layers, s.n), np.nan)
    for layer in sorted(s.scores):
        out[layer:] = s.scores[layer]
    return out


def bin_columns(n: int, max_cols: int = MAX_COLS) -> int:
    """Tokens per heatmap column: 1 up to `max_cols` tokens, more beyond."""
    return max(1, math.ceil(n / max_cols))


def _bin_max(a: np.ndarray, width: int, fill) -> np.ndarray:
    """Max over groups of `width` columns of a 2-D array (the last group padded with `fill`)."""
    if width == 1:
        return a
    rows, n = a.shape
    pad = (-n) % width
    padded = np.concatenate([a, np.full((rows, pad), fill, dtype=a.dtype)], axis=1)
    return padded.reshape(rows, -1, width).max(axis=2)


def _column_labels(trace, n: int, width: int) -> list[str]:
    if width == 1:
        return [f"{i} {token_label(trace.tokens[i], 16)}" for i in range(n)]
    return [f"{a}-{min(a + width, n) - 1}" for a in range(0, n, width)]


def survival_heatmap(trace, step: int, span: Span = None, max_cols: int = MAX_COLS) -> go.Figure:
    """Layer x token heatmap of one step, each cell coloured by its state (LazyLLM Fig. 4)."""
    step = clamp_step(trace, step)
    states = survival_states(trace, step)
    L, n = states.shape
    width = bin_columns(n, max_cols)
    z = _bin_max(states, width, NOT_SELECTED)
    scores = layer_scores(trace, step)
    if width > 1:
        scores = _bin_max(np.nan_to_num(scores, nan=-1.0), width, -1.0)
        scores = np.where(scores < 0, np.nan, scores)
    score_txt = np.where(np.isnan(scores), "–", np.char.mod("%.3g", np.nan_to_num(scores)))
    labels = _column_labels(trace, n, width)
    colorscale = []
    for i, c in enumerate(STATE_COLORS):
        colorscale += [[i / 4, c], [(i + 1) / 4, c]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=list(range(L)),
            customdata=score_txt,
            zmin=-0.5,
            zmax=3.5,
            colorscale=colorscale,
            colorbar=dict(tickvals=[0, 1, 2, 3], ticktext=list(STATE_NAMES), len=0.9, thickness=12),
            hovertemplate="token %{x}<br>layer %{y}<br>score %{customdata}<extra></extra>",
            ygap=1 if L <= 40 else 0,
        )
    )
    span = clamp_span(trace, span, step)
    if span:
        a, b = span[0] // width, (span[1] - 1) // width + 1
        fig.add_vrect(x0=a - 0.5, x1=b - 0.5, line=dict(color=SPAN_COLOR, width=2), layer="above")
    prompt_col = trace.prompt_len / width - 0.5
    if step > 0:
        fig.add_vline(x=prompt_col, line=dict(color="#444", width=1, dash="dot"))
    unit = "token" if width == 1 else f"token bin ({width} tokens each)"
    what = "prefill" if step == 0 else f"decode step {step}"
    _layout(fig, f"Token survival at {what}: which tokens each layer sees", height=360)
    ticks = labels[:: max(1, len(labels) // 12)]
    fig.update_xaxes(
        title=f"{unit} position",
        showgrid=False,
        type="category",
        tickmode="array",
        tickvals=ticks,
        ticktext=[t.split(" ")[0].split("-")[0] for t in ticks],
        tickangle=0,
    )
    fig.update_yaxes(title="layer", autorange=True, showgrid=False)
    return fig


def selected_counts(trace, step: int) -> np.ndarray:
    """int [L]: tokens selected (attended) at each layer at `step`."""
    s = trace.steps[step]
    return np.array([int((s.depth > layer).sum()) for layer in range(trace.num_layers)])


def selected_per_layer(trace, step: int) -> go.Figure:
    """Tokens selected at each layer, this step, against the baseline (every token at every layer)."""
    step = clamp_step(trace, step)
    n = trace.steps[step].n
    counts = selected_counts(trace, step)
    computed = [len(trace.steps[step].computed.get(layer, ())) for layer in range(trace.num_layers)]
    layers = list(range(trace.num_layers))
    fig = go.Figure()
    fig.add_scatter(x=layers, y=[n] * len(layers), name="baseline", line=dict(color=BASE_COLOR, dash="dash"))
    fig.add_scatter(
        x=layers, y=counts, name="selected (attended)", line=dict(color=LAZY_COLOR, shape="hv", width=4)
    )
    fig.add_scatter(
        x=layers,
        y=computed,
        name="computed this step",
        line=dict(color=STATE_COLORS[REVIVED], shape="hv", width=2, dash="dot"),
    )
    for layer, _keep in trace.schedule:
        fig.add_vline(x=layer + 0.5, line=dict(color="#bbb", width=1))
    _layout(fig, "Tokens per layer", height=300, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="layer")
    fig.update_yaxes(title="tokens", rangemode="tozero")
    return fig


# --- importance -------------------------------------------------------------------------------


def threshold(scores: np.ndarray, keep: float) -> float:
    """The percentile cut: tokens entering the layer scoring below it are pruned (§3.2)."""
    entering = scores[~np.isnan(scores)]
    if entering.size == 0:
        return float("nan")
    k = max(1, math.ceil(keep * entering.size))
    return float(np.sort(entering)[::-1][k - 1])


def top_tokens(trace, step: int, top_k: int = 8) -> list[list]:
    """Rows [layer, rank, position, token, score] of the highest-scoring tokens per pruning layer."""
    step = clamp_step(trace, step)
    rows = []
    for layer, sc in sorted(trace.steps[step].scores.items()):
        valid = np.flatnonzero(~np.isnan(sc))
        order = valid[np.argsort(-sc[valid], kind="stable")][:top_k]
        for rank, pos in enumerate(order, 1):
            rows.append(
                [layer, rank, int(pos), token_label(trace.tokens[pos], 30, False), float(f"{sc[pos]:.4g}")]
            )
    return rows


def importance_plot(trace, step: int, span: Span = None, top_k: int = 5, max_points: int = 2000) -> go.Figure:
    """For each pruning layer: importance over positions (log scale), the threshold, the top tokens."""
    step = clamp_step(trace, step)
    s = trace.steps[step]
    keep = {int(layer): float(k) for layer, k in trace.schedule}
    layers = sorted(s.scores)
    if not layers:
        return empty_figure("Importance", "No pruning layers in this run (baseline): nothing was scored.")
    fig = make_subplots(rows=len(layers), cols=1, shared_xaxes=True, vertical_spacing=0.06)
    for row, layer in enumerate(layers, 1):
        _importance_row(fig, trace, s, layer, keep.get(layer, 1.0), row, top_k, max_points)
    span = clamp_span(trace, span, step)
    if span:
        fig.add_vrect(x0=span[0] - 0.5, x1=span[1] - 0.5, fillcolor=SPAN_COLOR, opacity=0.18, line_width=0)
    _layout(
        fig, "Importance: attention from the last token, per pruning layer", height=160 + 170 * len(layers)
    )
    fig.update_layout(
        showlegend=True, legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right")
    )
    fig.update_xaxes(title="token position", row=len(layers), col=1)
    return fig


def _importance_row(fig, trace, s, layer, keep, row, top_k, max_points):
    sc = s.scores[layer]
    pos = np.flatnonzero(~np.isnan(sc))
    survived = s.depth[pos] > layer + 1
    cut = threshold(sc, keep)
    if pos.size > max_points:  # keep the largest scores of each bin so peaks stay visible
        width = math.ceil(pos.size / max_points)
        pos = np.array([c[np.argmax(sc[c])] for c in np.array_split(pos, math.ceil(pos.size / width))])
        survived = s.depth[pos] > layer + 1
    for mask, name, color in ((survived, "kept", LAZY_COLOR), (~survived, "pruned", "#bbbbbb")):
        p = pos[mask]
        fig.add_scattergl(
            x=p,
            y=np.maximum(sc[p], 1e-12),
            mode="markers",
            marker=dict(size=4, color=color),
            name=name,
            legendgroup=name,
            showlegend=row == 1,
            text=[token_label(trace.tokens[i], 20) for i in p],
            hovertemplate="pos %{x} %{text}<br>score %{y:.3g}<extra>" + name + "</extra>",
            row=row,
            col=1,
        )
    if not math.isnan(cut):
        fig.add_hline(y=max(cut, 1e-12), line=dict(color=SPAN_COLOR, dash="dash", width=1), row=row, col=1)
    top = pos[np.argsort(-sc[pos], kind="stable")][:top_k]
    for i in top:
        fig.add_annotation(
            x=int(i),
            y=math.log10(max(sc[i], 1e-12)),
            text=token_label(trace.tokens[i], 12),
            showarrow=False,
            yshift=9,
            font=dict(size=10, color="#333"),
            row=row,
            col=1,
        )
    fig.update_yaxes(
        type="log", exponentformat="power", title=f"layer {layer}<br>keep {keep:.0%}", row=row, col=1
    )


# --- the prompt as text -------------------------------------------------------------------------


def _shade(value: float) -> str:
    """Background for a value in [0, 1]: white to Okabe-Ito blue."""
    v = min(max(value, 0.0), 1.0)
    r, g, b = (int(255 + (c - 255) * v) for c in (0, 114, 178))
    return f"rgb({r},{g},{b})"


def token_values(trace, step: int, mode: str) -> np.ndarray:
    """float [n] in [0, 1] used to shade tokens: survival depth / L, or log-scaled importance."""
    s = trace.steps[step]
    if mode == "depth" or not s.scores:
        return s.depth / trace.num_layers
    first = s.scores[min(s.scores)]
    logs = np.log10(np.clip(np.nan_to_num(first, nan=0.0), 1e-9, None))
    lo, hi = np.percentile(logs, 5), logs.max()
    return (logs - lo) / (hi - lo) if hi > lo else np.zeros_like(logs)


def prompt_html(trace, step: int, mode: str = "importance", span: Span = None, max_tokens: int = 2500) -> str:
    """The context at `step` as HTML, each token shaded by importance (first pruning layer) or depth."""
    step = clamp_step(trace, step)
    s = trace.steps[step]
    values = token_values(trace, step, mode)
    span = clamp_span(trace, span, step)
    scores = s.scores[min(s.scores)] if s.scores else np.full(s.n, np.nan)
    parts = []
    for i in range(min(s.n, max_tokens)):
        text = html.escape(trace.tokens[i]).replace("\n", "⏎<br>")
        color = "#fff" if values[i] > 0.6 else "#111"
        outline = " lz-span" if span and span[0] <= i < span[1] else ""
        gen = " lz-gen" if i >= trace.prompt_len else ""
        tip = f"pos {i} · depth {int(s.depth[i])}/{trace.num_layers} · score {scores[i]:.3g}"
        parts.append(
            f'<span class="lz-tok{outline}{gen}" title="{tip}" '
            f'style="background:{_shade(values[i])};color:{color}">{text}</span>'
        )
    more = f"<p><i>… {s.n - max_tokens} more tokens not shown</i></p>" if s.n > max_tokens else ""
    legend = "importance at the first pruning layer" if mode != "depth" else "layers survived (depth)"
    return (
        f'<div class="lz-prompt"><div class="lz-legend">shading: {legend}; darker = higher · '
        f"outlined: focus span</div>{''.join(parts)}{more}</div>"
    )


# --- evidence tracker -------------------------------------------------------------------------


def evidence_grid(trace, span: tuple[int, int]) -> np.ndarray:
    """float [L, steps]: fraction of the span's tokens selected at each layer and step."""
    a, b = span
    grid = np.zeros((trace.num_layers, trace.num_steps))
    layers = np.arange(trace.num_layers)[:, None]
    for t, s in enumerate(trace.steps):
        d = s.depth[a : min(b, s.n)]
        if d.size:
            grid[:, t] = (d[None, :] > layers).mean(axis=1)
    return grid


def evidence_revivals(trace, span: tuple[int, int]) -> list[tuple[int, int, int]]:
    """(step, layer, position) of every revival of a span token."""
    a, b = span
    out = []
    for t, s in enumerate(trace.steps):
        for layer, pos in sorted(s.revived.items()):
            out += [(t, layer, int(p)) for p in pos if a <= p < b]
    return out


def evidence_plot(trace, span: Span) -> go.Figure:
    """Steps x layers: how much of the focus span each layer saw, with its revivals marked."""
    if span is None:
        return empty_figure(
            "Evidence tracker", "Choose a focus span (find text or use the example's answer)."
        )
    grid = evidence_grid(trace, span)
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=list(range(trace.num_steps)),
            y=list(range(trace.num_layers)),
            zmin=0,
            zmax=1,
            colorscale=[[0, STATE_COLORS[NOT_SELECTED]], [1, LAZY_COLOR]],
            colorbar=dict(title="selected", tickformat=".0%", thickness=12),
            hovertemplate="step %{x}<br>layer %{y}<br>%{z:.0%} of the span selected<extra></extra>",
        )
    )
    rev = evidence_revivals(trace, span)
    if rev:
        fig.add_scatter(
            x=[r[0] for r in rev],
            y=[r[1] for r in rev],
            mode="markers",
            marker=dict(
                symbol="star", size=10, color=STATE_COLORS[REVIVED], line=dict(color="#000", width=0.5)
            ),
            name="revived",
            text=[token_label(trace.tokens[r[2]]) for r in rev],
            hovertemplate="revived %{text}<br>step %{x}, layer %{y}<extra></extra>",
        )
    a, b = span
    words = "".join(trace.tokens[a:b])[:60]
    _layout(fig, f"Evidence: tokens {a}-{b - 1} “{html.escape(words)}” across steps", height=340)
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="layer")
    return fig


def evidence_summary(trace, span: Span, answer_ok: bool | None = None) -> str:
    """Plain-language account of what happened to the span (markdown)."""
    if span is None:
        return "No focus span chosen."
    grid = evidence_grid(trace, span)
    full = grid[-1] >= 1.0  # span fully reached the last layer
    first_pruned = next(
        ((t, int(np.argmax(grid[:, t] < 1))) for t in range(grid.shape[1]) if (grid[:, t] < 1).any()), None
    )
    rev = evidence_revivals(trace, span)
    lines = [
        f"- Tokens {span[0]}–{span[1] - 1}: **“{html.escape(''.join(trace.tokens[span[0] : span[1]])[:80])}”**",
        f"- Reached the last layer in full at **{int(full.sum())} of {trace.num_steps}** steps.",
    ]
    if first_pruned:
        t, layer = first_pruned
        lines.append(
            f"- First pruned at step {t}: part of it was missing from layer {layer} on (pruned after layer {layer - 1})."
        )
    else:
        lines.append("- Never pruned: every layer saw the whole span at every step.")
    lines.append(
        f"- Revived from the Aux Cache **{len(rev)}** times"
        + (f" (first at step {rev[0][0]}, layer {rev[0][1]})." if rev else ".")
    )
    if answer_ok is not None:
        lines.append(f"- Answer came out right: **{'yes ✓' if answer_ok else 'no ✗'}**")
    return "\n".join(lines)


def find_span(trace, text: str, limit: int | None = None) -> Span:
    """Token positions [a, b) covering the first occurrence of `text` in the prompt, or None."""
    if not text:
        return None
    limit = trace.prompt_len if limit is None else limit
    starts, pos = [], 0
    for tok in trace.tokens[:limit]:
        starts.append(pos)
        pos += len(tok)
    joined = "".join(trace.tokens[:limit])
    at = joined.find(text)
    if at < 0:
        at = joined.lower().find(text.lower())
    if at < 0:
        return None
    a = int(np.searchsorted(starts, at, side="right") - 1)
    b = int(np.searchsorted(starts, at + len(text), side="left"))
    return (a, max(b, a + 1))


# --- Aux Cache and revivals ---------------------------------------------------------------------


def revivals_grid(trace) -> np.ndarray:
    """int [L, steps]: tokens revived from the Aux Cache at each layer and step."""
    grid = np.zeros((trace.num_layers, trace.num_steps), dtype=np.int64)
    for t, s in enumerate(trace.steps):
        for layer, pos in s.revived.items():
            grid[layer, t] = len(pos)
    return grid


def revivals_heatmap(trace, span: Span = None) -> go.Figure:
    """Revived tokens per decode step and layer (LazyLLM §3.3: pruned tokens coming back).

    With a focus span, the revivals of its tokens are marked with stars.
    """
    grid = revivals_grid(trace)
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=list(range(trace.num_steps)),
            y=list(range(trace.num_layers)),
            colorscale=[[0, "#ffffff"], [0.0001, "#fbe3b0"], [1, STATE_COLORS[REVIVED]]],
            colorbar=dict(title="revived", thickness=12),
            hovertemplate="step %{x}<br>layer %{y}<br>%{z} tokens revived<extra></extra>",
        )
    )
    rev = evidence_revivals(trace, span) if span else []
    if rev:
        fig.add_scatter(
            x=[r[0] for r in rev],
            y=[r[1] for r in rev],
            mode="markers",
            marker=dict(symbol="star", size=9, color=SPAN_COLOR, line=dict(color="#000", width=0.5)),
            name="focus span",
            text=[token_label(trace.tokens[r[2]]) for r in rev],
            hovertemplate="focus span token %{text} revived<br>step %{x}, layer %{y}<extra></extra>",
        )
    _layout(fig, f"Revivals from the Aux Cache: {int(grid.sum())} in total", height=320, showlegend=False)
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="layer")
    return fig


def revived_tokens(trace, limit: int = 300) -> list[list]:
    """Rows [step, layer, position, token] of revivals, in order."""
    rows = []
    for t, s in enumerate(trace.steps):
        for layer, pos in sorted(s.revived.items()):
            rows += [[t, layer, int(p), token_label(trace.tokens[p], 30, False)] for p in pos]
            if len(rows) >= limit:
                return rows[:limit]
    return rows


def cache_sizes_plot(trace) -> go.Figure:
    """KV cache and Aux Cache length per layer after each step (two heatmaps)."""
    kv = np.stack([s.kv_len for s in trace.steps], axis=1)  # (L, steps)
    aux = np.stack([s.aux_len for s in trace.steps], axis=1)
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("KV cache length", "Aux Cache length"), horizontal_spacing=0.2
    )
    steps = list(range(trace.num_steps))
    layers = list(range(trace.num_layers))
    for col, z, scale, x in ((1, kv, "Blues", 0.41), (2, aux, "Oranges", 1.01)):
        fig.add_heatmap(
            z=z,
            x=steps,
            y=layers,
            colorscale=scale,
            colorbar=dict(x=x, thickness=10, len=0.9),
            hovertemplate="step %{x}<br>layer %{y}<br>%{z} tokens<extra></extra>",
            row=1,
            col=col,
        )
    _layout(fig, "", height=320)
    fig.update_layout(margin=dict(t=36))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="layer", col=1)
    return fig


def cumulative_compute_plot(trace) -> go.Figure:
    """Cumulative prompt-token computations vs the baseline, as in the paper's Figs. 3 and 7."""
    base = trace.num_layers * trace.prompt_len
    cum = trace.cumulative_prompt_computations() / base
    steps = list(range(trace.num_steps))
    fig = go.Figure()
    fig.add_scatter(
        x=steps,
        y=[1.0] * len(steps),
        name="baseline (all at prefill)",
        line=dict(color=BASE_COLOR, dash="dash"),
    )
    fig.add_scatter(
        x=steps, y=cum, name=f"{trace.strategy}", mode="lines+markers", line=dict(color=LAZY_COLOR)
    )
    _layout(
        fig,
        f"Prompt-token computations so far: {cum[-1]:.0%} of the baseline",
        height=300,
        legend=dict(orientation="h", y=-0.3),
    )
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="fraction of baseline", tickformat=".0%", rangemode="tozero")
    return fig


def max_computations_per_cell(trace) -> int:
    """The most times any (token, layer) was computed over the generation (at most once: 1)."""
    counts: dict[tuple[int, int], int] = {}
    for s in trace.steps:
        for layer, pos in s.computed.items():
            for p in pos.tolist():
                counts[(layer, p)] = counts.get((layer, p), 0) + 1
    return max(counts.values(), default=0)


# --- side-by-side comparison ---------------------------------------------------------------------


def timing_plot(summary: dict) -> go.Figure:
    """TTFT and total time of both runs as bars, with the speedups in the title."""
    names = ["TTFT", "total"]
    base = [summary["baseline_ttft_s"], summary["baseline_total_s"]]
    lazy = [summary["lazy_ttft_s"], summary["lazy_total_s"]]
    fig = go.Figure()
    fig.add_bar(x=names, y=base, name="baseline", marker_color=BASE_COLOR, text=[f"{v:.2f}s" for v in base])
    fig.add_bar(
        x=names,
        y=lazy,
        name=summary.get("strategy", "lazy"),
        marker_color=LAZY_COLOR,
        text=[f"{v:.2f}s" for v in lazy],
    )
    title = f"TTFT speedup {summary['ttft_speedup']:.2f}× · generation speedup {summary['generation_speedup']:.2f}×"
    _layout(fig, title, height=280, barmode="group", legend=dict(orientation="h", y=-0.2))
    fig.update_yaxes(title="seconds")
    return fig


def fidelity_plot(kl: Sequence[float], top1: Sequence[bool], divergence: int | None) -> go.Figure:
    """Per-step KL(baseline || pruned) of the next-token distributions and top-1 agreement."""
    steps = list(range(len(kl)))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=steps, y=list(kl), name="KL divergence", marker_color=LAZY_COLOR, secondary_y=False)
    fig.add_scatter(
        x=steps,
        y=[1 if a else 0 for a in top1],
        name="top-1 agrees",
        mode="markers",
        marker=dict(symbol=["circle" if a else "x" for a in top1], size=8, color=STATE_COLORS[REVIVED]),
        secondary_y=True,
    )
    if divergence is not None:
        fig.add_vline(x=divergence, line=dict(color=SPAN_COLOR, dash="dash"))
    _layout(
        fig,
        "Fidelity per step"
        + (
            f" · first divergence at step {divergence}"
            if divergence is not None
            else " · identical greedy tokens"
        ),
        height=280,
        legend=dict(orientation="h", y=-0.25),
    )
    fig.update_yaxes(title="KL (nats)", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(
        title="top-1", range=[-0.2, 1.2], tickvals=[0, 1], ticktext=["no", "yes"], secondary_y=True
    )
    fig.update_xaxes(title="step (0 = prefill)")
    return fig
