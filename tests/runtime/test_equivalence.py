"""Equivalence first: with pruning off, our loop is the reference model (fp32, 1e-4, same tokens)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lazyllm import LazyConfig, generate
from tests.support.models import FAMILIES, on_global_layers, random_prompt, tiny_lm
from tests.support.reference import hf_greedy, hf_pruned_prefill_logits

TOL = 1e-4
STEPS = 10


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("prompt_len", [1, 17, 96])
def test_baseline_matches_transformers(family, prompt_len):
    lm = tiny_lm(family)
    ids = random_prompt(prompt_len, seed=prompt_len)
    ref_logits, ref_tokens = hf_greedy(lm.model, ids, STEPS)
    res = generate(lm, ids, config=LazyConfig.preset("baseline"), max_new_tokens=STEPS, return_logits=True)
    assert res.token_ids == ref_tokens
    assert res.logits.shape == ref_logits.shape
    assert (res.logits - ref_logits).abs().max().item() <= TOL
    assert res.stats.prompt_compute_fraction == 1.0
    assert res.stats.prompt_tokens_used_fraction == 1.0


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keep_everything_schedule_is_the_baseline(family):
    """The pruning machinery with keep fraction 1.0 everywhere must change nothing."""
    lm = tiny_lm(family)
    ids = random_prompt(64, seed=3)
    ref_logits, ref_tokens = hf_greedy(lm.model, ids, STEPS)
    cfg = LazyConfig(schedule=((1, 1.0), (3, 1.0)))
    res = generate(lm, ids, config=cfg, max_new_tokens=STEPS, return_logits=True, instrument=True)
    assert res.token_ids == ref_tokens
    assert (res.logits - ref_logits).abs().max().item() <= TOL
    assert all((s.depth == lm.num_layers).all() for s in res.trace.steps)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("schedule", [((0, 0.5),), ((1, 0.7), (3, 0.6)), ((0, 0.8), (2, 0.5), (4, 0.3))])
def test_pruned_prefill_matches_transformers_on_subsequences(family, schedule):
    """Prefill with pruning = transformers layers run on the surviving sub-sequence of each layer."""
    lm = tiny_lm(family)
    schedule = on_global_layers(lm, schedule)
    ids = random_prompt(80, seed=11)
    res = generate(
        lm, ids, config=LazyConfig(schedule=schedule), max_new_tokens=1, return_logits=True, instrument=True
    )
    depth = res.trace.steps[0].depth
    assert (depth < lm.num_layers).any(), "the schedule should prune something"
    ref = hf_pruned_prefill_logits(lm.model, ids, depth)
    assert (res.logits[0] - ref).abs().max().item() <= TOL


def test_different_prompts_differ():
    """Guard against a loop that ignores its input."""
    lm = tiny_lm("llama")
    a = generate(lm, random_prompt(30, seed=1), max_new_tokens=2, return_logits=True)
    b = generate(lm, random_prompt(30, seed=2), max_new_tokens=2, return_logits=True)
    assert not torch.allclose(a.logits, b.logits)


EMBEDDED_PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Name three colours."},
    ],
]


@pytest.mark.parametrize("prompt", EMBEDDED_PROMPTS, ids=["capital", "haiku", "messages"])
def test_embedded_model_matches_transformers(embedded_lm, prompt):
    from lazyllm import encode_prompt

    ids = encode_prompt(embedded_lm, prompt)
    ref_logits, ref_tokens = hf_greedy(embedded_lm.model, ids, STEPS)
    res = generate(embedded_lm, prompt, max_new_tokens=STEPS, return_logits=True)
    assert res.prompt_ids == ids
    assert res.token_ids == ref_tokens[: len(res.token_ids)]
    assert (res.logits - ref_logits[: len(res.token_ids)]).abs().max().item() <= TOL


def test_embedded_model_answers(embedded_lm):
    res = generate(embedded_lm, "What is the capital of France?", max_new_tokens=12)
    assert "Paris" in res.text


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("strategy", ["lazy", "random"])
def test_pruned_generation_matches_naive_replay(family, strategy):
    """Every step of a pruned generation (caches, Aux Cache revivals, attention scope, positions)
    equals a slow token-by-token replay of the same selections; scores are the last token's
    attention averaged over heads."""
    from tests.support.reference import NaiveLazyReplay

    lm = tiny_lm(family)
    ids = random_prompt(48, seed=5)
    cfg = LazyConfig(schedule=on_global_layers(lm, ((1, 0.5), (3, 0.6))), strategy=strategy)
    res = generate(lm, ids, config=cfg, max_new_tokens=8, return_logits=True, instrument=True)
    assert sum(len(v) for s in res.trace.steps for v in s.revived.values()) > 0, "want revivals"
    replay = NaiveLazyReplay(lm.model)
    context = list(ids)
    for t, s in enumerate(res.trace.steps):
        logits, scores = replay.step(context, s.depth)
        assert (res.logits[t] - logits).abs().max().item() <= TOL, f"step {t}"
        for layer, row in s.scores.items():
            expected = np.array([scores[layer][p] for p in s.selected(layer)])
            assert np.allclose(row[s.selected(layer)], expected, rtol=1e-4, atol=1e-7)
        context.append(res.token_ids[t])
