"""Views of a RunView: every string from a file is escaped, the focus span is chosen and explained,
nothing of a previous run stays on screen, and figures stay within their budgets."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import plotly.graph_objects as go

from app import figures as F
from app import focus, views
from app.state import Example, RunView
from app.viewnames import VIEW_OUTPUTS
from tests.support.doubles import synthetic_comparison, synthetic_trace, wide_trace

XSS = '<img src=x onerror="window.pwned=1">'


TABLES = {"top_table", "evidence_table", "revived_table"}  # cells are shown as text (checked in the browser)


def strings(value) -> list[str]:
    """Every string an output sends to the page as markup (HTML, Markdown, figure text)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, go.Figure):
        return [json.dumps(value.to_plotly_json(), default=str)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    return []


def test_every_string_from_a_shared_trace_is_escaped():
    t = synthetic_trace()
    t = dataclasses.replace(t, model=XSS, strategy=XSS, variant=XSS, config_label=XSS, config_name=XSS,
                            tokens=[XSS if i % 5 == 0 else tok for i, tok in enumerate(t.tokens)])  # fmt: skip
    c = dataclasses.replace(
        synthetic_comparison(), baseline_text=XSS, lazy_text=XSS, baseline_tokens=[XSS] * 4, lazy_tokens=[XSS] * 4,
        config={"label": XSS, "describe": XSS},
    )  # fmt: skip
    example = Example(XSS, "passkey", XSS, XSS, XSS)
    view = RunView(t, XSS, c, example, XSS, notes=(XSS,))
    out = views.render_all(view, 2, XSS, "importance")
    out.update(views.render_all(view, 2, "", "depth"))
    for text in strings({k: v for k, v in out.items() if k != "view" and k not in TABLES}):
        assert "<img" not in text and "<script" not in text, text[:300]


def test_focus_span_is_chosen_and_explained():
    t = synthetic_trace()  # tokens: "The pass key is 7 1 4 3 2 ." repeated
    c = synthetic_comparison()
    assert focus.focus_span(RunView(t, "x"), "3-5") == ((3, 6), focus.SPAN_WHY_POSITIONS)
    assert focus.focus_span(RunView(t, "x"), "pass key")[0] == (1, 3)
    span, why = focus.focus_span(RunView(t, "x"), "absent words")
    assert span is None and "not in the prompt" in why
    ex = Example("Pass key", "passkey", "", "71432", "key is 71432")
    span, why = focus.focus_span(RunView(t, "x", c, ex, "71432"), "")
    assert span == (2, 9) and "the example's answer" in why
    span, why = focus.focus_span(RunView(t, "x", c, None, "71432"), "")
    assert span == (4, 9) and "expected answer" in why
    copied = dataclasses.replace(c, baseline_tokens=[" pass", " key", " is", " 7"])
    span, why = focus.focus_span(RunView(t, "x", copied), "")
    assert span == (1, 5) and "copies" in why
    span, why = focus.focus_span(RunView(t, "x", c), "")
    layer = max(t.steps[3].scores)
    sc = np.nan_to_num(t.steps[3].scores[layer][: t.prompt_len], nan=-1)
    sc[0] = -1
    assert span[0] <= int(np.argmax(sc)) < span[1] and "divergence step 3" in why


def test_a_run_starts_by_marking_every_view_pending():
    pending = views.pending_views()
    drawn = views.render_all(RunView(synthetic_trace(), "run", synthetic_comparison()), 0, "", "importance")
    stale = set(drawn) - set(pending) - {"view", "step", "walk_page", "walk_nav", "back", "next", "recorded"}
    assert not stale, f"views that would keep the previous run's content during a run: {stale}"
    assert set(pending) <= set(VIEW_OUTPUTS)
    for k, v in pending.items():
        if isinstance(v, go.Figure):
            assert "Pending" in v.layout.annotations[0].text, k


def test_the_largest_trace_within_budget_draws_small_and_fast():
    trace = wide_trace(256, 4096, steps=2, pruning_layers=12)
    t0 = time.perf_counter()
    out = views.render_all(RunView(trace, "file"), 1, "", "importance")
    assert time.perf_counter() - t0 < 20
    figures = {k: v for k, v in out.items() if isinstance(v, go.Figure)}
    assert all("could not draw" not in (f.layout.title.text or "") for f in figures.values())
    survival = np.asarray(figures["survival"].data[0].z)
    assert survival.size <= F.CELL_BUDGET and "each column =" in figures["survival"].layout.title.text
    assert sum(len(f.to_json()) for f in figures.values()) < 8_000_000
    assert len([a for a in figures["importance"].layout if a.startswith("yaxis")]) == F.MAX_PANELS


def test_an_oversized_figure_is_replaced_by_a_message(monkeypatch):
    monkeypatch.setattr(views, "FIGURE_BYTES", 1000)
    fig = views.safe("Token survival", F.survival_heatmap, synthetic_trace(), 0)
    assert "could not draw" in fig.layout.title.text and "too large" in fig.layout.annotations[0].text


def test_verdict_and_summary_come_from_the_run():
    t = dataclasses.replace(synthetic_trace(), config_label="custom (default with schedule 2:0.6)")
    view = RunView(t, "run", synthetic_comparison(), expected="d")
    out = views.render_summary(view)
    assert "Diverged at step 3" in out["verdict"] and "lz-wrong" in out["verdict"]
    assert "custom (default with schedule 2:0.6)" in out["lazy_text"]
    assert out["jump"]["interactive"] is True and "step 3" in out["jump"]["value"]
    same = views.render_summary(RunView(t, "run", synthetic_comparison(None)))
    assert "Same text" in same["verdict"] and same["jump"]["interactive"] is False
    bare = views.render_summary(RunView(t, "file"))
    assert "no baseline" in bare["verdict"] and "no baseline" in bare["metrics"]


def test_the_metrics_say_how_they_were_timed_and_compare_the_same_steps():
    """Whole generation over the steps both runs took, the median decode step, what the times say in
    this run's numbers (slower here: each decode step costs 2x), and how they were measured."""
    from app import markup as M

    c = dataclasses.replace(
        synthetic_comparison(),
        baseline_step_s=[0.4, 0.1, 0.1, 0.1],
        lazy_step_s=[0.2, 0.2, 0.2],  # one step fewer (it ended): 3 against 3, never 4 against 3
        timing="one run each, back to back in this process",
    )
    html = M.metrics_html(c, extra=[0, 120, 80, 100])
    assert "whole generation (3 steps each)" in html and "0.600 s" in html and "0.600 s" in html
    assert "decode step (median)" in html and "0.100 s" in html and "0.200 s" in html
    text = M.speed_text(c, [0, 120, 80, 100])
    assert "Prefill 2.00× faster" in text and "a decode step costs 2.00× the baseline's" in text
    assert (
        "100 revived token-layers" in text
        and "3 steps both runs took" in text
        and "1.00× (neither faster nor slower)" in text
    )
    slower = dataclasses.replace(c, lazy_step_s=[0.2, 0.3, 0.3])
    assert "0.75× (slower)" in M.speed_text(slower)
    assert "Timed: one run each, back to back in this process." in html
