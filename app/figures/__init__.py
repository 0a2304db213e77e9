"""Pure `data -> go.Figure` functions: what the app draws, one module per view.

Nothing here touches a model or Gradio, and nothing computes a number the views also quote: the
numbers come from `app.stats`, the shared plotly plumbing (template, palette, budgets, binning) from
`app.plotting`. Every function takes a `lazyllm.Trace` (or a Comparison, a LayerScan, rows) and
plain arguments and returns a figure, so each can be tested on a synthetic trace, and one failing
view cannot break the others (the UI wraps each call: `views.safe`).

    from app import figures as F
    F.survival_heatmap(trace, step)
"""

from app.figures.auxcache import cache_sizes_plot, cumulative_compute_plot, revivals_heatmap
from app.figures.comparison import fidelity_plot, step_times_plot
from app.figures.evidence import evidence_plot, split_plot
from app.figures.importance import importance_plot
from app.figures.messages import empty_figure, error_figure, pending_figure
from app.figures.scan import scan_plot
from app.figures.strategies import tradeoff_plot
from app.figures.survival import selected_per_layer, survival_heatmap
from app.plotting import CELL_BUDGET, MAX_COLS, MAX_PANELS

__all__ = [
    "CELL_BUDGET",
    "MAX_COLS",
    "MAX_PANELS",
    "cache_sizes_plot",
    "cumulative_compute_plot",
    "empty_figure",
    "error_figure",
    "evidence_plot",
    "fidelity_plot",
    "importance_plot",
    "pending_figure",
    "revivals_heatmap",
    "scan_plot",
    "selected_per_layer",
    "split_plot",
    "step_times_plot",
    "survival_heatmap",
    "tradeoff_plot",
]
