"""The app's trace statistics, tables and pure figure functions on a synthetic, consistent Trace: axes,
states, counts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from app import figures as F
from app import markup as M
from app import plotting as P
from app import stats as S
from app import tables as T
from app import walkthrough
from app.state import RunView
from tests.support.doubles import synthetic_comparison, synthetic_trace

SCHEDULE = ((2, 0.6), (5, 0.6))


@pytest.fixture(scope="module")
def trace():
    return synthetic_trace(prompt_len=48, new_tokens=6, num_layers=8, schedule=SCHEDULE, seed=0)


@pytest.fixture(scope="module")
def comparison():
    return synthetic_comparison()


def test_synthetic_trace_is_valid_and_round_trips(trace):
    trace.validate()
    again = type(trace).from_json(trace.to_json())
    assert again.to_json() == trace.to_json()
    assert S.max_computations_per_cell(trace) == 1  # at most once per (token, layer)
    assert sum(len(v) for s in trace.steps for v in s.revived.values()) > 0  # the trace exercises revival


@pytest.mark.parametrize("step", [0, 1, 5])
def test_survival_states_match_the_trace(trace, step):
    s = trace.steps[step]
    states = S.survival_states(trace, step)
    assert states.shape == (trace.num_layers, s.n)
    assert (states == S.NOT_SELECTED).sum() == (trace.num_layers - s.depth).sum()
    n_computed = sum(len(v) for v in s.computed.values())
    n_revived = sum(len(v) for v in s.revived.values())
    assert (states == S.REVIVED).sum() == n_revived
    assert (states == S.COMPUTED).sum() == n_computed - n_revived
    if step == 0:
        assert (states == S.KV_REUSED).sum() == 0  # nothing to reuse at prefill
        assert n_revived == 0
    else:
        assert (states[:, -1] == S.COMPUTED).all()  # the step's own token is computed at every layer


def test_survival_heatmap_axes_and_palette(trace):
    fig = F.survival_heatmap(trace, 2, span=(4, 9))
    hm = fig.data[0]
    z = np.asarray(hm.z)
    assert z.shape == (trace.num_layers, trace.prompt_len + 2)
    np.testing.assert_array_equal(z, S.survival_states(trace, 2))
    assert list(hm.colorbar.ticktext) == list(S.STATE_NAMES)
    assert len(hm.x) == z.shape[1] and hm.x[5].startswith("5 ")  # one label per column: position and token
    assert fig.layout.xaxis.ticktext[1] == str(
        int(fig.layout.xaxis.tickvals[1].split()[0])
    )  # ticks: positions
    assert "layer" in hm.hovertemplate and "score" in hm.hovertemplate and "token" in hm.hovertemplate
    assert len(fig.to_json()) < 60_000
    assert np.asarray(hm.customdata).shape == z.shape  # the score of each cell (-1 where not scored)
    assert len(set(P.STATE_COLORS)) == 4
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 1 and rects[0].x0 == pytest.approx(3.5) and rects[0].x1 == pytest.approx(8.5)
    assert any(d.name == "focus span (outlined)" for d in fig.data)  # the outline is in the legend
    assert fig.layout.xaxis.title.text == "token position"


def test_survival_heatmap_bins_long_contexts_keeping_revivals():
    big = synthetic_trace(prompt_len=900, new_tokens=3, num_layers=6, schedule=((1, 0.5), (3, 0.5)), seed=1)
    fig = F.survival_heatmap(big, 2, max_cols=300)
    z = np.asarray(fig.data[0].z)
    width = P.bin_width(big.steps[2].n, big.num_layers, 300)
    assert width == 4 and z.shape[1] <= 300 and "each column = 4 tokens" in fig.layout.title.text
    states = S.survival_states(big, 2)
    revived_cols = {(layer, p // width) for layer, p in zip(*np.nonzero(states == S.REVIVED), strict=True)}
    assert revived_cols and all(z[layer, c] == S.REVIVED for layer, c in revived_cols)
    assert len(fig.to_json()) < 200_000  # payload stays small


def test_selected_per_layer_counts_against_baseline(trace):
    fig = F.selected_per_layer(trace, 1)
    base, sel, computed = fig.data
    n = trace.steps[1].n
    assert list(base.y) == [n] * trace.num_layers
    expected = [int((trace.steps[1].depth > layer).sum()) for layer in range(trace.num_layers)]
    assert list(sel.y) == expected
    assert expected[0] == n and expected[-1] < expected[0]  # pruning happened
    assert computed.y[0] == 1  # at a decode step layer 0 computes only the new token


def test_threshold_is_the_percentile_cut(trace):
    s = trace.steps[0]
    for layer, keep in SCHEDULE:
        cut = S.threshold(s.scores[layer], keep)
        kept = np.flatnonzero(s.depth > layer + 1)
        entering = np.flatnonzero(~np.isnan(s.scores[layer]))
        pruned = np.setdiff1d(entering, kept)
        assert len(np.setdiff1d(kept, [s.n - 1])) <= int(
            np.ceil(keep * len(entering))
        )  # top-k (+ last token)
        assert (s.scores[layer][kept[kept != s.n - 1]] >= cut).all()
        assert (s.scores[layer][pruned] <= cut).all() and len(pruned) > 0


def test_importance_plot_one_panel_per_pruning_layer(trace):
    fig = F.importance_plot(trace, 0, span=(10, 12), top_k=3)
    axes = [k for k in fig.layout if k.startswith("yaxis")]
    assert len(axes) == len(SCHEDULE)
    assert all(fig.layout[a].type == "log" for a in axes)
    kept = [d for d in fig.data if d.name == "kept"]
    pruned = [d for d in fig.data if d.name == "pruned"]
    s = trace.steps[0]
    assert len(kept[0].x) == int((s.depth > SCHEDULE[0][0] + 1).sum())
    assert len(kept[0].x) + len(pruned[0].x) == trace.prompt_len
    lines = [sh for sh in fig.layout.shapes if sh.type == "line"]
    assert len(lines) == len(SCHEDULE)
    assert lines[0].y0 == pytest.approx(S.threshold(s.scores[SCHEDULE[0][0]], SCHEDULE[0][1]))
    labels = [a.text for a in fig.layout.annotations]
    thresholds = [t for t in labels if t.startswith("threshold: top 60% of")]
    assert len(thresholds) == len(SCHEDULE) and "entering kept" in thresholds[0]  # the line says what it is
    assert len(labels) == 3 * len(SCHEDULE) + len(thresholds)  # top tokens labelled


def test_importance_plot_without_pruning_says_so():
    base = synthetic_trace(prompt_len=20, new_tokens=2, num_layers=4, schedule=())
    fig = F.importance_plot(base, 0)
    assert "nothing was scored" in fig.layout.annotations[0].text


def test_top_tokens_are_sorted_by_score(trace):
    rows = T.top_tokens(trace, 0, top_k=4)
    assert len(rows) == 4 * len(SCHEDULE)
    for layer, _ in SCHEDULE:
        scores = [r[4] for r in rows if r[0] == layer]
        assert scores == sorted(scores, reverse=True)


def test_prompt_html_escapes_and_marks_the_span():
    t = synthetic_trace(prompt_len=12, new_tokens=2, num_layers=4, schedule=((1, 0.5),))
    t.tokens[3] = "<script>alert(1)</script>"
    out = M.prompt_html(t, 1, "importance", span=(2, 5))
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert out.count("lz-span") == 3
    assert out.count('class="lz-tok') == 13  # prompt + 1 generated token at step 1
    depth = M.prompt_html(t, 1, "depth")
    assert "layers survived" in depth


def test_evidence_grid_and_revivals(trace):
    span = (10, 20)
    grid = S.evidence_grid(trace, span)
    assert grid.shape == (trace.num_layers, trace.num_steps)
    assert ((grid >= 0) & (grid <= 1)).all()
    np.testing.assert_allclose(grid[0], 1.0)  # layer 0 always sees everything
    for t in range(trace.num_steps):
        d = trace.steps[t].depth[10:20]
        assert grid[-1, t] == pytest.approx((d > trace.num_layers - 1).mean())
    rev = S.evidence_revivals(trace, span)
    expected = sum(int(((v >= 10) & (v < 20)).sum()) for s in trace.steps for v in s.revived.values())
    assert len(rev) == expected
    fig = F.evidence_plot(trace, span, divergence=3)
    assert np.asarray(fig.data[0].z).shape == grid.shape
    assert any(sh.type == "line" and sh.x0 == 3 for sh in fig.layout.shapes)  # the divergence marked


def test_evidence_table_and_story_tell_where_the_span_went(trace):
    span, step = (10, 20), trace.num_steps - 1
    rows = T.evidence_table(trace, span, step)
    assert [r[0] for r in rows] == list(range(10, 20)) and len(rows[0]) == len(T.EVIDENCE_COLUMNS)
    for r in rows:
        d0 = trace.steps[0].depth[r[0]]
        assert r[2] == ("kept to the last layer" if d0 == trace.num_layers else f"after layer {d0 - 1}")
        revived = {layer for s in trace.steps for layer, pos in s.revived.items() if r[0] in pos}
        assert r[5] == (", ".join(f"layer {la}" for la in sorted(revived)) or "no")
    pruned = sum(r[2].startswith("after") for r in rows)
    story = M.evidence_story(trace, span, "the example's answer", rows, step)
    assert f"pruned {pruned} of 10" in story and "Why this span" in story and f"step {step}" in story
    assert "L2:" in rows[0][3] and ("kept" in rows[0][3] or "cut" in rows[0][3])


def test_find_span_maps_text_to_token_positions(trace):
    assert S.find_span(trace, "pass key is 71432") == (1, 9)
    assert S.find_span(trace, "PASS KEY") == (1, 3)  # case-insensitive fallback
    assert S.find_span(trace, "not in the prompt") is None


def test_revivals_and_cache_views(trace):
    grid = S.revivals_grid(trace)
    total = sum(len(v) for s in trace.steps for v in s.revived.values())
    assert grid.shape == (trace.num_layers, trace.num_steps) and grid.sum() == total
    assert grid[:, 0].sum() == 0
    fig = F.revivals_heatmap(trace)
    assert str(total) in fig.layout.title.text and len(fig.data) == 1
    span = next((int(p), int(p) + 1) for s in trace.steps for v in s.revived.values() for p in v)
    marked = F.revivals_heatmap(trace, span)
    assert len(marked.data) == 2 and len(marked.data[1].x) == len(S.evidence_revivals(trace, span)) > 0
    rows = T.revived_tokens(trace)
    assert len(rows) == total and all(len(r) == 4 for r in rows)
    cache = F.cache_sizes_plot(trace)
    np.testing.assert_array_equal(np.asarray(cache.data[0].z), np.stack([s.kv_len for s in trace.steps], 1))
    np.testing.assert_array_equal(np.asarray(cache.data[1].z), np.stack([s.aux_len for s in trace.steps], 1))
    kv_rows, aux_rows = cache.layout.yaxis.domain, cache.layout.yaxis2.domain
    assert aux_rows[1] < kv_rows[0] and cache.layout.xaxis.domain == cache.layout.xaxis2.domain  # stacked
    # each colour bar beside its own heatmap, as tall as it
    for heat, rows in zip(cache.data, (kv_rows, aux_rows), strict=True):
        bar = heat.colorbar
        assert bar.x > 1 and bar.xanchor == "left" and bar.len == pytest.approx(rows[1] - rows[0])
        assert bar.y == pytest.approx((rows[0] + rows[1]) / 2) and bar.yanchor in (None, "middle")


def test_steps_heatmap_bins_the_steps_for_the_figures_rows():
    trace = SimpleNamespace(num_steps=1300)
    grid = np.arange(4 * 1300).reshape(4, 1300) % 7  # 4 layers x 1300 steps
    heat, width = P.steps_heatmap(trace, grid, 0, np.sum, rows=200, zmin=0)
    assert width == P.step_bins(trace, 200)[0] == 5  # 300 columns for 200 rows
    np.testing.assert_array_equal(heat.z, P.bin_columns(grid, 5, 0, np.sum))
    assert list(heat.x) == list(range(0, 1300, 5)) and list(heat.y) == [0, 1, 2, 3] and heat.zmin == 0
    own, own_width = P.steps_heatmap(trace, grid, 0)  # the grid's 4 rows: 600 columns, np.max
    assert own_width == 3 and np.asarray(own.z).shape == (4, 434) and np.asarray(own.z).max() == 6


def test_cumulative_compute_ends_at_the_compute_fraction(trace):
    fig = F.cumulative_compute_plot(trace)
    base, lazy = fig.data
    assert list(base.y) == [1.0] * trace.num_steps
    assert lazy.y[-1] == pytest.approx(trace.prompt_compute_fraction())
    assert all(np.diff(lazy.y) >= 0) and lazy.y[-1] <= 1.0


def test_time_per_step_and_fidelity_plots(comparison):
    c = comparison
    fig = F.step_times_plot(c, [0, 3, 0, 1])
    assert "2.00× faster" in fig.layout.title.text and "1.25× faster" in fig.layout.title.text
    assert list(fig.data[0].y) == c.baseline_step_s and list(fig.data[1].y) == c.lazy_step_s
    assert list(fig.data[2].y) == [0, 3, 0, 1] and fig.layout.yaxis.type == "log"
    fid = F.fidelity_plot(c.kl_per_step, c.top1_per_step, 3)
    assert list(fid.data[1].y) == [1, 1, 1, 0]
    assert "diverge at step 3" in fid.layout.title.text and "Teacher-forced" in fid.layout.title.text
    assert fid.layout.hovermode == "x"  # a click anywhere in a step's column opens that step


def test_error_figure_says_what_failed():
    fig = F.error_figure("Importance", "ValueError: <bad>")
    assert "could not draw" in fig.layout.title.text and "&lt;bad&gt;" in fig.layout.annotations[0].text


def test_message_figures_are_built_once_per_text():
    """Pending and empty views are the same figure for the same text (each run marks eleven pending)."""
    assert F.pending_figure("Token survival") is F.pending_figure("Token survival")
    assert F.pending_figure("Fidelity") is not F.pending_figure("Token survival")
    fig = F.pending_figure("Fidelity")
    assert fig.layout.title.text == "Fidelity" and "Pending" in fig.layout.annotations[0].text


def test_text_and_metrics_html_define_their_numbers(comparison):
    out = M.text_html(["a", " <b>", " c"], 1, "lazy")
    assert '<mark class="lz-div"' in out and "&lt;b&gt;" in out and out.index("mark") > out.index(">a<")
    table = M.metrics_html(comparison)
    assert "2.00×" in table and "texts diverge at step 3" in table
    assert "free-running agreement" in table and "teacher-forced" in table
    assert M.esc(M.DEFINITIONS["forced"]) in table  # each number says what it is


@pytest.mark.parametrize("with_comparison", [True, False])
def test_walkthrough_pages_use_the_run(trace, comparison, with_comparison):
    view = RunView(trace, "test", comparison if with_comparison else None)
    n = len(walkthrough.PAGES)
    for page in range(n):
        out = walkthrough.render(view, page)
        assert out["walk_nav"] == f"Page {page + 1} of {n}"
        assert "could not be drawn" not in out["walk_md"]
        assert out["back"]["interactive"] == (page > 0) and out["next"]["interactive"] == (page < n - 1)
    first = walkthrough.render(view, 0)["walk_md"]
    assert f"{trace.prompt_len} × {trace.num_layers}" in first
    last = walkthrough.render(view, 99)["walk_md"]  # clamped to the last page
    assert ("2.00×" in last) == with_comparison
    once = walkthrough.render(view, 6)["walk_md"]
    assert "never exceed" in once and "can never cost more" not in once
    assert ("In this run: Prefill 2.00× faster; a decode step costs" in once) == with_comparison


def test_importance_threshold_label_sits_on_its_line(trace):
    """On a log axis plotly places shapes at data values but annotations at their log10: each panel's
    threshold label is at the height of its dashed line (it used to sit at 10**threshold, the top)."""
    fig = F.importance_plot(trace, 0)
    lines = {s.yref: s.y0 for s in fig.layout.shapes if s.type == "line"}
    labels = {a.yref: a.y for a in fig.layout.annotations if a.text.startswith("threshold")}
    assert lines and set(labels) == set(lines)
    for yref, y in lines.items():
        assert labels[yref] == pytest.approx(np.log10(y))


def test_log_axes_label_every_tick_as_a_number(comparison):
    """Plotly labels a log axis's minor ticks with one digit (0.5 and 5 alike); ours name the number."""
    from app.figures.comparison import step_times_plot
    from app.plotting import log_axis

    axis = log_axis([0.08, 0.12, 1.9], "s")
    assert axis["tickvals"] == pytest.approx([0.05, 0.1, 0.2, 0.5, 1, 2])
    assert axis["ticktext"] == ["0.05", "0.1", "0.2", "0.5", "1", "2"]
    assert log_axis([1e-6, 0.3], "kl")["ticktext"] == ["1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1"]
    y = step_times_plot(comparison).layout.yaxis
    steps = [*comparison.baseline_step_s, *comparison.lazy_step_s]
    assert y.type == "log" and min(y.tickvals) <= min(steps) and max(y.tickvals) >= max(steps) / 2
