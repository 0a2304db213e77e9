"""Trace statistics apart from drawing: the kept/cut counts are the runtime's (`pruning.num_kept`), the
ranks the Evidence table prints agree with what the trace did, and figures leave plotly's defaults alone."""

from __future__ import annotations

import numpy as np
import plotly.io as pio
import pytest

from app import figures as F
from app import plotting as P
from app import stats as S
from app import tables as T
from lazyllm.pruning import num_kept
from tests.support.doubles import synthetic_trace

SCHEDULE = ((2, 0.6), (5, 0.3))


@pytest.fixture(scope="module")
def trace():
    return synthetic_trace(prompt_len=40, new_tokens=4, num_layers=8, schedule=SCHEDULE, seed=3)


@pytest.mark.parametrize("entering", [1, 2, 7, 10, 1024])
@pytest.mark.parametrize("keep", [0.01, 0.3, 0.5, 0.7, 1.0])
def test_kept_count_is_the_runtimes(entering, keep):
    assert S.kept_count(entering, keep) == num_kept(entering, keep, protected=1)
    assert 1 <= S.kept_count(entering, keep) <= entering


def test_the_threshold_is_the_score_of_the_last_kept_token(trace):
    for layer, keep in SCHEDULE:
        sc = trace.steps[0].scores[layer]
        entering = int((~np.isnan(sc)).sum())
        order = S.ranked(sc)
        assert len(order) == entering
        assert S.threshold(sc, keep) == sc[order[num_kept(entering, keep, 1) - 1]]


@pytest.mark.parametrize("step", [0, 3])
def test_pruning_ranks_agree_with_what_the_trace_did(trace, step):
    s = trace.steps[step]
    keep = S.keep_fractions(trace)
    checked = 0
    for p in range(s.n - 1):  # the last token is kept whatever its rank
        for r in S.pruning_ranks(s, p, keep):
            assert r.kept == num_kept(r.entering, keep[r.layer], 1)
            assert r.survived == (s.depth[p] > r.layer + 1), (p, r)
            checked += 1
    assert checked > s.n  # tokens at both pruning layers were checked


def test_the_evidence_table_prints_those_ranks(trace):
    row = T.evidence_table(trace, (5, 6), 0)[0]
    ranks = S.pruning_ranks(trace.steps[0], 5, S.keep_fractions(trace))
    assert ranks and row[3] == T.ranks_text(ranks)
    first = row[3].split("; ")[0]
    r = ranks[0]
    assert first == f"L{r.layer}: {r.rank}/{r.entering} {'kept' if r.survived else 'cut'} (top {r.kept})"


def test_figures_carry_the_app_template_and_leave_plotlys_default_alone(trace):
    before = pio.templates.default
    figs = [
        F.survival_heatmap(trace, 1),
        F.importance_plot(trace, 0),
        F.empty_figure("x"),
        F.cache_sizes_plot(trace),
    ]
    assert pio.templates.default == before == "plotly"  # nothing in app/ sets the process-wide default
    white = P.white_template().to_plotly_json()
    for fig in figs:
        assert fig.layout.template.to_plotly_json() == white
