"""Plotly plumbing shared by the figures: the template, the palette, budgets, binning, layout.

The template is built on first use (plotly reads its templates from files) and passed to every
figure by `layout` (every figure goes through it); nothing here changes plotly's process-wide defaults.

Budgets: a figure never draws more than CELL_BUDGET heatmap cells or MAX_PANELS panels. Beyond that,
neighbouring tokens (or steps) are grouped into bins, each showing the bin's most notable value, and
the title says so; a trace with thousands of layers still costs a small, bounded payload.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import plotly.graph_objects as go

from app.stats import REVIVED

# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
STATE_COLORS = ("#e9e9e9", "#56B4E9", "#0072B2", "#E69F00")  # by state code (app.stats)
BASE_COLOR, LAZY_COLOR, SPAN_COLOR, OK_COLOR = "#999999", "#0072B2", "#D55E00", "#009E73"
REVIVED_COLOR = STATE_COLORS[REVIVED]
PRUNED_COLOR = "#bbbbbb"
MAX_COLS = 1200  # token columns of a heatmap at most
CELL_BUDGET = 60_000  # heatmap cells at most
MAX_PANELS = 8  # importance panels (pruning layers) at most
FONT = dict(family="Inter, system-ui, sans-serif", size=12)
H_LEGEND = dict(orientation="h", y=-0.25)  # a legend under the plot


@functools.cache
def white_template(traces=("bar", "heatmap", "scatter", "scattergl")) -> go.layout.Template:
    """plotly_white cut to the layout and the trace types these figures use: the same look, at a
    fraction of the cost per figure (plotly validates the template into every figure, and every
    figure's JSON carries it to the browser). Built once, on first use."""
    import plotly.io as pio

    white = pio.templates["plotly_white"]
    unused = {"geo", "scene", "polar", "ternary", "mapbox", "shapedefaults"}
    layout = {k: v for k, v in white.layout.to_plotly_json().items() if k not in unused}
    return go.layout.Template(layout=layout, data={t: getattr(white.data, t) for t in traces})


def apply_template(fig: go.Figure, template: go.layout.Template) -> go.Figure:
    """`fig.layout.template = template`, without validating the template again (~1 ms, not ~8 ms).

    Why: plotly validates a template on every assignment, property by property, though a
    go.layout.Template is validated when it is built; plotly itself assigns its default template to
    every new figure with validation off (`BaseFigure._initialize_layout_template`), which is how the
    process-wide default was cheap. This does the same for a template passed per figure; the figure
    gets its own copy. tests/app/test_plotting.py checks the result is the validated assignment's.
    """
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = template
    finally:
        layout._validate = fig._validate
    return fig


# The title's first line ~10 px below the top, its other lines going down, so that the lines
# assets/explorer.js wraps it into at a narrow width go down too (the script then makes the top margin
# and the figure taller by as much). Plotly's title padding does not move a title of several lines, and
# it draws one of several lines ~10 px higher than one of one line at the same anchor: the anchor, px
# from the top, for one line and for several (assets/explorer.js uses the same).
TITLE_ANCHOR = (13, 23)
MARGIN = dict(l=56, r=16, t=48, b=40)
# What the tick labels may take: plotly picks as many ticks as fit an axis of that length (fewer on a
# narrow screen); tick labels and axis titles push the margins rather than being cut off.
AXIS = dict(automargin=True)
# The mode bar (shown on hover): only download, zoom, pan and reset, so its corner of the title is small.
MODEBAR = dict(remove=["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"])


def title_place(height: int, lines: int = 1) -> dict:
    """Where a title of `lines` lines goes in a figure `height` px tall: at the left, ~10 px down."""
    anchor = TITLE_ANCHOR[lines > 1]
    return dict(x=0.01, xanchor="left", yref="container", yanchor="top", y=1 - anchor / height)


def layout(fig: go.Figure, title: str, height: int = 320, template: go.layout.Template | None = None, **kw):
    """The app's title, size, margins, font and template (default: `white_template()`) on `fig`."""
    apply_template(fig, template or white_template())
    fig.update_layout(
        title=dict(text=title, font=dict(size=14), **title_place(height, title.count("<br>") + 1)),
        height=height,
        margin=MARGIN,
        font=FONT,
        modebar=MODEBAR,
        **{"xaxis": AXIS, "yaxis": AXIS, **kw},
    )
    return fig


def two_axes() -> go.Figure:
    """A figure with a second y axis on the right: make_subplots' secondary_y layout, built directly
    (make_subplots costs ~45 ms a figure). Traces on the right axis take yaxis="y2"."""
    return go.Figure(
        layout=dict(
            xaxis=dict(anchor="y", domain=[0.0, 0.94]),
            yaxis=dict(anchor="x", domain=[0.0, 1.0]),
            yaxis2=dict(anchor="x", overlaying="y", side="right"),
        )
    )


def axes(row: int) -> tuple[str, str]:
    """The x and y axis names of a subplot row: x, y for the first; x2, y2 for the second; ..."""
    n = "" if row == 1 else str(row)
    return f"x{n}", f"y{n}"


def bin_width(n: int, rows: int = 1, max_cols: int = MAX_COLS, budget: int = CELL_BUDGET) -> int:
    """Columns grouped per heatmap column so that rows x columns stays within the budget."""
    cols = max(1, min(max_cols, budget // max(rows, 1)))
    return max(1, math.ceil(n / cols))


def bin_columns(a: np.ndarray, width: int, fill, reduce=np.max) -> np.ndarray:
    """Reduce groups of `width` columns of a 2-D array (the last group padded with `fill`)."""
    if width == 1:
        return a
    rows, n = a.shape
    pad = (-n) % width
    padded = np.concatenate([a, np.full((rows, pad), fill, dtype=a.dtype)], axis=1)
    return reduce(padded.reshape(rows, -1, width), axis=2)


def binned(title: str, width: int, what: str = "tokens") -> str:
    """The title, saying how many tokens (or steps) each column holds when binned."""
    return title if width == 1 else f"{title} · each column = {width} {what}"


def step_bins(trace, rows: int) -> tuple[int, np.ndarray]:
    """(width, first step of each column) for a steps-on-x heatmap of `rows` rows (600 columns at most)."""
    width = bin_width(trace.num_steps, rows, max_cols=600)
    return width, np.arange(0, trace.num_steps, width)


def steps_heatmap(
    trace, grid: np.ndarray, fill, reduce=np.max, rows: int | None = None, **kw
) -> tuple[go.Heatmap, int]:
    """A steps x layers heatmap of `grid` (layers x steps of `trace`), a row a layer, and its bin width
    (for `binned`): steps grouped into columns by step_bins (for `rows` rows in the figure, default the
    grid's), each column reduced with `reduce`, the last padded with `fill`; `kw` goes to go.Heatmap."""
    width, steps = step_bins(trace, rows or grid.shape[0])
    z = bin_columns(grid, width, fill, reduce)
    return go.Heatmap(z=z, x=steps, y=np.arange(grid.shape[0]), **kw), width


def layer_runs(layer_types, kind: str = "sliding") -> list[tuple[int, int]]:
    """[first, last] layer index of each run of consecutive `kind` layers (none for an all-global model)."""
    runs: list[tuple[int, int]] = []
    for i, t in enumerate(layer_types or ()):
        if t != kind:
            continue
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def shade_local_layers(fig: go.Figure, layer_types, window: int | None, axis: str = "y") -> None:
    """Shade the sliding-window layers of a hybrid model (Gemma 3) along the layer axis, with a legend
    entry: there the last token sees only the last `window` positions, so those layers never prune."""
    runs = layer_runs(layer_types)
    if not runs:
        return
    add = fig.add_hrect if axis == "y" else fig.add_vrect
    for a, b in runs:
        span = dict(y0=a - 0.5, y1=b + 0.5) if axis == "y" else dict(x0=a - 0.5, x1=b + 0.5)
        add(**span, fillcolor="#888", opacity=0.14, line_width=0, layer="above")
    what = f"window {window}" if window else "a window"
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="markers",
        name=f"sliding-window layer ({what}; shaded: never prunes)",
        marker=dict(symbol="square", color="rgba(136,136,136,0.45)", size=12),
    )


def legend_entry(fig: go.Figure, name: str, line: dict | None = None, marker: dict | None = None) -> None:
    """A legend entry for a mark that has none of its own (a shape: a dashed line, a band): an empty
    trace drawn with the mark's line or marker style. Shows the legend (plotly hides it for one trace)."""
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="lines" if line is not None else "markers",
        name=name,
        line=line,
        marker=marker,
        hoverinfo="skip",
        showlegend=True,
    )
    fig.update_layout(showlegend=True)


def log_axis(values, title: str) -> dict:
    """A log axis whose every tick reads as a number: 1, 2 and 5 of each decade the values span (the
    decades alone past three of them). Plotly's own minor labels are single digits, so 0.5 and 5 look
    alike; the page thins a tick list where it crowds."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    lo, hi = (min(finite), max(finite)) if finite else (1.0, 1.0)
    steps = (1, 2, 5) if hi / lo <= 1e3 else (1,)  # over three decades: the decades only
    ticks = [
        m * 10.0**e
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
        for m in steps
        if lo / 2 <= m * 10.0**e <= hi * 2
    ]
    return dict(type="log", title=title, tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
