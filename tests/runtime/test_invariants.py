"""LazyLLM's invariants over a table of schedules x prompt lengths x strategies x families (+ hypothesis).

At most once per layer; revived ⊆ computed; KV before Aux; kv_len = distinct computed positions;
kept = top-k by score; the last token is kept; `baseline` keeps every token at every layer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lazyllm
from lazyllm import LazyConfig, generate
from lazyllm.strategies import STRATEGIES, make_strategy
from tests.support.models import FAMILIES, on_global_layers, random_prompt, tiny_lm

SCHEDULES = [((0, 0.5),), ((1, 0.7), (3, 0.7)), ((0, 0.9), (2, 0.4), (4, 0.6)), ((4, 0.1),)]
LENGTHS = [2, 25, 90]
# One row per strategy of lazyllm/strategies.py: where it keeps lazy's budget (the same number of tokens
# at every layer), and whether a pruned token may come back at a later step.
STRATEGY_TABLE = {
    "lazy": dict(budget="every step", revives=True),
    "static": dict(budget="prefill", revives=False),
    "random": dict(budget="every step", revives=True),
}
STRATEGY_NAMES = list(STRATEGY_TABLE)
STEPS = 8


def run(family, schedule, strategy, length, steps=STEPS, **variant):
    """A traced run; on a family with sliding-window layers the schedule moves to its global layers
    (on_global_layers): `cfg.schedule` is the one that ran."""
    lm = tiny_lm(family)
    cfg = LazyConfig(schedule=on_global_layers(lm, schedule), strategy=strategy, **variant)
    res = generate(lm, random_prompt(length, seed=length), config=cfg, max_new_tokens=steps, instrument=True)
    return lm, cfg, res


def check_trace_invariants(trace, schedule):
    """The invariants every strategy must satisfy, read from the trace alone."""
    L, P = trace.num_layers, trace.prompt_len
    ever = [set() for _ in range(L)]
    for t, s in enumerate(trace.steps):
        n = P + t
        assert s.depth.shape == (n,)
        assert s.depth[n - 1] == L, "the step's last token is never pruned"
        for layer in range(L):
            computed = s.computed[layer].tolist()
            assert len(set(computed)) == len(computed)
            assert not ever[layer] & set(computed), f"token computed twice at layer {layer}"
            ever[layer] |= set(computed)
            assert set(computed) <= set(s.selected(layer).tolist()), "only selected tokens are computed"
            assert set(s.revived.get(layer, np.array([], int)).tolist()) <= set(computed)
            assert s.kv_len[layer] == len(ever[layer]), "KV cache = distinct positions computed"
        assert set(s.selected(0).tolist()) == set(range(n)), "the whole context enters layer 0"
        for layer in range(L - 1):  # selections only shrink at pruning layers
            prev, nxt = set(s.selected(layer).tolist()), set(s.selected(layer + 1).tolist())
            assert nxt <= prev
            if layer not in dict(schedule):
                assert nxt == prev
        # Aux Cache: one entry for each token whose computation stopped before the last layer
        frontier = np.zeros(n, dtype=int)
        for layer in range(L):
            frontier[list(ever[layer] & set(range(n)))] = layer + 1
        expected_aux = np.bincount(frontier[frontier < L] - 1, minlength=L) if (frontier < L).any() else 0
        assert (s.aux_len == expected_aux).all()
        assert s.aux_len[[la for la in range(L) if la not in dict(schedule)]].sum() == 0


def check_top_k(trace, schedule):
    """At each pruning layer, kept = the top ceil(k * entering) tokens by score (last token forced).

    A schedule that keeps everything everywhere is the baseline: nothing is scored or pruned.
    """
    if all(keep == 1.0 for _, keep in schedule):
        assert all(not s.scores and (s.depth == trace.num_layers).all() for s in trace.steps)
        return
    for t, s in enumerate(trace.steps):
        n = trace.prompt_len + t
        for layer, keep in schedule:
            entering = s.selected(layer)
            kept = s.selected(layer + 1)
            assert len(kept) == min(len(entering), max(math.ceil(keep * len(entering) - 1e-9), 1))
            scores = s.scores[layer]
            assert np.isfinite(scores[entering]).all() and np.isnan(np.delete(scores, entering)).all()
            pruned = np.setdiff1d(entering, kept)
            contenders = kept[kept != n - 1]
            if len(pruned) and len(contenders):
                assert scores[contenders].min() >= scores[pruned].max()


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("schedule", SCHEDULES, ids=str)
@pytest.mark.parametrize("length", LENGTHS)
def test_lazy_invariants(family, schedule, length):
    _, cfg, res = run(family, schedule, "lazy", length)
    check_trace_invariants(res.trace, cfg.schedule)
    check_top_k(res.trace, cfg.schedule)


def test_every_strategy_has_its_row_in_the_table():
    """A new strategy is one class in lazyllm/strategies.py and its row in STRATEGY_TABLE."""
    assert set(STRATEGY_TABLE) == set(STRATEGIES) == set(lazyllm.STRATEGIES)
    for name, row in STRATEGY_TABLE.items():
        assert make_strategy(name).revives is row["revives"]


@pytest.mark.parametrize("family", ["llama", "gemma3"])  # all-global layers; local and global layers
@pytest.mark.parametrize("strategy", [s for s in STRATEGY_TABLE if s != "lazy"])
@pytest.mark.parametrize("schedule", SCHEDULES, ids=str)
@pytest.mark.parametrize("length", LENGTHS)
def test_other_strategies_keep_the_invariants_and_lazys_budget(family, strategy, schedule, length):
    _, cfg, res = run(family, schedule, strategy, length)
    check_trace_invariants(res.trace, cfg.schedule)
    _, _, lazy = run(family, schedule, "lazy", length)
    row = STRATEGY_TABLE[strategy]
    steps = res.trace.steps if row["budget"] == "every step" else res.trace.steps[:1]
    for s, z in zip(steps, lazy.trace.steps, strict=False):
        for layer in range(res.trace.num_layers):
            assert len(s.selected(layer)) == len(z.selected(layer))
    if not row["revives"]:
        assert all(not s.revived for s in res.trace.steps)


def test_static_never_revives_and_keeps_its_prefill_selection():
    _, _, res = run("llama", ((1, 0.5), (3, 0.5)), "static", 60, steps=10)
    trace = res.trace
    P = trace.prompt_len
    assert all(not s.revived for s in trace.steps)
    prefill = trace.steps[0]
    for s in trace.steps[1:]:
        assert (s.depth[:P] == prefill.depth).all(), "static pruning is decided once, at prefill"


def test_lazy_revives_tokens():
    """The dynamic method brings back tokens pruned at earlier steps (the Aux Cache is used)."""
    _, _, res = run("llama", ((1, 0.5), (3, 0.5)), "lazy", 60, steps=10)
    revived = sum(len(v) for s in res.trace.steps for v in s.revived.values())
    assert revived > 0
    assert max(s.aux_len.sum() for s in res.trace.steps) > 0


def test_random_is_seeded():
    lm = tiny_lm("llama")
    cfg = LazyConfig(schedule=((1, 0.5),), strategy="random")
    ids = random_prompt(50, seed=4)
    a = generate(lm, ids, config=cfg, max_new_tokens=4, instrument=True, seed=7)
    b = generate(lm, ids, config=cfg, max_new_tokens=4, instrument=True, seed=7)
    c = generate(lm, ids, config=cfg, max_new_tokens=4, instrument=True, seed=8)
    assert (a.trace.steps[0].depth == b.trace.steps[0].depth).all()
    assert not (a.trace.steps[0].depth == c.trace.steps[0].depth).all()


def test_baseline_preset_keeps_every_token():
    lm, _, res = run("qwen2", (), "lazy", 40)
    assert all((s.depth == lm.num_layers).all() for s in res.trace.steps)
    assert all(not s.scores and not s.revived for s in res.trace.steps)


def test_compute_fraction_counts_work():
    """prompt_compute_fraction is the trace's computed prompt (token, layer) pairs over L * P."""
    _, _, res = run("llama", ((1, 0.5), (3, 0.5)), "lazy", 60)
    assert 0.0 < res.stats.prompt_compute_fraction < 1.0
    assert res.stats.prompt_compute_fraction == pytest.approx(res.trace.prompt_compute_fraction())
    last = res.trace.steps[-1]
    used = int(last.kv_len[-1])  # includes generated tokens computed at the last layer
    assert res.stats.prompt_tokens_used_fraction <= used / res.trace.prompt_len


@pytest.mark.parametrize(
    "variant", [dict(window=4), dict(pool=3), dict(sinks=3), dict(window=3, pool=5, sinks=2)]
)
def test_scoring_variants_keep_invariants(variant):
    schedule = ((1, 0.5), (3, 0.5))
    _, cfg, res = run("llama", schedule, "lazy", 70, **variant)
    check_trace_invariants(res.trace, schedule)
    assert res.trace.variant == cfg.variant != "paper"
    for s in res.trace.steps:
        n = s.n
        protected = list(range(max(n - variant.get("window", 1), 0), n)) + list(
            range(variant.get("sinks", 0))
        )
        assert (s.depth[protected] == res.trace.num_layers).all()


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@example(layers=[0], keeps=[1.0, 1.0, 1.0, 1.0], length=1, strategy="lazy", steps=1, family="llama")  # CI
@given(
    layers=st.lists(st.integers(0, 4), min_size=1, max_size=4, unique=True),
    keeps=st.lists(st.floats(0.05, 1.0), min_size=4, max_size=4),
    length=st.integers(1, 70),
    strategy=st.sampled_from(STRATEGY_NAMES),
    steps=st.integers(1, 6),
    family=st.sampled_from(["llama", "gemma3"]),  # all-global layers; local and global (window 8)
)
def test_invariants_hypothesis(layers, keeps, length, strategy, steps, family):
    schedule = tuple((layer, keep) for layer, keep in zip(sorted(layers), keeps, strict=False))
    _, cfg, res = run(family, schedule, strategy, length, steps=steps)
    check_trace_invariants(res.trace, cfg.schedule)
    if strategy == "lazy":
        check_top_k(res.trace, cfg.schedule)
