"""Plotting plumbing: the per-figure template (and its fast assignment), binning."""

from __future__ import annotations

import inspect

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.basedatatypes import BaseFigure

from app import figures as F
from app import plotting as P
from tests.support.doubles import synthetic_trace


def test_the_fast_template_assignment_is_the_validated_one():
    template = P.white_template()
    fast = P.apply_template(go.Figure(go.Heatmap(z=[[1, 2]])), template)
    slow = go.Figure(go.Heatmap(z=[[1, 2]])).update_layout(template=template)
    assert fast.to_json() == slow.to_json()
    assert fast.layout._validate is True  # validation is back on for everything after
    fast.layout.template.layout.font.size = 99  # the figure's own copy: the shared template is unchanged
    assert template.layout.font.size != 99


def test_plotly_still_assigns_its_default_template_unvalidated():
    """apply_template relies on what plotly does for its default template: switch the layout's
    `_validate` off, assign, switch it back. If plotly stops doing so, revisit apply_template."""
    source = inspect.getsource(BaseFigure._initialize_layout_template)
    assert "self._layout_obj._validate = False" in source and "self._layout_obj.template" in source
    assert go.Figure().layout._validate is True


def test_every_figure_carries_the_template_passed_and_the_default_is_untouched():
    trace = synthetic_trace(prompt_len=20, new_tokens=3, num_layers=4, schedule=((1, 0.5),))
    assert pio.templates.default == "plotly"
    mine = go.layout.Template(layout=dict(paper_bgcolor="#123456"))
    fig = P.layout(go.Figure(), "t", template=mine)
    assert fig.layout.template.layout.paper_bgcolor == "#123456"
    drawn = F.selected_per_layer(trace, 1)
    assert drawn.layout.template.to_plotly_json() == P.white_template().to_plotly_json()
    assert pio.templates.default == "plotly"


def test_binning_keeps_the_most_notable_value_within_the_budget():
    a = np.array([[0, 3, 1, 0, 2, 0, 0]])
    assert P.bin_width(7, rows=1, max_cols=3) == 3
    np.testing.assert_array_equal(P.bin_columns(a, 3, 0), [[3, 2, 0]])
    np.testing.assert_array_equal(P.bin_columns(a, 3, 0, np.sum), [[4, 2, 0]])
    assert 100 * np.ceil(10_000 / P.bin_width(10_000, rows=100)) <= P.CELL_BUDGET
    assert P.binned("T", 1) == "T" and P.binned("T", 4, "steps") == "T · each column = 4 steps"
