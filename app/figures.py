"""Pure `Trace -> go.Figure` (or table rows) functions: what the app draws.

Nothing here touches a model or Gradio. Every function takes a `lazyllm.Trace` (or a Comparison, a
LayerScan, rows) and plain arguments and returns a figure or rows, so each can be tested on a
synthetic trace, and one failing view cannot break the others (the UI wraps each call:
`views.safe`).

Budgets: a figure never draws more than CELL_BUDGET heatmap cells or MAX_PANELS panels. Beyond that,
neighbouring tokens (or steps) are grouped into bins, each showing the bin's most notable value, and
the title says so; a trace with thousands of layers still costs a small, bounded payload.

Layer numbering, the same in every view: a token "pruned after layer l" is not computed from layer
l+1 on; its hidden state waits in the Aux Cache of layer l, and a revival computes it again from
layer l+1.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

# States of a (layer, token) cell at one step, ordered by how notable they are (max = most notable).
NOT_SELECTED, KV_REUSED, COMPUTED, REVIVED = 0, 1, 2, 3
STATE_NAMES = ("not selected", "KV reused", "computed", "revived from Aux Cache")
# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
STATE_COLORS = ("#e9e9e9", "#56B4E9", "#0072B2", "#E69F00")
BASE_COLOR, LAZY_COLOR, SPAN_COLOR, OK_COLOR = "#999999", "#0072B2", "#D55E00", "#009E73"
MAX_COLS = 1200  # token columns of a heatmap at most
CELL_BUDGET = 60_000  # heatmap cells at most
MAX_PANELS = 8  # importance panels (pruning layers) at most
FONT = dict(family="Inter, system-ui, sans-serif", size=12)

Span = tuple[int, int] | None  # [start, end) token positions


def _white_template(traces=("bar", "heatmap", "scatter", "scattergl")) -> go.layout.Template:
    """plotly_white cut to the layout and the trace types these figures use: the same look, at a
    fraction of the cost per figure (plotly copies and validates the whole template into every figure,
    and every figure's JSON carries it to the browser)."""
    white = pio.templates["plotly_white"]
    unused = {"geo", "scene", "polar", "ternary", "mapbox", "shapedefaults"}
    layout = {k: v for k, v in white.layout.to_plotly_json().items() if k not in unused}
    return go.layout.Template(layout=layout, data={t: getattr(white.data, t) for t in traces})


TEMPLATE = _white_template()
# The app's process draws these figures only: new figures start from TEMPLATE (plotly copies its default
# template into every figure without validating it; setting one per figure would validate it each time).
pio.templates.default = TEMPLATE


def _layout(fig: go.Figure, title: str, height: int = 320, **kw) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.01, font=dict(size=14)),
        height=height,
        margin=dict(l=56, r=16, t=48, b=40),
        font=FONT,
        **kw,
    )
    return fig


def _two_axes() -> go.Figure:
    """A figure with a second y axis on the right: make_subplots' secondary_y layout, built directly
    (make_subplots costs ~45 ms a figure). Traces on the right axis take yaxis="y2"."""
    return go.Figure(layout=dict(xaxis=dict(anchor="y", domain=[0.0, 0.94]), yaxis=dict(anchor="x", domain=[0.0, 1.0]),
                                 yaxis2=dict(anchor="x", overlaying="y", side="right")))  # fmt: skip


@functools.lru_cache(maxsize=256)
def _message(title: str, message: str, color: str = "#666", height: int = 200) -> go.Figure:
    """A figure with only a message, built once per text (a run marks eleven views pending; building
    each costs ~15 ms of plotly's validation). Shared: callers return it as a view, never change it."""
    fig = go.Figure()
    fig.add_annotation(text=html.escape(message)[:300], showarrow=False, font=dict(color=color))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, html.escape(title), height=height)


def error_figure(title: str, message: str) -> go.Figure:
    """A figure that says what went wrong, shown in place of a view whose function failed."""
    return _message(f"{title}: could not draw", message, color="#b00020")


def empty_figure(title: str, message: str = "Run a prompt or load a trace to see this view.") -> go.Figure:
    return _message(title, message)


def pending_figure(title: str) -> go.Figure:
    """Shown while a run is in progress, in place of a view it has not reached yet."""
    return _message(title, "Pending: this view fills in when the run gets there.", color="#0072B2")


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


def bin_width(n: int, rows: int = 1, max_cols: int = MAX_COLS, budget: int = CELL_BUDGET) -> int:
    """Columns grouped per heatmap column so that rows x columns stays within the budget."""
    cols = max(1, min(max_cols, budget // max(rows, 1)))
    return max(1, math.ceil(n / cols))


def _bin(a: np.ndarray, width: int, fill, reduce=np.max) -> np.ndarray:
    """Reduce groups of `width` columns of a 2-D array (the last group padded with `fill`)."""
    if width == 1:
        return a
    rows, n = a.shape
    pad = (-n) % width
    padded = np.concatenate([a, np.full((rows, pad), fill, dtype=a.dtype)], axis=1)
    return reduce(padded.reshape(rows, -1, width), axis=2)


def _binned(title: str, width: int, what: str = "tokens") -> str:
    return title if width == 1 else f"{title} (each column = {width} {what})"


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


def survival_heatmap(trace, step: int, span: Span = None, max_cols: int = MAX_COLS) -> go.Figure:
    """Layer x token heatmap of one step, each cell coloured by its state (LazyLLM Fig. 4).

    Columns are categories labelled "position token" (one label per column keeps the payload small);
    the axis shows token positions, as every other view does.
    """
    step = clamp_step(trace, step)
    states = survival_states(trace, step)
    L, n = states.shape
    width = bin_width(n, L, max_cols)
    z = _bin(states, width, NOT_SELECTED)
    scores = _bin(np.nan_to_num(layer_scores(trace, step), nan=-1.0), width, -1.0)  # -1: not scored
    starts = np.arange(0, n, width)
    if width == 1:
        labels = [f"{i} {token_label(trace.tokens[i], 16)}" for i in starts]
    else:
        labels = [f"{a}-{min(a + width, n) - 1}" for a in starts]
    colorscale = []
    for i, c in enumerate(STATE_COLORS):
        colorscale += [[i / 4, c], [(i + 1) / 4, c]]
    what = "token" if width == 1 else "tokens"
    fig = go.Figure(
        go.Heatmap(
            z=z, x=labels, y=np.arange(L), customdata=scores.astype(np.float32), zmin=-0.5, zmax=3.5,
            colorscale=colorscale, ygap=1 if L <= 40 else 0,
            hovertemplate=what + " %{x}<br>layer %{y}<br>score %{customdata:.3g} (-1: not scored)<extra></extra>",
            colorbar=dict(tickvals=[0, 1, 2, 3], ticktext=list(STATE_NAMES), len=0.9, thickness=12),
        )
    )  # fmt: skip
    span = clamp_span(trace, span, step)
    if span:
        a, b = span[0] // width, (span[1] - 1) // width + 1
        fig.add_vrect(x0=a - 0.5, x1=b - 0.5, line=dict(color=SPAN_COLOR, width=2), layer="above")
        fig.add_scatter(
            x=[None], y=[None], mode="markers", name="focus span (outlined)",
            marker=dict(symbol="square-open", color=SPAN_COLOR, size=12),
        )  # fmt: skip
    if step > 0:
        fig.add_vline(x=trace.prompt_len / width - 0.5, line=dict(color="#444", width=1, dash="dot"))
    what = "prefill (step 0)" if step == 0 else f"decode step {step}"
    _layout(
        fig, _binned(f"Token survival at {what}", width), height=380, legend=dict(orientation="h", y=-0.22)
    )
    ticks = list(range(0, len(labels), max(1, len(labels) // 12)))
    fig.update_xaxes(
        title="token position", showgrid=False, type="category", tickmode="array", tickangle=0,
        tickvals=[labels[i] for i in ticks], ticktext=[str(int(starts[i])) for i in ticks],
    )  # fmt: skip
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
        x=layers, y=computed, name="computed this step",
        line=dict(color=STATE_COLORS[REVIVED], shape="hv", width=2, dash="dot"),
    )  # fmt: skip
    for layer, _keep in trace.schedule[: MAX_PANELS * 8]:
        fig.add_vline(x=layer + 0.5, line=dict(color="#bbb", width=1))
    _layout(fig, "Tokens per layer (grey lines: pruning after that layer)", height=300,
            legend=dict(orientation="h", y=-0.25))  # fmt: skip
    fig.update_xaxes(title="layer")
    fig.update_yaxes(title="tokens", rangemode="tozero")
    return fig


# --- importance -------------------------------------------------------------------------------


def threshold(scores: np.ndarray, keep: float) -> float:
    """The percentile cut: tokens entering the layer scoring below it are pruned (§3.2)."""
    entering = scores[~np.isnan(scores)]
    if entering.size == 0:
        return float("nan")
    k = max(1, math.ceil(keep * entering.size - 1e-9))
    return float(np.sort(entering)[::-1][k - 1])


def top_tokens(trace, step: int, top_k: int = 8) -> list[list]:
    """Rows [layer, rank, position, token, score] of the highest-scoring tokens per pruning layer."""
    step = clamp_step(trace, step)
    rows = []
    for layer, sc in sorted(trace.steps[step].scores.items())[: MAX_PANELS * 4]:
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
    shown = layers[:MAX_PANELS]
    fig = make_subplots(rows=len(shown), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    span = clamp_span(trace, span, step)
    shapes, notes = [], []  # layout shapes and annotations, set at once (plotly's add_* copy them all)
    for row, layer in enumerate(shown, 1):
        x, y = _axes(row)
        _importance_row(fig, trace, s, layer, keep.get(layer, 1.0), row, top_k, max_points, shapes, notes)
        if span:
            shapes.append(dict(type="rect", xref=x, yref=f"{y} domain", x0=span[0] - 0.5, x1=span[1] - 0.5,
                               y0=0, y1=1, fillcolor=SPAN_COLOR, opacity=0.18, line_width=0))  # fmt: skip
    what = "prefill" if step == 0 else f"decode step {step}"
    title = f"Importance at {what}: attention from the last token, per pruning layer"
    if len(shown) < len(layers):
        title += f" (first {len(shown)} of {len(layers)} pruning layers)"
    _layout(fig, title, height=170 + 180 * len(shown), shapes=shapes, annotations=notes)
    fig.update_layout(
        showlegend=True, legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right")
    )
    fig.update_xaxes(title="token position", row=len(shown), col=1)
    return fig


def _axes(row: int) -> tuple[str, str]:
    """The x and y axis names of a subplot row: x, y for the first; x2, y2 for the second; ..."""
    n = "" if row == 1 else str(row)
    return f"x{n}", f"y{n}"


def _importance_row(fig, trace, s, layer, keep, row, top_k, max_points, shapes, notes):
    sc = s.scores[layer]
    pos = np.flatnonzero(~np.isnan(sc))
    entering = pos.size
    cut = threshold(sc, keep)
    if pos.size > max_points:  # keep the largest scores of each bin so peaks stay visible
        width = math.ceil(pos.size / max_points)
        pos = np.array([c[np.argmax(sc[c])] for c in np.array_split(pos, math.ceil(pos.size / width))])
    survived = s.depth[pos] > layer + 1
    for mask, name, color in ((survived, "kept", LAZY_COLOR), (~survived, "pruned", "#bbbbbb")):
        p = pos[mask]
        fig.add_scattergl(
            x=p, y=np.maximum(sc[p], 1e-12), mode="markers", marker=dict(size=4, color=color), name=name,
            legendgroup=name, showlegend=row == 1, text=[token_label(trace.tokens[i], 20) for i in p],
            hovertemplate="pos %{x} %{text}<br>score %{y:.3g}<extra>" + name + "</extra>", row=row, col=1,
        )  # fmt: skip
    x, y = _axes(row)
    if not math.isnan(cut):
        line = max(cut, 1e-12)  # shapes on a log axis take data values, annotations their log10
        shapes.append(dict(type="line", xref=f"{x} domain", yref=y, x0=0, x1=1, y0=line, y1=line,
                           line=dict(color=SPAN_COLOR, dash="dash", width=1)))  # fmt: skip
        notes.append(dict(text=f"threshold: top {keep:.0%} of {entering} entering kept", font=dict(size=10),
                          xref=f"{x} domain", x=1, xanchor="right", yref=y, y=math.log10(line), yanchor="bottom",
                          showarrow=False, bgcolor="rgba(255,255,255,0.7)"))  # fmt: skip
    for i in pos[np.argsort(-sc[pos], kind="stable")][:top_k]:
        notes.append(dict(x=int(i), y=math.log10(max(sc[i], 1e-12)), xref=x, yref=y, text=token_label(trace.tokens[i], 12),
                          showarrow=False, yshift=9, font=dict(size=10, color="#333")))  # fmt: skip
    fig.update_yaxes(type="log", exponentformat="power", title=f"layer {layer}", row=row, col=1)


# --- the layer scan ---------------------------------------------------------------------------


def scan_plot(scan, schedule: Sequence = (), title: str = "Layer scan") -> go.Figure:
    """Where the focus span ranks at every layer (prefill, no pruning): the best and worst percentile
    of its tokens (0% = most attended), the keep fraction, the attention share on the span."""
    L = len(scan.best)
    layers = np.arange(L)
    fig = _two_axes()
    fig.add_scatter(x=layers, y=scan.worst * 100, name="worst token of the span", mode="lines",
                    line=dict(color=SPAN_COLOR, width=1))  # fmt: skip
    fig.add_scatter(x=layers, y=scan.best * 100, name="best token of the span", mode="lines", fill="tonexty",
                    line=dict(color=SPAN_COLOR, width=2), fillcolor="rgba(213,94,0,0.15)")  # fmt: skip
    fig.add_bar(x=layers, y=scan.mass * 100, name="attention on the span (%)", marker_color=LAZY_COLOR,
                opacity=0.35, yaxis="y2")  # fmt: skip
    fig.add_hline(y=scan.keep_fraction * 100, line=dict(color="#333", dash="dash", width=1),
                  annotation=dict(text=f"keep {scan.keep_fraction:.0%}: above this line is pruned",
                                  font=dict(size=10), x=0, xanchor="left"))  # fmt: skip
    for layer, _ in list(schedule)[: MAX_PANELS * 8]:
        fig.add_vline(x=layer + 0.5, line=dict(color="#bbb", width=1))
    if scan.safe_from is not None:
        fig.add_vrect(x0=scan.safe_from - 0.5, x1=L - 0.5, fillcolor=OK_COLOR, opacity=0.08, line_width=0)
        title += f" · whole span inside keep {scan.keep_fraction:.0%} from layer {scan.safe_from} on"
    else:
        title += f" · the span never stays inside keep {scan.keep_fraction:.0%}"
    _layout(fig, title, height=340, legend=dict(orientation="h", y=-0.28))
    fig.update_xaxes(title="layer (grey lines: this run's pruning layers)")
    fig.update_layout(yaxis=dict(title="percentile rank (0 = most attended)", range=[100, 0]),
                      yaxis2=dict(title="attention share (%)", rangemode="tozero", showgrid=False))  # fmt: skip
    return fig


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


def evidence_revivals(trace, span: tuple[int, int], before: int | None = None) -> list[tuple[int, int, int]]:
    """(step, layer, position) of every revival of a span token (at steps < `before` if given)."""
    a, b = span
    out = []
    for t, s in enumerate(trace.steps[:before]):
        for layer, pos in sorted(s.revived.items()):
            out += [(t, layer, int(p)) for p in pos if a <= p < b]
    return out


def evidence_plot(trace, span: Span, divergence: int | None = None) -> go.Figure:
    """Steps x layers: how much of the focus span each layer saw, with its revivals marked."""
    if span is None:
        return empty_figure("Evidence tracker", "No span to follow in this trace.")
    grid = evidence_grid(trace, span)
    width = bin_width(trace.num_steps, trace.num_layers, max_cols=600)
    z = _bin(grid, width, 1.0, np.min)
    steps = np.arange(0, trace.num_steps, width)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=steps, y=np.arange(trace.num_layers), zmin=0, zmax=1,
            colorscale=[[0, STATE_COLORS[NOT_SELECTED]], [1, LAZY_COLOR]],
            colorbar=dict(title="share of the span selected", tickformat=".0%", thickness=12),
            hovertemplate="step %{x}<br>layer %{y}<br>%{z:.0%} of the span selected<extra></extra>",
        )
    )  # fmt: skip
    rev = evidence_revivals(trace, span)[:2000]
    if rev:
        fig.add_scatter(
            x=[r[0] for r in rev], y=[r[1] for r in rev], mode="markers", name="revived (Aux Cache)",
            marker=dict(symbol="star", size=10, color=STATE_COLORS[REVIVED], line=dict(color="#000", width=0.5)),
            text=[token_label(trace.tokens[r[2]]) for r in rev],
            hovertemplate="revived %{text}<br>step %{x}, layer %{y}<extra></extra>",
        )  # fmt: skip
    if divergence is not None:
        fig.add_vline(x=divergence, line=dict(color=SPAN_COLOR, dash="dash"))
    a, b = span
    words = html.escape("".join(trace.tokens[a:b])[:60])
    title = _binned(f"Evidence: tokens {a}-{b - 1} “{words}” across steps", width, "steps")
    _layout(fig, title, height=340, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="layer")
    return fig


EVIDENCE_COLUMNS = ["position", "token", "prefill: pruned", "rank at each pruning layer (this step)",
                    "this step: selected through", "revived up to this step"]  # fmt: skip


def evidence_table(trace, span: Span, step: int = 0) -> list[list]:
    """Per span token (at most 64): where prefill pruned it, its rank against the threshold at each
    pruning layer at `step`, how deep it was selected at `step`, and where it was revived up to `step`."""
    if span is None:
        return []
    step = clamp_step(trace, step)
    s0, st, L = trace.steps[0], trace.steps[step], trace.num_layers
    keep = {int(layer): float(k) for layer, k in trace.schedule}
    rows = []
    for p in range(span[0], min(span[1], s0.n))[:64]:
        d0, d = int(s0.depth[p]), int(st.depth[p])
        rev = sorted({layer for _, layer, _ in evidence_revivals(trace, (p, p + 1), step + 1)})
        rows.append([
            p, token_label(trace.tokens[p], 20, False),
            "kept to the last layer" if d0 >= L else f"after layer {d0 - 1}",
            _ranks(st, p, keep)[:400] or "not scored",
            "every layer" if d >= L else f"layer {d - 1} (pruned after it)",
            ", ".join(f"layer {layer}" for layer in rev) or "no",
        ])  # fmt: skip
    return rows


def _ranks(s, p: int, keep: dict[int, float]) -> str:
    """ "L6: 37/1024 kept (top 512); L12: ..." for token p at the pruning layers it entered."""
    out = []
    for layer, sc in sorted(s.scores.items())[: MAX_PANELS * 4]:
        if np.isnan(sc[p]):
            continue
        entering = int((~np.isnan(sc)).sum())
        rank = int((sc > sc[p]).sum()) + 1
        k = max(1, math.ceil(keep.get(layer, 1.0) * entering - 1e-9))
        out.append(f"L{layer}: {rank}/{entering} {'kept' if rank <= k else 'cut'} (top {k})")
    return "; ".join(out)


def find_span(trace, text: str, limit: int | None = None) -> Span:
    """Token positions [a, b) covering the first occurrence of `text` in the prompt, or None."""
    from lazyllm.scan import find_span as find

    return find(trace.tokens, text, trace.prompt_len if limit is None else limit)


# --- Aux Cache and revivals ---------------------------------------------------------------------


def revivals_grid(trace) -> np.ndarray:
    """int [L, steps]: tokens revived from the Aux Cache at each layer and step."""
    grid = np.zeros((trace.num_layers, trace.num_steps), dtype=np.int64)
    for t, s in enumerate(trace.steps):
        for layer, pos in s.revived.items():
            grid[layer, t] = len(pos)
    return grid


def revived_per_step(trace) -> list[int]:
    """Token-layers computed from the Aux Cache at each step (the work a decode step takes back)."""
    return [int(sum(len(v) for v in s.revived.values())) for s in trace.steps]


def revivals_heatmap(trace, span: Span = None) -> go.Figure:
    """Revived tokens per decode step and layer (LazyLLM §3.3: pruned tokens coming back).

    With a focus span, the revivals of its tokens are marked with stars.
    """
    grid = revivals_grid(trace)
    width = bin_width(trace.num_steps, trace.num_layers, max_cols=600)
    fig = go.Figure(
        go.Heatmap(
            z=_bin(grid, width, 0, np.sum), x=np.arange(0, trace.num_steps, width), y=np.arange(trace.num_layers),
            colorscale=[[0, "#ffffff"], [0.0001, "#fbe3b0"], [1, STATE_COLORS[REVIVED]]],
            colorbar=dict(title="tokens revived", thickness=12),
            hovertemplate="step %{x}<br>layer %{y}<br>%{z} tokens revived<extra></extra>",
        )
    )  # fmt: skip
    rev = evidence_revivals(trace, span)[:2000] if span else []
    if rev:
        fig.add_scatter(
            x=[r[0] for r in rev], y=[r[1] for r in rev], mode="markers", name="focus span token revived",
            marker=dict(symbol="star", size=9, color=SPAN_COLOR, line=dict(color="#000", width=0.5)),
            text=[token_label(trace.tokens[r[2]]) for r in rev],
            hovertemplate="focus span token %{text} revived<br>step %{x}, layer %{y}<extra></extra>",
        )  # fmt: skip
    title = (
        f"Revivals from the Aux Cache: {int(grid.sum())} in total (revived at layer l+1 from the cache of l)"
    )
    _layout(fig, _binned(title, width, "steps"), height=320, legend=dict(orientation="h", y=-0.25))
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
    """KV cache and Aux Cache length per layer after each step (two heatmaps, in tokens)."""
    kv = np.stack([s.kv_len for s in trace.steps], axis=1)  # (L, steps)
    aux = np.stack([s.aux_len for s in trace.steps], axis=1)
    width = bin_width(trace.num_steps, 2 * trace.num_layers, max_cols=600)
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.2,
        subplot_titles=("KV cache length (tokens)", "Aux Cache length (tokens, kept after layer l)"),
    )  # fmt: skip
    steps = np.arange(0, trace.num_steps, width)
    for col, z, scale, x in ((1, kv, "Blues", 0.41), (2, aux, "Oranges", 1.01)):
        fig.add_heatmap(
            z=_bin(z, width, 0), x=steps, y=np.arange(trace.num_layers), colorscale=scale,
            colorbar=dict(x=x, thickness=10, len=0.9, title="tokens"),
            hovertemplate="after step %{x}<br>layer %{y}<br>%{z} tokens<extra></extra>", row=1, col=col,
        )  # fmt: skip
    _layout(fig, _binned("", width, "steps"), height=320)
    fig.update_layout(margin=dict(t=40))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="layer", col=1)
    return fig


def cumulative_compute_plot(trace) -> go.Figure:
    """Cumulative prompt-token computations vs the baseline, as in the paper's Figs. 3 and 7."""
    base = trace.num_layers * trace.prompt_len
    cum = trace.cumulative_prompt_computations() / base
    steps = list(range(trace.num_steps))
    fig = go.Figure()
    fig.add_scatter(x=steps, y=[1.0] * len(steps), name="baseline (all at prefill)",
                    line=dict(color=BASE_COLOR, dash="dash"))  # fmt: skip
    fig.add_scatter(x=steps, y=cum, name=html.escape(trace.strategy)[:40], mode="lines+markers",
                    line=dict(color=LAZY_COLOR))  # fmt: skip
    _layout(fig, f"Prompt-token computations so far: {cum[-1]:.0%} of the baseline", height=300,
            legend=dict(orientation="h", y=-0.3))  # fmt: skip
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_yaxes(title="share of the baseline's", tickformat=".0%", rangemode="tozero")
    return fig


def max_computations_per_cell(trace) -> int:
    """The most times any (token, layer) was computed over the generation (at most once: 1)."""
    seen = [np.zeros(trace.prompt_len + trace.num_steps, dtype=np.int64) for _ in range(trace.num_layers)]
    for s in trace.steps:
        for layer, pos in s.computed.items():
            np.add.at(seen[layer], pos, 1)
    return int(max((c.max() for c in seen), default=0))


# --- the comparison with the baseline --------------------------------------------------------------


def step_times_plot(c, revived: Sequence[int] = ()) -> go.Figure:
    """Where the time goes: the seconds of every step of both runs (prefill = step 0, log scale), and
    the token-layers each decode step revived from the Aux Cache (the work the prefill deferred)."""
    fig = _two_axes()
    label = html.escape(str(c.config.get("label", "pruned")))[:80]
    for name, secs, color in (
        ("baseline", c.baseline_step_s, BASE_COLOR),
        (label, c.lazy_step_s, LAZY_COLOR),
    ):
        fig.add_scatter(x=list(range(len(secs))), y=list(secs), name=f"{name}: seconds per step",
                        mode="lines+markers", line=dict(color=color))  # fmt: skip
    if any(revived):
        fig.add_bar(x=list(range(len(revived))), y=list(revived), name="token-layers revived",
                    marker_color=STATE_COLORS[REVIVED], opacity=0.5, yaxis="y2")  # fmt: skip
    title = f"Time per step · TTFT {_x(c.ttft_speedup)} · whole generation {_x(c.generation_speedup)}"
    _layout(fig, title, height=300, legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="step (0 = prefill)")
    fig.update_layout(yaxis=dict(title="seconds (log)", type="log"),
                      yaxis2=dict(title="revived", rangemode="tozero", showgrid=False))  # fmt: skip
    return fig


def _x(ratio: float | None) -> str:
    return (
        "n/a"
        if ratio is None or not math.isfinite(ratio)
        else f"{ratio:.2f}× faster"
        if ratio >= 1
        else (f"{ratio:.2f}× ({1 / ratio:.2f}× slower)")
    )


def fidelity_plot(kl: Sequence[float], top1: Sequence[bool], divergence: int | None) -> go.Figure:
    """Teacher-forced fidelity per step: KL(baseline || pruned) and top-1 agreement on the same context."""
    steps = list(range(len(kl)))
    fig = _two_axes()
    fig.add_bar(x=steps, y=list(kl), name="KL (nats)", marker_color=LAZY_COLOR)
    fig.add_scatter(
        x=steps, y=[1 if a else 0 for a in top1], name="top-1 agrees", mode="markers", yaxis="y2",
        marker=dict(symbol=["circle" if a else "x" for a in top1], size=8, color=STATE_COLORS[REVIVED]),
    )  # fmt: skip
    if divergence is not None:
        fig.add_vline(x=divergence, line=dict(color=SPAN_COLOR, dash="dash"))
    where = f"texts diverge at step {divergence}" if divergence is not None else "identical texts"
    _layout(fig, f"Teacher-forced fidelity per step · {where} · click a step to open it", height=300,
            legend=dict(orientation="h", y=-0.3), hovermode="x")  # fmt: skip  # a click anywhere in a step's column
    fig.update_layout(
        yaxis=dict(title="KL (nats)", rangemode="tozero"),
        yaxis2=dict(title="top-1", range=[-0.2, 1.2], tickvals=[0, 1], ticktext=["no", "yes"]),
    )
    fig.update_xaxes(title="step (0 = prefill)")
    return fig


def tradeoff_plot(rows: Sequence[dict], title: str) -> go.Figure:
    """Strategies or sweep points: TTFT speedup (x) vs teacher-forced mean KL (y); filled markers
    keep the answer (the baseline's text, or the known answer), open ones lose it."""
    fig = go.Figure()
    kept = [r for r in rows if r["kept"]]
    lost = [r for r in rows if not r["kept"]]
    for group, name, symbol in ((kept, "answer kept", "circle"), (lost, "answer changed", "circle-open")):
        if group:
            fig.add_scatter(
                x=[r["ttft_speedup"] for r in group], y=[max(r["mean_kl"], 1e-6) for r in group],
                mode="markers+text", name=name, text=[html.escape(r["label"]) for r in group],
                textposition="top center", marker=dict(size=12, symbol=symbol, color=LAZY_COLOR, line=dict(width=2)),
                hovertemplate="%{text}<br>TTFT %{x:.2f}×<br>mean KL %{y:.3g} nats<extra></extra>",
            )  # fmt: skip
    _layout(fig, title, height=340, legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="TTFT speedup vs the baseline (×)")
    fig.update_yaxes(title="teacher-forced mean KL (nats, log)", type="log")
    return fig
