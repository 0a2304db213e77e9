"""The Evidence view at the split (issue 22) and the labels around it: what the baseline's attention at
the divergence step says, against what the trace says LazyLLM did; legends, titles, label placement,
and the walkthrough's claims checked against the run."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from app import figures as F
from app import markup as M
from app import plotting as P
from app import stats as S
from app import views, walkthrough
from app.figures.importance import label_levels
from app.state import RunView
from lazyllm.scan import LayerScan
from tests.support.doubles import synthetic_comparison, synthetic_trace

L, PROMPT, STEP = 8, 40, 3


@pytest.fixture(scope="module")
def trace():
    return synthetic_trace(
        prompt_len=PROMPT, new_tokens=6, num_layers=L, schedule=((2, 0.5), (5, 0.4)), seed=5
    )


def attention(seed: int = 0, heavy: int = 17) -> np.ndarray:
    """(L, PROMPT + STEP) rows that sum to 1, with token `heavy` the most attended at every layer."""
    rng = np.random.default_rng(seed)
    a = rng.dirichlet(np.ones(PROMPT + STEP), size=L)
    a[:, heavy] += 1.0
    return a / a.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def comparison():
    c = synthetic_comparison(divergence=STEP)
    return dataclasses.replace(c, baseline_attention=attention().tolist())


def test_split_evidence_reads_the_baseline_and_the_trace(trace, comparison):
    split = S.split_evidence(trace, comparison, top_k=6)
    a = np.asarray(comparison.baseline_attention)
    assert split.step == STEP and split.context == PROMPT + STEP
    means = a[:, :PROMPT].mean(axis=0)
    assert [t.position for t in split.tokens] == list(np.argsort(-means, kind="stable")[:6])
    assert split.tokens[0].position == 17 and (split.tokens[0].rank == 1).all()  # 1 = most attended
    depth = trace.steps[STEP].depth
    for tok in split.tokens:
        p = tok.position
        np.testing.assert_allclose(tok.attention, a[:, p])
        assert (tok.selected == (depth[p] > np.arange(L))).all()
        assert tok.dropped_after == (None if depth[p] >= L else int(depth[p]) - 1)
        assert tok.prefill_depth == int(trace.steps[0].depth[p])
        want = [(s, layer) for s, layer, _ in S.evidence_revivals(trace, (p, p + 1), STEP + 1)]
        assert list(tok.revived) == want
        assert tok.rank.min() >= 1 and tok.rank.max() <= PROMPT + STEP
    off = depth[None, :] <= np.arange(L)[:, None]
    np.testing.assert_allclose(split.missed, (a * off).sum(axis=1))  # rows sum to 1
    assert any(t.dropped_after is not None for t in split.tokens), "the fixture must drop a top token"


def test_split_evidence_is_none_without_a_split_and_refuses_a_misfit(trace, comparison):
    assert S.split_evidence(trace, synthetic_comparison(divergence=None)) is None
    assert S.split_evidence(trace, synthetic_comparison(divergence=STEP)) is None  # nothing recorded
    assert S.split_evidence(trace, None) is None
    late = dataclasses.replace(comparison, first_divergence=99)
    assert S.split_evidence(trace, late) is None  # past the trace
    misfit = dataclasses.replace(comparison, first_divergence=2)  # width PROMPT + 3, step 2
    with pytest.raises(ValueError, match="baseline_attention: shape"):
        S.split_evidence(trace, misfit)


def test_attention_ranks_put_the_most_attended_first_and_ties_earlier():
    ranks = S.attention_ranks(np.array([[0.1, 0.5, 0.1, 0.3]]))
    assert ranks.tolist() == [[3, 1, 4, 2]]


def test_split_html_names_each_dropped_token_and_its_layer(trace, comparison):
    split = S.split_evidence(trace, comparison)
    html = M.split_html(trace, split, comparison)
    text = re.sub(r"<[^>]+>", " ", html)
    assert f"At step {STEP} the baseline wrote “·d” and LazyLLM (synthetic) wrote “·e”" in text
    for tok in split.tokens:
        if tok.dropped_after is not None:
            assert f"(position {tok.position}) after layer {tok.dropped_after}" in text
    assert html.count('class="lz-split-row') == len(split.tokens)
    assert f"out of all {PROMPT + STEP} context tokens" in text and "1 = most attended" in text
    assert "No baseline comparison" in M.split_html(trace, None, None)
    assert "The texts agree" in M.split_html(trace, None, synthetic_comparison(divergence=None))
    assert "run the prompt again" in M.split_html(trace, None, synthetic_comparison(divergence=STEP))


def test_split_html_escapes_the_tokens(trace, comparison):
    payload = '<img src=x onerror="alert(1)">'
    hostile = dataclasses.replace(trace, tokens=[payload] * len(trace.tokens))
    html = M.split_html(hostile, S.split_evidence(hostile, comparison), comparison)
    assert "<img" not in html and "&lt;img" in html


def test_split_plot_draws_the_attention_and_crosses_where_lazyllm_did_not_select(trace, comparison):
    split = S.split_evidence(trace, comparison)
    fig = F.split_plot(trace, split)
    heat, crosses, missed, pruning = fig.data
    assert pruning.name == "grey line: a pruning layer of this run"
    assert sorted(v.x0 for v in fig.layout.shapes) == [2.5, 5.5]  # after layers 2 and 5
    np.testing.assert_allclose(np.asarray(heat.z), np.stack([t.attention for t in split.tokens]))
    want = sum(int((~t.selected).sum()) for t in split.tokens)
    assert len([x for x in crosses.x if x is not None]) == want
    assert crosses.marker.symbol == "x-thin" and crosses.name.startswith(
        "not selected by LazyLLM (synthetic)"
    )
    np.testing.assert_allclose(missed.y, split.missed)
    assert missed.line.dash == "dash" and fig.layout.showlegend
    assert fig.layout.title.text.startswith(f"Step {STEP}:")
    z = np.asarray(heat.z)
    assert heat.zmax == pytest.approx(np.sort(z.max(axis=1))[-2])  # the sink's row saturates
    assert "no split" in F.split_plot(trace, None).layout.annotations[0].text
    missing = M.no_split(synthetic_comparison(divergence=STEP))
    assert "no record" in F.split_plot(trace, None, missing).layout.annotations[0].text


def test_the_views_draw_the_split_and_the_verdict_links_to_it(trace, comparison):
    view = RunView(trace, "test", comparison)
    out = {**views.render_run(view, ""), **views.render_summary(view)}
    assert 'id="lz-split-table"' in out[views.V.SPLIT_HTML]
    assert out[views.V.SPLIT_PLOT].layout.title.text.startswith(f"Step {STEP}")
    assert 'href="#lz-split-html"' in out[views.V.VERDICT] and f"at step {STEP}" in out[views.V.VERDICT]
    same = RunView(trace, "test", synthetic_comparison(divergence=None))
    assert "lz-to-split" not in views.render_summary(same)[views.V.VERDICT]


def test_the_pruned_run_is_called_lazyllm_with_its_preset(trace, comparison):
    assert M.lazy_name("paper") == "LazyLLM (paper)" and M.lazy_name("") == "LazyLLM"
    assert M.run_name(trace) == "LazyLLM (synthetic)"
    table = M.metrics_html(comparison, prefill_share=0.42)
    assert "<th>LazyLLM (default)</th>" in table
    assert "prompt compute at prefill (TTFT)" in table and "42%" in table
    assert "prompt compute, whole generation" in table and "70%" in table
    assert M.esc(M.DEFINITIONS["used"]) in table and M.esc(M.DEFINITIONS["token_layers"]) in table


def test_prefill_share_and_revival_counts(trace):
    assert S.prefill_compute_share(trace) == pytest.approx(S.cumulative_compute_share(trace)[0])
    extra = trace.extra_token_layers()
    assert S.revived_per_step(trace) == [0] + [max(x, 0) for x in extra[1:]]  # token-layers: once per layer
    counts = S.revivals_per_step(trace)  # revivals: once per token, at the layer it re-entered
    assert counts == [int(sum(len(v) for v in s.revived.values())) for s in trace.steps]
    assert all(tl >= c for tl, c in zip(S.revived_per_step(trace), counts, strict=True))


def test_a_legend_entry_for_a_shape():
    fig = go.Figure(go.Heatmap(z=[[1]]))
    P.legend_entry(fig, "dashed line: x", line=dict(dash="dash"))
    assert fig.data[-1].name == "dashed line: x" and fig.data[-1].showlegend and fig.layout.showlegend


def test_every_mark_has_a_legend_entry(trace, comparison):
    span = (10, 14)
    ev = F.evidence_plot(trace, span, divergence=STEP)
    names = [d.name for d in ev.data if d.name]
    assert any(n.startswith("dashed line: the texts diverge") for n in names)
    stars = [d for d in ev.data if getattr(d, "marker", None) is not None and d.marker.symbol == "star"]
    assert bool(stars) == bool(S.evidence_revivals(trace, span)) and all(
        d.name and d.showlegend for d in stars
    )
    fid = F.fidelity_plot(comparison.kl_per_step, comparison.top1_per_step, STEP)
    assert any("× no" in (d.name or "") for d in fid.data) and any(
        "dashed" in (d.name or "") for d in fid.data
    )
    imp = F.importance_plot(trace, 1)
    assert any((d.name or "").startswith("dashed line: the percentile threshold") for d in imp.data)
    surv = F.survival_heatmap(trace, 2)
    assert any((d.name or "").startswith("dotted line: prompt") for d in surv.data)


def test_the_layer_scans_keep_line_says_its_side():
    scan = LayerScan((1, 2), 0.5, np.full(6, 0.1), np.full(6, 0.2), np.full(6, 0.3), 0)
    fig = F.scan_plot(scan, [(2, 0.5)])
    assert not [a for a in fig.layout.annotations if "keep" in (a.text or "")]  # no label over the data
    assert list(fig.layout.yaxis.range) == [100, 0]  # the axis runs 100 (bottom) to 0 (top): below = pruned
    assert any((d.name or "").startswith("dashed line: keep 50% (below it: pruned)") for d in fig.data)


def test_importance_labels_never_overlap():
    x = np.array([0.50, 0.51, 0.52, 0.53, 0.90])
    y = np.array([-1.0, -1.05, -1.1, -1.0, -1.0])
    assert label_levels(x, y, levels=3) == [0, 1, 2, None, 0]  # close ones stacked, one left to hover
    assert label_levels(np.array([0.1, 0.5]), np.array([-1.0, -1.0])) == [0, 0]


def test_the_walkthroughs_scan_claim_is_what_this_run_shows():
    later = LayerScan(
        (1, 2), 0.5, np.zeros(9), np.array([0.9, 0.8, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1]), np.zeros(9), 5
    )
    assert "In this run the span ranks higher in later layers" in walkthrough.late_claim(later)
    flat = dataclasses.replace(
        later, worst=np.array([0.1, 0.1, 0.1, 0.5, 0.6, 0.6, 0.7, 0.8, 0.9]), safe_from=None
    )
    claim = walkthrough.late_claim(flat)
    assert "does not show that pruning late costs less" in claim and "10%" in claim and "80%" in claim


def test_the_walkthrough_calls_the_first_token_a_sink_only_where_it_is_one():
    assert "an **attention sink**" in walkthrough.sink_sentence(np.array([0.7, 0.2, 0.1]))
    weak = walkthrough.sink_sentence(np.array([0.05, 0.6, np.nan, 0.35]))
    assert "5%" in weak and "not the attention sink" in weak


def test_the_walkthroughs_outcome_points_to_the_split(trace, comparison):
    view = RunView(trace, "test", comparison)
    split = S.split_evidence(trace, comparison)
    dropped = sum(t.dropped_after is not None for t in split.tokens)
    line = walkthrough.split_line(view)
    assert f"(step {STEP})" in line and f"dropped {dropped} of its top {len(split.tokens)}" in line
    assert "Evidence → At the split" in walkthrough.page_outcome(view)[0]
    assert walkthrough.split_line(RunView(trace, "test", synthetic_comparison(divergence=None))) == ""


def test_a_views_memory_counts_the_baseline_attention(trace, comparison):
    bare = RunView(trace, "test", dataclasses.replace(comparison, baseline_attention=None))
    full = RunView(trace, "test", comparison)
    assert full.nbytes() - bare.nbytes() >= 8 * L * (PROMPT + STEP)


def test_the_walkthrough_says_what_the_decode_steps_computed_in_this_run():
    assert "not in this run: no decode step revived a token" in walkthrough.deferred_work([0, 0, 0])
    busy = walkthrough.deferred_work([0, 30, 90, 10])
    assert "**130** token-layers" in busy and "most at step 2" in busy


def test_the_evidence_opens_on_the_split_where_the_texts_part(trace, comparison):
    split = S.split_evidence(trace, comparison)
    assert views.evidence_choice(split, "") == "split"
    assert views.evidence_choice(split, "120-135") == "span"  # the visitor asked for a span
    assert views.evidence_choice(None, "") == "span"  # same text, or nothing recorded
    out = views.render_run(RunView(trace, "test", comparison), "")
    assert out[views.V.EVIDENCE_TABS]["selected"] == "split"
    same = views.render_run(RunView(trace, "test", synthetic_comparison(divergence=None)), "")
    assert same[views.V.EVIDENCE_TABS]["selected"] == "span"
